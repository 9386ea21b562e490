"""Issue 18, the Sweep tab: the space is edited through undoable setup edits, a 3-trial sweep runs
on its thread and fills the trials table and the objective-versus-parameter plot, and Apply best
is one undoable step."""

from __future__ import annotations

import pytest

from app.gui.main_window import MainWindow
from app.gui.training.sweep import VALUES
from tests.core.test_sweep import digits_sweep_project
from tests.gui.test_training import open_window


@pytest.fixture(autouse=True)
def no_dialogs(monkeypatch):
    monkeypatch.setattr(MainWindow, "ask_stop_training", lambda self: True)


def test_edit_the_space_run_a_sweep_and_apply_its_best(make_window, qtbot, tmp_path):
    window = open_window(make_window, digits_sweep_project(tmp_path, epochs=2))
    panel, document = window.training, window.document
    view = panel.sweep
    assert panel.tabs.tabText(panel.tabs.indexOf(view)) == "Sweep"
    panel.tabs.setCurrentWidget(view)
    stack = document.undo_stack

    view.add_parameter("units")  # the first Dense node
    names = [(e["kind"], e.get("node")) for e in document.training.sweep["parameters"]]
    assert names == [("learning_rate", None), ("dropout", "drop"), ("units", "hidden")]
    assert view.space.rowCount() == 3 and stack.undoText() == "Search units[hidden]"
    stack.undo()
    assert view.space.rowCount() == 2 and len(document.training.sweep["parameters"]) == 2

    view.space.item(0, VALUES).setText("0.001 to 0.05")
    assert document.training.sweep["parameters"][0] | {} == {
        "kind": "learning_rate", "low": 0.001, "high": 0.05, "phase": None}
    view.space.item(0, VALUES).setText("fast")  # refused: said, and the cell shows the space again
    assert view.space.item(0, VALUES).text() == "0.001 to 0.05"
    view.trials_box.setValue(3)
    view.trials_box.editingFinished.emit()
    assert document.training.sweep["trials"] == 3 and stack.undoText() == "Change sweep trials"

    before = document.project.to_dict()
    assert view.start()
    assert not panel.start() and "sweep" in panel.refusal()  # no training run beside a sweep
    qtbot.waitUntil(lambda: not view.running, timeout=180000)
    assert view.trials.rowCount() == 3
    headers = [view.trials.horizontalHeaderItem(c).text() for c in range(view.trials.columnCount())]
    assert headers == ["Trial", "State", "val_loss", "learning_rate", "dropout[drop]", "Run"]
    assert [view.parameter_box.itemText(i) for i in range(view.parameter_box.count())] == [
        "learning_rate", "dropout[drop]"]
    drawn = view.plot.listDataItems()
    assert sum(len(item.getData()[0]) for item in drawn) == 4  # each trial, and the best's star again
    assert view.plot.getAxis("bottom").logMode  # a learning rate, on its log range
    assert panel.runs.table.rowCount() == 3  # each trial a run in the Runs tab

    best = view.results.best
    assert view.apply_button.isEnabled() and view.apply_button.text() == f"Apply Best (trial {best.number})"
    view.apply_button.click()
    assert stack.undoText() == f"Apply best trial {best.number}"
    assert document.training.settings["learning_rate"] == best.params["learning_rate"]
    assert document.project.graph.node_by_name("drop").params["rate"] == best.params["dropout[drop]"]
    stack.undo()
    assert document.project.to_dict() == before


def test_the_sweep_tab_asks_no_more_height_than_the_plots(make_window, tmp_path):
    """The dock's tallest tab sets how short it can be, and so how much the canvas keeps."""
    panel = open_window(make_window, digits_sweep_project(tmp_path)).training
    assert panel.sweep.minimumSizeHint().height() <= panel.plots.minimumSizeHint().height()
