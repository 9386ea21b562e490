"""Whole workflows: building the cascade example by hand, random edit sessions undone
exactly, crash recovery, and a window that appears before TensorFlow loads."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from app.core.document.fileformat import dumps, load
from app.core.document.project import Project
from app.core.graph.graph import GraphError
from app.gui.document import Document
from tests.conftest import EXAMPLES, ROOT
from tests.core.strategies import edit, graphs
from tests.gui.conftest import drag, drop, port_point


def _palette_mime(window, label: str):
    palette = window.palette_panel
    return palette.model.mimeData([palette.proxy.mapToSource(palette.index_of(label))])


def _quick_add(window, qtbot, text: str) -> None:
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_Tab)
    assert window.quick_add.isVisible()
    qtbot.keyClicks(window.quick_add.search, text)
    qtbot.keyClick(window.quick_add.search, Qt.Key.Key_Return)


def test_the_cascade_example_is_built_from_an_empty_canvas_by_mouse_and_keyboard(window, qtbot):
    graph = window.document.graph
    drop(window.view, _palette_mime(window, "Input"), QPointF(0, 0))  # mouse: from the palette
    shape = window.inspector.editor("shape")  # keyboard: the new node is selected
    shape.setFocus()
    shape.selectAll()
    qtbot.keyClicks(shape, "8, 8, 1")
    qtbot.keyClick(shape, Qt.Key.Key_Return)
    _quick_add(window, qtbot, "digits_cnn")  # Tab appends after the selected node
    cnn = graph.nodes[-1].id
    _quick_add(window, qtbot, "digits_refiner")
    refiner = graph.nodes[-1].id
    for source, where in ((cnn, QPointF(1400, 600)), (refiner, QPointF(1400, 300))):
        # stage A's head, then stage B's
        drop(window.view, _palette_mime(window, "Output"), where)
        output = graph.nodes[-1].id
        drag(window.view, port_point(window, source, "out", False), port_point(window, output, "in", True))

    analysis = window.document.wait_until_analysed()
    assert [p for p in analysis.problems if p.severity != "info"] == []
    example = load(EXAMPLES / "cascade.graft").graph
    assert [n.type for n in graph.nodes] == [n.type for n in example.nodes]
    chain = [(graph.node(e.source).type, graph.node(e.target).type) for e in graph.edges]
    assert chain == [(example.node(e.source).type, example.node(e.target).type) for e in example.edges]
    assert analysis.output_spec(refiner).shape == (None, 10)
    assert [n.params.get("path", "").rsplit("/", 1)[-1] for n in graph.nodes[1:3]] == \
        ["digits_cnn.keras", "digits_refiner.keras"]


EDITOR_OPERATIONS = ["command", "command", "command", "duplicate", "delete", "layout", "copy_paste"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_edits_through_the_editor_undo_to_the_original_and_redo_to_the_final(window, data):
    window.set_document(Document(Project(data.draw(graphs(max_nodes=6)))))
    document = window.document
    original = dumps(document.project)
    for _ in range(data.draw(st.integers(1, 12))):
        operation = data.draw(st.sampled_from(EDITOR_OPERATIONS))
        nodes = [n.id for n in document.graph.nodes]
        if operation == "command":
            command = data.draw(edit(document.graph))
            if command is not None:
                document.push(command)  # a refused one (a taken name) changes nothing
            continue
        if operation == "layout":
            window.auto_layout()
            continue
        if not nodes:
            continue
        window.scene.select(data.draw(st.lists(st.sampled_from(nodes), min_size=1, unique=True)))
        if operation == "duplicate":
            window.duplicate()
        elif operation == "delete":
            window.delete_selection()
        else:
            window.copy()
            window.paste()
    final = dumps(document.project)
    stack = document.undo_stack
    steps = stack.index()
    for _ in range(steps):
        stack.undo()
    assert dumps(document.project) == original
    for _ in range(steps):
        stack.redo()
    assert dumps(document.project) == final


def test_a_refused_edit_changes_nothing_and_says_why(window):
    document = window.document
    from app.core.editing.commands import AddNode, Rename, new_node

    first = new_node(document.graph, "Input", {"shape": [4]})
    document.push(AddNode(first))
    second = new_node(document.graph, "Input", {"shape": [4]})
    document.push(AddNode(second))
    before = dumps(document.project)
    assert not document.push(Rename(second.id, first.name))
    assert dumps(document.project) == before and document.undo_stack.count() == 2
    assert first.name in window.statusBar().currentMessage()


def test_graph_error_is_what_a_refused_rename_raises():
    """The editor reports refused edits by catching ValueError; GraphError must be one."""
    assert issubclass(GraphError, ValueError)


# -- crash recovery -------------------------------------------------------------------------

EDIT_AND_WAIT = textwrap.dedent("""
    import sys, time
    from PySide6.QtCore import QSettings
    from app.core.editing.commands import AddNode, new_node
    from app.gui.app import application
    from app.gui.main_window import MainWindow
    app = application()
    window = MainWindow(settings=QSettings(sys.argv[1], QSettings.Format.IniFormat), autosave_ms=100)
    window.show()
    window.document.push(AddNode(new_node(window.document.graph, "Dense", {"units": 5}, (10, 20))))
    print("edited", flush=True)
    app.exec()
""")


def test_killing_the_app_after_an_edit_offers_the_autosaved_recovery(window, recovery_dir, tmp_path):
    env = {**os.environ, "GRAFT_RECOVERY_DIR": str(recovery_dir), "QT_QPA_PLATFORM": "offscreen"}
    process = subprocess.Popen([sys.executable, "-c", EDIT_AND_WAIT, str(tmp_path / "child.ini")],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not list(recovery_dir.glob("*.recovery.json")):
            assert process.poll() is None and time.monotonic() < deadline, "no autosave appeared"
            time.sleep(0.1)
        time.sleep(0.3)  # let a write in progress finish
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()

    from app.gui.app import offer_recovery

    asked = []

    def ask(parent, text):
        asked.append(text)
        return QMessageBox.StandardButton.Yes

    assert offer_recovery(window, ask) == 1
    assert "Graft closed without saving 1 project(s)" in asked[0]
    (node,) = window.document.graph.nodes
    assert (node.type, node.params["units"], node.position) == ("Dense", 5, (10.0, 20.0))
    assert window.isWindowModified()  # recovered work is unsaved until saved
    assert offer_recovery(window, ask) == 0  # offered once; this window's autosave owns it now


def test_a_running_windows_autosave_is_not_offered_to_another(window, make_window):
    from app.core.editing.commands import AddNode, new_node
    from app.gui.app import offer_recovery

    window.document.push(AddNode(new_node(window.document.graph, "Input", {"shape": [3]})))
    window.autosave()
    assert window.recovery.path.exists()
    other = make_window()
    assert offer_recovery(other, lambda parent, text: QMessageBox.StandardButton.Yes) == 0
    window.save_as = lambda: False
    window.document.undo_stack.setClean()
    window.autosave()
    assert not window.recovery.path.exists()  # nothing unsaved: nothing to recover


# -- start-up ---------------------------------------------------------------------------------

SHOW_AND_REPORT = textwrap.dedent("""
    import json, sys
    from PySide6.QtCore import QObject, QSettings
    from app.gui.app import application, open_window

    class FirstPaint(QObject):
        seen = None

        def eventFilter(self, watched, event):
            if event.type() == event.Type.Paint and self.seen is None:
                self.seen = {"tensorflow": "tensorflow" in sys.modules, "keras": "keras" in sys.modules}
            return False

    first_paint = FirstPaint()
    application().installEventFilter(first_paint)
    window = open_window([sys.argv[2]], QSettings(sys.argv[1], QSettings.Format.IniFormat))
    for _ in range(3):
        application().processEvents()  # then the project opens
    print(json.dumps({"visible": window.isVisible(), **first_paint.seen, "opened": window.document.title}))
""")


def test_the_window_appears_before_tensorflow_is_imported(tmp_path, recovery_dir):
    env = {**os.environ, "GRAFT_RECOVERY_DIR": str(recovery_dir), "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "-c", SHOW_AND_REPORT, str(tmp_path / "s.ini"),
                             str(EXAMPLES / "cascade.graft")],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"visible": True, "tensorflow": False, "keras": False, "opened": "cascade.graft"}


def test_process_events_keeps_none_alive():
    """PySide6 6.12.0 dropped a reference to None on every processEvents() and crashed the
    editor after a few thousand calls; pyproject.toml excludes it, this guards the pin."""
    app = QApplication.instance()
    before = sys.getrefcount(None)
    for _ in range(2000):
        app.processEvents()
    assert sys.getrefcount(None) >= before - 50
