"""Issue 16: a save or an autosave that cannot be written is told in one line that names the
file and the fix, the changes stay unsaved (and in memory), and the editor goes on."""

from __future__ import annotations

import shutil

from PySide6.QtWidgets import QMessageBox

from app.core.editing.commands import AddNode, new_node
from app.gui.document import Document
from tests.conftest import EXAMPLES


def edit(window) -> None:
    window.document.push(AddNode(new_node(window.document.graph, "Dense", {"units": 5}, (10, 20))))


def test_a_save_that_cannot_be_written_says_why_and_keeps_the_changes(make_window, tmp_path, monkeypatch):
    path = tmp_path / "cascade.graft"
    shutil.copy(EXAMPLES / "cascade.graft", path)
    window = make_window(Document.open(path))
    edit(window)
    before = path.read_bytes()
    path.chmod(0o444)  # refused by mode, as root too
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: shown.append((title, text)))
    assert not window.save()
    assert shown == [("Cannot save project", f"{path} could not be written: the file is read-only; make "
                      "it writable or save it elsewhere. Your changes are still here; choose another "
                      "place with Save As.")]
    assert window.isWindowModified() and window.document.modified
    assert path.read_bytes() == before


def test_an_autosave_that_cannot_be_written_names_its_file_in_the_status_bar(window, recovery_dir):
    """It showed Python's repr of the error: "[Errno 20] Not a directory: '…'"."""
    edit(window)
    shutil.rmtree(recovery_dir)
    recovery_dir.write_text("a file where the recovery folder was")
    window.autosave()
    message = window.statusBar().currentMessage()
    assert message.startswith(f"Autosave failed: cannot write {recovery_dir}")
    assert "free some space or make the folder writable" in message and "[Errno" not in message
    assert "\n" not in message
    assert window.document.modified


def test_the_editor_opens_when_its_recovery_folder_cannot_be_made(make_window, tmp_path, monkeypatch):
    """The window's constructor made the folder and raised (FileExistsError) when it could not."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("GRAFT_RECOVERY_DIR", str(blocker / "recovery"))
    window = make_window()
    edit(window)
    window.autosave()
    assert window.statusBar().currentMessage().startswith(f"Autosave failed: cannot write {blocker}")
    window.close()  # discarding a recovery file that cannot exist raises nothing
