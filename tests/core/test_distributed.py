"""Training under tf.distribute: two workers on 127.0.0.1 that end with the same weights, a
stop on one worker that stops both, a TF_CONFIG mistake told plainly, and the mirrored
strategy learning on the CPU like `fit` does."""

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from app.core.document.fileformat import load
from app.core.training import events
from app.core.training.distributed import read_tf_config
from app.core.training.run import RunError
from app.core.training.runner import load_trained_model, train
from tests.conftest import ROOT
from tests.core.test_training import Recorder, wine_regression

WORKER_SECONDS = 120


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start_workers(project_path, folder, *options) -> list[tuple[subprocess.Popen, object, object]]:
    """`graft train --strategy multiworker` twice, as workers 0 and 1 of a cluster on 127.0.0.1,
    each with its own --out folder; stdout and stderr go to files the test can read while they run."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    workers = []
    for index in range(2):
        config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CONFIG": json.dumps(config), "CUDA_VISIBLE_DEVICES": "",
               "TF_CPP_MIN_LOG_LEVEL": "3"}
        out, err = folder / f"worker{index}.out", folder / f"worker{index}.err"
        with open(out, "w") as stdout, open(err, "w") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "train", str(project_path), "--strategy", "multiworker",
                 "--out", str(folder / f"out{index}"), *options],
                cwd=ROOT, env=env, stdout=stdout, stderr=stderr)
        workers.append((process, out, err))
    return workers


def finish(workers) -> list[tuple[int, str, str]]:
    """Wait for both workers (killing both if either hangs); their exit codes and output."""
    deadline = time.monotonic() + WORKER_SECONDS
    try:
        for process, _, _ in workers:
            process.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        for process, _, _ in workers:
            process.kill()
            process.wait()
        pytest.fail(f"the workers did not finish within {WORKER_SECONDS} s:\n" + _outputs(workers))
    return [(process.returncode, out.read_text(), err.read_text()) for process, out, err in workers]


def _outputs(workers) -> str:
    return "\n".join(f"--- worker {i} (exit {p.returncode}):\n{out.read_text()}{err.read_text()}"
                     for i, (p, out, err) in enumerate(workers))


def trained_weights(project_path, weights_file) -> list[np.ndarray]:
    project = load(project_path)
    project.training.weights = str(weights_file)
    return load_trained_model(project).model.get_weights()


def test_two_workers_on_localhost_finish_with_identical_weights(tmp_path):
    project = wine_regression(tmp_path / "project")
    workers = start_workers(project.path, tmp_path, "--epochs", "1")
    results = finish(workers)
    assert [code for code, _, _ in results] == [0, 0], _outputs(workers)
    assert "2 replica(s) in all" in results[0][2]  # one cluster, not two separate runs
    chief, other = tmp_path / "out0", tmp_path / "out1" / "worker-1"
    history = json.loads((chief / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1] and np.isfinite(history[0]["loss"])
    assert json.loads((other / "history.json").read_text()) == history  # the same reduced numbers
    # --out is outside the project's folder: the project is left alone, and the chief says so
    assert load(project.path).training.weights is None
    assert "is unchanged: the weights" in results[0][1] and "is unchanged" not in results[1][1]
    for name in ("last.weights.h5", "best.weights.h5"):
        ours = trained_weights(project.path, chief / name)
        theirs = trained_weights(project.path, other / name)
        assert len(ours) == len(theirs) == 4
        for a, b in zip(ours, theirs):
            assert np.array_equal(a, b)
    import keras

    keras.utils.set_random_seed(project.training.settings["seed"])  # as the run started
    untrained = load_trained_model(project).model.get_weights()
    assert not all(np.array_equal(a, b) for a, b in zip(untrained, ours))


def test_a_stop_on_one_worker_stops_both_after_the_same_step(tmp_path):
    project = wine_regression(tmp_path / "project")
    workers = start_workers(project.path, tmp_path, "--epochs", "1000")
    deadline = time.monotonic() + WORKER_SECONDS
    while "epoch 1/1000" not in workers[1][1].read_text():
        if time.monotonic() > deadline or any(p.poll() is not None for p, _, _ in workers):
            for process, _, _ in workers:
                process.kill()
            pytest.fail("the workers never finished an epoch:\n" + _outputs(workers))
        time.sleep(0.2)
    workers[1][0].send_signal(signal.SIGINT)  # Ctrl+C on worker 1 only
    results = finish(workers)
    assert [code for code, _, _ in results] == [130, 130], _outputs(workers)
    chief, other = tmp_path / "out0", tmp_path / "out1" / "worker-1"
    state = json.loads((chief / "state.json").read_text())
    assert state["status"] == "stopped" and 1 <= state["epoch"] < 1000
    assert "--resume --out RUN_FOLDER" in results[0][2]
    for a, b in zip(trained_weights(project.path, chief / "last.weights.h5"),
                    trained_weights(project.path, other / "last.weights.h5")):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("value, problem", [
    (None, "TF_CONFIG is not set"),
    ("{'cluster': 1}", "TF_CONFIG is not valid JSON"),
    ('{"cluster": {"worker": ["127.0.0.1:7000"]}}', '"task" must name this machine\'s place'),
    ('{"cluster": {"worker": ["127.0.0.1"]}, "task": {"type": "worker", "index": 0}}', '"host:port"'),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}',
     "task index must be a whole number from 0 to 1"),
])
def test_a_missing_or_malformed_tf_config_names_the_variable_and_shows_an_example(
        tmp_path, monkeypatch, value, problem):
    if value is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", value)
    ended = train(wine_regression(tmp_path), strategy="multiworker")
    assert ended.status == events.FAILED
    assert problem in ended.message
    assert "--strategy multiworker needs the TF_CONFIG environment variable" in ended.message
    example = ended.message.split("export TF_CONFIG='")[1].split("'")[0]
    assert is_usable(json.loads(example))


def is_usable(config: dict) -> bool:
    try:
        return read_tf_config({"TF_CONFIG": json.dumps(config)}) == config
    except RunError:
        return False


def test_mirrored_trains_on_the_cpu_like_fit_and_the_loss_goes_down(tmp_path, caplog):
    import tensorflow as tf

    project = wine_regression(tmp_path / "mirrored")
    sink = Recorder()
    with caplog.at_level(logging.INFO, logger="app.core.training.distributed"):
        ended = train(project, sink=sink, strategy="mirrored")
    assert ended.status == events.FINISHED, ended.message + ended.details
    if not tf.config.list_logical_devices("GPU"):
        assert "MirroredStrategy runs with one replica on the CPU" in caplog.text
    losses = [e.logs["loss"] for e in sink.of(events.EpochEnded)]
    assert len(losses) == 3 and losses[0] > losses[1] > losses[2]
    assert all("val_loss" in e.logs for e in sink.of(events.EpochEnded))
    batches = sink.of(events.BatchEnded)
    assert [(b.step, b.global_step) for b in batches][-2:] == [(8, 26), (9, 27)]
    assert all(np.isfinite(b.loss) and b.steps == 9 for b in batches)
    assert sink.of(events.Evaluated)[0].metrics["alcohol mean absolute error"] > 0
    run = tmp_path / "mirrored" / "wine.runs" / "run-001"
    assert ended.weights == "wine.runs/run-001/best.weights.h5"
    assert len(json.loads((run / "history.json").read_text())) == 3
    assert (run / "history.csv").read_text().startswith("phase,epoch,loss,val_loss")
    assert (run / "optimizer.npz").is_file()  # a resumed run goes on with its moments, as with fit
    fitted = Recorder()
    assert train(wine_regression(tmp_path / "fit"), sink=fitted, epochs=1).status == events.FINISHED
    first = fitted.of(events.EpochEnded)[0].logs  # the same seed and data: the same first epoch
    assert losses[0] == pytest.approx(first["loss"], rel=1e-4)
