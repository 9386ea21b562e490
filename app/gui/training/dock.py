"""The Training panel: run controls and progress on top, then Setup, Plots, Results and Runs.

A run trains a snapshot of the project on a worker thread (the user may go on editing;
the edits apply to the next run). Its events arrive here on the UI thread: plots append,
the progress bar is redrawn a few times a second, results show when the run evaluated,
and when it ends its weights become part of the project as one undoable change."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QScrollArea,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.document.fileformat import snapshot
from app.core.training.data_checks import DATA_ERROR
from app.core.training.events import (
    DIVERGED,
    FINISHED,
    STOPPED,
    BatchEnded,
    EpochEnded,
    Evaluated,
    PhaseStarted,
    RunEnded,
    RunStarted,
    duration,
)
from app.gui.document import Subscriptions
from app.gui.theme import colors, icon
from app.gui.training.banner import Banner, media_icon
from app.gui.training.results import ResultsView
from app.gui.training.runs import RunsView
from app.gui.training.setup import SetupView
from app.gui.training.sweep import SweepView
from app.gui.training.worker import TrainFunction, TrainingRun

IDLE, STARTING, RUNNING, PAUSED, STOPPING = "idle", "starting", "running", "paused", "stopping"
PROGRESS_HZ = 2  # the bar and its text repaint with their parent dock: twice a second reads as live
PROGRESS_STEPS = 1000  # the bar's resolution
# The plots' minimum height (plots.MINIMUM_HEIGHT, which imports pyqtgraph): the Plots tab has it
# before they are built, so the dock is as tall as it will be with them.
PLOTS_MINIMUM_HEIGHT = 140


def progress_text(phases: int, phase: PhaseStarted | None, batch: BatchEnded | None) -> str:
    """`Phase 1/2 'head' · epoch 3/10 · step 20/45 · 1,240 samples/s · 0:42 left`."""
    if phase is None:
        return "Preparing: loading TensorFlow, building the model and reading the data…"
    parts = [f"Phase {phase.index + 1}/{max(phases, 1)} '{phase.name}'"]
    if batch is None:
        parts.append(f"epoch 1/{phase.epochs}")
        return " · ".join(parts)
    parts.append(f"epoch {batch.epoch + 1}/{phase.epochs}")
    parts.append(f"step {batch.step}/{batch.steps}")
    if batch.samples_per_second:
        parts.append(f"{batch.samples_per_second:,.0f} samples/s")
    if batch.seconds_left is not None:
        parts.append(f"{duration(batch.seconds_left)} left")
    return " · ".join(parts)


def run_name(started: RunStarted) -> str:
    """A run as it is on disk, by its folder: `run-003`, or `run-003 resumed` for its sequel."""
    name = Path(started.run_dir).name
    return f"{name} resumed" if started.resumed_from else name


class TrainingPanel(QWidget):
    """The content of the Training dock. `document` is the window's; `train` replaces the
    core runner (tests drive the panel with synthetic events through it)."""

    statusMessage = Signal(str, int)  # text, milliseconds (0: until replaced)
    stateChanged = Signal(str)
    runEnded = Signal(object)  # RunEnded, after the panel handled it

    def __init__(self, parent: QWidget | None = None, train: TrainFunction | None = None):
        super().__init__(parent)
        self.train_function = train
        self.document = None
        self._document_links = Subscriptions()  # to the document's signals
        self.run: TrainingRun | None = None
        self.state = IDLE
        self.last_result: RunEnded | None = None
        self.failure_dialog: QMessageBox | None = None
        # Asked when Start finds the project unsaved; returns True once it is saved.
        self.save_project: Callable[[], bool] | None = None
        self._run_document = None
        self._run_phase: str | None = None
        self._resume_phase: str | None = None
        self._phase_count = 0
        self._phase_epochs: list[int] = []
        self._phase: PhaseStarted | None = None
        self._batch: BatchEnded | None = None
        self._progress_dirty = False
        self._started_at = 0.0
        self._evaluated = False

        self._build_actions()
        self._build_controls()
        self.banner = Banner()
        self.setup = SetupView()
        self._plots = None  # built when first needed (see `plots`): pyqtgraph is slow to import
        placeholder = QWidget()  # the Plots tab's page until then
        placeholder.setMinimumHeight(PLOTS_MINIMUM_HEIGHT)
        self.results = ResultsView()
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        # The setup's columns are never narrower than their fields; a dock narrower than the
        # three scrolls them sideways rather than cut a field or widen the window.
        self.setup_page = QScrollArea()
        self.setup_page.setWidgetResizable(True)
        self.setup_page.setFrameShape(QScrollArea.Shape.NoFrame)
        self.setup_page.setWidget(self.setup)
        self.tabs.addTab(self.setup_page, "Setup")
        self.plots_tab = self.tabs.addTab(placeholder, "Plots")
        self.tabs.addTab(self.results, "Results")
        # every run on disk; ticked ones overlaid in Plots
        self.runs = RunsView(lambda: self.plots, lambda: self._plots is not None)
        self.runs.statusMessage.connect(self.statusMessage)
        self.tabs.addTab(self.runs, "Runs")
        self.sweep = SweepView(lambda: self.busy)  # trials run one at a time, never beside a run
        self.sweep.statusMessage.connect(self.statusMessage)
        self.sweep.runsChanged.connect(self.runs.refresh)
        self.tabs.addTab(self.sweep, "Sweep")
        self.tabs.currentChanged.connect(self._tab_changed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.controls)
        banner_row = QHBoxLayout()
        banner_row.setContentsMargins(8, 0, 8, 0)
        banner_row.addWidget(self.banner)
        layout.addLayout(banner_row)
        layout.addWidget(self.tabs, 1)

        self._progress_shown = 0.0  # when the bar last showed a batch (time.monotonic)
        self._set_state(IDLE)

    # -- construction ---------------------------------------------------------------------
    @property
    def plots(self):
        """The live plots (`TrainingPlots`), built on first use: the Plots tab shown, a run
        started, an earlier run overlaid. Importing pyqtgraph and building the plots were
        about a quarter of the editor's launch."""
        if self._plots is None:
            from app.gui.training.plots import TrainingPlots

            self._plots = TrainingPlots()
            placeholder = self.tabs.widget(self.plots_tab)
            current = self.tabs.currentIndex()
            self.tabs.blockSignals(True)  # the same tab, only its page changes
            self.tabs.removeTab(self.plots_tab)
            self.tabs.insertTab(self.plots_tab, self._plots, "Plots")
            self.tabs.setCurrentIndex(current)
            self.tabs.blockSignals(False)
            placeholder.deleteLater()
            # The plots' smoothing and Clear sit in the tab bar, beside the tabs, while Plots is
            # shown: a row of their own cost the plots a fifth of their height in a short dock.
            self.tabs.setCornerWidget(self._plots.controls, Qt.Corner.TopRightCorner)
            self._plots.earlierRunsChanged.connect(self.runs.sync_ticks)
            self._tab_changed()
        return self._plots

    def _tab_changed(self) -> None:
        showing_plots = self.tabs.currentIndex() == self.plots_tab
        if showing_plots or self._plots is not None:
            self.plots.controls.setVisible(showing_plots)

    def _build_actions(self) -> None:
        def action(text: str, slot, shortcut: str | None, tip: str) -> QAction:
            made = QAction(text, self)
            if shortcut:
                made.setShortcut(QKeySequence(shortcut))
            made.setToolTip(f"{tip} ({shortcut})" if shortcut else tip)
            made.setStatusTip(tip)
            made.triggered.connect(slot)
            return made

        self.start_action = action("&Start Training", lambda: self.start(), "F5",
                                   "Train the graph with the setup below")
        self.pause_action = action("&Pause Training", self.toggle_pause, "F6",
                                   "Pause the run after the current step, or resume it")
        self.stop_action = action("S&top Training", self.stop, "Shift+F5",
                                  "Stop the run after the current step; its weights so far are kept")
        self.resume_last_action = action("&Resume Last Run", lambda: self.start(resume=True), None,
                                         "Go on with the last, stopped run from the epoch it stopped in")
        self.clear_runs_action = action("&Clear Earlier Runs", lambda: self.plots.clear_earlier_runs(), None,
                                        "Remove the dimmed curves of earlier runs from the plots")
        self.actions_in_order = [self.start_action, self.pause_action, self.stop_action,
                                 self.resume_last_action]
        self._theme_icons()

    def _theme_icons(self) -> None:
        theme = colors()
        self.start_action.setIcon(media_icon("start", theme.ok))
        self.pause_action.setIcon(media_icon("start" if self.state == PAUSED else "pause", theme.text))
        self.stop_action.setIcon(media_icon("stop", theme.error))
        self.resume_last_action.setIcon(media_icon("resume", theme.ok))

    def _build_controls(self) -> None:
        self.controls = QWidget()
        row = QHBoxLayout(self.controls)
        row.setContentsMargins(6, 6, 8, 0)
        row.setSpacing(4)
        self.buttons: dict[QAction, QToolButton] = {}
        for made in self.actions_in_order:
            button = QToolButton()
            button.setDefaultAction(made)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            row.addWidget(button)
            self.buttons[made] = button
        row.addSpacing(8)
        self.phase_label = QLabel("Run")
        self.phase_box = QComboBox()
        self.phase_box.setToolTip("Run every phase in order, or one phase alone")
        self.phase_label.setBuddy(self.phase_box)
        row.addWidget(self.phase_label)
        row.addWidget(self.phase_box)
        row.addSpacing(8)
        self.progress = QProgressBar()
        self.progress.setRange(0, PROGRESS_STEPS)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setMinimumWidth(200)
        row.addWidget(self.progress, 1)

    # -- the document -----------------------------------------------------------------------
    def set_document(self, document) -> None:
        """Show another project's setup; the plots and results of the previous one go."""
        self.release_document()
        self.document = document
        for signal, slot in ((document.trainingChanged, self._training_changed),
                             (document.analysisChanged, self._analysis_changed),
                             (document.fileChanged, self._file_changed)):
            self._document_links.connect(signal, slot)
        self.setup.set_document(document)
        if self.run is None or not self.run.running:
            if self._plots is not None:
                self._plots.clear()
            self._show_last_run_on_disk()
            self.results.clear()
            self.banner.hide()
            self.last_result = None
            self._reset_progress()
        self._refresh_phase_box()
        self._update_actions()
        self.runs.set_document(document)
        self.sweep.set_document(document)

    def _show_last_run_on_disk(self) -> None:
        """A project opened again shows its newest run's epochs, dimmed and named by its folder,
        as the plots keep an earlier run of this session: the next run is compared with it."""
        from app.core.training.store import latest_run, read_history

        if self.document.path is None:
            return
        try:
            folder = latest_run(self.document.project)
        except OSError:
            return
        if folder is not None:
            self.plots.add_earlier_run(folder.name, read_history(folder))

    def release_document(self) -> None:
        """Hear no more from the document (the window is closing or shows another one); what
        the panel shows stays."""
        self._document_links.clear()
        self.runs.release_document()
        self.sweep.release_document()

    def _training_changed(self) -> None:
        self.setup.refresh()
        self._refresh_phase_box()
        self._update_actions()

    def _analysis_changed(self) -> None:
        self.setup.refresh()
        self._update_actions()

    def _refresh_phase_box(self) -> None:
        phases = [p.name for p in self.document.training.phases] if self.document else []
        wanted = self.phase_box.currentData()
        self.phase_box.blockSignals(True)
        self.phase_box.clear()
        self.phase_box.addItem("all phases" if phases else "one phase", None)
        for name in phases:
            self.phase_box.addItem(f"phase {name} only", name)
        index = self.phase_box.findData(wanted)
        self.phase_box.setCurrentIndex(max(index, 0))
        self.phase_box.blockSignals(False)
        self.phase_box.setVisible(len(phases) > 1)
        self.phase_label.setVisible(len(phases) > 1)

    # -- state ------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """A run is on its thread (starting, running, paused or stopping)."""
        return self.state != IDLE

    def refusal(self) -> str | None:
        """Why Start would be refused now, or None."""
        document = self.document
        if document is None:
            return "There is no project to train."
        if self.sweep.running:
            return "Cannot start training while a sweep runs; stop it first (Sweep tab)."
        analysis = document.analysis
        if analysis is None:
            what = (document.loading or "the graph is being analysed").rstrip("…")
            return f"Cannot start training yet: {what[0].lower() + what[1:]}; try again in a moment."
        errors = [e for e in analysis.errors if e.code != DATA_ERROR]
        if errors:
            count = len(errors)
            more = f" (and {count - 1} more)" if count > 1 else ""
            return (f"Cannot start training: the graph has {count} error{'s' * (count != 1)}. "
                    f"Fix {'them' if count > 1 else 'it'} first (see Problems): {errors[0].message}{more}")
        problems = self.setup.setup_problems()
        if problems:
            more = f" (and {len(problems) - 1} more, listed in Setup)" if len(problems) > 1 else ""
            return f"Cannot start training: the setup does not fit the graph: {problems[0]}{more}"
        data_errors = [e for e in analysis.errors if e.code == DATA_ERROR]
        if data_errors:
            more = f" (and {len(data_errors) - 1} more)" if len(data_errors) > 1 else ""
            return ("Cannot start training: the data does not fit the graph (see Problems): "
                    f"{data_errors[0].message}{more}")
        return None

    def can_resume_last(self) -> bool:
        """Whether the project's last run was stopped (so it can go on): the last run of this
        session, or else the newest run folder beside the project."""
        if self.busy or self.document is None or self.document.path is None:
            return False
        if self.last_result is not None and self._run_document is self.document:
            return self.last_result.status == STOPPED  # this session's last run
        from app.core.training.store import latest_run

        try:
            newest = latest_run(self.document.project)
            return newest is not None and newest == latest_run(self.document.project, STOPPED, trials=False)
        except OSError:
            return False

    def _set_state(self, state: str) -> None:
        self.state = state
        self._update_actions()
        self.stateChanged.emit(state)

    def _update_actions(self) -> None:
        state = self.state
        self.start_action.setEnabled(state == IDLE and self.document is not None)
        reason = self.refusal() if state == IDLE and self.document is not None else None
        self.start_action.setToolTip(reason or "Train the graph with the setup below (F5)")
        self.pause_action.setEnabled(state in (STARTING, RUNNING, PAUSED))
        self.pause_action.setText("&Resume Training" if state == PAUSED else "&Pause Training")
        self.pause_action.setIconText("Resume" if state == PAUSED else "Pause")
        self.stop_action.setEnabled(state in (STARTING, RUNNING, PAUSED))
        self.resume_last_action.setEnabled(state == IDLE and self.can_resume_last())
        self.clear_runs_action.setEnabled(True)
        self.start_action.setIconText("Start")
        self.stop_action.setIconText("Stop")
        self.resume_last_action.setIconText("Resume last run")
        self._theme_icons()

    # -- running ------------------------------------------------------------------------------
    def start(self, resume: bool = False) -> bool:
        """Start a run (or resume the stopped one); False, with the reason shown, when refused."""
        if self.busy:
            return False
        reason = self.refusal()
        if reason:
            self._refuse(reason)
            return False
        if self.document.path is None and (self.save_project is None or not self.save_project()
                                           or self.document.path is None):
            self._refuse("Training needs a saved project: its runs and weights are kept next to the "
                         "project file. Save the project (Ctrl+S), then start again.")
            return False
        if self.run is not None:
            self.run.wait(5000)  # the last run's thread is past its RunEnded; let it return
            self.run.deleteLater()
        phase = self._resume_phase if resume else self.phase_box.currentData()
        project = snapshot(self.document.project)
        try:
            self._phase_epochs = [p.epochs for p in project.training.run_phases(phase)]
        except ValueError:
            self._phase_epochs = []
        self.run = TrainingRun(project, phase=phase, resume=resume, train=self.train_function, parent=self)
        self.run.events.connect(self._on_events)
        self._run_document, self._run_phase = self.document, phase
        self._reset_progress()
        self._started_at = time.monotonic()
        self._evaluated = False
        self.banner.hide()
        self.plots.begin_run(monitor=project.training.settings["monitor"])
        self.results.clear()
        self.tabs.setCurrentWidget(self.plots)
        self._set_state(STARTING)
        self.progress.setRange(0, 0)  # busy until the first phase starts
        self._show_progress_text(progress_text(0, None, None))
        self.statusMessage.emit("Resuming the last training run…" if resume else "Training started…", 4000)
        self.run.start()
        return True

    def toggle_pause(self) -> None:
        if self.state == PAUSED:
            self.resume()
        else:
            self.pause()

    def pause(self) -> None:
        if self.state in (STARTING, RUNNING):
            self.run.pause()
            self._set_state(PAUSED)
            self._progress_dirty = True
            self._update_progress()
            self.statusMessage.emit("Training paused (F6 resumes)", 0)

    def resume(self) -> None:
        if self.state == PAUSED:
            self.run.resume_run()
            self._set_state(RUNNING if self._phase is not None else STARTING)
            self._progress_dirty = True
            self._update_progress()
            self.statusMessage.emit("Training resumed", 3000)

    def stop(self) -> None:
        if self.state in (STARTING, RUNNING, PAUSED):
            self.run.stop()
            self._set_state(STOPPING)
            self._show_progress_text("Stopping after the current step…")
            self.statusMessage.emit("Stopping training…", 0)

    def shutdown(self, timeout_ms: int = 60000) -> bool:
        """Stop a run (or a sweep) and wait for its thread (the window is closing); True when it ended."""
        run = self.run
        if run is None or not run.running:
            return self.sweep.shutdown(timeout_ms)
        self.stop()
        # Delivers the RunEnded, which stores the weights. A run still busy after that finishes
        # on its own: the background module keeps its job and thread until it ends.
        return run.wait(timeout_ms)

    # -- events ------------------------------------------------------------------------------
    def _on_events(self, events: list) -> None:
        if self.sender() is not self.run and self.sender() is not None:
            return  # a run replaced by a newer one
        batches = []  # consecutive batches go to the plots together
        for event in events:
            if isinstance(event, BatchEnded):
                batches.append(event)
                continue
            if batches:
                self._on_batches(batches)
                batches = []
            self._on_event(event)
        if batches:
            self._on_batches(batches)
        if time.monotonic() - self._progress_shown >= 1 / PROGRESS_HZ:
            self._update_progress()

    def _on_batches(self, batches: list[BatchEnded]) -> None:
        self.plots.add_batches(batches)
        self._batch = batches[-1]
        self._progress_dirty = True

    def _on_event(self, event) -> None:
        if isinstance(event, EpochEnded):
            self.plots.add_epoch(event)
        elif isinstance(event, PhaseStarted):
            if event.warning:
                self._warnings.append(event.warning[:1].upper() + event.warning[1:] + ".")
                self.banner.show_message("warning", " ".join(self._warnings))
            self.plots.mark_phase(event.name)
            self._phase, self._batch = event, None
            self._progress_dirty = True
            self.progress.setRange(0, PROGRESS_STEPS)
            if self.state == STARTING:
                self._set_state(RUNNING)
        elif isinstance(event, RunStarted):
            self.plots.name_run(run_name(event))
            self.runs.training_now = Path(event.run_dir)  # not to be deleted while it trains
            self.runs.refresh()  # the new run's folder, running
            self._phase_count = len(event.phases)
            what = "Resumed" if event.resumed_from else "Training"
            phases = f"{self._phase_count} phase{'s' * (self._phase_count != 1)}"
            self.statusMessage.emit(f"{what}: {event.train_samples:,} training and "
                                    f"{event.validation_samples:,} validation samples, {phases}", 6000)
        elif isinstance(event, Evaluated):
            self.results.show_results(event)
            self._evaluated = True
        elif isinstance(event, RunEnded):
            self._finish(event)

    def _finish(self, ended: RunEnded) -> None:
        self.plots.redraw()
        self.last_result = ended
        if ended.warning:
            self._warnings.append(ended.warning[:1].upper() + ended.warning[1:] + ".")
        if ended.status == STOPPED:
            self._resume_phase = self._run_phase
        if ended.weights and self._run_document is self.document:
            self._store_weights(ended.weights)
        self._set_state(IDLE)
        elapsed = duration(time.monotonic() - self._started_at)
        self.progress.setRange(0, PROGRESS_STEPS)
        weights = (f" The weights are in {ended.weights}; save the project to keep them."
                   if ended.weights else "")
        message = ended.message[:1].upper() + ended.message[1:]
        sentence = message.rstrip(".") + "."  # one full stop, whether or not the message has one
        if ended.status == FINISHED:
            self.progress.setValue(PROGRESS_STEPS)
            self._show_progress_text(f"Finished in {elapsed}")
            self.banner.show_message("warning" if self._warnings else "ok",
                                     " ".join([sentence + weights, *self._warnings]),
                                     "Show results" if self._evaluated else None,
                                     lambda: self.tabs.setCurrentWidget(self.results))
            self.statusMessage.emit(f"Training finished in {elapsed}", 10000)
        elif ended.status == STOPPED:
            self._show_progress_text(f"Stopped after {elapsed}")
            self.banner.show_message("info", sentence + weights,
                                     "Resume last run" if self.can_resume_last() else None,
                                     lambda: self.start(resume=True))
            self.statusMessage.emit("Training stopped", 10000)
        elif ended.status == DIVERGED:
            self._show_progress_text("Diverged")
            self.banner.show_message("error", f"Training diverged: {sentence}{weights}")
            self.statusMessage.emit("Training diverged: the loss became NaN or infinite; "
                                    "see the Training panel", 0)
        else:
            self._show_progress_text("Failed")
            self.banner.show_message("error", message, "Details…" if ended.details else None,
                                     lambda: self.show_failure(ended))
            self.statusMessage.emit(f"Training failed: {message.splitlines()[0]}", 0)
            self.show_failure(ended)
        self._update_actions()
        self.runs.training_now = None
        self.runs.refresh()
        self.runEnded.emit(ended)

    def _store_weights(self, weights: str) -> None:
        """The run's weights into the project, as an undoable change (saving keeps them). The run
        names them relative to the project's folder, which a Save As during the run keeps."""
        training = self.document.project.training
        if training.weights != weights:
            self.document.set_training(training.replaced(weights=weights), "Store trained weights")

    def show_failure(self, ended: RunEnded) -> QMessageBox:
        """A non-modal message box with the message, and the traceback under Show Details."""
        if self.failure_dialog is not None:
            self.failure_dialog.close()
            self.failure_dialog.deleteLater()
        box = QMessageBox(QMessageBox.Icon.Critical, "Training failed", ended.message,
                          QMessageBox.StandardButton.Close, self)
        box.setInformativeText("The project is unchanged. Fix the cause and start again.")
        if ended.details:
            box.setDetailedText(ended.details)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.show()
        self.failure_dialog = box
        return box

    def _refuse(self, reason: str) -> None:
        self.banner.show_message("error", reason)
        self.statusMessage.emit(reason, 10000)

    # -- progress ----------------------------------------------------------------------------
    def _reset_progress(self) -> None:
        self._phase = self._batch = None
        self._warnings: list[str] = []  # what the run's phases warned of, shown to its end
        self._phase_count = 0
        self._progress_dirty = False
        self.progress.setRange(0, PROGRESS_STEPS)
        self.progress.setValue(0)
        self._show_progress_text(self._ready_text())

    def _ready_text(self) -> str:
        return ("Ready" if self.document is None or self.document.path else
                "Ready (training saves the project first)")

    def _file_changed(self) -> None:
        """Saved for the first time: training no longer needs to save it first."""
        if self.progress_label.startswith("Ready"):
            self._show_progress_text(self._ready_text())
        self._update_actions()

    def _show_progress_text(self, text: str) -> None:
        self.progress.setFormat(text.replace("%", "%%"))
        self.progress.setToolTip(text)

    @property
    def progress_label(self) -> str:
        return self.progress.format().replace("%%", "%")

    def _update_progress(self) -> None:
        """The bar and its text from the latest batch; events show it at most PROGRESS_HZ
        times a second (it arrives with the UI's poll, on no timer of its own). Once a stop
        was asked for, or the run ended, the bar says so instead."""
        if not self._progress_dirty or self.state in (STOPPING, IDLE):
            return
        self._progress_dirty = False
        self._progress_shown = time.monotonic()
        text = progress_text(self._phase_count, self._phase, self._batch)
        if self.state == PAUSED:
            text = f"Paused · {text}"
        self._show_progress_text(text)
        batch, phase = self._batch, self._phase
        if batch is not None and phase is not None and self._phase_epochs:
            total = sum(self._phase_epochs) * batch.steps
            done = (sum(self._phase_epochs[:phase.index]) + batch.epoch) * batch.steps + batch.step
            self.progress.setValue(round(PROGRESS_STEPS * min(done / total, 1.0)) if total else 0)

    # -- look --------------------------------------------------------------------------------
    def apply_theme(self) -> None:
        self._theme_icons()
        if self._plots is not None:  # built later in the theme of then
            self._plots.apply_theme()
        self.results.apply_theme()
        self.runs.apply_theme()
        self.sweep.apply_theme()
        if self.banner.isVisible():
            self.banner.apply_theme()
        self.setup.problems_icon.setPixmap(icon("error").pixmap(16, 16))
