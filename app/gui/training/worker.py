"""A training run on a background thread.

The core runner builds, compiles and fits on the thread that calls it (Keras keeps
per-thread state), so the whole `train()` call runs as one job on a thread of its own
(`app.gui.background`). Its events are the job's progress: they queue up in order and
reach the UI thread as lists. Batch and epoch ends only wait: the UI
thread takes them TAKE_HZ times a second. Any other event (a run or phase starting, the
evaluation, the end) wakes it at once, with those before it. A small model's hundreds of
batches and dozens of epochs a second so cost the UI (and the training thread, which hands
it Python's lock on each wake-up) a few wake-ups, not one per event. The thread trains at
normal priority, as a plain `fit` would: the UI thread needs a core only a few percent of
the time, and a lowered priority let every other thread go first. Whatever happens,
the last event is exactly one `RunEnded`: an exception that escapes the runner becomes a
"failed" RunEnded with its traceback, never a silent stop."""

from __future__ import annotations

import traceback
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from app.core.training.events import (
    FAILED,
    STOPPED,
    BatchEnded,
    EpochEnded,
    RunControl,
    RunEnded,
    StopRequested,
)
from app.gui.background import Failure, Job

TrainFunction = Callable[..., RunEnded]
TAKE_HZ = 5  # the UI thread takes the waiting batches and epochs this often (10 cost a small model ~2 %)
WAITING = (BatchEnded, EpochEnded)  # progress, which waits for the UI's poll rather than wake it
THREAD = "graft-training"


def _core_train() -> TrainFunction:
    """The core runner, imported on the worker thread (it pulls in TensorFlow lazily)."""
    from app.core.training.runner import train

    return train


class TrainingRun(QObject):
    """One run: `start()` it, steer it through `control`, watch `events`. `events` carries
    every runner event on the UI thread, in order, a list at a time; `ended` follows the
    final RunEnded."""

    events = Signal(list)
    ended = Signal(object)  # RunEnded

    def __init__(self, project, *, phase: str | None = None, epochs: int | None = None,
                 resume: bool = False, train: TrainFunction | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.project = project  # a snapshot: the run reads nothing the user is editing
        self.phase, self.epochs, self.resume = phase, epochs, resume
        self.control = RunControl()
        self.result: RunEnded | None = None  # the RunEnded, once it reached the UI thread
        self.job = Job(_training(project, self.control, phase, epochs, resume, train),
                       name="Training", take_hz=TAKE_HZ)
        self.job.progress.connect(self._take)
        self.job.failed.connect(self._failed)
        self._poll = self.job.poll  # takes the progress, which never wakes the UI thread
        self._thread = None  # the job's thread, once started

    # -- UI thread -----------------------------------------------------------------------
    def start(self) -> None:
        self._thread = self.job.start(THREAD, dedicated=True).worker

    @property
    def running(self) -> bool:
        """Until the final RunEnded reached the UI thread."""
        return self._thread is not None and self.result is None

    def stop(self) -> None:
        self.control.stop()

    def pause(self) -> None:
        self.control.pause()

    def resume_run(self) -> None:
        self.control.resume()

    def wait(self, timeout_ms: int = 30000) -> bool:
        """Block until the thread is done, then deliver what it sent (the RunEnded too).
        For closing the window; the UI waits here, so only after `stop()`."""
        return self.job.wait(timeout_ms)

    def flush(self) -> None:
        """Deliver the events already sent, now (they would otherwise wait for the event loop)."""
        self.job.flush()

    def _take(self, events: list) -> None:
        if self.result is not None:
            return
        ended = next((event for event in events if isinstance(event, RunEnded)), None)
        if ended is not None:
            events = events[:events.index(ended) + 1]  # nothing after the run's end
        self.events.emit(events)
        if ended is not None:
            self.result = ended
            self._poll.stop()
            self.ended.emit(ended)

    def _failed(self, failure: Failure) -> None:
        """Only if handing an event over failed: the runner's own failures are RunEnded events."""
        self._take([RunEnded(FAILED, f"Training failed: {failure}", failure.details)])


def _training(project, control: RunControl, phase, epochs, resume, train: TrainFunction | None):
    """The job's work, on the training thread: the runner's events become the job's progress,
    batches and epochs waiting for the UI's poll; exactly one RunEnded, last, whatever happens."""

    def work(report) -> RunEnded:
        ended: list[RunEnded] = []

        def sink(event) -> None:
            if isinstance(event, RunEnded):
                if ended:
                    return  # one RunEnded per run, the first one
                ended.append(event)
            report(event, isinstance(event, WAITING))

        try:
            result = (train or _core_train())(project, sink=sink, control=control, phase=phase,
                                               epochs=epochs, resume=resume)
        except StopRequested:
            result = RunEnded(STOPPED, "Training stopped.")
        except BaseException as error:  # noqa: BLE001 - on this thread nothing else would catch it
            result = RunEnded(FAILED, f"Training failed: {type(error).__name__}: {error}",
                              traceback.format_exc())
        if not ended:
            if not isinstance(result, RunEnded):
                result = RunEnded(FAILED, "Training ended without reporting how it ended.",
                                  f"The runner returned {result!r} instead of a RunEnded.")
            sink(result)
        return ended[0]

    return work
