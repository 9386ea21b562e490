"""The data checks of one document's training setup (`app.core.training.data_checks`), kept
current in the background: a moment after the setup or the graph last changed, the mapped
fields are checked on a thread of their own (reading a large file takes a while), and
`changed` says when the problems differ. The document shows them with the analysis's, so
they reach the Problems panel, the canvas and Start's refusal like any other problem.

Checks run only when what they depend on changed: the data setup, the mapped nodes' tensors
and losses, and the data files' size and modification time. The core keeps the files it
read (sources.py: `FILES`), so a check after an unrelated edit reads nothing."""

from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QDeadlineTimer, QEventLoop, QObject, QTimer, Signal

from app.core.analysis.validate import ERROR, WARNING, Analysis, Problem
from app.core.training.data_checks import DATA_ERROR, check_roles, mapped_roles
from app.gui.background import Failure, Job

DATA_THREAD = "graft-data-checks"  # its own thread: a check never waits behind TensorFlow's import
DELAY_MS = 300  # after the last edit, so that typing a path does not read a file per key


class DataChecks(QObject):
    """`problems` for the document's current data setup; `schedule()` after each change."""

    changed = Signal()

    def __init__(self, document, parent: QObject | None = None):
        super().__init__(parent)
        self.document = document  # its project, graph and analysis are read on the UI thread only
        self.problems: list[Problem] = []
        self.closed = False
        self._checked: str | None = None  # the inputs `problems` belong to
        self._job: Job | None = None
        self._job_key: str | None = None  # the inputs the running check is for
        self._again = False  # something changed while a check ran
        self._timer = QTimer(self, singleShot=True, interval=DELAY_MS)
        self._timer.timeout.connect(self._check)

    @property
    def pending(self) -> bool:
        """A check is waiting for its moment or running."""
        return self._timer.isActive() or self._job is not None

    def schedule(self) -> None:
        if not self.closed:
            self._timer.start()

    def close(self) -> None:
        """Report nothing more (a running check finishes and is dropped)."""
        self.closed = True
        self._timer.stop()

    def merged(self, analysis: Analysis) -> Analysis:
        """The analysis with the data problems among its own, errors first; those of nodes that
        are gone are left out (a check is on its way)."""
        node_ids = {n.id for n in self.document.graph.nodes}
        found = [p for p in self.problems if p.node_id is None or p.node_id in node_ids]
        if not found:
            return analysis
        rank = {ERROR: 0, WARNING: 1}
        problems = sorted(analysis.problems + found, key=lambda p: rank.get(p.severity, 2))
        return Analysis(analysis.nodes, problems)

    def _check(self) -> None:
        document = self.document
        if self.closed or document.analysis is None:
            return
        if self._job is not None:
            self._again = True
            return
        data = copy.deepcopy(document.project.training.data)
        base_dir = document.context.base_dir
        inputs, targets = mapped_roles(data, document.graph, document.analysis)
        key = _inputs_key(data, inputs + targets, base_dir)
        if key == self._checked:
            return
        self._job = Job(lambda report: check_roles(data, inputs, targets, base_dir),
                        name="Checking the training data")
        self._job_key = key
        self._job.returned.connect(self._returned)
        self._job.failed.connect(self._failed)
        self._job.finished.connect(self._finished)
        self._job.start(DATA_THREAD)

    def _returned(self, problems: list[Problem]) -> None:
        if self.closed:
            return
        self._checked = self._job_key
        if problems != self.problems:
            self.problems = problems
            self.changed.emit()

    def _failed(self, failure: Failure) -> None:
        """Data too big to check here is a warning (the run checks it as it loads); anything
        else is a bug, reported as bugs are."""
        if not isinstance(failure.error, MemoryError):
            sys.excepthook(type(failure.error), failure.error, failure.error.__traceback__)
            return
        self._returned([Problem(WARNING, DATA_ERROR, "the training data is too large to check in the "
                                "editor; the run checks it when it starts")])

    def _finished(self) -> None:
        self._job = None
        if self._again and not self.closed:
            self._again = False
            self._check()

    def wait(self, timeout: float = 60.0) -> list[Problem]:
        """Block until the checks are current (for scripts and tests, not the UI)."""
        deadline = QDeadlineTimer(int(timeout * 1000))
        while self.pending and not deadline.hasExpired():
            QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        if self.pending:
            raise TimeoutError("the data checks are still running")
        return self.problems


def _inputs_key(data: dict, roles: list, base_dir: Path) -> str:
    """What a check's result depends on, as one string: the setup, the mapped nodes and the
    size and modification time of the data files."""
    files = []
    for path in (data.get("path"), data.get("validation_path")):
        if path:
            resolved = Path(path).expanduser()
            resolved = resolved if resolved.is_absolute() else Path(base_dir) / resolved
            try:
                stat = os.stat(resolved)
                files.append([str(resolved), stat.st_mtime_ns, stat.st_size])
            except OSError:
                files.append([str(resolved), None])
    nodes = [[r.node, r.node_id, r.field, list(r.spec.shape), r.spec.dtype, r.loss] for r in roles]
    return json.dumps([data, nodes, files, str(base_dir)], sort_keys=True, default=str)
