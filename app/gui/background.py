"""Background work in the GUI, one way: a `Job` runs a callable on a named worker thread and
hands what it does to the UI thread through queued signals. Loading (TensorFlow's import,
model cards, imagenet downloads), training runs and exports all run as jobs.

    job = Job(work, take_hz=5)          # work(report) -> result, called on the worker thread
    job.progress.connect(...)           # lists of what `work` reported, in order
    job.returned.connect(...)           # its result …
    job.failed.connect(...)             # … or a Failure (the exception and its traceback)
    job.finished.connect(...)           # after either
    job.start(LOADER)                   # on the process's shared thread of that name
    job.start("graft-training", dedicated=True)  # on a thread of its own, ending with it

Every signal of a job is emitted on the UI thread (slots need no locking), in this order:
progress any number of times, then returned or failed, then finished; nothing after that.

Threads. A `WorkerThread` is a QThread running an event loop; jobs are handed to it as
queued signals, so the jobs on one thread run one at a time, in the order they were started.
Loading jobs share one such thread for the process (`shared_thread(LOADER)`, created on first
use). A long job, whose library keeps per-thread state (Keras: one training run, one export),
gets a dedicated thread that ends with it.

Progress. `report(item)` on the worker thread queues the item and wakes the UI thread at
once, unless a wake-up is already on its way (then the item travels with it).
`report(item, True)` only queues it: such items wait for the UI thread, which takes them
`take_hz` times a second on a timer, or with the next wake-up (the job's end is one). So a
stream of small progress (a training run's batches, a download's blocks) costs the UI
thread, and the worker that hands it Python's lock, a few wake-ups a second rather than one
per item, while the items that matter (a phase starting, an export's stage) arrive at once.

Lifetime. A started job is kept alive here until it has delivered `finished` and its thread
has let go of it (a QObject must be freed on the UI thread), a dedicated thread until it has
ended, whatever happens meanwhile to whoever started them: a job has no Qt parent. Whoever
listens disconnects when it stops caring (a closed document, see
`app.gui.document.Subscriptions`); QObject slots are disconnected by Qt when their object is
deleted. A failure that nobody listens to goes to `sys.excepthook`, never silently away.

Thread state. A WorkerThread runs its event loop from Python (`WorkerThread.run`), so one
Python thread state lasts for the thread's life: the thread-local state TensorFlow and Keras
keep survives from one job to the next on the loader thread.

Prior art: napari's `_qt/qthreading.py` (workers whose signals carry started, returned,
errored and finished, kept in a set while they run) and orange3's
`widgets/utils/concurrent.py` (results delivered to the UI thread by queued calls)."""

from __future__ import annotations

import atexit
import itertools
import sys
import threading
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QCoreApplication,
    QDeadlineTimer,
    QMetaMethod,
    QObject,
    Qt,
    QThread,
    QTimer,
    Signal,
    Slot,
)

LOADER = "graft-loader"  # the shared thread that imports TensorFlow, reads model cards, downloads weights

Report = Callable[..., None]  # report(item, wait=False), called on the worker thread
Work = Callable[[Report], Any]


@dataclass(frozen=True)
class Failure:
    """An exception that escaped a job's work, with its traceback formatted where it happened."""

    error: BaseException
    details: str

    def __str__(self) -> str:
        return f"{type(self.error).__name__}: {self.error}"


class Job(QObject):
    """One piece of background work; see the module's docstring. `work(report)` runs once,
    on the thread `start` names; `take_hz` (0: never on a timer) is how often the UI thread
    takes the items reported with wait=True."""

    progress = Signal(list)  # items reported by the work, in order, a list at a time
    returned = Signal(object)  # what the work returned
    failed = Signal(object)  # a Failure: the work raised
    finished = Signal()  # after returned or failed; the last signal
    _arrived = Signal()  # from the worker thread: something waits; queued to the UI thread

    def __init__(self, work: Work, *, name: str = "", take_hz: int = 0):
        super().__init__()  # no parent: `start` keeps it alive until it has finished
        self.setObjectName(name or getattr(work, "__name__", "job"))
        self._work = work
        self.worker: WorkerThread | None = None  # the thread it runs on, once started
        self.result: Any = None  # what it returned, once delivered
        self.failure: Failure | None = None  # or how it failed
        self._started = self._done = False
        self._lock = threading.Lock()
        self._waiting: deque = deque()  # reported on the worker thread, not yet taken here
        self._woken = False  # an `_arrived` is on its way
        self._outcome: tuple[Any, Failure | None] | None = None  # set on the worker thread at the end
        self._ended = threading.Event()  # the work has returned or raised
        self._arrived.connect(self._take, Qt.ConnectionType.QueuedConnection)
        # The timer that takes waiting items (None without take_hz); a training run stops it at its end.
        self.poll: QTimer | None = None
        if take_hz:
            self.poll = QTimer(self, interval=1000 // take_hz)
            self.poll.timeout.connect(self._take)

    # -- UI thread ------------------------------------------------------------------------
    def start(self, thread: str, *, dedicated: bool = False) -> Job:
        """Run on the shared thread called `thread` (after the jobs started on it before), or,
        `dedicated`, on a new thread of that name that ends with this job. Returns the job."""
        assert not self._started, "a job runs once"
        self._started = True
        self.worker = WorkerThread(thread, dedicated=True) if dedicated else shared_thread(thread)
        if self.poll is not None:
            self.poll.start()
        self.worker.submit(self)
        if dedicated:
            self.worker.start()
        return self

    @property
    def running(self) -> bool:
        """Started, and `finished` not yet delivered."""
        return self._started and not self._done

    @property
    def done(self) -> bool:
        """`finished` was delivered."""
        return self._done

    def wait(self, timeout_ms: int = 30000) -> bool:
        """Block the UI thread until the work has ended (on a dedicated thread: until the thread
        has), then deliver what it sent. For closing a window after asking the work to stop;
        True when it ended in time."""
        if self.worker is not None and self.worker.dedicated:
            ended = self.worker.wait(QDeadlineTimer(timeout_ms))
        else:
            ended = self._ended.wait(timeout_ms / 1000)
        self.flush()
        return ended

    def flush(self) -> None:
        """Deliver, now, what the work has sent so far (it would otherwise wait for the event loop
        or the timer)."""
        QCoreApplication.sendPostedEvents(self, 0)
        self._take()

    @Slot()
    def _take(self) -> None:
        with self._lock:
            items, self._woken = list(self._waiting), False
            self._waiting.clear()
            outcome, self._outcome = self._outcome, None
        if self._done:
            return
        if items:
            self.progress.emit(items)
        if outcome is not None:
            self._finish(*outcome)

    def _finish(self, result: Any, failure: Failure | None) -> None:
        self._done = True
        if self.poll is not None:
            self.poll.stop()
        self.result, self.failure = result, failure
        if failure is None:
            self.returned.emit(result)
        elif self.isSignalConnected(QMetaMethod.fromSignal(self.failed)):
            self.failed.emit(failure)
        else:
            error = failure.error
            sys.excepthook(type(error), error, error.__traceback__)
        self.finished.emit()

    # -- worker thread ----------------------------------------------------------------------
    def report(self, item: Any, wait: bool = False) -> None:
        """Hand `item` to the UI thread: at once, or, `wait`, when it next takes what waits."""
        with self._lock:
            self._waiting.append(item)
            if self._woken or wait:
                return
            self._woken = True
        self._arrived.emit()

    def run(self) -> None:
        """Do the work on the calling thread; its outcome reaches the UI thread queued, after
        everything it reported. A WorkerThread calls this (a test may, to end a job at once)."""
        try:
            outcome = (self._work(self.report), None)
        except BaseException as error:  # noqa: BLE001 - on this thread nothing else would catch it
            outcome = (None, Failure(error, traceback.format_exc()))
        with self._lock:
            self._outcome = outcome
        self._ended.set()
        self._arrived.emit()


class _Runner(QObject):
    """Lives on a WorkerThread; runs the jobs handed to it, on that thread."""

    released = Signal(int)  # a job's token: this thread holds no reference to it any more

    def __init__(self, dedicated: bool):
        super().__init__()
        self.dedicated = dedicated

    @Slot(int)
    def run(self, token: int) -> None:
        thread = QThread.currentThread()
        threading.current_thread().name = thread.objectName()  # names it in tracebacks and profilers
        job = _running[token]
        job.run()
        del job  # before `released`: the last reference to a QObject must go on the UI thread
        self.released.emit(token)
        if self.dedicated:
            thread.quit()  # the event loop ends after this slot; the thread with it


class WorkerThread(QThread):
    """A named thread with an event loop that runs the jobs submitted to it, one at a time, in
    order. A dedicated one runs one job and ends; use `Job.start` rather than this directly."""

    _submitted = Signal(int)  # a job's token; queued to the runner on this thread

    def __init__(self, name: str, *, dedicated: bool = False):
        super().__init__()
        self.setObjectName(name)
        self.dedicated = dedicated
        self._runner = _Runner(dedicated)
        self._runner.moveToThread(self)
        self._submitted.connect(self._runner.run, Qt.ConnectionType.QueuedConnection)
        self._runner.released.connect(self._released, Qt.ConnectionType.QueuedConnection)
        if dedicated:
            _threads.add(self)
            self.finished.connect(self._release, Qt.ConnectionType.QueuedConnection)

    def run(self) -> None:
        """The event loop, called from Python on purpose: Qt's own `run` would enter Python
        afresh for each job, with a new Python thread state each time, and the thread-local
        state that TensorFlow and Keras keep for this thread would go with it between jobs
        (TensorFlow then crashes on its next eager call). From here, the thread state made
        for this call lasts until the thread ends."""
        self.exec()

    def submit(self, job: Job) -> None:
        """Queue `job` to run here; it is kept (in `_running`) until this thread let go of it.
        Tokens, not the job, cross threads: the last reference to a QObject must not be
        dropped on a worker thread, whose Qt cannot free an object living on the UI thread."""
        token = next(_tokens)
        _running[token] = job
        self._submitted.emit(token)

    @Slot(int)
    def _released(self, token: int) -> None:
        """On the UI thread, after the job delivered `finished` (queued before this)."""
        _running.pop(token, None)

    @Slot()
    def _release(self) -> None:
        self.wait()  # `finished` comes just before the thread is done; a running QThread must not be freed
        _threads.discard(self)


_tokens = itertools.count()
_running: dict[int, Job] = {}  # started, until their thread let go of them
_threads: set[WorkerThread] = set()  # dedicated threads, until they ended
_shared: dict[str, WorkerThread] = {}


def shared_thread(name: str) -> WorkerThread:
    """The process's one thread of this name, started on first use and kept until exit."""
    thread = _shared.get(name)
    if thread is None:
        thread = _shared[name] = WorkerThread(name)
        thread.start()
    return thread


@atexit.register
def _end_threads() -> None:
    """At exit: a QThread freed while it runs aborts the process, so the shared threads finish
    the job they are running and stop, and the dedicated ones are waited for."""
    for thread in _shared.values():
        thread.quit()
    for thread in [*_shared.values(), *_threads]:
        thread.wait()
