"""Live training plots: the loss of every batch (raw and smoothed), the loss and metrics of
every epoch (training solid, validation dashed, one curve per Output), and the learning rate.

Events only append to numpy buffers. A timer redraws only the curves whose data changed, at
most REDRAW_HZ times a second and less often when drawing is slow: the plots take at most
DRAWING_SHARE of the time, because drawing holds Python's lock (the GIL), which training
needs too. So a run of 100,000 batches costs a few thousand redraws rather than 100,000. The
plots clip to the view and downsample (peak mode), so long curves stay fast. Earlier runs
stay in the plots, dimmed, for comparison."""

from __future__ import annotations

import atexit
import math
import time
import weakref

import numpy as np
import pyqtgraph as pg
import shiboken6
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPalette, QPen
from PySide6.QtWidgets import (
    QApplication,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.training.events import BatchEnded, EpochEnded
from app.gui.theme import colors
from app.gui.training.curves import (
    Curve,
    PlotHeader,
    PlotView,
    RateAxis,
    RunCurves,
    WholeNumberAxis,
    blend,
    classify,
    smooth,
)

REDRAW_HZ = 25  # at most this many redraws a second, whatever the batch rate
# And the redraws and their painting take at most this share of the time. Painting holds
# Python's lock, which training needs between its steps: each millisecond of drawing costs a
# small model's training about 1.35 ms (measured), so 1.5 % keeps its cost near 2 %, and a
# 15 ms redraw still comes about once a second.
DRAWING_SHARE = 0.015
SLOWEST_REDRAW_MS = 2000  # but never less often than this
EPOCH_MARKERS_UP_TO = 200  # epochs with a marker each; a longer run's epoch curves are lines
DEFAULT_SMOOTHING = 0.9
MINIMUM_HEIGHT = 140  # four plots in a row still readable, in a dock that leaves the canvas 300 px at 700
IDEAL_ASPECT = 2.0  # width : height of a plot's data: wider than this is no more readable
PLOT_SPACING = 8  # px between plots
PLOT_FRAME = (50, 50)  # px around a plot's data: the y labels; the title and legend, and the x labels
RATE_PADDING = 0.12  # of the rate's range, above and below: room for the top and bottom decades' labels
GRID_OPACITY = 0.25  # the grid's colour: this much of the axis colour over the background
# pyqtgraph's scene items must go before Qt's own teardown at exit: PySide deletes the
# remaining Python-owned objects in no particular order, and a plot's items then crash it.
_live: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _delete_plot_widgets() -> None:
    for widget in list(_live):
        if shiboken6.isValid(widget):
            shiboken6.delete(widget)


class TrainingPlots(QWidget):
    """Four plots in a grid: batch loss, learning rate, epoch loss, epoch metrics."""

    redrawn = Signal()
    earlierRunsChanged = Signal()  # an earlier run was added or removed (the Runs panel ticks it)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._smoothing = DEFAULT_SMOOTHING
        self._current: RunCurves | None = None
        self._earlier: list[RunCurves] = []
        self._runs_started = 0
        self._monitor = "val_loss"
        self._best: tuple[float, float] | None = None
        self._best_item = None
        self._best_dirty = False  # a new best epoch not drawn yet
        self._last_step = 0  # the global step and epoch drawn last, for phase boundaries
        self._last_epoch = 0

        self.smoothing_box = QDoubleSpinBox(minimum=0.0, maximum=0.999, singleStep=0.05, decimals=3,
                                            value=DEFAULT_SMOOTHING)
        self.smoothing_box.setToolTip("How strongly the batch loss is smoothed (0: not at all); "
                                      "an exponential moving average, as TensorBoard draws it")
        self.smoothing_box.valueChanged.connect(self.set_smoothing)
        self.clear_button = QPushButton("Clear earlier runs")
        self.clear_button.setToolTip("Remove the dimmed curves of earlier runs from the plots")
        self.clear_button.clicked.connect(self.clear_earlier_runs)
        self.clear_button.setEnabled(False)
        # The plots' own controls, in a row above them; the Training dock moves it into its tab
        # bar, beside the Plots tab, where it costs the plots no height.
        self.controls = QWidget()
        bar = QHBoxLayout(self.controls)
        bar.setContentsMargins(6, 2, 6, 2)
        smoothing_label = QLabel("Smoothing")
        smoothing_label.setBuddy(self.smoothing_box)
        bar.addWidget(smoothing_label)
        bar.addWidget(self.smoothing_box)
        bar.addStretch(1)
        bar.addWidget(self.clear_button)

        self.view = PlotView()
        _live.add(self.view)
        self.view.ci.setContentsMargins(4, 4, 4, 4)
        self.view.setMinimumHeight(MINIMUM_HEIGHT)  # the dock grows rather than squash the curves
        self.batch_plot = self._make_plot("Loss per batch")
        self.epoch_plot = self._make_plot("Loss per epoch")
        self.lr_plot = self._make_plot("Learning rate", rate=True)
        self.metrics_plot = self._make_plot("Metrics per epoch")
        self.lr_plot.setXLink(self.batch_plot)
        self.lr_plot.setLogMode(y=True)  # a fine-tuning phase's 1e-5 stays visible beside 1e-2
        self.lr_plot.vb.setDefaultPadding(RATE_PADDING)
        self.metrics_plot.setXLink(self.epoch_plot)
        self.columns = 0
        self.view.resized.connect(self._arrange)
        self._arrange()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.controls)
        layout.addWidget(self.view, 1)

        self.redraw_timer = QTimer(self, interval=1000 // REDRAW_HZ)
        self.redraw_timer.timeout.connect(self.redraw)
        self.apply_theme()

    def _make_plot(self, title: str, rate: bool = False) -> pg.PlotItem:
        """A plot with its title and legend above the data, and no axis titles: the plot's title
        says what is drawn against what, and two more rows of text would halve a short plot.
        `_arrange` places it."""
        axes = {"bottom": WholeNumberAxis("bottom")}  # steps and epochs: whole numbers only
        if rate:
            axes["left"] = RateAxis("left")
        plot = self.view.addPlot(axisItems=axes)
        plot.showGrid(x=True, y=True)
        plot.setClipToView(True)
        plot.setDownsampling(auto=True, mode="peak")
        for name in ("left", "bottom"):
            axis = plot.getAxis(name)
            axis.enableAutoSIPrefix(False)  # plain numbers: 0.9, not "900 (x0.001)"
            # Grid lines at the labelled ticks only, opaque in a pale colour (the tick pen) and
            # behind the curves: more lines, or translucent ones, took a third of each paint each
            axis.setStyle(maxTickLevel=0, tickAlpha=255)
            axis.setZValue(-1)
        plot.header = PlotHeader(plot, title)  # the title, then the legend: above the data, never over it
        plot.setMenuEnabled(True)
        return plot

    @property
    def plots(self) -> list[pg.PlotItem]:
        return [self.batch_plot, self.epoch_plot, self.lr_plot, self.metrics_plot]

    def _arrange(self) -> None:
        """Four plots in a row, a 2×2 grid or a column, whichever leaves each plot's data the
        most room: a short, wide dock (the default) gets a row, a tall one a column. Plots that
        share an x axis (steps, epochs) stay side by side or one above the other."""
        width, height = self.view.width(), self.view.height()
        frame_width, frame_height = PLOT_FRAME

        def room(columns: int) -> float:  # the data's height, or its width's share when that is short
            data_width, data_height = width / columns - frame_width, height / (4 // columns) - frame_height
            return min(data_width / IDEAL_ASPECT, data_height)

        columns = max((2, 4, 1), key=room)  # the first of equals: a grid
        if columns == self.columns:
            return
        self.columns = columns
        order = [self.batch_plot, self.lr_plot, self.epoch_plot, self.metrics_plot]
        layout = self.view.ci.layout  # Qt's grid: pyqtgraph's removeItem would take them off the scene
        for plot in order:
            for index in range(layout.count()):
                if layout.itemAt(index) is plot:
                    layout.removeAt(index)
                    break
        rows = 4 // columns
        for index, plot in enumerate(order):
            # a 2×2 grid: steps on the left, epochs on the right, losses on top
            row, column = (index % 2, index // 2) if columns == 2 else divmod(index, columns)
            layout.addItem(plot, row, column)
        for row in range(4):  # rows and columns left empty take no spacing either
            layout.setRowSpacing(row, PLOT_SPACING if row < rows - 1 else 0)
            layout.setColumnSpacing(row, PLOT_SPACING if row < columns - 1 else 0)
            # the losses taller than the rate and metrics below them
            layout.setRowStretchFactor(row, 0 if row >= rows else 1 if columns == 4 else 3 - row % 2)

    # -- runs --------------------------------------------------------------------------------
    @property
    def current(self) -> RunCurves | None:
        return self._current

    @property
    def earlier_runs(self) -> list[str]:
        return [run.label for run in self._earlier]

    def begin_run(self, label: str | None = None, monitor: str = "val_loss") -> None:
        """A new run draws in full colour; the one before (if it drew anything) dims."""
        self.redraw()
        if self._current is not None:
            if self._current.empty:
                self._drop(self._current)
            else:
                self._dim(self._current)
                self._earlier.append(self._current)
                self.earlierRunsChanged.emit()
        self._runs_started += 1
        self._current = RunCurves(label or f"run {self._runs_started}", self._runs_started)
        self._monitor = monitor
        self._best = None
        self._last_step = self._last_epoch = 0
        self.clear_button.setEnabled(bool(self._earlier))

    def name_run(self, label: str) -> None:
        """The current run's name, once it has one on disk (its folder: run-003)."""
        self._ensure_run().label = label

    def add_earlier_run(self, label: str, history: list[dict]) -> None:
        """A run kept on disk (the project was opened again): its epochs, dimmed, for comparison.
        `history` is its history.json: one row per epoch, the phase and epoch, then the logs."""
        self._runs_started += 1
        run = RunCurves(label, self._runs_started)
        for x, row in enumerate(history, start=1):
            for key, value in row.items():
                plot_name, name, validation = classify(key)
                if key in ("phase", "epoch") or plot_name is None or not isinstance(value, (int, float)):
                    continue
                if key not in run.epoch:
                    run.epoch[key] = self._create_epoch_curve(run, key, plot_name, name, validation)
                run.epoch[key].append(float(x), float(value))
        if run.empty:
            return
        self._earlier.append(run)
        self._dim(run)
        self.clear_button.setEnabled(True)
        self.earlierRunsChanged.emit()

    def remove_earlier_run(self, label: str) -> bool:
        """The earlier run named `label` leaves the plots (unticked in the Runs panel)."""
        for run in self._earlier:
            if run.label == label:
                self._drop(run)
                self._earlier.remove(run)
                self.clear_button.setEnabled(bool(self._earlier))
                self.earlierRunsChanged.emit()
                return True
        return False

    def mark_phase(self, name: str) -> None:
        """A phase starts at the next step: a labelled line where it does (not for the first)."""
        run = self._ensure_run()
        if self._last_step == 0 and self._last_epoch == 0:
            return
        pen = pg.mkPen(self._palette_color(QPalette.ColorRole.PlaceholderText), width=1,
                       style=Qt.PenStyle.DashLine)
        step, epoch = self._last_step + 0.5, self._last_epoch + 0.5
        label_color = self._palette_color(QPalette.ColorRole.PlaceholderText)
        for plot, at in ((self.batch_plot, step), (self.lr_plot, step), (self.epoch_plot, epoch),
                         (self.metrics_plot, epoch)):
            line = pg.InfiniteLine(at, angle=90, pen=pen, label=name if plot is self.batch_plot else None,
                                   labelOpts={"position": 0.92, "anchors": [(0, 0.5), (0, 0.5)],
                                              "color": label_color})
            plot.addItem(line, ignoreBounds=True)
            run.markers.append((plot, line))

    def add_batches(self, events: list[BatchEnded]) -> None:
        """Consecutive batches, appended together: a fast run delivers dozens at a time."""
        if not events:
            return
        run = self._ensure_run()
        if run.batch_raw is None:
            self._create_batch_curves(run)
        steps = np.array([event.global_step for event in events], dtype=float)
        losses = np.array([event.loss for event in events], dtype=float)
        run.raw_loss.extend(steps, losses)
        run.batch_raw.extend(steps, losses)
        run.batch_smooth.extend(steps, np.array([self._next_smoothed(run, loss) for loss in losses.tolist()]))
        rates = np.array([event.learning_rate for event in events], dtype=float)
        phases = np.array([event.phase for event in events])
        run.learning_rate.extend(*self._rate_steps(run, steps, rates, phases, self._last_step))
        self._last_step = events[-1].global_step
        self._changed()

    @staticmethod
    def _rate_steps(run: RunCurves, steps: np.ndarray, rates: np.ndarray, phases: np.ndarray,
                    last_step: int) -> tuple[np.ndarray, np.ndarray]:
        """The rate's points, with two more where a phase starts: the old rate and the new one
        half a step after the last batch before it (`last_step` for the first of `steps`), at
        its dashed line, so the change is drawn as the step it is rather than a slope across
        the last batch of the phase before. With several steps per call a phase's first point
        is several steps after that line."""
        before = np.concatenate(([phases[0] if run.rate_phase is None else run.rate_phase], phases[:-1]))
        previous = np.concatenate(([run.last_rate], rates[:-1]))
        run.rate_phase, run.last_rate = int(phases[-1]), float(rates[-1])
        starts = np.flatnonzero(phases != before)
        if not len(starts):
            return steps, rates
        at = np.repeat(starts, 2)
        edges = np.repeat(np.concatenate(([last_step], steps[:-1]))[starts] + 0.5, 2)
        levels = np.column_stack((previous[starts], rates[starts])).ravel()
        return np.insert(steps, at, edges), np.insert(rates, at, levels)

    def add_epoch(self, event: EpochEnded) -> None:
        run = self._ensure_run()
        x = float(event.global_epoch)
        for key, value in event.logs.items():
            plot_name, name, validation = classify(key)
            if plot_name is None:
                continue
            curve = run.epoch.get(key)
            if curve is None:
                curve = run.epoch[key] = self._create_epoch_curve(run, key, plot_name, name, validation)
            curve.append(x, float(value))
        self._last_epoch = event.global_epoch
        monitored = event.logs.get(self._monitor)
        if event.best and monitored is not None and math.isfinite(monitored):
            self._best = (x, float(monitored))
            self._best_dirty = True  # drawn with the curves, within the drawing budget
        self._changed()

    def clear_earlier_runs(self) -> None:
        for run in self._earlier:
            self._drop(run)
        had_runs, self._earlier = bool(self._earlier), []
        self.clear_button.setEnabled(False)
        if had_runs:
            self.earlierRunsChanged.emit()

    def clear(self) -> None:
        """Everything, the current run too (another project was opened)."""
        self.clear_earlier_runs()
        if self._current is not None:
            self._drop(self._current)
        self._current = None
        self._runs_started = 0
        self._best = None

    @property
    def batch_count(self) -> int:
        """How many batch losses the raw curve shows now (after the last redraw)."""
        if self._current is None or self._current.batch_raw is None:
            return 0
        return self._current.batch_raw.drawn

    # -- smoothing ---------------------------------------------------------------------------
    def set_smoothing(self, weight: float) -> None:
        self._smoothing = float(weight)
        for run in self._runs():
            if run.batch_smooth is None:
                continue
            smoothed = smooth(run.raw_loss.ys, self._smoothing)
            finite = run.raw_loss.ys[np.isfinite(run.raw_loss.ys)]
            run.averaged = len(finite)
            run.average = 0.0
            for value in finite.tolist():  # the state the next batch continues from
                run.average = self._smoothing * run.average + (1 - self._smoothing) * value
            run.batch_smooth.series.replace_ys(smoothed)
            run.batch_smooth.dirty = True
        self._changed()

    def _next_smoothed(self, run: RunCurves, loss: float) -> float:
        if not math.isfinite(loss):
            return math.nan
        weight = self._smoothing
        run.averaged += 1
        run.average = weight * run.average + (1 - weight) * loss
        return run.average / (1 - weight ** run.averaged) if weight > 0 else loss

    # -- drawing ---------------------------------------------------------------------------
    def _changed(self) -> None:
        if not self.redraw_timer.isActive():
            self.redraw_timer.start()

    def redraw(self) -> None:
        """Push new points to the curves that have them; the timer stops once nothing changes,
        and waits longer the longer the last redraw and paint took."""
        started = time.perf_counter()
        changed = False
        for run in self._runs():
            for curve in run.curves():
                if curve.dirty:
                    curve.redraw()
                    changed = True
        if self._best_dirty and self._best is not None:
            self._show_best()
            changed = True
        self._best_dirty = False
        if not changed:
            self.redraw_timer.stop()
            return
        for plot in self.plots:  # the new ranges now: painting would find them and paint all again
            plot.vb.prepareForPaint()
        cost = time.perf_counter() - started + self.view.take_paint_seconds()  # the last redraw's paints
        self.redraw_timer.setInterval(min(max(round(1000 * cost / DRAWING_SHARE), 1000 // REDRAW_HZ),
                                          SLOWEST_REDRAW_MS))
        self.redrawn.emit()

    def _runs(self) -> list[RunCurves]:
        return self._earlier + ([self._current] if self._current is not None else [])

    def _ensure_run(self) -> RunCurves:
        if self._current is None:
            self.begin_run()
        return self._current

    def _create_batch_curves(self, run: RunCurves) -> None:
        accent = QColor(colors().info)
        raw = QColor(accent)
        raw.setAlpha(90)
        run.batch_raw = Curve(self.batch_plot, "batch loss", pen=pg.mkPen(raw, width=1))
        run.batch_smooth = Curve(self.batch_plot, "smoothed", pen=pg.mkPen(accent, width=2))
        run.batch_smooth.item.setZValue(1)
        rate_pen = pg.mkPen(QColor(colors().warning), width=2)
        run.learning_rate = Curve(self.lr_plot, "learning rate", pen=rate_pen)

    def _create_epoch_curve(self, run: RunCurves, key: str, plot_name: str, name: str,
                            validation: bool) -> Curve:
        plot = self.epoch_plot if plot_name == "loss" else self.metrics_plot
        names = []  # the base names in this plot, in order: a colour each
        for other_key in run.epoch:
            other_plot, other_name, _ = classify(other_key)
            if other_plot == plot_name and other_name not in names:
                names.append(other_name)
        if name not in names:
            names.append(name)
        color = self._series_colors()[names.index(name) % len(self._series_colors())]
        pen = pg.mkPen(color, width=2, style=Qt.PenStyle.DashLine if validation else Qt.PenStyle.SolidLine)
        brush = pg.mkBrush(color if not validation else self._background())
        # named as Keras logs it (loss, val_loss, val_digit_accuracy): short, and as history.csv has it
        return Curve(plot, key, key, markers_up_to=EPOCH_MARKERS_UP_TO, pen=pen, symbol="o", symbolSize=5,
                     symbolPen=pg.mkPen(color), symbolBrush=brush)

    def _show_best(self) -> None:
        if self._best_item is None:
            self._best_item = pg.ScatterPlotItem(symbol="star", size=14)
            self._best_item.setZValue(5)
            self.epoch_plot.addItem(self._best_item)
        color = QColor(colors().ok)
        self._best_item.setData([self._best[0]], [self._best[1]], pen=pg.mkPen(color),
                                brush=pg.mkBrush(color))
        self._best_item.setToolTip(f"best {self._monitor}: {self._best[1]:.4g} at epoch {self._best[0]:g}")

    def _dim(self, run: RunCurves) -> None:
        """An earlier run: one pale colour per run, a legend entry with its name per plot."""
        self.redraw()
        color = QColor(self._run_colors()[(run.number - 1) % len(self._run_colors())])
        color.setAlpha(170)
        for plot, marker in run.markers:
            plot.removeItem(marker)
        run.markers = []
        if run.batch_raw is not None:
            run.batch_raw.remove()
            run.batch_raw = None
        if run is self._current and self._best_item is not None:
            self.epoch_plot.removeItem(self._best_item)
            self._best_item = None
        labelled = set()
        for curve in run.curves():
            validation = getattr(curve, "key", "").startswith("val_")
            style = Qt.PenStyle.DashLine if validation else Qt.PenStyle.SolidLine
            curve.item.setPen(pg.mkPen(color, width=1.5, style=style))
            curve.item.setSymbol(None)
            curve.item.setZValue(-1)
            legend = curve.plot.legend
            if legend is not None:
                legend.removeItem(curve.item)
                if curve.plot not in labelled:
                    legend.addItem(curve.item, run.label, secondary=True)
                    labelled.add(curve.plot)

    def _drop(self, run: RunCurves) -> None:
        for plot, marker in run.markers:
            plot.removeItem(marker)
        for curve in run.curves():
            if curve.plot.legend is not None:
                curve.plot.legend.removeItem(curve.item)
            curve.remove()
        if run is self._current and self._best_item is not None:
            self.epoch_plot.removeItem(self._best_item)
            self._best_item = None

    # -- theme -----------------------------------------------------------------------------
    @staticmethod
    def _palette_color(role: QPalette.ColorRole) -> QColor:
        return QApplication.palette().color(role)

    def _background(self) -> QColor:
        return self._palette_color(QPalette.ColorRole.Base)

    @staticmethod
    def _series_colors() -> list[QColor]:
        theme = colors()
        names = (theme.info, theme.ok, theme.warning, theme.category["output"], theme.category["pretrained"],
                 theme.category["input"], theme.category["adapter"], theme.error)
        return [QColor(c) for c in names]

    @staticmethod
    def _run_colors() -> list[QColor]:
        theme = colors()
        return [QColor(c) for c in (theme.dim_text, theme.category["pretrained"], theme.category["adapter"],
                                    theme.category["input"], theme.category["output"])]

    def apply_theme(self) -> None:
        """Background, axes, titles and legends in the theme's colours (curves keep theirs)."""
        background, text = self._background(), self._palette_color(QPalette.ColorRole.Text)
        dim = self._palette_color(QPalette.ColorRole.PlaceholderText)
        link = self._palette_color(QPalette.ColorRole.Link)
        grid = blend(dim, background, GRID_OPACITY)
        self.view.setBackground(background)
        for plot in self.plots:
            plot.header.set_title(plot.header.title.text, color=text.name())
            for name in ("left", "bottom"):
                axis = plot.getAxis(name)
                axis.setPen(pg.mkPen(dim))
                axis.setTickPen(pg.mkPen(grid))
                axis.setTextPen(pg.mkPen(dim))
            plot.legend.setLabelTextColor(text)
            for _, label in plot.legend.items:
                label.setText(label.text, color=text.name())
            plot.legend.more.setText(plot.legend.more.text, color=link.name())
        self._restyle_current()

    def _restyle_current(self) -> None:
        """The current run's curves in the theme's colours (their hues differ by theme)."""
        run = self._current
        if run is None:
            return
        if run.batch_raw is not None:
            accent = QColor(colors().info)
            raw = QColor(accent)
            raw.setAlpha(90)
            run.batch_raw.item.setPen(pg.mkPen(raw, width=1))
            run.batch_smooth.item.setPen(pg.mkPen(accent, width=2))
            run.learning_rate.item.setPen(pg.mkPen(QColor(colors().warning), width=2))
        for plot_name in ("loss", "metric"):
            names = []
            for key, curve in run.epoch.items():
                kind, name, validation = classify(key)
                if kind != plot_name:
                    continue
                if name not in names:
                    names.append(name)
                color = self._series_colors()[names.index(name) % len(self._series_colors())]
                style = Qt.PenStyle.DashLine if validation else Qt.PenStyle.SolidLine
                curve.item.setPen(QPen(pg.mkPen(color, width=2, style=style)))
                curve.item.setSymbolPen(pg.mkPen(color))
                curve.item.setSymbolBrush(pg.mkBrush(color if not validation else self._background()))
