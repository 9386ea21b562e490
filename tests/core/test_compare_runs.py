"""Issue 18, comparing two runs: from two real runs' records, what changed in the graph, the
freezing, the setup and the data, and their metrics side by side; "no difference" where equal,
and "unknown" for what a run from before records does not tell. Also the Runs panel's core
actions: a run's weights checked against the graph, and deleting runs undoably."""

from __future__ import annotations

import pytest

from app.core.document.fileformat import load, save
from app.core.document.training_setup import Phase
from app.core.editing.commands import CommandStack, SetParams, edit_training
from app.core.training.compare import (
    DATA,
    ENVIRONMENT,
    FREEZING,
    GRAPH,
    METRICS,
    NO_DIFFERENCE,
    SETUP,
    compare_records,
    graph_differences,
)
from app.core.training.events import FINISHED
from app.core.training.record import read_record
from app.core.training.runner import train
from app.core.training.runs import (
    TRASH,
    DeleteRuns,
    RunWeightsError,
    checked_run_weights,
    empty_trash,
    list_runs,
)
from app.core.training.store import BEST_WEIGHTS
from tests.core.test_run_record import tiny_data, tiny_project
from tests.core.test_runs import legacy_run


def rows(comparison, title: str) -> dict[str, tuple[str, str]]:
    return {row.what: (row.left, row.right) for row in comparison.section(title).rows}


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory):
    """run-001 as tiny_project is; run-002 with only the tune phase's learning rate changed;
    run-003 with wider hidden units, 'hidden' frozen in the warm phase and other data in tiny.npz."""
    folder = tmp_path_factory.mktemp("compare")
    project = tiny_project(folder)
    stack = CommandStack(project)

    def run() -> None:
        save(project, folder / "tiny.graft")
        assert train(load(folder / "tiny.graft")).status == FINISHED

    run()
    warm, tune = project.training.phases
    tune = Phase(**tune.to_dict() | {"learning_rate": 0.005})
    stack.push(edit_training(project.training, "lr", phases=[warm, tune]))
    run()
    stack.push(SetParams(project.graph.node_by_name("hidden").id, {"units": 16}))
    stack.push(edit_training(project.training, "freeze", phases=[
        Phase(**warm.to_dict() | {"trainable": {"hidden": "frozen"}}), tune]))
    tiny_data(folder / "tiny.npz", seed=1)
    run()
    return folder, sorted((folder / "tiny.runs").glob("run-*"))


def test_two_runs_differ_in_units_learning_rate_freezing_and_data_file(three_runs):
    _, (first, second, third) = three_runs
    changed = compare_records(read_record(second), read_record(third))
    assert (changed.left, changed.right) == ("run-002", "run-003")
    assert rows(changed, GRAPH) == {"hidden.units": ("8", "16")}
    assert rows(changed, FREEZING) == {"phase warm: hidden": ("own setting", "frozen")}
    data = rows(changed, DATA)
    assert list(data) == ["file tiny.npz"] and data["file tiny.npz"][0] != data["file tiny.npz"][1]
    assert data["file tiny.npz"][0].startswith("sha256 ")
    assert rows(changed, SETUP) == {}
    assert changed.section(SETUP).notes == (NO_DIFFERENCE,)

    lr = compare_records(read_record(first), read_record(second))
    assert rows(lr, SETUP) == {"phase tune: learning rate": ("0.001", "0.005")}
    for title in (GRAPH, FREEZING, DATA):
        assert lr.section(title).rows == () and lr.section(title).notes == (NO_DIFFERENCE,), title


def test_metrics_are_side_by_side_with_their_difference(three_runs):
    _, (first, second, _) = three_runs
    left, right = read_record(first), read_record(second)
    metrics = {row.what: row for row in compare_records(left, right).section(METRICS).rows}
    tune_best = metrics["tune best val_loss"]
    was, now = (record["metrics"]["phases"][1]["best"]["val_loss"] for record in (left, right))
    assert (tune_best.left, tune_best.right) == (f"{was:.6g}", f"{now:.6g}")
    assert float(tune_best.difference) == pytest.approx(now - was, rel=1e-3) and tune_best.changed
    assert {"warm best val_loss", "warm final loss", "tune final epoch", "status"} <= set(metrics)
    assert not metrics["status"].changed and metrics["status"].left == FINISHED

    same = compare_records(left, left)
    assert all(section.notes == (NO_DIFFERENCE,) for section in same.sections)


def test_a_run_from_before_records_compares_what_it_has_and_says_what_is_unknown(three_runs, tmp_path):
    _, (first, _, _) = three_runs
    old = legacy_run(tmp_path / "run-004")
    comparison = compare_records(read_record(old), read_record(first))
    graph = comparison.section(GRAPH)
    assert graph.rows == () and "unknown: run-004 does not record the project" in graph.notes[0]
    assert "phases" in rows(comparison, FREEZING)  # train vs warm, tune
    assert "data mapping unknown" in comparison.section(SETUP).notes[0]
    assert "sha256 unknown" in comparison.section(DATA).notes[0]
    assert "packages unknown: run-004" in comparison.section(ENVIRONMENT).notes[0]


def test_a_runs_weights_are_checked_against_the_graph_as_it_is_now(three_runs):
    folder, (first, _, third) = three_runs
    project = load(folder / "tiny.graft")  # hidden has 16 units now, as in run-003
    assert checked_run_weights(project, third) == third / BEST_WEIGHTS
    with pytest.raises(RunWeightsError, match=r"run-001's weights do not fit the graph as it is now: "
                                              r"the graph differs from the run's in hidden.units: 8 → 16"):
        checked_run_weights(project, first)


def test_deleting_runs_moves_them_aside_until_undone_or_the_trash_is_emptied(tmp_path):
    project, runs = tiny_project(tmp_path), tmp_path / "tiny.runs"
    for number in (1, 2, 3):
        legacy_run(runs / f"run-00{number}")
    stack = CommandStack(project)
    stack.push(DeleteRuns([runs / "run-002", runs / "run-003"]))
    assert stack.undo_text == "Delete 2 runs"
    assert [run.name for run in list_runs(project)] == ["run-001"]
    assert sorted(p.name for p in (runs / TRASH).iterdir()) == ["run-002-1", "run-003-1"]
    stack.undo()
    assert [run.name for run in list_runs(project)] == ["run-001", "run-002", "run-003"]
    stack.redo()
    assert [run.name for run in list_runs(project)] == ["run-001"]
    stack.undo()

    stack.push(DeleteRuns([runs / "run-003"]))
    assert stack.undo_text == "Delete run-003"
    legacy_run(runs / "run-003")  # a new run took its number meanwhile: the deleted one comes back as run-004
    stack.undo()
    assert [run.folder.name for run in list_runs(project)] == ["run-001", "run-002", "run-003", "run-004"]
    stack.push(DeleteRuns([runs / "run-004"]))
    empty_trash(runs)
    assert not (runs / TRASH).exists()
    stack.undo()  # nothing left to bring back: undo changes nothing, and does not fail
    assert [run.folder.name for run in list_runs(project)] == ["run-001", "run-002", "run-003"]


def test_graph_differences_name_added_nodes_renames_types_and_connections():
    def document(*nodes, edges=()):
        return {"nodes": [{"id": i, "type": t, "name": n, "params": p} for i, t, n, p in nodes],
                "edges": [{"id": f"e{k}", "from": {"node": a, "port": "out"}, "to": {"node": b, "port": "in"}}
                          for k, (a, b) in enumerate(edges)]}

    before = document(("n1", "Input", "x", {}), ("n2", "Dense", "hidden", {"units": 4}),
                      ("n3", "Output", "y", {}), edges=[("n1", "n2"), ("n2", "n3")])
    after = document(("n1", "Input", "x", {}), ("n2", "Dense", "wide", {"units": 8}),
                     ("n3", "Flatten", "y", {}), ("n4", "Dropout", "drop", {"rate": 0.1}),
                     edges=[("n1", "n2"), ("n2", "n4"), ("n4", "n3")])
    assert [(row.what, row.left, row.right) for row in graph_differences(before, after)] == [
        ("node drop", "—", "Dropout"), ("node hidden renamed", "hidden", "wide"),
        ("hidden.units", "4", "8"), ("y type", "Output", "Flatten"),
        ("connection", "hidden → y", "—"), ("connection", "—", "hidden → drop"),
        ("connection", "—", "drop → y")]
