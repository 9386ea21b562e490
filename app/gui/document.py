"""One open project as the editor sees it: the core project, its live analysis and its undo
stack. Every edit enters here as a core command; the graph's events and `analysisChanged`
are what the views redraw from.

TensorFlow and pretrained-model cards are loaded by jobs on the shared loader thread (see
`app.gui.background`): until they are ready, nodes that need them show no shapes and the
status bar says what is loading. A closed document hears no more from its jobs, and its
project no more from it; the views that listened to it detach with `Subscriptions`."""

from __future__ import annotations

import contextlib
import gc
import json
import re
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from app.core.analysis.freezing import phase_problems
from app.core.analysis.validate import ERROR, Analysis, Analyzer, Problem
from app.core.cards.applications import fetch_imagenet_weights
from app.core.cards.card import ModelCard
from app.core.cards.loading import ModelLoadError
from app.core.document.fileformat import dumps, save
from app.core.document.project import INFO, TRAINING, DocumentEvent, Project
from app.core.document.training_setup import TrainingConfig
from app.core.editing.commands import Command, Rename, SetTraining
from app.core.editing.layout import open_project
from app.core.graph.graph import Node
from app.core.nodes import Port, node_type
from app.core.nodes.base import PRETRAINED
from app.core.nodes.pretrained import KerasApplication
from app.gui.background import LOADER, Job
from app.gui.data_checks import DataChecks

PENDING = "pending"  # a load is scheduled but not yet started
DOWNLOAD_HZ = 5  # a download's progress reaches the UI thread this often
_fetched: set[str] = set()  # imagenet weights fetched (or being fetched) in this process
_keras_ready = False  # TensorFlow and Keras are imported (once per process)


def import_keras() -> None:
    """On the loader thread only: the import is the work. TensorFlow's and Keras's few
    hundred thousand objects live as long as the process, so they are frozen out of the
    cycle collector: otherwise each full collection, which runs on the UI thread holding
    Python's lock, walks them all (about 100 ms) and stalls the editor and training."""
    global _keras_ready
    import keras  # noqa: F401

    if not _keras_ready:
        gc.freeze()
    _keras_ready = True


def _imagenet_settings(node: Node) -> dict | None:
    """The settings an Application node's imagenet weights depend on (None: it needs none)."""
    p = node.params
    if node.type != "Application" or p["weights"] != "imagenet":
        return None
    return {k: p[k] for k in ("include_top", "input_shape", "pooling", "classes")}


def _imagenet_key(node: Node) -> str | None:
    """Which imagenet weights an Application node needs (None: none), as one string."""
    settings = _imagenet_settings(node)
    return None if settings is None else json.dumps([node.params["architecture"], settings], sort_keys=True)


def load_keras() -> Job:
    """Import TensorFlow on the loader thread now (the app warms up with this once shown)."""
    return Job(lambda report: import_keras(), name="Loading TensorFlow").start(LOADER)


class Subscriptions:
    """What one listener attached itself to: Qt connections and core subscriptions (a graph's
    or a project's `subscribe`). `clear()` detaches them all; again, or after a source was
    deleted, is harmless. A view clears them when it closes or is given another document,
    so that nothing the old document or its project does reaches it any more."""

    def __init__(self):
        self._detach: list[Callable[[], None]] = []

    def connect(self, signal, slot) -> None:
        signal.connect(slot)
        self._detach.append(lambda: signal.disconnect(slot))

    def subscribe(self, source, listener) -> None:
        source.subscribe(listener)
        self._detach.append(lambda: source.unsubscribe(listener))

    def clear(self) -> None:
        detach, self._detach = self._detach, []
        for undo in reversed(detach):
            with contextlib.suppress(RuntimeError, TypeError, ValueError):  # a source already gone
                undo()


class _Undoable(QUndoCommand):
    """A core command on the QUndoStack. It has already been done when pushed."""

    def __init__(self, document: Document, command: Command):
        super().__init__(command.text)
        self.document, self.command = document, command
        self._done = True

    def redo(self):
        if self._done:  # QUndoStack.push calls redo(); the command ran before
            self._done = False
            return
        self.command.do(self.document.project)

    def undo(self):
        self.command.undo(self.document.project)


class Document(QObject):
    analysisChanged = Signal()
    loadingChanged = Signal(str)  # what is loading in the background, "" when idle
    fileChanged = Signal()  # path or modified state
    editFailed = Signal(str)  # an edit the core refused, with its reason
    downloadProgress = Signal(str, int, int)  # what downloads, bytes received, bytes in all (0: unknown)
    downloadFailed = Signal(str)  # why it could not, e.g. offline
    trainingChanged = Signal()  # project.training was replaced (an edit, undo or redo)

    def __init__(self, project: Project | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.project = project or Project()
        self.graph = self.project.graph
        self.analyzer = Analyzer(self.graph, self.project.context)
        self.analysis: Analysis | None = None
        self.loading = ""
        self.closed = False
        self._job: Job | str | None = None  # the card load in progress, or PENDING
        self._weights_refused: dict[str, str] = {}  # imagenet weights (by _imagenet_key) → why not
        self._jobs: dict[Job, Subscriptions] = {}  # the jobs it started and listens to
        self._links = Subscriptions()
        self.undo_stack = QUndoStack(self)
        self._links.connect(self.undo_stack.indexChanged, self.revalidate)
        self._links.connect(self.undo_stack.cleanChanged, self.fileChanged)
        self._links.subscribe(self.project, self._on_project_event)
        self.data_checks = DataChecks(self, self)  # the training data against the graph, in the background
        self._links.connect(self.data_checks.changed, self._data_checked)
        self.revalidate()

    # -- files -----------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, parent: QObject | None = None) -> Document:
        """Raises ProjectError naming the place in the file. Nodes it gives no position are
        laid out, and the document opens unmodified (see layout.place_unplaced)."""
        return cls(open_project(path), parent)

    @property
    def path(self) -> Path | None:
        return self.project.path

    @property
    def modified(self) -> bool:
        return not self.undo_stack.isClean()

    @property
    def title(self) -> str:
        """The project's name, and its file's name where that says something else."""
        name, file = self.project.name, self.path.name if self.path else ""
        if not file:
            return name
        same = re.sub(r"[\s_-]+", "_", name).lower() == Path(file).stem.lower()
        return file if same or name == "Untitled" else f"{name} ({file})"

    def save(self, path: str | Path | None = None) -> None:
        """Raises OSError when the file cannot be written; nothing is lost then. Saving changes
        only where the file is: the project, its paths and the undo history stay as they are."""
        target = Path(path) if path else self.path
        assert target is not None, "Save As needs a path"
        folder = self.project.folder
        save(self.project, target)
        if self.project.folder != folder:  # a new project took its file's folder (it had no relative path)
            self.analyzer.close()
            self.analyzer = Analyzer(self.graph, self.project.context)
            self.revalidate()
        self.undo_stack.setClean()
        self.fileChanged.emit()

    def text(self) -> str:
        return dumps(self.project)

    def close(self) -> None:
        """Detach from the project and from the jobs still running for it; closing again does
        nothing. The jobs run on (a download fills Keras's cache for later) but report to no one."""
        if self.closed:
            return
        self.closed = True
        self.analyzer.close()
        self.data_checks.close()
        self._links.clear()
        for links in self._jobs.values():
            links.clear()
        self._jobs.clear()
        self._job = None

    # -- edits -----------------------------------------------------------------
    def push(self, command: Command) -> bool:
        """Do a core command and put it on the undo stack. A refused edit (a bad parameter, a
        self-connection) changes nothing and reports why through `editFailed`."""
        try:
            command.do(self.project)
        except ValueError as error:  # GraphError, ParamError, ConfigError: the user's edit, not a bug
            self.editFailed.emit(str(error))
            return False
        self.undo_stack.push(_Undoable(self, command))
        return True

    def rename(self, node_id: str, name: str) -> bool:
        """Rename a node, and the training setup's references to it, as one undoable step."""
        return self.push(Rename(node_id, name))

    @property
    def training(self) -> TrainingConfig:
        return self.project.training

    def set_training(self, config: TrainingConfig, text: str) -> None:
        """Replace the training configuration as one undoable edit (`text` names it in the
        Edit menu); nothing happens when it equals the current one."""
        if config.to_dict() != self.project.training.to_dict():
            self.push(SetTraining(config, text))

    def _on_project_event(self, event: DocumentEvent) -> None:
        if event.kind == TRAINING:
            self.trainingChanged.emit()
        elif event.kind == INFO:
            self.fileChanged.emit()  # the title shows the name

    # -- analysis --------------------------------------------------------------
    @property
    def context(self):
        return self.project.context

    def needs_loading(self, node: Node) -> bool:
        """Whether analysing this node would import TensorFlow or load a model now."""
        kind = node_type(node.type)
        if not kind.needs_keras:
            return False
        if isinstance(kind, KerasApplication) and kind.has_card(node, self.context):
            # Its card (the project file keeps it) has its shapes and counts: nothing to load. A
            # model file's card is known only once the file is hashed, off the UI thread.
            return False
        if not _keras_ready:
            return True
        return kind.category == PRETRAINED and not kind.has_card(node, self.context)

    def card(self, node: Node) -> ModelCard | None:
        """A pretrained node's model card if it is known, without loading anything."""
        kind = node_type(node.type)
        if kind.category != PRETRAINED or self.needs_loading(node):
            return None
        return kind.try_card(node, self.context)

    def input_ports(self, node: Node) -> list[Port]:
        """The node's input ports; a pretrained node shows one port until its card is read."""
        kind = node_type(node.type)
        if self.needs_loading(node):
            return [Port("in")]
        connected = {e.target_port for e in self.graph.in_edges(node.id)}
        return kind.input_ports(node, connected, self.context)

    def output_ports(self, node: Node) -> list[str]:
        kind = node_type(node.type)
        if self.needs_loading(node):
            return ["out"] + [f"tap:{t}" for t in node.params.get("taps", [])]
        return kind.output_ports(node, self.context)

    def revalidate(self) -> None:
        """Analyse now, or first load what the analysis needs in the background."""
        if self.closed:
            return
        self._fetch_imagenet_weights()
        if any(self.needs_loading(n) for n in self.graph.nodes):
            self._start_loading()
            return
        self._publish_analysis()

    def _publish_analysis(self) -> None:
        """The analyser's result with what else Start would trip over: imagenet weights that
        could not be fetched (errors on their nodes), phases that train nothing (warnings),
        and the data checks' problems."""
        analysis = self.analyzer.analyze()
        refused = [Problem(ERROR, "weights_unavailable", f"{node.name}: {why}", node.id)
                   for node in self.graph.nodes
                   if (why := self._weights_refused.get(_imagenet_key(node) or ""))]
        phases = phase_problems(self.graph, analysis, self.context, self.project.training.phases)
        if refused or phases:
            analysis = Analysis(analysis.nodes, analysis.problems + refused + phases)
        self.analysis = self.data_checks.merged(analysis)
        self._set_loading("")
        self.analysisChanged.emit()
        self.data_checks.schedule()

    def _data_checked(self) -> None:
        """The data checks found other problems: shown with the analysis's."""
        if self._job is None and self.analysis is not None:  # a load in progress publishes them
            self._publish_analysis()

    def _start_loading(self) -> None:
        """Load in the background, starting on the next turn of the event loop, so that
        whatever is being drawn now (a project just opened) is painted first."""
        if self._job is not None:
            return  # _on_loaded revalidates, which finds what is still missing
        self._set_loading("Reading pretrained models…" if _keras_ready else "Loading TensorFlow…")
        self._job = PENDING
        QTimer.singleShot(0, self, self._submit_loading)

    def _submit_loading(self) -> None:
        if self.closed:
            return
        nodes = [n.copy() for n in self.graph.nodes if self.needs_loading(n)]
        ctx = self.context

        def load(report) -> None:
            import_keras()
            for node in nodes:
                kind = node_type(node.type)
                if kind.category == PRETRAINED:
                    kind.try_card(node, ctx)

        self._job = Job(load, name="Reading pretrained models")
        self._start(self._job, finished=self._on_loaded)

    def _start(self, job: Job, **slots) -> None:
        """Start `job` on the loader thread, its signals (by name) connected to `slots` until it
        finishes or this document closes."""
        links = Subscriptions()
        for name, slot in slots.items():
            links.connect(getattr(job, name), slot)
        links.connect(job.finished, lambda: self._jobs.pop(job, None))
        self._jobs[job] = links
        job.start(LOADER)

    def _fetch_imagenet_weights(self) -> None:
        """Download, in the background, the imagenet weights that Application nodes ask for
        (once per process and model; Keras's cache makes later runs instant)."""
        for node in self.graph.nodes:
            key = _imagenet_key(node)
            if key is None or key in _fetched:
                continue
            _fetched.add(key)
            p, settings = node.params, _imagenet_settings(node)
            label = f"{p['architecture']} imagenet weights"

            def fetch(report, architecture=p["architecture"], settings=settings, key=key) -> str:
                """'' once the weights are in Keras's cache, or why they cannot be (offline)."""
                try:
                    import_keras()
                    fetch_imagenet_weights(architecture, settings,
                                           lambda got, total: report((got, total), True))
                except ModelLoadError as error:
                    _fetched.discard(key)  # try again on the next edit, e.g. once online
                    return str(error)
                except BaseException:
                    _fetched.discard(key)
                    raise
                return ""

            self._start(Job(fetch, name=f"Downloading {label}", take_hz=DOWNLOAD_HZ),
                        progress=lambda sizes, label=label: self.downloadProgress.emit(label, *sizes[-1]),
                        returned=lambda why, key=key, label=label: self._download_ended(key, label, why),
                        failed=lambda failure, label=label: self.downloadFailed.emit(f"{label}: {failure}"),
                        finished=lambda label=label: self.downloadProgress.emit(label, 1, 1))

    def _download_ended(self, key: str, label: str, refusal: str) -> None:
        """A refusal becomes an error on the nodes that need those weights (the Problems panel
        has room for its advice); weights that arrived clear it."""
        if refusal:
            self.downloadFailed.emit(f"{label} could not be downloaded: see the Problems panel")
        known = self._weights_refused.get(key)
        if refusal == (known or ""):
            return
        if refusal:
            self._weights_refused[key] = refusal
        else:
            del self._weights_refused[key]
        if self._job is None and self.analysis is not None:  # a load in progress publishes it
            self._publish_analysis()

    def _on_loaded(self) -> None:
        self._job = None
        self.revalidate()

    def _set_loading(self, text: str) -> None:
        if text != self.loading:
            self.loading = text
            self.loadingChanged.emit(text)

    def wait_until_analysed(self, timeout: float = 60.0) -> Analysis:
        """Block until the analysis is current (for scripts and tests, not the UI)."""
        from PySide6.QtCore import QCoreApplication, QDeadlineTimer, QEventLoop

        deadline = QDeadlineTimer(int(timeout * 1000))
        while self.loading and not deadline.hasExpired():
            QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        if self.loading:
            raise TimeoutError(f"still {self.loading}")
        return self.analysis
