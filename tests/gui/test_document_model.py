"""The editor over one document: Save As changes only where the file is, so Undo and Redo
after it keep a model loading; Ctrl+Z undoes a rename in the setup as well as on the canvas."""

import json
import shutil

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from app.core.document.fileformat import load, save
from app.core.editing.commands import AddNode, SetParams, new_node
from app.gui.document import Document
from tests.conftest import EXAMPLES, MODELS
from tests.core.test_document import model_file_project


def test_save_as_then_undo_and_redo_keep_the_model_loading(make_window, qtbot, tmp_path, monkeypatch):
    window = make_window(Document.open(model_file_project(tmp_path / "old").path))
    document = window.document
    cnn = document.graph.node_by_name("cnn").id
    assert document.push(SetParams(cnn, {"path": "sub/m.keras"}))
    assert document.wait_until_analysed().ok

    target = tmp_path / "new" / "p.graft"
    target.parent.mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: (str(target), ""))
    assert window.save_as()
    assert json.loads(target.read_text())["nodes"][1]["params"]["path"] == "../old/sub/m.keras"

    control, shift = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(window.view, Qt.Key.Key_Z, control)  # undo
    qtbot.keyClick(window.view, Qt.Key.Key_Z, control | shift)  # redo
    assert document.graph.node(cnn).params["path"] == "sub/m.keras"
    assert document.wait_until_analysed().ok, [p.message for p in document.analysis.problems]
    window.save()
    assert load(target).graph.node(cnn).params["path"] == "../old/sub/m.keras"


def test_undo_of_a_rename_restores_the_training_setup_too(make_window, qtbot, tmp_path):
    path = tmp_path / "transfer.graft"
    project = load(EXAMPLES / "transfer.graft")
    save(project, path)
    window = make_window(Document.open(path))
    document = window.document
    label = document.graph.node_by_name("label").id
    assert document.rename(label, "digit")
    assert document.training.data["mapping"] == {"image": "images", "digit": "labels"}
    qtbot.keyClick(window.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert document.graph.node(label).name == "label"
    assert document.training.data["mapping"] == {"image": "images", "label": "labels"}



def test_a_new_project_saved_for_the_first_time_finds_models_beside_its_file(make_window, tmp_path,
                                                                             monkeypatch):
    """A new project holds no relative path yet, so its first save gives it the file's folder:
    a model path typed afterwards is read from beside the file, not from where Graft started."""
    window = make_window()
    document = window.document
    shutil.copy(MODELS / "digits_cnn.keras", tmp_path / "m.keras")
    target = str(tmp_path / "p.graft")
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: (target, ""))
    assert window.save_as()
    node = new_node(document.graph, "ModelFile", {"path": "m.keras"})
    assert document.push(AddNode(node))
    problems = [p.message for p in document.wait_until_analysed().nodes[node.id].problems]
    assert problems == ["input m.in is not connected; connect a tensor to it"]  # the model loaded
    assert document.card(document.graph.node(node.id)) is not None
