"""Issue 18, the Runs panel's actions: a fresh editor on a project with runs from an earlier
process and from `graft train` lists them, overlays three and compares two (Ctrl+D); a run
opens as a project of its own; its weights become the project's when they fit (undoably); and
runs are deleted after a question, undoably until the project closes."""

from __future__ import annotations

import shutil

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from app.core.document.fileformat import load, save
from app.core.editing.commands import CommandStack, SetParams, edit_training
from app.core.training.compare import DATA, GRAPH, SETUP
from app.core.training.runs import TRASH, list_runs
from app.gui.main_window import MainWindow
from app.gui.training.runs import NAME
from tests.core.test_runs import train_runs, wine_file
from tests.e2e.test_cli import graft
from tests.gui.test_training import open_window


@pytest.fixture(autouse=True)
def no_dialogs(monkeypatch):
    monkeypatch.setattr(MainWindow, "ask_stop_training", lambda self: True)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """run-001 by `graft train` in another process on 4 hidden units; then 3 units and a
    learning rate of 0.01, run-002 and run-003 by `graft train` in this one. The project uses
    run-003's weights, as `graft train` leaves it."""
    path = wine_file(tmp_path_factory.mktemp("runs") / "wine.graft")
    done = graft("train", path, "--epochs", "2")
    assert done.returncode == 0, done.stderr
    project = load(path)
    stack = CommandStack(project)
    stack.push(SetParams(project.graph.node_by_name("hidden").id, {"units": 3}))
    settings = project.training.settings | {"learning_rate": 0.01}
    stack.push(edit_training(project.training, "lr", settings=settings))
    save(project, path)
    train_runs(path, 2)
    return path


def runs_tab(make_window, path):
    window = open_window(make_window, path)
    window.resize(1024, 700)
    window.show_training("runs")
    view = window.training.runs
    view.table.setFocus()
    return window, view


def main_windows() -> list[MainWindow]:
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]


def names(view) -> list[str]:
    return [view.table.item(row, NAME).text() for row in range(view.table.rowCount())]


def test_a_fresh_editor_lists_runs_overlays_three_and_compares_two(make_window, qtbot, trained):
    window, view = runs_tab(make_window, trained)
    assert sorted(names(view)) == ["run-001", "run-002", "run-003"]
    for name in ("run-001", "run-002"):
        view.set_ticked(view.row_of(name), True)
    assert sorted(window.training.plots.earlier_runs) == ["run-001", "run-002", "run-003"]

    view.select("run-001")
    assert not view.compare_action.isEnabled()  # one run: nothing to compare with
    view.select("run-002", "run-001")
    qtbot.keyClick(view.table, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    dialog = view.compare_dialog
    assert dialog is not None and dialog.isVisible()
    assert len(window.document.graph.nodes) == 3  # Ctrl+D in the table compared; it did not duplicate
    comparison = dialog.comparison
    assert (comparison.left, comparison.right) == ("run-001", "run-002")  # the earlier on the left
    assert ["hidden.units", "4", "3", ""] in dialog.rows_shown(GRAPH)
    assert ["learning rate", "0.001", "0.01", ""] in dialog.rows_shown(SETUP)
    assert dialog.rows_shown(DATA) == [["no difference", "", "", ""]]


def test_a_run_opens_as_an_unsaved_project_with_its_graph_and_weights(make_window, qtbot, trained):
    window, view = runs_tab(make_window, trained)
    before = main_windows()
    view.select("run-001")
    modifiers = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(view.table, Qt.Key.Key_O, modifiers)
    [opened] = [w for w in main_windows() if w not in before]
    try:
        project = opened.document.project
        assert project.graph.node_by_name("hidden").params["units"] == 4  # as run-001 trained it
        assert project.training.settings["learning_rate"] == 0.001
        assert project.path is None and opened.document.modified  # Save asks where
        assert project.folder == trained.parent  # its paths are found where the run found them
        assert project.training.weights == "wine.runs/run-001/best.weights.h5"
        assert project.context.resolve(project.training.weights).is_file()
        assert window.document.graph.node_by_name("hidden").params["units"] == 3  # this one is as it was
    finally:
        opened.close()


def test_a_runs_weights_are_used_when_they_fit_and_undo_restores(make_window, qtbot, trained):
    window, view = runs_tab(make_window, trained)
    training = window.document.project.training
    assert training.weights == "wine.runs/run-003/best.weights.h5"
    view.select("run-002")
    qtbot.keyClick(view.table, Qt.Key.Key_U, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.document.training.weights == "wine.runs/run-002/best.weights.h5",
                    timeout=60000)
    assert window.undo_action.text() == "&Undo Use weights of run-002"
    window.undo_action.trigger()
    assert window.document.training.weights == "wine.runs/run-003/best.weights.h5"

    view.select("run-001")  # 4 hidden units: not this graph's 3
    view.use_weights_action.trigger()
    qtbot.waitUntil(lambda: view.banner.isVisible() and view.banner.kind == "error", timeout=60000)
    assert view.banner.text.text().startswith("Run-001's weights do not fit the graph as it is now")
    assert "hidden.units: 4 → 3" in view.banner.text.text()
    assert window.document.training.weights == "wine.runs/run-003/best.weights.h5"


def test_deleting_asks_and_is_undone_until_the_project_closes(make_window, qtbot, trained, tmp_path,
                                                               monkeypatch):
    copy = shutil.copytree(trained.parent, tmp_path / "copy") / trained.name
    runs = copy.parent / "wine.runs"
    window, view = runs_tab(make_window, copy)
    asked = []
    monkeypatch.setattr(type(view), "ask_delete", lambda self, question: asked.append(question) or True)
    view.select("run-003")
    qtbot.keyClick(view.table, Qt.Key.Key_Delete)
    [question] = asked
    assert question.startswith("Delete run-003?")
    assert "The project uses run-003's weights" in question
    assert len(window.document.graph.nodes) == 3  # Delete in the table deleted the run, not the nodes
    assert sorted(names(view)) == ["run-001", "run-002"]
    assert [run.name for run in list_runs(window.document.project)] == ["run-001", "run-002"]
    assert "run-003" not in window.training.plots.earlier_runs  # its curves went with it

    assert window.undo_action.text() == "&Undo Delete run-003"
    window.undo_action.trigger()
    assert sorted(names(view)) == ["run-001", "run-002", "run-003"]
    assert (runs / "run-003" / "run.json").is_file()

    view.select("run-001", "run-002")
    view.delete_action.trigger()
    assert asked[-1].startswith("Delete run-002 and run-001?")  # as the table lists them
    assert names(view) == ["run-003"]
    window.new_document()  # the project closes: its deleted runs go for good
    assert not (runs / TRASH).exists()
    assert sorted(p.name for p in runs.iterdir()) == ["run-003"]


def test_the_run_being_trained_cannot_be_deleted(make_window, trained):
    window, view = runs_tab(make_window, trained)
    view.training_now = trained.parent / "wine.runs" / "run-003"
    view.select("run-003")
    assert not view.delete_selected()
    assert "it is training now" in view.banner.text.text()
    assert (trained.parent / "wine.runs" / "run-003").is_dir()


def test_the_right_click_menu_opens_from_the_keyboard(make_window, qtbot, trained):
    window, view = runs_tab(make_window, trained)
    view.select("run-002")
    view.table.setCurrentCell(view.row_of("run-002"), NAME)
    qtbot.keyClick(view.table, Qt.Key.Key_F10, Qt.KeyboardModifier.ShiftModifier)
    menu = QApplication.activePopupWidget()
    assert menu is not None
    texts = [action.text() for action in menu.actions()]
    assert {"&Compare", "&Open as Project", "&Use These Weights", "Overlay in Plots", "Rename",
            "&Delete…"} <= set(texts)
    assert not view.compare_action.isEnabled() and view.open_action.isEnabled()
    menu.close()
