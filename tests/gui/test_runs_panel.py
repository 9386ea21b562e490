"""Issue 18, the Runs panel: a fresh editor lists the runs an earlier process made (`graft
train`), overlays the ticked ones in the plots (a colour each, named in the legend), and
writes a rename, tags and notes into the run's run.json."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.core.training.record import read_record
from app.gui.main_window import MainWindow
from app.gui.training.runs import BEST, NAME, NOTES, STATUS, TAGS
from tests.core.test_runs import train_runs, wine_file
from tests.gui.test_training import open_window


@pytest.fixture(autouse=True)
def no_dialogs(monkeypatch):
    monkeypatch.setattr(MainWindow, "ask_stop_training", lambda self: True)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Three runs of `graft train`, made before the editor opens (in this process, as a script would)."""
    folder = tmp_path_factory.mktemp("runs")
    path = wine_file(folder / "wine.graft")
    train_runs(path, 3)
    return path


def legend_labels(plot) -> list[str]:
    return [label.text for _, label in plot.legend.items]


def column(view, index: int) -> list[str]:
    return [view.table.item(row, index).text() for row in range(view.table.rowCount())]


def test_a_fresh_editor_lists_earlier_runs_and_overlays_three_in_their_own_colours(
        make_window, qtbot, trained, tmp_path):
    window = open_window(make_window, trained)
    panel = window.training
    view, plots = panel.runs, panel.plots
    assert panel.tabs.tabText(panel.tabs.indexOf(view)) == "Runs"
    assert sorted(column(view, NAME)) == ["run-001", "run-002", "run-003"]
    assert column(view, STATUS) == ["finished"] * 3
    assert column(view, NAME)[0] == "run-003"  # newest first
    assert plots.earlier_runs == ["run-003"]  # the newest run, shown on opening, is ticked
    assert view.table.item(view.row_of("run-003"), NAME).checkState() == Qt.CheckState.Checked

    for name in ("run-001", "run-002"):
        view.set_ticked(view.row_of(name), True)
    assert sorted(plots.earlier_runs) == ["run-001", "run-002", "run-003"]
    assert sorted(legend_labels(plots.epoch_plot)) == ["run-001", "run-002", "run-003"]
    pens = {label.text: sample.item.opts["pen"].color().name()
            for sample, label in plots.epoch_plot.legend.items}
    assert len(set(pens.values())) == 3, pens  # one colour each
    panel.tabs.setCurrentWidget(plots)
    qtbot.wait(50)
    window.training_dock.grab().save(str(tmp_path / "overlay.png"))

    view.set_ticked(view.row_of("run-001"), False)
    assert sorted(plots.earlier_runs) == ["run-002", "run-003"]
    assert "run-001" not in legend_labels(plots.epoch_plot)
    plots.clear_earlier_runs()  # the Plots tab's Clear: the ticks follow
    assert all(view.table.item(row, NAME).checkState() == Qt.CheckState.Unchecked for row in range(3))

    view.table.sortByColumn(BEST, Qt.SortOrder.AscendingOrder)
    bests = [float(text.split()[1]) for text in column(view, BEST)]
    assert bests == sorted(bests)

    panel.tabs.setCurrentWidget(view)
    window.resize(1100, 700)
    qtbot.wait(50)
    window.training_dock.grab().save(str(tmp_path / "runs_panel.png"))


def test_renaming_tagging_and_noting_a_run_writes_its_run_json_and_shows_in_the_table(make_window, qtbot,
                                                                                        trained):
    window = open_window(make_window, trained)
    view, plots = window.training.runs, window.training.plots
    window.training.tabs.setCurrentWidget(view)
    folder = trained.parent / "wine.runs" / "run-003"
    row = view.row_of("run-003")
    view.table.setCurrentCell(row, NAME)
    view.table.setFocus()
    qtbot.keyClick(view.table, Qt.Key.Key_F2)  # edit in place, as a user does
    editor = view.table.focusWidget()
    assert editor is not view.table
    editor.selectAll()
    qtbot.keyClicks(editor, "wider head")
    qtbot.keyClick(editor, Qt.Key.Key_Return)  # the table takes the text on its next event
    qtbot.waitUntil(lambda: view.row_of("wider head") != -1)
    assert read_record(folder)["name"] == "wider head"
    assert "run-003" not in column(view, NAME)
    assert "wider head" in legend_labels(plots.epoch_plot)  # it was shown: its legend entry follows

    view.table.item(view.row_of("wider head"), TAGS).setText("wide, lr 1e-3")
    qtbot.waitUntil(lambda: view.table.item(view.row_of("wider head"), TAGS).text() == "wide, lr 1e-3")
    notes = "more units in the head"
    view.table.item(view.row_of("wider head"), NOTES).setText(notes)
    qtbot.waitUntil(lambda: view.table.item(view.row_of("wider head"), NOTES).text() == notes)
    record = read_record(folder)
    assert (record["name"], record["tags"], record["notes"]) == ("wider head", ["wide", "lr 1e-3"],
                                                                  "more units in the head")
    assert not window.document.modified  # a run's files, not the project: nothing to undo or save

    view.table.item(view.row_of("wider head"), NAME).setText("   ")  # refused: the table shows the name again
    qtbot.waitUntil(lambda: view.row_of("wider head") != -1 and "   " not in column(view, NAME))
    assert read_record(folder)["name"] == "wider head"


def test_runs_started_within_one_second_are_listed_newest_first_by_number(make_window, trained, tmp_path):
    """Scripts start runs within one second of each other: their dates tie, and the table's
    order was then left to chance (run-002 came first once on a clean machine)."""
    import json
    import shutil

    copy = shutil.copytree(trained.parent, tmp_path / "copy")
    for folder in (copy / "wine.runs").iterdir():
        record = json.loads((folder / "run.json").read_text())
        record |= {"started": "2026-12-05T12:00:00+00:00", "name": folder.name}  # (another test renames)
        (folder / "run.json").write_text(json.dumps(record))
    window = open_window(make_window, copy / trained.name)
    assert column(window.training.runs, NAME) == ["run-003", "run-002", "run-001"]
