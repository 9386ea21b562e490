"""Sweeps with Optuna (issue 18): a sweep of 8 trials on the bundled digits prunes hopeless trials
and its best beats its worst; every trial is a run with its record; Apply best is one undoable
command; a stopped sweep and a study that has its trials already end cleanly."""

import json
import math
from pathlib import Path

import pytest

from app.core.document.fileformat import load, save
from app.core.document.project import Project
from app.core.document.training_setup import config_from_dict
from app.core.editing.builder import GraphBuilder
from app.core.editing.commands import CommandStack
from app.core.training.events import RunControl, RunStarted
from app.core.training.record import read_record
from app.core.training.sweep import (
    COMPLETE,
    FAILED,
    PRUNED,
    TrialEnded,
    TrialStarted,
    best_changes,
    run_sweep,
    sweep_results,
)

# The learning rate reaches hopeless values at both ends, so the median pruner has work to do.
SPACE = {"trials": 8, "parameters": [{"kind": "learning_rate", "low": 1e-5, "high": 0.3},
                                     {"kind": "dropout", "node": "drop", "low": 0.0, "high": 0.5}]}


def digits_sweep_project(folder: Path, sweep: dict | None = SPACE, epochs: int = 3) -> Path:
    """A tiny classifier of the bundled digits (a second per run), with a sweep space; saved."""
    b = GraphBuilder()
    b.add("pixels", "Input", 0, 0, shape=[8, 8, 1])
    b.add("flat", "Flatten", 1, 0)
    b.add("hidden", "Dense", 2, 0, units=16, activation="relu")
    b.add("drop", "Dropout", 3, 0, rate=0.1)
    b.add("logits", "Dense", 4, 0, units=10)
    b.add("digit", "Output", 5, 0, loss="sparse_categorical_crossentropy")
    b.chain("pixels", "flat", "hidden", "drop", "logits", "digit")
    training = {"settings": {"epochs": epochs, "batch_size": 64},
                "data": {"source": "bundled", "path": "digits", "validation_path": "digits_holdout",
                         "mapping": {"pixels": "images", "digit": "labels"}}}
    if sweep is not None:
        training["sweep"] = sweep
    path = folder / "digits.graft"
    save(Project(b.graph, "digits", training=config_from_dict(training)), path)
    return path


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    path = digits_sweep_project(tmp_path_factory.mktemp("sweep"))
    project = load(path)
    events = []
    ended = run_sweep(project, seed=0, sink=events.append)
    return path, ended, events, sweep_results(project)


def test_a_sweep_of_8_trials_prunes_hopeless_ones_and_its_best_beats_its_worst(swept):
    _, ended, events, results = swept
    assert not ended.stopped and not ended.failed, ended.message
    assert ended.message == "the study 'digits' has 8 of 8 trials"
    assert [t.number for t in results.trials] == list(range(8))
    states = [t.state for t in results.trials]
    assert set(states) <= {COMPLETE, PRUNED} and states.count(PRUNED) >= 1
    pruned = next(t for t in results.trials if t.state == PRUNED)
    assert math.isfinite(pruned.value) and pruned.message.startswith("pruned:")
    complete = [t.value for t in results.trials if t.state == COMPLETE]
    assert results.objective == "val_loss" and all(math.isfinite(v) for v in complete)
    assert results.best.value == min(complete) < max(complete)
    started = [e.number for e in events if isinstance(e, TrialStarted)]
    assert started == [e.trial.number for e in events if isinstance(e, TrialEnded)] == list(range(8))
    assert events[-1] is ended


def test_every_trial_is_a_run_with_its_values_in_its_record(swept):
    _, _, _, results = swept
    folders = [Path(t.run_dir) for t in results.trials]
    assert len(set(folders)) == 8
    for trial, folder in zip(results.trials, folders):
        record = read_record(folder)
        assert record["status"] == ("finished" if trial.state == COMPLETE else "stopped")
        assert record["sweep"] | {"storage": None} == {
            "study": "digits", "storage": None, "trial": trial.number, "params": trial.params,
            "state": trial.state, "value": trial.value}
        assert record["tags"] == ["sweep", f"trial {trial.number}"]
        # the run trained with the trial's values
        assert record["settings"]["learning_rate"] == trial.params["learning_rate"]
        drop = next(n for n in record["project"]["document"]["nodes"] if n["name"] == "drop")
        assert drop["params"]["rate"] == trial.params["dropout[drop]"]
    assert json.loads((folders[0] / "run.json").read_text())["sweep"]["trial"] == 0


def test_apply_best_sets_the_values_as_one_undoable_command(swept):
    path, _, _, results = swept
    project = load(path)
    before = project.to_dict()
    stack = CommandStack(project)
    stack.push(best_changes(project, results.best))
    assert stack.undo_text == f"Apply best trial {results.best.number}"
    assert project.training.settings["learning_rate"] == results.best.params["learning_rate"]
    assert project.graph.node_by_name("drop").params["rate"] == results.best.params["dropout[drop]"]
    assert project.training.sweep == before["training"]["sweep"]
    stack.undo()
    assert project.to_dict() == before


def test_a_study_with_its_trials_runs_no_more_and_a_stopped_sweep_ends_cleanly(swept):
    path, _, _, _ = swept
    project = load(path)
    runs = sorted((path.parent / "digits.runs").iterdir())
    ended = run_sweep(project, trials=8)
    assert "has its 8 trials already" in ended.message
    assert sorted((path.parent / "digits.runs").iterdir()) == runs

    control = RunControl()

    def stop_as_the_run_starts(event):
        if isinstance(event, RunStarted):
            control.stop()

    ended = run_sweep(project, trials=9, control=control, sink=stop_as_the_run_starts)
    assert ended.stopped and "stopped" in ended.message
    trials = sweep_results(project).trials
    assert len(trials) == 9 and trials[-1].state == FAILED and trials[-1].message == "stopped with the sweep"
    assert read_record(trials[-1].run_dir)["status"] == "stopped"


def test_a_run_folder_another_process_claimed_meanwhile_is_skipped(tmp_path, monkeypatch):
    """Two processes may both see run-001 as the next free number: mkdir decides, the loser
    takes the next one."""
    from app.core.training.run import Run

    project = load(digits_sweep_project(tmp_path))
    (tmp_path / "digits.runs" / "run-001").mkdir(parents=True)  # made by the other process …
    monkeypatch.setattr(Path, "glob", lambda self, pattern: iter([]))  # … after this one looked
    run = Run(project, lambda event: None, RunControl(), None, None, None, False)
    assert run._new_folder() == tmp_path / "digits.runs" / "run-002"


def test_a_pruned_trial_is_no_run_to_resume(swept):
    """A pruned trial's run ended stopped, with the trial's values, not the project's."""
    from app.core.training.events import FAILED, STOPPED
    from app.core.training.runner import train
    from app.core.training.store import latest_run

    path, *_ = swept
    project = load(path)
    assert latest_run(project, STOPPED) is not None  # the pruned trials' runs
    assert latest_run(project, STOPPED, trials=False) is None
    ended = train(project, resume=True)
    assert ended.status == FAILED and ended.message == "there is no stopped run to resume"
