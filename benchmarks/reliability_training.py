"""Reliability experiment 6 (issue 16): faults during training.

Why this exists: a run is left going for hours, and whatever goes wrong in it (the loss or the
weights turning NaN, a layer failing on some batch, a stop while it validates, the window
closed, Ctrl+C pressed twice) must end it with a message, keep the last good weights in the
run folder (`last.weights.h5` loads, holds no NaN, and is what the model was before the fault)
and leave no thread behind. Each fault below is made on purpose in a small real run (a Dense
regression on the bundled wine data) and checked on those three counts.

Threads are counted as the OS lists them (Python keeps a record of an ended QThread), as those
started during the run that still run once it ended and the process collected its garbage:
after a stop, a NaN or a failure, Keras leaves its epoch iterator in a reference cycle with
its suspended generator, so tf.data's threads end only at the next collection (the editor
collects on its UI thread); the window also leaves Qt's pooled threads, which end after 30 s
idle. The report gives the count right after the run too.

    .venv/bin/python benchmarks/reliability_training.py

tests/reliability/test_training_faults.py runs the same faults through the helpers here and
asserts each outcome in detail."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pytest  # noqa: E402  (its MonkeyPatch puts every hook back, whatever happens)

from app.core.document.fileformat import load, save  # noqa: E402
from app.core.document.project import Project  # noqa: E402
from app.core.document.training_setup import config_from_dict  # noqa: E402
from app.core.editing.builder import GraphBuilder  # noqa: E402
from app.core.training import events  # noqa: E402
from app.core.training.events import RunControl, RunEnded  # noqa: E402
from app.core.training.runner import load_trained_model, train  # noqa: E402
from benchmarks.reliability import run_alone  # noqa: E402

WINE_FEATURES = ["malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols", "flavanoids",
                 "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue",
                 "od280_od315_of_diluted_wines", "proline"]
FAULT_EPOCH = 2  # 0-based: two epochs end well, the third meets the fault
MESSAGE_SHOWN = 110  # characters of a message in the report
QT_POOL_EXPIRY_MS = 30000  # Qt starts a few pooled threads for the window and ends them when idle this long


# -- the project and what its run folder holds -------------------------------------------------


def wine_project(folder: Path, *, epochs: int = 4, validation_split: float = 0.2, data: dict | None = None,
                 **settings) -> Project:
    """A small Dense regression on the bundled wine data (or `data`, the project's data section),
    saved in `folder` and opened from there, as the editor and `graft train` open it."""
    b = GraphBuilder()
    b.add("features", "Input", 0, 0, shape=[12])
    b.add("hidden", "Dense", 1, 0, units=16, activation="relu")
    b.add("predict", "Dense", 2, 0, units=1)
    b.add("alcohol", "Output", 3, 0, loss="mean_squared_error")
    b.chain("features", "hidden", "predict", "alcohol")
    training = config_from_dict({
        "data": data or {"source": "bundled", "path": "wine", "validation_split": validation_split,
                         "mapping": {"features": WINE_FEATURES, "alcohol": "alcohol"}},
        # one step per call: the faults land on a given step, which callbacks see only then
        "settings": {"batch_size": 16, "epochs": epochs, "steps_per_execution": 1, **settings}})
    folder.mkdir(parents=True, exist_ok=True)
    save(Project(b.graph, "wine", training=training), folder / "wine.graft")
    return load(folder / "wine.graft")


def run_dir(project: Project) -> Path:
    return project.path.parent / "wine.runs" / "run-001"


def weights_in(project: Project, path: Path) -> list[np.ndarray]:
    """The model's weights as `path` holds them, loaded the way export and the editor do."""
    project = load(project.path)
    project.training.weights = str(path)
    return load_trained_model(project).model.get_weights()


def finite(weights: list[np.ndarray]) -> bool:
    return all(np.isfinite(w).all() for w in weights)


def same(a: list[np.ndarray] | None, b: list[np.ndarray] | None) -> bool:
    return a is not None and b is not None and len(a) == len(b) and all(
        np.array_equal(x, y) for x, y in zip(a, b))


def state_of(folder: Path) -> dict:
    try:
        return json.loads((folder / "state.json").read_text(encoding="utf-8"))
    except OSError:
        return {}


# -- threads -----------------------------------------------------------------------------------


THREADS_GRACE_S = 5.0  # how long the threads a run started may take to end after it returned


def live_threads() -> set[int]:
    """The native ids of the process's threads, as the OS lists them: Python keeps its record
    of a foreign thread (a QThread) after the thread ended, so `threading` cannot tell."""
    return {int(task) for task in os.listdir("/proc/self/task")}


def thread_alive(native_id: int) -> bool:
    return os.path.exists(f"/proc/self/task/{native_id}")


def qt_pooled(native_id: int) -> bool:
    """A thread Qt pooled (it names them so); it ends 30 s after its last task."""
    try:
        with open(f"/proc/self/task/{native_id}/comm", encoding="utf-8") as handle:
            return handle.read().strip() == "Thread (pooled)"
    except OSError:
        return False


_warm = []


def warm_up(folder: Path) -> None:
    """One short run, once per process: TensorFlow starts its thread pools with the first one
    and keeps them, which would otherwise count as the first fault's threads."""
    if not _warm:
        train(wine_project(folder / "warm-up", epochs=1))
        _warm.append(True)


def on_a_thread(function, *args, **kwargs):
    """`function` on a thread of its own, as the editor trains; returns its result and the
    threads started meanwhile that still run once it returned: `(result, left, waiting)`.
    `waiting` counts them before a garbage collection, `left` after one (the editor collects
    on its UI thread). After a stop, a NaN or a failure, Keras's epoch iterator is left in a
    reference cycle with its suspended generator, and tf.data's threads wait for the collector."""
    before, result = live_threads(), []
    worker = threading.Thread(target=lambda: result.append(function(*args, **kwargs)), name="graft-training")
    worker.start()
    worker.join()
    waiting = len(live_threads() - before)
    gc.collect()
    deadline = time.monotonic() + THREADS_GRACE_S  # a thread told to end may need a moment to
    while live_threads() - before and time.monotonic() < deadline:  # on a busy machine
        time.sleep(0.05)
    return result[0], len(live_threads() - before), waiting


# -- making faults -----------------------------------------------------------------------------


class Fault:
    """Hooks into the run's Keras callback (through `monkeypatch`): takes the model's weights as
    epoch `epoch` begins (the last good ones: the end of the epoch before, or the start), then
    calls `act(run, batch)` after each of that epoch's training steps."""

    def __init__(self, monkeypatch, act, epoch: int = FAULT_EPOCH):
        from app.core.training.callbacks import Progress

        self.good: list[np.ndarray] | None = None
        begin, end = Progress.on_epoch_begin, Progress.on_train_batch_end

        def on_epoch_begin(progress, index, logs=None):
            begin(progress, index, logs)
            if index == epoch:
                self.good = progress.run.model.get_weights()

        def on_train_batch_end(progress, batch, logs=None):
            end(progress, batch, logs)
            if progress.epoch == epoch:
                act(progress.run, batch)

        monkeypatch.setattr(Progress, "on_epoch_begin", on_epoch_begin)
        monkeypatch.setattr(Progress, "on_train_batch_end", on_train_batch_end)


def poison(run) -> None:
    """What an exploding update does: a weight becomes NaN (the next loss is NaN)."""
    weight = run.model.get_layer("hidden").weights[0]
    weight.assign(np.full(weight.shape, np.nan, dtype="float32"))


def poison_at(step: int | None):
    """An act for `Fault`: poison after training step `step` (0-based), None: the epoch's last."""

    def act(run, batch):
        if batch == (run.data.steps_per_epoch - 1 if step is None else step):
            poison(run)

    return act


def failing_train_step(monkeypatch, failing: threading.Event) -> None:
    """Every phase's compiled training step raises from inside TensorFlow once `failing` is set,
    as a layer whose computation fails on some batch does."""
    import tensorflow as tf

    from app.core.training.run import Run

    start_phase = Run._start_phase

    def layer_computation():
        if failing.is_set():
            raise RuntimeError("a layer failed on this batch")
        return np.float32(0)

    def with_failing_step(run, index, first_epoch, view, optimizer):
        start_phase(run, index, first_epoch, view, optimizer)
        step = view.train_step

        def train_step(data):
            tf.py_function(layer_computation, [], tf.float32)
            return step(data)

        view.train_step = train_step

    monkeypatch.setattr(Run, "_start_phase", with_failing_step)


def stop_in_validation(monkeypatch, control: RunControl, epoch: int = 1, batch: int = 1) -> dict:
    """Asks `control` to stop as validation batch `batch` of epoch `epoch` begins; the returned
    dict then holds the model's weights at that moment ("weights")."""
    from app.core.training.callbacks import Progress

    seen = {}
    test_batch_begin = Progress.on_test_batch_begin

    def stopping(progress, index, logs=None):
        if progress.epoch == epoch and index == batch and not seen:
            seen["weights"] = progress.run.model.get_weights()
            control.stop()
        test_batch_begin(progress, index, logs)

    monkeypatch.setattr(Progress, "on_test_batch_begin", stopping)
    return seen


# -- the faults, each in a run of its own -------------------------------------------------------


@dataclass
class Outcome:
    """How a run that met a fault ended, and the three things checked."""

    fault: str
    ended: RunEnded
    kept: str  # what the run folder kept, in words
    weights_ok: bool  # the last good weights are kept (or there was nothing to keep)
    threads_left: int  # after a garbage collection
    threads_waiting: int  # before it
    events: list
    details: dict

    @property
    def ok(self) -> bool:
        return bool(self.ended.message) and self.weights_ok and self.threads_left == 0


def diverging(folder: Path, fault: str, act, *, validation_split: float = 0.2, epoch: int = FAULT_EPOCH,
              **settings) -> Outcome:
    """A run whose weights or loss turn NaN or infinite in epoch `epoch`: last.weights.h5 must be
    the weights that epoch began with."""
    warm_up(folder)
    project = wine_project(folder, validation_split=validation_split, **settings)
    sink = []
    with pytest.MonkeyPatch.context() as monkeypatch:
        hook = Fault(monkeypatch, act, epoch)
        ended, left, waiting = on_a_thread(train, project, sink=sink.append)
    kept = run_dir(project) / "last.weights.h5"
    weights = weights_in(project, kept) if kept.is_file() else []
    ok = ended.status == events.DIVERGED and finite(weights) and same(weights, hook.good)
    best = run_dir(project) / "best.weights.h5"
    ok = ok and (not best.is_file() or finite(weights_in(project, best)))
    words = ("last.weights.h5 = the weights before the fault" if ok else
             "last.weights.h5 " + ("missing" if not weights else "holds NaN" if not finite(weights)
                                   else "is not the weights before the fault"))
    return Outcome(fault, ended, words, ok, left, waiting, sink, {"state": state_of(run_dir(project))})


def nan_in_the_data(folder: Path) -> Outcome:
    """NaN in the inputs and Inf in the targets: refused before anything trains."""
    warm_up(folder)
    rng = np.random.default_rng(0)
    features, alcohol = rng.random((60, 12)), rng.random(60)
    features[5, 3], alcohol[7] = np.nan, np.inf
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "wine.npz", features=features, alcohol=alcohol)
    project = wine_project(folder, data={"source": "npz", "path": str(folder / "wine.npz"),
                                         "mapping": {"features": "features", "alcohol": "alcohol"}})
    sink = []
    ended, left, waiting = on_a_thread(train, project, sink=sink.append)
    trained = any(isinstance(e, events.BatchEnded) for e in sink)
    ok = ended.status == events.FAILED and "NaN or infinite" in ended.message and not trained
    return Outcome("NaN and Inf in the data", ended, "nothing trained: refused before the first step",
                   ok, left, waiting, sink, {})


def resumed_epochs(project: Project, stop_after: int | None = None) -> tuple[RunEnded, list[int]]:
    """Resume the project's stopped run (reading its files only); the epochs it then trained,
    0-based within the phase. `stop_after`: stop once that many have ended."""
    control, epochs = RunControl(), []

    def sink(event):
        if isinstance(event, events.EpochEnded):
            epochs.append(event.epoch)
            if stop_after is not None and len(epochs) >= stop_after:
                control.stop()

    return train(load(project.path), sink=sink, control=control, resume=True), epochs


def exception_in_a_layer(folder: Path) -> Outcome:
    """A layer's computation raises inside the compiled step at epoch 3, step 4: the last
    finished epoch's weights are kept and the run resumes from epoch 3."""
    warm_up(folder)
    project = wine_project(folder, epochs=4)
    failing, sink = threading.Event(), []
    with pytest.MonkeyPatch.context() as monkeypatch:
        hook = Fault(monkeypatch, lambda run, batch: batch == 2 and failing.set())
        failing_train_step(monkeypatch, failing)
        ended, left, waiting = on_a_thread(train, project, sink=sink.append)
    kept = run_dir(project) / "last.weights.h5"
    weights = weights_in(project, kept) if kept.is_file() else []
    state = state_of(run_dir(project))
    again, epochs = resumed_epochs(project)
    ok = (ended.status == events.FAILED and finite(weights) and same(weights, hook.good)
          and state.get("status") == events.STOPPED and again.status == events.FINISHED and epochs == [2, 3])
    words = ("last.weights.h5 = the last finished epoch's; resumed at epoch 3" if ok else
             "nothing kept" if not weights else f"last.weights.h5 kept; resume: {again.status} {epochs}")
    return Outcome("an exception inside a layer during fit", ended, words, ok, left, waiting, sink,
                   {"state": state, "resumed": epochs})


def stop_during_validation(folder: Path) -> Outcome:
    """RunControl.stop while epoch 2 validates: the weights its training part reached are kept
    and the run resumes from that epoch."""
    warm_up(folder)
    project = wine_project(folder, epochs=3)
    control, sink = RunControl(), []
    with pytest.MonkeyPatch.context() as monkeypatch:
        at_stop = stop_in_validation(monkeypatch, control)
        ended, left, waiting = on_a_thread(train, project, sink=sink.append, control=control)
    kept = run_dir(project) / "last.weights.h5"
    weights = weights_in(project, kept) if kept.is_file() else []
    state = state_of(run_dir(project))
    again, epochs = resumed_epochs(project)
    ok = (ended.status == events.STOPPED and finite(weights) and same(weights, at_stop.get("weights"))
          and (state.get("status"), state.get("epoch")) == (events.STOPPED, 1)
          and again.status == events.FINISHED and epochs == [1, 2])
    words = ("last.weights.h5 = the weights when it stopped; resumed at epoch 2" if ok else
             f"last.weights.h5 {'kept' if weights else 'missing'}; resume: {again.status} {epochs}")
    return Outcome("a stop during validation", ended, words, ok, left, waiting, sink,
                   {"state": state, "resumed": epochs})


def close_window_during_run(folder: Path, qt_pool: bool = True) -> Outcome:
    """The editor's window closed while a real run trains: asked first (Cancel keeps the window
    and the run, Yes stops it), the weights so far stored in the project, the thread ended.
    `qt_pool`: also wait for the threads Qt pooled for the window, which end 30 s after their
    last task (the tests leave that out)."""
    from PySide6.QtCore import QDeadlineTimer, QSettings
    from PySide6.QtWidgets import QApplication, QMessageBox

    from app.gui import background
    from app.gui.app import application
    from app.gui.document import Document
    from app.gui.main_window import MainWindow

    warm_up(folder)
    app = application()
    answers, asked = [False, True], []
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("GRAFT_RECOVERY_DIR", str(folder / "recovery"))
        monkeypatch.setattr(MainWindow, "ask_unsaved", lambda self: QMessageBox.StandardButton.Discard)
        monkeypatch.setattr(MainWindow, "ask_stop_training",
                            lambda self: asked.append(True) or (answers.pop(0) if answers else True))
        project = wine_project(folder, epochs=100000)
        window = MainWindow(Document.open(project.path),
                            settings=QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat))
        window.show()
        window.document.wait_until_analysed()
        window.document.data_checks.wait()  # their thread lives as long as the process, as the loader's
        before = live_threads()
        panel, trained_on, received = window.training, [], []
        runner = panel.train_function or train

        def watched(project, *, sink, **options):
            trained_on.append(threading.get_native_id())
            return runner(project, sink=sink, **options)

        panel.train_function = watched
        panel.start()
        panel.run.events.connect(received.extend)
        deadline = QDeadlineTimer(120000)
        while not any(isinstance(e, events.EpochEnded) for e in received) and not deadline.hasExpired():
            app.processEvents()
            time.sleep(0.01)
        cancelled = not window.close() and window.isVisible() and panel.busy and thread_alive(trained_on[0])
        closed = window.close()
        while background._threads and not deadline.hasExpired():  # the QThread ends, then is freed
            app.processEvents()
            time.sleep(0.01)
        waiting = len(live_threads() - before)
        gc.collect()
        pooled = QDeadlineTimer(QT_POOL_EXPIRY_MS + 5000 if qt_pool else 0)
        while live_threads() - before and not pooled.hasExpired():
            app.processEvents()
            time.sleep(0.1)
        left = len([t for t in live_threads() - before if qt_pool or not qt_pooled(t)])
        ended = panel.last_result or RunEnded(events.FAILED, "")
        stored = window.document.project.training.weights
        window.deleteLater()
        QApplication.sendPostedEvents()
    kept = run_dir(project) / "last.weights.h5"
    weights = weights_in(project, kept) if kept.is_file() else []
    state = state_of(run_dir(project))
    ok = (cancelled and closed and asked == [True, True] and ended.status == events.STOPPED
          and finite(weights) and stored == "wine.runs/run-001/last.weights.h5"
          and state.get("status") == events.STOPPED and not thread_alive(trained_on[0]))
    words = ("asked; Cancel kept it going; last.weights.h5 finite, stored in the project" if ok else
             f"asked {len(asked)}x, cancel {'kept' if cancelled else 'did not keep'} the run, weights "
             f"{'finite' if finite(weights) and weights else 'missing or NaN'}, project points at {stored}")
    return Outcome("closing the editor's window during a run", ended, words, ok, left, waiting, received,
                   {"state": state, "stored": stored, "cancelled": cancelled, "asked": len(asked)})


def sigint_twice(folder: Path) -> Outcome:
    """`python -m app train` sent SIGINT twice in a row during its second epoch: it stops
    (exit 130) with the weights kept, and the run resumes."""
    warm_up(folder)
    project = wine_project(folder, epochs=100000)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "app", "train", str(project.path)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in process.stdout:
            if line.lstrip().startswith("epoch 2/"):
                break
        process.send_signal(signal.SIGINT)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:
        process.kill()
        process.wait()
    message = err.strip().splitlines()[-1] if err.strip() else ""
    ended = RunEnded(events.STOPPED if process.returncode == 130 else events.FAILED, message)
    kept = run_dir(project) / "last.weights.h5"
    weights = weights_in(project, kept) if kept.is_file() else []
    state = state_of(run_dir(project))
    again, resumed = resumed_epochs(project, stop_after=1)
    ok = (process.returncode == 130 and "Traceback" not in err and finite(weights)
          and state.get("status") == events.STOPPED and load(project.path).training.weights ==
          "wine.runs/run-001/last.weights.h5"
          and again.status == events.STOPPED and resumed == [state.get("epoch")])
    words = (f"exit 130; last.weights.h5 finite; resumed at epoch {state.get('epoch', 0) + 1}" if ok else
             f"exit {process.returncode}; weights {'finite' if finite(weights) and weights else 'missing'}; "
             f"state {state.get('status')}; resume {again.status} {resumed}")
    return Outcome("SIGINT twice to graft train", ended, words, ok, 0, 0, [],
                   {"state": state, "returncode": process.returncode, "stderr": err})


def diverging_fault(label: str, act, **options):
    return lambda folder: diverging(folder, label, act, **options)


FAULTS = [  # each makes its fault in a run of its own, in a folder of its own
    nan_in_the_data,
    diverging_fault("an infinite loss from a huge learning rate (epoch 1)", lambda run, batch: None,
                    epoch=0, optimizer="sgd", learning_rate=10.0),
    diverging_fault("NaN weights mid-epoch (NaN loss next step)", poison_at(2)),
    diverging_fault("NaN weights at an epoch's last step (NaN validation loss)", poison_at(None)),
    diverging_fault("NaN weights at an epoch's last step, no validation data", poison_at(None),
                    validation_split=0.0),
    exception_in_a_layer,
    stop_during_validation,
    close_window_during_run,
    sigint_twice,
]


def shown(message: str) -> str:
    message = " ".join(message.split())
    return message if len(message) <= MESSAGE_SHOWN else message[:MESSAGE_SHOWN - 1] + "…"


def experiment(quick: bool = False) -> dict:
    """Every fault once (each takes seconds, so `quick` runs them all too)."""
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="graft-training-faults-") as scratch:
        for index, make in enumerate(FAULTS):
            outcomes.append(make(Path(scratch) / f"fault-{index}"))
    rows = []
    for o in outcomes:
        threads = f"{o.threads_left} threads left" + (
            f" ({o.threads_waiting} right after the run)" if o.threads_waiting else "")
        said = f"{'ok' if o.ok else 'FAILED'}: {o.ended.status}, \"{shown(o.ended.message)}\""
        rows.append((o.fault, f"{said}; {o.kept}; {threads}"))
    rows += [("faults tried", str(len(outcomes))),
             ("ended with a message", f"{sum(bool(o.ended.message) for o in outcomes)} of {len(outcomes)}"),
             ("last good weights kept", f"{sum(o.weights_ok for o in outcomes)} of {len(outcomes)}"),
             ("threads left (must be 0)", str(sum(o.threads_left for o in outcomes)))]
    return {"title": "Training faults", "rows": rows, "failures": sum(not o.ok for o in outcomes)}


if __name__ == "__main__":
    sys.exit(run_alone(experiment, "the same faults (all are quick)"))
