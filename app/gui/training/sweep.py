"""The Sweep tab: what a hyperparameter sweep searches, running it, and its trials.

The space is the project's (`training.sweep`): every change to it, the objective, pruning or
the number of trials is a setup edit (`edit_training(..., sweep=...)`), so it can be undone. A
project without one shows the default space `graft sweep` would search; its first edit saves
it into the project. Start runs the sweep on a thread of its own (Keras keeps its state per
thread, so every trial runs there, one after the other) on a snapshot of the project; each
trial is a run in the Runs tab. The trials table and the objective-versus-parameter plot are
read from the study, so a sweep run by `graft sweep` shows here too. Apply best puts the best
trial's values into the project as one undoable command."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.document.fileformat import snapshot
from app.core.document.sweep_space import (
    BATCH_SIZE,
    DROPOUT,
    KINDS,
    OPTIMIZER,
    TRAINABLE,
    UNITS,
    new_parameter,
    parameter_name,
)
from app.core.editing.commands import edit_training
from app.core.nodes import node_type
from app.core.nodes.base import PRETRAINED
from app.core.training.events import EpochEnded, RunControl, RunStarted
from app.core.training.sweep import (
    PRUNED,
    SweepEnded,
    SweepError,
    SweepResults,
    TrialEnded,
    TrialStarted,
    best_changes,
    space_of,
    sweep_problems,
    sweep_results,
)
from app.gui.background import Job
from app.gui.document import Subscriptions
from app.gui.theme import colors

THREAD = "graft-sweep"
MINIMUM_HEIGHT = 36  # px of the tables and the plot: a short dock keeps the canvas its room
SPACE_COLUMNS = ("Searches", "Phase", "Node", "Values", "Log")
KIND, PHASE, NODE, VALUES, LOG = range(len(SPACE_COLUMNS))
KIND_TITLES = {"learning_rate": "Learning rate", BATCH_SIZE: "Batch size", TRAINABLE: "Trainable last N",
               DROPOUT: "Dropout rate", UNITS: "Dense units", OPTIMIZER: "Optimizer"}
CHOICE_KINDS = (BATCH_SIZE, OPTIMIZER)
RANGE_WORD = " to "
HINT = ("What each trial tries. Double-click a phase, node or values to edit them: a range as "
        "\"0.0001 to 0.1\", choices as \"16, 32, 64\". Every edit can be undone.")
SPACE_TITLE = "Search"
DEFAULT_TITLE = "Search (the default: the project sets up no sweep; an edit saves one in it)"


class SweepView(QWidget):
    """The Sweep tab. `training_busy` says whether a training run is on (then Start waits);
    `running` is True while a sweep is."""

    statusMessage = Signal(str, int)
    runsChanged = Signal()  # a trial made a run folder

    def __init__(self, training_busy: Callable[[], bool] = lambda: False, parent: QWidget | None = None):
        super().__init__(parent)
        self.training_busy = training_busy
        self.document = None
        self.results: SweepResults | None = None
        self.control: RunControl | None = None
        self.job: Job | None = None
        self._links = Subscriptions()
        self._filling = False
        self._trial: int | None = None

        self.space_title = QLabel(SPACE_TITLE)
        self.space_title.setToolTip(HINT)
        self.space = QTableWidget(0, len(SPACE_COLUMNS))
        self.space.setToolTip(HINT)
        self.space.setHorizontalHeaderLabels(SPACE_COLUMNS)
        self.space.verticalHeader().hide()
        self.space.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.space.horizontalHeader().setStretchLastSection(True)
        self.space.itemChanged.connect(self._space_edited)
        self.add_button = QToolButton()
        self.add_button.setText("Add")
        self.add_button.setToolTip("Add a parameter to search")
        self.add_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.add_button)
        for kind, title in KIND_TITLES.items():
            menu.addAction(title, lambda kind=kind: self.add_parameter(kind))
        self.add_button.setMenu(menu)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Stop searching the selected parameters")
        self.remove_button.clicked.connect(self.remove_selected)

        self.objective_box = QComboBox()
        self.objective_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.objective_box.setToolTip("The metric each trial minimises (its best epoch's)")
        self.objective_box.currentIndexChanged.connect(
            lambda: self._edit("objective", self.objective_box.currentData()))
        self.pruning_box = QCheckBox("Prune hopeless trials")
        self.pruning_box.setToolTip("Stop a trial at an epoch's end when it is worse than the median of "
                                    "earlier trials there (Optuna's median pruner)")
        self.pruning_box.toggled.connect(lambda on: self._edit("pruning", on))
        self.trials_box = QSpinBox()
        self.trials_box.setRange(1, 100000)
        self.trials_box.setToolTip("Trials the study should have in all, counting those already run")
        self.trials_box.editingFinished.connect(lambda: self._edit("trials", self.trials_box.value()))
        self.start_button = QPushButton("Start Sweep")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop after the current step; Start goes on with the study")
        self.stop_button.clicked.connect(self.stop)
        self.progress = QLabel("")
        self.progress.setProperty("role", "hint")
        self.progress.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # long: cut

        self.trials = QTableWidget(0, 0)
        self.trials.verticalHeader().hide()
        self.trials.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.trials.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.trials.setSortingEnabled(True)
        self.trials.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.parameter_box = QComboBox()
        self.parameter_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.parameter_box.setToolTip("The parameter the plot draws the objective against")
        self.parameter_box.currentIndexChanged.connect(self._draw)
        self.apply_button = QPushButton("Apply Best")
        self.apply_button.setToolTip("Give the project the best trial's values (one undoable step)")
        self.apply_button.clicked.connect(self.apply_best)
        self._plot_view = None  # built when first shown or asked for (see `plot_view`)
        self.plot_holder = QWidget()
        QVBoxLayout(self.plot_holder).setContentsMargins(0, 0, 0, 0)
        self._build_layout()
        self.apply_theme()

    @property
    def plot_view(self):
        """The plot (a pyqtgraph `PlotWidget`), built when the tab is first shown: pyqtgraph is
        slow to import and the editor's launch does without it."""
        if self._plot_view is None:
            self._build_plot()
        return self._plot_view

    @property
    def plot(self):
        return self.plot_view.getPlotItem()

    def _build_plot(self) -> None:
        import pyqtgraph as pg

        self._plot_view = pg.PlotWidget()
        plot = self._plot_view.getPlotItem()
        plot.showGrid(x=True, y=True)
        plot.vb.setDefaultPadding(0.08)  # no trial's mark cut in half at an edge
        plot.addLegend(offset=(-8, 8))
        plot.setLabel("left", "objective")
        for axis in ("left", "bottom"):
            plot.getAxis(axis).enableAutoSIPrefix(False)  # 0.001, not "1 (x0.001)"
            plot.getAxis(axis).setStyle(maxTickLevel=0)  # a log axis labels its decades only
        self._plot_view.setMinimumHeight(MINIMUM_HEIGHT)
        self.plot_holder.layout().addWidget(self._plot_view)
        self.apply_theme()  # and draws the results

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._plot_view is None:
            self._build_plot()

    def _build_layout(self) -> None:
        top = QHBoxLayout()
        top.setContentsMargins(8, 6, 8, 0)
        top.addWidget(QLabel("Objective"))
        top.addWidget(self.objective_box)
        top.addWidget(self.pruning_box)
        top.addWidget(QLabel("Trials"))
        top.addWidget(self.trials_box)
        top.addStretch(1)
        top.addWidget(self.start_button)
        top.addWidget(self.stop_button)
        space_row = QHBoxLayout()
        space_row.addWidget(self.space_title, 1)
        space_row.addWidget(self.add_button)
        space_row.addWidget(self.remove_button)
        space_part = QWidget()
        space_column = QVBoxLayout(space_part)
        space_column.setContentsMargins(0, 0, 0, 0)
        space_column.addLayout(space_row)
        space_column.addWidget(self.space, 1)
        trials_part = QWidget()
        trials_column = QVBoxLayout(trials_part)
        trials_column.setContentsMargins(0, 0, 0, 0)
        trials_column.addWidget(self.progress)  # how the sweep goes, over its trials
        trials_column.addWidget(self.trials, 1)
        tables = QSplitter(Qt.Orientation.Vertical)
        tables.addWidget(space_part)
        tables.addWidget(trials_part)
        plot_part = QWidget()
        plot_column = QVBoxLayout(plot_part)
        plot_column.setContentsMargins(0, 0, 0, 0)
        plot_row = QHBoxLayout()
        plot_row.addWidget(QLabel("Objective against"))
        plot_row.addWidget(self.parameter_box, 1)
        plot_row.addWidget(self.apply_button)
        plot_column.addLayout(plot_row)
        plot_column.addWidget(self.plot_holder, 1)
        body = QSplitter(Qt.Orientation.Horizontal)
        body.addWidget(tables)
        body.addWidget(plot_part)
        body.setStretchFactor(0, 3)
        body.setStretchFactor(1, 2)
        body.setContentsMargins(8, 0, 8, 4)
        # the tables share what height there is
        for widget in (self.space, self.trials, self.plot_holder, tables):
            widget.setMinimumHeight(MINIMUM_HEIGHT)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(body, 1)
        self._update_buttons()

    # -- the document ----------------------------------------------------------------------
    def set_document(self, document) -> None:
        self.release_document()
        self.document = document
        self._links.connect(document.trainingChanged, self.refresh_space)
        self._links.connect(document.fileChanged, self.refresh_results)
        self.refresh_space()
        self.refresh_results()

    def release_document(self) -> None:
        self._links.clear()

    @property
    def running(self) -> bool:
        return self.job is not None and self.job.running

    # -- the space ----------------------------------------------------------------------------
    def current_space(self) -> tuple[dict, bool]:
        return space_of(self.document.project)

    def refresh_space(self) -> None:
        """The table and settings as the project's space has them."""
        if self.document is None:
            return
        space, defaulted = self.current_space()
        self._filling = True
        monitor = self.document.training.settings["monitor"]
        self.objective_box.clear()
        self.objective_box.addItem(f"monitor ({monitor})", None)
        for name in ("val_loss", "loss"):
            self.objective_box.addItem(name, name)
        self.objective_box.setCurrentIndex(max(self.objective_box.findData(space["objective"]), 0))
        self.pruning_box.setChecked(space["pruning"])
        self.trials_box.setValue(space["trials"])
        self.space.setRowCount(len(space["parameters"]))
        for row, entry in enumerate(space["parameters"]):
            for column, item in enumerate(self._space_cells(entry)):
                self.space.setItem(row, column, item)
        self.space.resizeColumnsToContents()
        self._filling = False
        self.space_title.setText(DEFAULT_TITLE if defaulted else SPACE_TITLE)
        self._update_buttons()

    def _space_cells(self, entry: dict) -> list[QTableWidgetItem]:
        keys = KINDS[entry["kind"]]
        if entry["kind"] in CHOICE_KINDS:
            values = ", ".join(str(choice) for choice in entry["choices"])
        else:
            values = f"{entry['low']:g}{RANGE_WORD}{entry['high']:g}"
        texts = (KIND_TITLES[entry["kind"]] + (" (log)" if entry["kind"] == "learning_rate" else ""),
                 entry.get("phase") or ("the run's" if "phase" in keys else ""), entry.get("node") or "",
                 values, "")
        cells = []
        for column, text in enumerate(texts):
            cell = QTableWidgetItem(text)
            flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
            if (column == VALUES or (column == PHASE and "phase" in keys)
                    or (column == NODE and "node" in keys)):
                flags |= Qt.ItemFlag.ItemIsEditable
            if column == LOG and "log" in keys:
                flags |= Qt.ItemFlag.ItemIsUserCheckable
                cell.setCheckState(Qt.CheckState.Checked if entry["log"] else Qt.CheckState.Unchecked)
            cell.setFlags(flags)
            cells.append(cell)
        return cells

    def _space_edited(self, item: QTableWidgetItem) -> None:
        if self._filling:
            return
        space = self.current_space()[0]
        entry = dict(space["parameters"][item.row()])
        text = item.text().strip()
        try:
            if item.column() == VALUES:
                entry |= _parsed_values(entry["kind"], text)
            elif item.column() == PHASE:
                the_runs = text in ("", "the run's") and entry["kind"] == "learning_rate"
                entry["phase"] = None if the_runs else text
            elif item.column() == NODE:
                entry["node"] = text
            elif item.column() == LOG:
                entry["log"] = item.checkState() == Qt.CheckState.Checked
        except ValueError as error:
            self.statusMessage.emit(f"Sweep: {error}", 6000)
            self.refresh_space()
            return
        parameters = list(space["parameters"])
        parameters[item.row()] = entry
        self._push(space | {"parameters": parameters}, f"Change sweep {parameter_name(entry)}")

    def add_parameter(self, kind: str) -> None:
        """Search one more thing: a kind's default range, on the first node or phase it fits."""
        graph, phases = self.document.project.graph, self.document.training.phases
        fitting = {DROPOUT: "Dropout", UNITS: "Dense"}
        nodes = [n.name for n in graph.nodes
                 if (kind in fitting and n.type == fitting[kind])
                 or (kind == TRAINABLE and node_type(n.type).category == PRETRAINED)]
        if kind in (*fitting, TRAINABLE) and not nodes:
            what = {DROPOUT: "a Dropout node", UNITS: "a Dense node", TRAINABLE: "a pretrained model"}[kind]
            self.statusMessage.emit(f"Sweep: the graph has no {what} to search; add one first", 6000)
            return
        if kind == TRAINABLE and not phases:
            self.statusMessage.emit("Sweep: a trainable last-N belongs to a phase; add a phase in Setup "
                                    "first", 6000)
            return
        space = self.current_space()[0]
        taken = {parameter_name(entry) for entry in space["parameters"]}
        choices = [new_parameter(kind, node, phase) for node in (nodes or [None])
                   for phase in ([p.name for p in phases] if kind == TRAINABLE else [None])]
        entry = next((c for c in choices if parameter_name(c) not in taken), None)
        if entry is None:
            self.statusMessage.emit(f"Sweep: {KIND_TITLES[kind].lower()} is searched already", 6000)
            return
        self._push(space | {"parameters": [*space["parameters"], entry]}, f"Search {parameter_name(entry)}")

    def remove_selected(self) -> None:
        rows = {index.row() for index in self.space.selectionModel().selectedRows()}
        if not rows:
            return
        space = self.current_space()[0]
        kept = [entry for row, entry in enumerate(space["parameters"]) if row not in rows]
        self._push(space | {"parameters": kept}, "Remove sweep parameters")

    def _edit(self, key: str, value) -> None:
        if self._filling or self.document is None:
            return
        space = self.current_space()[0]
        if space[key] != value:
            self._push(space | {key: value}, f"Change sweep {key}")

    def _push(self, space: dict, label: str) -> None:
        """One undoable setup edit; a refused one (the space does not check) says why."""
        try:
            command = edit_training(self.document.training, label, sweep=space)
        except ValueError as error:
            self.statusMessage.emit(f"Sweep: {error}", 8000)
            self.refresh_space()
            return
        self.document.push(command)

    # -- running --------------------------------------------------------------------------------
    def refusal(self) -> str | None:
        """Why Start would be refused now, or None."""
        document = self.document
        if document is None:
            return "There is no project to sweep."
        if self.training_busy():
            return "A training run is on; a sweep starts once it has ended."
        if document.path is None:
            return "Save the project first: a sweep keeps its study and runs beside it."
        found = sweep_problems(document.project, self.current_space()[0])
        return f"Cannot start the sweep: {found[0]}" if found else None

    def start(self) -> bool:
        if self.running:
            return False
        reason = self.refusal()
        if reason:
            self.statusMessage.emit(reason, 8000)
            return False
        project = snapshot(self.document.project)
        self.control = control = RunControl()
        trials = self.current_space()[0]["trials"]

        def work(report):
            from app.core.training.sweep import run_sweep

            def sink(event):
                if isinstance(event, (TrialStarted, TrialEnded, SweepEnded, RunStarted)):
                    report(event)
                elif isinstance(event, EpochEnded):
                    report(event, True)

            try:
                return run_sweep(project, trials, sink=sink, control=control)
            except SweepError as error:
                ended = SweepEnded(str(error), stopped=False, failed=True)
                report(ended)
                return ended

        self.job = Job(work, name="Sweep", take_hz=4)
        self.job.progress.connect(self._on_events)
        self.job.failed.connect(lambda failure: self._ended(SweepEnded(f"the sweep failed: {failure}",
                                                                       stopped=False, failed=True)))
        self.job.finished.connect(self._update_buttons)
        self.job.start(THREAD, dedicated=True)
        self.progress.setText("Starting the sweep: loading TensorFlow…")
        self.statusMessage.emit("Sweep started…", 4000)
        self._update_buttons()
        return True

    def stop(self) -> None:
        if self.running and self.control is not None:
            self.control.stop()
            self.progress.setText("Stopping after the current step…")

    def shutdown(self, timeout_ms: int = 60000) -> bool:
        """Stop a sweep and wait for its thread (the window is closing); True when it ended."""
        if not self.running:
            return True
        self.stop()
        return self.job.wait(timeout_ms)

    def _on_events(self, events: list) -> None:
        for event in events:
            if isinstance(event, TrialStarted):
                self._trial = event.number
                values = ", ".join(f"{name} {_shown(value)}" for name, value in event.params.items())
                self.progress.setText(f"Trial {event.number}: {values}")
            elif isinstance(event, EpochEnded) and self._trial is not None:
                self.progress.setText(f"Trial {self._trial}: epoch {event.global_epoch}")
            elif isinstance(event, TrialEnded):
                self.refresh_results()
                self.runsChanged.emit()
            elif isinstance(event, SweepEnded):
                self._ended(event)

    def _ended(self, ended: SweepEnded) -> None:
        self._trial = None
        self.progress.setText(ended.message[0].upper() + ended.message[1:])
        self.statusMessage.emit(f"Sweep: {ended.message}", 8000)
        self.refresh_results()
        self._update_buttons()

    def _update_buttons(self) -> None:
        running = self.running
        self.start_button.setEnabled(not running and self.document is not None)
        self.start_button.setToolTip((self.refusal() if self.document is not None and not running else None)
                                     or "Run the sweep's trials, each a training run (Runs lists them)")
        self.stop_button.setEnabled(running)
        for widget in (self.add_button, self.remove_button, self.objective_box, self.pruning_box,
                       self.trials_box, self.space):
            widget.setEnabled(not running)
        best = self.results.best if self.results else None
        self.apply_button.setEnabled(best is not None and not running)
        self.apply_button.setText(f"Apply Best (trial {best.number})" if best else "Apply Best")

    # -- results ---------------------------------------------------------------------------------
    def refresh_results(self) -> None:
        """The study as it stands, read from its database."""
        if self.document is None or self.document.path is None:
            self.results = None
        else:
            try:
                self.results = sweep_results(self.document.project)
            except SweepError as error:
                self.results = None
                self.progress.setText(str(error))
        self._fill_trials()
        names = self._parameter_names()
        wanted = self.parameter_box.currentText()
        self.parameter_box.blockSignals(True)
        self.parameter_box.clear()
        self.parameter_box.addItems(names)
        self.parameter_box.setCurrentIndex(max(self.parameter_box.findText(wanted), 0))
        self.parameter_box.blockSignals(False)
        self._draw()
        self._update_buttons()

    def _parameter_names(self) -> list[str]:
        trials = self.results.trials if self.results else []
        return list(dict.fromkeys(name for trial in trials for name in trial.params))

    def _fill_trials(self) -> None:
        trials = self.results.trials if self.results else []
        names = self._parameter_names()
        objective = self.results.objective if self.results else "objective"
        headers = ["Trial", "State", objective, *names, "Run"]
        self.trials.setSortingEnabled(False)
        self.trials.clear()
        self.trials.setColumnCount(len(headers))
        self.trials.setHorizontalHeaderLabels(headers)
        self.trials.setRowCount(len(trials))
        best = self.results.best if self.results else None
        for row, trial in enumerate(trials):
            run = Path(trial.run_dir).name if trial.run_dir else ""
            cells = [trial.number, trial.state, trial.value, *(trial.params.get(n) for n in names), run]
            for column, value in enumerate(cells):
                item = QTableWidgetItem()
                shown = _shown(value) if isinstance(value, float) else value
                item.setData(Qt.ItemDataRole.DisplayRole, shown)
                if trial.message:
                    item.setToolTip(trial.message)
                if best is not None and trial.number == best.number:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.trials.setItem(row, column, item)
        self.trials.setSortingEnabled(True)
        self.trials.resizeColumnsToContents()

    def _draw(self) -> None:
        """The objective against the chosen parameter: completed trials filled, pruned ones as
        hollow crosses at the value they were pruned at, the best as a star."""
        if self._plot_view is None:
            return  # drawn when built
        import pyqtgraph as pg

        self.plot.clear()
        self.plot.legend.clear()
        name = self.parameter_box.currentText()
        trials = [t for t in (self.results.trials if self.results else [])
                  if name in t.params and t.value is not None and math.isfinite(t.value)]
        self.plot.setLabel("left", self.results.objective if self.results else "objective")
        self.plot.setLabel("bottom", name)
        if not trials:
            return
        raw = [t.params[name] for t in trials]
        entry = next((t.targets[name] for t in trials if name in t.targets), {})
        categories = list(entry.get("choices") or [])
        if categories or any(isinstance(value, str) for value in raw):  # choices: one column each
            categories += [value for value in dict.fromkeys(raw) if value not in categories]
            xs = [float(categories.index(value)) for value in raw]
            x_range = (-0.5, len(categories) - 0.5)
        else:
            xs = [float(value) for value in raw]
            x_range = (entry["low"], entry["high"]) if "low" in entry else None
        log = not categories and (entry.get("kind") == "learning_rate" or entry.get("log", False))
        self.plot.setLogMode(x=log, y=False)
        ticks = None
        if categories:
            ticks = [list(enumerate(map(str, categories)))]
        elif log and x_range is not None:
            ticks = [_log_ticks(*x_range)]
        self.plot.getAxis("bottom").setTicks(ticks)
        if x_range is not None:  # the whole range searched, not just where trials fell
            low, high = (math.log10(x) for x in x_range) if log else x_range
            self.plot.setXRange(low, high, padding=0.05)
        theme = colors()
        done, pruned = QColor(theme.category["pretrained"]), QColor(theme.dim_text)
        star = QColor(theme.warning)
        best = self.results.best
        groups = [([t for t in trials if t.state == "complete"], done, "o", 9, "completed"),
                  ([t for t in trials if t.state == PRUNED], pruned, "x", 10, "pruned"),
                  ([best] if best is not None and best in trials else [], star, "star", 16,
                   f"best (trial {best.number})" if best else "")]
        for group, color, symbol, size, label in groups:
            if group:
                self.plot.addItem(pg.PlotDataItem(
                    [xs[trials.index(t)] for t in group], [t.value for t in group], pen=None, symbol=symbol,
                    symbolSize=size, symbolPen=pg.mkPen(color, width=1.5), name=label,
                    symbolBrush=pg.mkBrush(color) if symbol != "x" else None))

    def apply_theme(self) -> None:
        """The plot's background and axes in the theme's colours; its points take theirs when drawn."""
        if self._plot_view is None:
            return  # themed when built
        import pyqtgraph as pg

        dim = self.palette().color(QPalette.ColorRole.PlaceholderText)
        self.plot_view.setBackground(self.palette().color(QPalette.ColorRole.Base))
        for name in ("left", "bottom"):
            axis = self.plot.getAxis(name)
            axis.setPen(pg.mkPen(dim))
            axis.setTextPen(pg.mkPen(dim))
        self.plot.legend.setLabelTextColor(self.palette().color(QPalette.ColorRole.Text))
        self._draw()

    def apply_best(self) -> None:
        best = self.results.best if self.results else None
        if best is None or self.document is None:
            return
        try:
            command = best_changes(self.document.project, best)
        except ValueError as error:
            self.statusMessage.emit(f"Cannot apply trial {best.number}: {error}", 8000)
            return
        if self.document.push(command):
            self.statusMessage.emit(f"The project now has the values of trial {best.number} "
                                    "(Edit ▸ Undo puts them back)", 6000)


def _parsed_values(kind: str, text: str) -> dict:
    """A Values cell's text as the entry's keys: choices "16, 32" or a range "1e-4 to 0.1"."""
    def number(word: str):
        try:
            value = json.loads(word.strip())
        except ValueError:
            raise ValueError(f"{word.strip()!r} is not a number") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{word.strip()!r} is not a number")
        return value

    if kind in CHOICE_KINDS:
        words = [word.strip() for word in text.split(",") if word.strip()]
        return {"choices": [number(w) for w in words] if kind == BATCH_SIZE else words}
    low, separator, high = text.partition(RANGE_WORD.strip())
    if not separator:
        raise ValueError(f"write a range as \"low{RANGE_WORD}high\", e.g. \"0.0001{RANGE_WORD}0.1\"")
    return {"low": number(low), "high": number(high)}


def _log_ticks(low: float, high: float) -> list[tuple[float, str]]:
    """Ticks of a log axis from `low` to `high`: 1, 2 and 5 of each decade (pyqtgraph's own label
    every ninth of a decade, and their labels run into each other)."""
    ticks = []
    for decade in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1):
        for step in (1, 2, 5):
            value = step * 10.0 ** decade
            if low / 1.5 <= value <= high * 1.5:
                ticks.append((math.log10(value), f"{value:g}"))
    return ticks


def _shown(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)
