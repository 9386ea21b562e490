"""Previews in the editor: the Preview Outputs switch, the sample they are computed on, and the
background work that computes them.

Off (the default, remembered in the settings) nothing here runs: no thread, no TensorFlow, no
strip under the cards. On, each analysis the document publishes (an edit, an undo or a redo
alike) is followed, after DEBOUNCE_MS without another, by a snapshot of the project and its
analysis handed to this window's one preview thread. That thread keeps a `Previewer` for as long
as previews are on, so an update recomputes only the nodes whose inputs changed. A newer request
replaces one still waiting and cancels the update in progress (the previewer checks between
nodes); a result that a newer request has overtaken is dropped. Results reach the UI thread as
the job's progress (a queued signal), so the UI thread never waits on the previews: turning them
off, another document or closing the window asks the thread to stop, and it ends after the node
it is computing.

Prior art: napari's `_qt/qthreading.py` (a long-lived generator worker fed from the UI thread)."""

from __future__ import annotations

import itertools
import json
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QFileDialog, QWidget

from app.core.analysis.validate import Analysis
from app.core.document.fileformat import snapshot
from app.core.document.project import Project
from app.core.preview.summary import NodePreview
from app.gui.background import Failure, Job
from app.gui.document import Document, Subscriptions
from app.gui.preview.strip import PENDING, CardArt, PreviewStrip, card_art

THREAD = "graft-previews"
SETTING = "previews/enabled"
DEBOUNCE_MS = 150  # after the last edit: a burst of edits (a drag in a spin box) is previewed once
SHORTCUT = "Ctrl+Shift+P"
OFF_TEXT = f"Previews are off: View ▸ Preview Outputs ({SHORTCUT}) turns them on."
SAMPLE_FILTER = "Images, arrays or tables (*.png *.jpg *.jpeg *.bmp *.gif *.npz *.csv);;All files (*)"


@dataclass(frozen=True)
class PreviewRequest:
    """What one update previews: a snapshot of the project and its analysis, and the sample."""

    number: int  # the newest request is the highest
    project: Project
    analysis: Analysis
    files: tuple[str, ...]  # the sample's files; () for the validation data's first batch
    sample_key: str  # the sample is read again only when this changes


@dataclass(frozen=True)
class PreviewResult:
    number: int  # the request's
    previews: dict[str, NodePreview] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # node id → why it has no preview
    computed: tuple[str, ...] = ()  # the nodes this update computed (the rest were reused)
    source: str = ""  # what the previews are computed on
    sample_error: str = ""  # why there is no sample (then there are no previews)


class Mailbox:
    """The newest request, from the UI thread to the preview thread: a newer one replaces it."""

    def __init__(self):
        self._ready = threading.Condition()
        self._waiting: PreviewRequest | None = None
        self.latest = 0  # the number of the newest request posted
        self.stopped = False

    def post(self, request: PreviewRequest) -> None:
        with self._ready:
            self._waiting, self.latest = request, request.number
            self._ready.notify()

    def stop(self) -> None:
        with self._ready:
            self.stopped, self._waiting = True, None
            self._ready.notify()

    def take(self) -> PreviewRequest | None:
        """On the preview thread: the next request, once there is one; None once stopped."""
        with self._ready:
            self._ready.wait_for(lambda: self._waiting is not None or self.stopped)
            request, self._waiting = self._waiting, None
            return None if self.stopped else request

    def outdated(self, number: int) -> bool:
        """Whether request `number` was overtaken by a newer one, or previews stopped."""
        return self.stopped or self.latest != number


class PreviewWork:
    """The preview thread's loop: one previewer, kept while previews are on, fed the newest
    request each time (see the module's docstring)."""

    def __init__(self, mailbox: Mailbox):
        self.mailbox = mailbox
        self.previewer = None
        self._folder: Path | None = None  # the previewer's project folder (model paths resolve in it)
        self._sample_key: str | None = None
        self._source = ""

    def __call__(self, report) -> None:
        from app.core.preview.engine import PreviewCancelled

        while (request := self.mailbox.take()) is not None:
            try:
                result = self.update(request, lambda number=request.number: self.mailbox.outdated(number))
            except PreviewCancelled:
                continue
            if not self.mailbox.outdated(request.number):
                report(result)

    def update(self, request: PreviewRequest, cancelled: Callable[[], bool]) -> PreviewResult:
        from app.core.preview.engine import Previewer  # here, on the preview thread: it brings TensorFlow
        from app.core.preview.sample import SampleError, sample_from_files, validation_sample

        project = request.project
        if self.previewer is None or project.context.base_dir != self._folder:
            self.previewer = Previewer(project.context)
            self._folder, self._sample_key = project.context.base_dir, None
        if request.sample_key != self._sample_key:
            try:
                sample = (sample_from_files(project, list(request.files)) if request.files
                          else validation_sample(project))
            except SampleError as error:
                self._sample_key = None  # read again next time: the data may be there then
                return PreviewResult(request.number, sample_error=str(error))
            self.previewer.set_sample(sample)
            self._sample_key, self._source = request.sample_key, sample.source
        previews = self.previewer.update(project.graph, request.analysis, cancelled)
        return PreviewResult(request.number, dict(previews), dict(self.previewer.errors),
                             tuple(self.previewer.computed), self._source)


class PreviewController(QObject):
    """The switch, the sample choice and the previews of one window's document; it gives each
    card its strip and tells the Preview dock (`changed`) when something new arrived."""

    changed = Signal()  # previews arrived, or the switch or the sample changed
    statusMessage = Signal(str, int)  # text, milliseconds

    def __init__(self, settings: QSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings
        self.document: Document | None = None
        self.scene = None  # the GraphScene showing the document
        self.files: tuple[str, ...] = ()  # the sample's files; () for the validation data
        self.result = PreviewResult(0)  # the latest that arrived
        self.jobs_started = 0  # preview threads started (tests count them)
        self.job: Job | None = None  # the preview thread's, while previews are on
        self._mailbox: Mailbox | None = None
        self._numbers = itertools.count(1)
        self._links = Subscriptions()  # to the document
        self._job_links = Subscriptions()
        self._arts: dict[str, tuple[NodePreview, CardArt]] = {}  # node id → its preview, converted
        self._timer = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._timer.timeout.connect(self.request)
        self._build_actions(parent)

    def _build_actions(self, parent) -> None:
        self.toggle_action = QAction("Preview &Outputs", parent or self, checkable=True)
        self.toggle_action.setShortcut(QKeySequence(SHORTCUT))
        self.toggle_action.setData("preview")  # its icon's name (the window re-tints icons by it)
        tip = "Show each node's output on a sample of the data, on the cards and in the Preview dock"
        self.toggle_action.setToolTip(f"{tip} ({SHORTCUT})")
        self.toggle_action.setStatusTip(tip)
        self.toggle_action.setChecked(bool(self.settings.value(SETTING, False, type=bool)))
        self.toggle_action.toggled.connect(self._switched)
        self.validation_action = QAction("&Validation Data (First Batch)", parent or self, checkable=True,
                                         checked=True)
        self.validation_action.setStatusTip("Preview on the first batch of the project's validation data")
        self.validation_action.triggered.connect(lambda: self.set_sample_files(()))
        self.files_action = QAction("&Files…", parent or self, checkable=True)
        self.files_action.setStatusTip("Preview on images, an .npz or CSV rows you pick")
        self.files_action.triggered.connect(self.choose_sample_files)
        group = QActionGroup(self)
        for action in (self.validation_action, self.files_action):
            group.addAction(action)

    # -- state --------------------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        return self.toggle_action.isChecked()

    @property
    def settled(self) -> bool:
        """The previews shown are those of the document as it is (for tests and benchmarks)."""
        return (not self._timer.isActive() and self._mailbox is not None and not self.document.loading
                and self.result.number == self._mailbox.latest)

    def preview(self, node_id: str) -> NodePreview | None:
        return self.result.previews.get(node_id)

    def why_none(self, node_id: str) -> str:
        """Why a node has no preview, in words ("" while one is being computed)."""
        if not self.enabled:
            return OFF_TEXT
        if self.result.sample_error:
            return f"No sample to preview on: {self.result.sample_error}"
        return self.result.errors.get(node_id, "")

    # -- the document -------------------------------------------------------------------------
    def set_document(self, document: Document, scene) -> None:
        """Preview `document`, shown by `scene` (a window's New, Open, recovery)."""
        self.release_document()
        self.document, self.scene = document, scene
        self._links.connect(document.analysisChanged, self.schedule)
        self.schedule()

    def release_document(self) -> None:
        """Stop the work for the document and forget it (the window closes or shows another)."""
        self._links.clear()
        self._stop()
        self._show_strips(False)
        self.document = self.scene = None
        self.files = ()
        self.validation_action.setChecked(True)

    # -- the switch and the sample ----------------------------------------------------------
    def set_enabled(self, on: bool) -> None:
        self.toggle_action.setChecked(on)  # `_switched` follows

    def _switched(self, on: bool) -> None:
        self.settings.setValue(SETTING, on)
        if on:
            self.schedule()
        else:
            self._stop()
            self._show_strips(False)
        self.changed.emit()

    def choose_sample_files(self) -> None:
        """View ▸ Preview Sample ▸ Files…: images, an .npz or a .csv to preview on."""
        folder = str(self.document.context.base_dir) if self.document else ""
        paths, _ = QFileDialog.getOpenFileNames(self.parent(), "Preview sample", folder, SAMPLE_FILTER)
        if paths:
            self.set_sample_files(paths)
        else:
            (self.files_action if self.files else self.validation_action).setChecked(True)

    def set_sample_files(self, paths) -> None:
        """Preview on these files; () on the validation data's first batch."""
        self.files = tuple(str(p) for p in paths)
        (self.files_action if self.files else self.validation_action).setChecked(True)
        if self.enabled:
            names = ", ".join(Path(p).name for p in self.files)
            self.statusMessage.emit(f"Previews on {names}" if self.files else
                                    "Previews on the validation data's first batch", 4000)
        self.schedule()
        self.changed.emit()

    # -- the work --------------------------------------------------------------------------
    def schedule(self) -> None:
        """Request an update once the edits pause (nothing while previews are off)."""
        if self.enabled and self.document is not None:
            self._timer.start()

    def request(self) -> None:
        """Hand a snapshot of the document to the preview thread, starting it if need be."""
        document = self.document
        if not self.enabled or document is None or document.closed or document.analysis is None:
            return  # an analysis still loading is followed by analysisChanged
        project = snapshot(document.project)
        analysis = Analysis(dict(document.analysis.nodes), list(document.analysis.problems))
        key = json.dumps([self.files, project.training.to_dict().get("data"), str(project.folder)],
                         sort_keys=True, default=str)
        if self._mailbox is None:
            self._start()
        self._mailbox.post(PreviewRequest(next(self._numbers), project, analysis, self.files, key))
        if not self.result.number:
            self._show_strips(True)  # "computing…" until the first result

    def _start(self) -> None:
        self._mailbox = Mailbox()
        self.job = Job(PreviewWork(self._mailbox), name="Previews")
        self._job_links.connect(self.job.progress, self._arrived)
        self._job_links.connect(self.job.failed, self._failed)
        self._job_links.connect(self.job.finished, self._ended)
        self.job.start(THREAD, dedicated=True)
        self.jobs_started += 1

    def _stop(self) -> None:
        """Cancel the update in progress and let the thread end; never waits for it."""
        self._timer.stop()
        if self._mailbox is not None:
            self._mailbox.stop()
        self._job_links.clear()
        self.job = self._mailbox = None
        self.result = PreviewResult(0)
        self._arts.clear()

    def _arrived(self, results: list[PreviewResult]) -> None:
        result = results[-1]
        if self._mailbox is None or result.number != self._mailbox.latest:
            return  # overtaken by a newer edit; its result is on its way
        if result.sample_error and result.sample_error != self.result.sample_error:
            self.statusMessage.emit(f"No sample to preview on: {result.sample_error}", 15000)
        self.result = result
        self._arts = {node_id: art for node_id, art in self._arts.items() if node_id in result.previews}
        self._show_strips(True)
        self.changed.emit()

    def _failed(self, failure: Failure) -> None:
        """A bug in the previews, not the user's graph (the core turns those into errors)."""
        print(failure.details, file=sys.stderr)
        self.statusMessage.emit(f"Previews failed: {failure}; they start again with the next edit", 15000)

    def _ended(self) -> None:
        self._job_links.clear()
        self.job = self._mailbox = None

    # -- the cards -------------------------------------------------------------------------
    def _show_strips(self, shown: bool) -> None:
        """Give each card its strip with its node's preview, or take them away."""
        if self.scene is None:
            return
        for node_id, item in self.scene.node_items.items():
            if not shown:
                item.set_preview(None)
                continue
            strip = item.preview if isinstance(item.preview, PreviewStrip) else PreviewStrip()
            strip.set_art(self._art(node_id))
            item.set_preview(strip)

    def _art(self, node_id: str) -> CardArt:
        """The node's strip art, converted once per preview."""
        preview = self.result.previews.get(node_id)
        if preview is None:
            if self.result.sample_error:
                return CardArt(note="no sample to preview on", detail=self.why_none(node_id))
            why = self.result.errors.get(node_id)
            return CardArt(note=f"no preview: {why}", detail=why) if why else CardArt(note=PENDING)
        known = self._arts.get(node_id)
        if known is None or known[0] is not preview:
            known = self._arts[node_id] = (preview, card_art(preview))
        return known[1]
