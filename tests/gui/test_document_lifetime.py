"""A window listens to one document at a time: once it shows another one (File ▸ New, Open) or
closes, nothing the old document or its core project does reaches any of its widgets, and
the old project is left with no listeners."""

from __future__ import annotations

import inspect

import pytest

from app.core.editing.commands import AddNode, SetTraining, connect, new_node
from app.gui.canvas.scene import GraphScene
from app.gui.document import Document
from app.gui.main_window import MainWindow
from app.gui.training.dock import TrainingPanel
from app.gui.training.setup import SetupView
from tests.conftest import EXAMPLES

# The slots through which a window's widgets hear from its document.
WATCHED = {
    MainWindow: ["_analysis_changed", "_loading_changed", "_update_title", "_edit_failed",
                 "_download_progress", "_refresh_undo_actions", "_refresh_inspector",
                 "_refresh_model_views", "_selection_changed"],
    GraphScene: ["_on_event", "refresh_analysis"],
    TrainingPanel: ["_training_changed", "_analysis_changed", "_update_actions"],
    SetupView: ["refresh"],
}


@pytest.fixture
def reactions(monkeypatch) -> list[str]:
    """Every call of a watched slot, as `Class.slot`; installed before the window is made,
    so that its connections go through the spies."""
    seen: list[str] = []
    for cls, names in WATCHED.items():
        for name in names:
            original = getattr(cls, name)
            arity = len(inspect.signature(original).parameters) - 1  # Qt passes what a slot takes

            def spy(self, *args, original=original, arity=arity, label=f"{cls.__name__}.{name}"):
                seen.append(label)
                return original(self, *args[:arity])

            monkeypatch.setattr(cls, name, spy)
    return seen


def listeners(document_or_project) -> tuple[list, list]:
    project = getattr(document_or_project, "project", document_or_project)
    return list(project.listeners), list(project.graph._listeners)


def edit_through_core_commands(project) -> None:
    """What a script or a late job holding the old project could still do to it."""
    graph = project.graph
    dense = new_node(graph, "Dense", {"units": 2}, (0, 0))
    AddNode(dense).do(project)
    SetTraining(project.training.replaced(weights="elsewhere.weights.h5"), "Store").do(project)
    AddNode(new_node(graph, "Dense", {"units": 3}, (300, 0))).do(project)
    connect(graph, dense.id, "out", graph.nodes[-1].id, "in").do(project)


def test_a_window_given_another_document_no_longer_hears_the_old_one(make_window, reactions, qtbot):
    window = make_window(Document.open(EXAMPLES / "cascade.graft"))
    old = window.document
    old.wait_until_analysed()
    project = old.project
    assert all(listeners(project))  # while shown, the window listens

    window.new_document()  # File ▸ New
    new = window.document
    assert new is not old and window.scene.document is new
    items = len(window.scene.items())
    status = window.statusBar().currentMessage()
    setup_config = window.training.setup.config
    reactions.clear()

    # Until its deferred deletion the old document can still emit: a late background job, an edit.
    old.loadingChanged.emit("Loading TensorFlow…")
    old.downloadProgress.emit("MobileNetV2 imagenet weights", 10, 100)
    old.downloadFailed.emit("MobileNetV2: could not be downloaded")
    old.analysisChanged.emit()
    old.trainingChanged.emit()
    old.fileChanged.emit()
    old.editFailed.emit("a node cannot feed itself")
    old.undo_stack.indexChanged.emit(0)
    assert reactions == []
    qtbot.wait(50)  # the old document and scene are deleted here
    reactions.clear()  # the new document's own (a frame_all, …)
    edit_through_core_commands(project)
    qtbot.wait(20)

    assert reactions == []
    assert listeners(project) == ([], [])
    assert window.scene.node_items == {} and len(window.scene.items()) == items
    assert window.inspector._node is None  # it shows "Select a node…"
    assert window.training.setup.document is new and window.training.setup.config is setup_config
    assert window.statusBar().currentMessage() == status
    assert not window.loading_label.isVisible() and window.windowTitle() == "Untitled[*] — Graft"


def test_opening_another_project_leaves_the_old_one_without_listeners(make_window, reactions, qtbot):
    window = make_window(Document.open(EXAMPLES / "cascade.graft"))
    old = window.document
    project = old.project
    assert window.open_path(EXAMPLES / "broken.graft")
    shown = {n.id for n in window.document.graph.nodes}
    assert set(window.scene.node_items) == shown
    reactions.clear()
    edit_through_core_commands(project)
    assert reactions == [] and listeners(project) == ([], [])
    assert set(window.scene.node_items) == shown


def test_a_closed_window_hears_nothing_more_from_its_document(make_window, reactions, qtbot):
    window = make_window(Document.open(EXAMPLES / "cascade.graft"))
    document = window.document
    document.wait_until_analysed()
    assert window.close()
    assert listeners(document) == ([], [])
    reactions.clear()
    document.analysisChanged.emit()  # the window is closed, not deleted: its document lives on
    document.loadingChanged.emit("Loading TensorFlow…")
    document.trainingChanged.emit()
    document.fileChanged.emit()
    document.editFailed.emit("refused")
    document.undo_stack.indexChanged.emit(0)
    edit_through_core_commands(document.project)
    qtbot.wait(20)
    assert reactions == []
    assert listeners(document) == ([], [])
    document.close()  # closing twice is harmless
