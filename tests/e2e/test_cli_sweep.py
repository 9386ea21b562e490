"""`graft sweep` (issue 18): two processes on one SQLite study finish the requested trials between
them, with no trial number, set of values or run folder used twice; a project without a sweep
searches a default space and says so; --apply saves the best values."""

import json
import os
import subprocess
import sys

from app.core.document.fileformat import load
from app.core.training.sweep import COMPLETE, PRUNED, sweep_results
from tests.conftest import ROOT
from tests.core.test_sweep import digits_sweep_project
from tests.e2e.test_cli import graft

TRIALS = 6


def test_two_processes_on_one_study_finish_the_requested_trials_between_them(tmp_path):
    path = digits_sweep_project(tmp_path, epochs=2)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "app", "sweep", str(path), "--trials", str(TRIALS)]
    processes = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(2)]
    outputs = [process.communicate(timeout=600) for process in processes]
    for process, (out, err) in zip(processes, outputs):
        assert process.returncode == 0, out + err
        assert "Traceback" not in err
    lines = [line for out, _ in outputs for line in out.splitlines() if line.startswith("trial ")]
    assert sorted(int(line.split()[1]) for line in lines) == list(range(TRIALS))  # each trial, by one process
    assert all(out.strip() for out, _ in outputs)

    trials = sweep_results(load(path)).trials
    assert [t.number for t in trials] == list(range(TRIALS))
    assert all(t.state in (COMPLETE, PRUNED) for t in trials)
    assert len({json.dumps(t.params, sort_keys=True) for t in trials}) == TRIALS
    assert len({t.run_dir for t in trials}) == TRIALS
    runs = sorted((tmp_path / "digits.runs").iterdir())
    assert [p.name for p in runs] == [f"run-{i:03d}" for i in range(1, TRIALS + 1)]
    recorded = [json.loads((run / "run.json").read_text())["sweep"]["trial"] for run in runs]
    assert sorted(recorded) == list(range(TRIALS))


def test_a_project_without_a_sweep_searches_the_default_space_and_apply_saves_the_best(tmp_path):
    path = digits_sweep_project(tmp_path, sweep=None, epochs=1)
    done = graft("sweep", path, "--trials", "2", "--apply")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sets up no sweep (training.sweep); searching learning_rate, batch_size (" in done.stdout
    assert "the study 'digits' has 2 of 2 trials" in done.stdout
    best = sweep_results(load(path)).best
    assert f"best: trial {best.number}  learning_rate" in done.stdout
    assert f"digits.graft now has the values of trial {best.number}" in done.stdout
    saved = load(path).training.settings
    assert saved["learning_rate"] == best.params["learning_rate"]
    assert saved["batch_size"] == best.params["batch_size"]
    again = graft("sweep", path, "--trials", "2")
    assert again.returncode == 0 and "has its 2 trials already" in again.stdout


def test_a_sweep_naming_a_missing_node_is_refused_in_one_line(tmp_path):
    path = digits_sweep_project(tmp_path, sweep={"parameters": [
        {"kind": "units", "node": "gone", "low": 8, "high": 32}]})
    done = graft("sweep", path, "--trials", "2")
    assert done.returncode == 1
    assert "sweep parameter 1 (units[gone]): 'gone' is not a node of the graph" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "digits.runs").exists()
