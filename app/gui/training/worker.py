"""A training run on a background thread.

The core runner builds, compiles and fits on the thread that calls it (Keras keeps
per-thread state), so the whole `train()` call runs on a QThread of its own. Its events
queue up in order and reach the UI thread as lists. Batch and epoch ends only wait: the UI
thread takes them TAKE_HZ times a second. Any other event (a run or phase starting, the
evaluation, the end) wakes it at once, with those before it. A small model's hundreds of
batches and dozens of epochs a second so cost the UI (and the training thread, which hands
it Python's lock on each wake-up) a few wake-ups, not one per event. The thread trains at
normal priority, as a plain `fit` would: the UI thread needs a core only a few percent of
the time, and a lowered priority let every other thread go first. Whatever happens,
the last event is exactly one `RunEnded`: an exception that escapes the runner becomes a
"failed" RunEnded with its traceback, never a silent stop."""

from __future__ import annotations

import threading
import traceback
from collections import deque
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QDeadlineTimer, QObject, Qt, QThread, QTimer, Signal, Slot

from app.core.training.events import (
    FAILED,
    STOPPED,
    BatchEnded,
    EpochEnded,
    RunControl,
    RunEnded,
    StopRequested,
)

TrainFunction = Callable[..., RunEnded]
TAKE_HZ = 5  # the UI thread takes the waiting batches and epochs this often (10 cost a small model ~2 %)
WAITING = (BatchEnded, EpochEnded)  # progress, which waits for the UI's poll rather than wake it


def _core_train() -> TrainFunction:
    """The core runner, imported on the worker thread (it pulls in TensorFlow lazily)."""
    from app.core.training.runner import train

    return train


class _Thread(QThread):
    arrived = Signal()  # from the worker thread: events are waiting; queued to the UI thread

    def __init__(self, work: Callable[[], None], parent: QObject | None = None):
        super().__init__(parent)
        self._work = work
        self.setObjectName("graft-training")

    def run(self) -> None:
        self._work()


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
        self._train = train
        self._started = False
        self._waiting: deque = deque()  # sent by the worker, not yet taken by the UI thread
        self._lock = threading.Lock()
        self._woken = False  # an `arrived` signal is on its way
        self._thread = _Thread(self._work, self)
        self._thread.arrived.connect(self._take, Qt.ConnectionType.QueuedConnection)
        self._poll = QTimer(self, interval=1000 // TAKE_HZ)  # for the progress, which never wakes it
        self._poll.timeout.connect(self._take)

    # -- UI thread -----------------------------------------------------------------------
    def start(self) -> None:
        self._started = True
        self._poll.start()
        self._thread.start()

    @property
    def running(self) -> bool:
        """Until the final RunEnded reached the UI thread."""
        return self._started and self.result is None

    def stop(self) -> None:
        self.control.stop()

    def pause(self) -> None:
        self.control.pause()

    def resume_run(self) -> None:
        self.control.resume()

    def wait(self, timeout_ms: int = 30000) -> bool:
        """Block until the thread is done, then deliver what it sent (the RunEnded too).
        For closing the window; the UI waits here, so only after `stop()`."""
        done = self._thread.wait(QDeadlineTimer(timeout_ms))
        self.flush()
        return done

    def flush(self) -> None:
        """Deliver the events already sent, now (they would otherwise wait for the event loop)."""
        QCoreApplication.sendPostedEvents(self, 0)
        self._take()

    @Slot()
    def _take(self) -> None:
        with self._lock:
            events, self._woken = list(self._waiting), False
            self._waiting.clear()
        if self.result is not None or not events:
            return
        ended = next((event for event in events if isinstance(event, RunEnded)), None)
        if ended is not None:
            events = events[:events.index(ended) + 1]  # nothing after the run's end
        self.events.emit(events)
        if ended is not None:
            self.result = ended
            self._poll.stop()
            self.ended.emit(ended)

    def _post(self, event) -> None:
        """On the worker thread: queue `event`; wake the UI thread for anything but progress,
        unless it is woken already. Progress waits for the UI's poll."""
        with self._lock:
            self._waiting.append(event)
            if self._woken or isinstance(event, WAITING):
                return
            self._woken = True
        self._thread.arrived.emit()

    # -- worker thread --------------------------------------------------------------------
    def _work(self) -> None:
        ended: list[RunEnded] = []

        def sink(event) -> None:
            if isinstance(event, RunEnded):
                if ended:
                    return  # one RunEnded per run, the first one
                ended.append(event)
            self._post(event)

        try:
            train = self._train or _core_train()
            result = train(self.project, sink=sink, control=self.control, phase=self.phase,
                           epochs=self.epochs, resume=self.resume)
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
