"""What the training plots are made of: growing numpy buffers (`Series`), a plot item with
its buffer (`Curve`), the curves of one run (`RunCurves`), the smoothing and colour helpers,
axes that label whole steps and epochs (`WholeNumberAxis`) and powers of ten of a rate
(`RateAxis`), a plot's title with its legend after it, above the data (`PlotHeader`), and a
plot widget that adds up its painting time for the drawing budget."""

from __future__ import annotations

import math
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFontMetricsF
from PySide6.QtWidgets import QSizePolicy

LOG_KEYS_SKIPPED = ("learning_rate", "lr")  # plotted per batch already
# Above this many points in view a curve hands pyqtgraph the lowest and highest point of each
# stretch instead of every point: pyqtgraph's own downsampling and clipping pass over all the
# points at each redraw (and the rate plot's log axis takes the log of all), 40 ms at a million.
DECIMATE_ABOVE = 20_000
BUCKET = 16  # points per stretch whose lowest and highest point a Series keeps as it grows
DRAWN_POINTS = 4_000  # at most about this many points handed over: a plot's width, twice, and more


class Series:
    """x and y in growing numpy buffers (doubling), so appending is amortised O(1); x grows.
    It also keeps the lowest and highest y of each BUCKET points, for drawing (`shown`)."""

    def __init__(self, capacity: int = 256):
        self.x = np.empty(capacity)
        self.y = np.empty(capacity)
        self.n = 0
        self.lows = np.empty(capacity // BUCKET + 1)
        self.highs = np.empty(capacity // BUCKET + 1)
        self.buckets = 0  # the whole buckets summarised so far

    def extend(self, xs: np.ndarray, ys: np.ndarray) -> None:
        end = self.n + len(xs)
        if end > len(self.x):
            capacity = max(2 * len(self.x), end)
            self.x = np.resize(self.x, capacity)
            self.y = np.resize(self.y, capacity)
            self.lows = np.resize(self.lows, capacity // BUCKET + 1)
            self.highs = np.resize(self.highs, capacity // BUCKET + 1)
        self.x[self.n:end] = xs
        self.y[self.n:end] = ys
        self.n = end
        self._summarise()

    def replace_ys(self, ys: np.ndarray) -> None:
        """New y for every point (the smoothing changed)."""
        self.y[:self.n] = ys
        self.buckets = 0
        self._summarise()

    def _summarise(self) -> None:
        whole = self.n // BUCKET
        if whole > self.buckets:
            block = self.y[self.buckets * BUCKET:whole * BUCKET].reshape(-1, BUCKET)
            self.lows[self.buckets:whole] = block.min(axis=1)  # a NaN makes its stretch a gap
            self.highs[self.buckets:whole] = block.max(axis=1)
            self.buckets = whole

    def shown(self, x_range: tuple[float, float] | None) -> tuple[np.ndarray, np.ndarray]:
        """The points to draw for the visible x range (None: all): every point while there are
        at most DECIMATE_ABOVE in view, else each stretch's lowest and highest point, as
        pyqtgraph's peak downsampling draws them. Zoomed in, the first and last points stay
        too (off screen), so the plot's auto-range still sees the whole run."""
        n, xs, ys = self.n, self.xs, self.ys
        if n <= DECIMATE_ABOVE:
            return xs, ys
        first, last = 0, n
        if x_range is not None:
            first = max(int(np.searchsorted(xs, x_range[0])) - 1, 0)
            last = min(int(np.searchsorted(xs, x_range[1], side="right")) + 1, n)
        if last - first <= DECIMATE_ABOVE:
            x, y = xs[first:last], ys[first:last]
        else:
            start = -(-first // BUCKET)  # the first whole bucket in view
            merged = max(1, -(-(last // BUCKET - start) // (DRAWN_POINTS // 2)))  # buckets per point pair
            count = (min(last // BUCKET, self.buckets) - start) // merged
            stop = start + count * merged
            lows = self.lows[start:stop].reshape(count, merged).min(axis=1)
            highs = self.highs[start:stop].reshape(count, merged).max(axis=1)
            x = np.concatenate((xs[first:start * BUCKET],
                                np.repeat(xs[start * BUCKET:stop * BUCKET:merged * BUCKET], 2),
                                xs[stop * BUCKET:last]))
            y = np.concatenate((ys[first:start * BUCKET], np.column_stack((lows, highs)).ravel(),
                                ys[stop * BUCKET:last]))
        if first > 0:
            x, y = np.concatenate((xs[:1], x)), np.concatenate((ys[:1], y))
        if last < n:
            x, y = np.concatenate((x, xs[-1:])), np.concatenate((y, ys[-1:]))
        return x, y

    @property
    def xs(self) -> np.ndarray:
        return self.x[:self.n]

    @property
    def ys(self) -> np.ndarray:
        return self.y[:self.n]


def smooth(values: np.ndarray, weight: float) -> np.ndarray:
    """Exponential moving average with bias correction (as TensorBoard draws it); a
    non-finite value shows as a gap and leaves the average alone."""
    out = np.empty(len(values))
    average, count = 0.0, 0
    for i, value in enumerate(values.tolist()):
        if not math.isfinite(value):
            out[i] = math.nan
            continue
        count += 1
        average = weight * average + (1 - weight) * value
        out[i] = average / (1 - weight ** count) if weight > 0 else value
    return out


def blend(color: QColor, background: QColor, opacity: float) -> QColor:
    """`color` at `opacity` over `background`, as one opaque colour."""
    return QColor.fromRgbF(*(opacity * a + (1 - opacity) * b for a, b in
                             zip(color.getRgbF()[:3], background.getRgbF()[:3], strict=True)))


def classify(key: str) -> tuple[str | None, str, bool]:
    """A Keras log key as (plot, name, validation): plot is "loss", "metric" or None."""
    validation = key.startswith("val_")
    name = key[4:] if validation else key
    if name in LOG_KEYS_SKIPPED:
        return None, name, validation
    return ("loss" if name == "loss" or name.endswith("_loss") else "metric"), name, validation


class Curve:
    """A plot item and its buffer; `dirty` until the next redraw shows the new points.
    `markers_up_to`: its symbols go once it has more points than this (a long run's hundreds
    of epochs): pyqtgraph rebuilds every symbol in Python at each redraw, so they cost the UI
    thread more and more, and that many would hide the line anyway."""

    def __init__(self, plot: pg.PlotItem, name: str | None, key: str = "",
                 markers_up_to: int | None = None, **style):
        self.series = Series()
        self.key = key  # the Keras log key of an epoch curve
        self.plot = plot
        self.markers_up_to = markers_up_to
        self.item = plot.plot(name=name, connect="finite", **style)
        self.dirty = False
        self.drawn = 0  # points of the series the last redraw showed
        self._shown_range: tuple[float, float] | None = None  # the x range it drew them for
        plot.vb.sigXRangeChanged.connect(self._range_changed)

    def append(self, x: float, y: float) -> None:
        self.extend(np.array([x]), np.array([y]))

    def extend(self, xs: np.ndarray, ys: np.ndarray) -> None:
        self.series.extend(xs, ys)
        self.dirty = True

    def redraw(self) -> None:
        if (self.markers_up_to is not None and self.series.n > self.markers_up_to
                and self.item.opts["symbol"] is not None):
            self.item.setSymbol(None)
        self._shown_range = self._wanted_range()
        self.item.setData(*self.series.shown(self._shown_range))
        self.drawn = self.series.n
        self.dirty = False

    def _wanted_range(self) -> tuple[float, float] | None:
        """The x range to draw for: the view's once zoomed (no auto-range), else everything."""
        view = self.plot.vb
        if view.autoRangeEnabled()[0]:
            return None
        low, high = view.viewRange()[0]
        return low, high

    def _range_changed(self, *args) -> None:
        """Zoomed or panned (or back to auto-range): a decimated curve is drawn again for it."""
        if self.drawn > DECIMATE_ABOVE and self._wanted_range() != self._shown_range:
            self.redraw()

    def remove(self) -> None:
        self.plot.vb.sigXRangeChanged.disconnect(self._range_changed)
        self.plot.removeItem(self.item)


class WholeNumberAxis(pg.AxisItem):
    """Ticks at whole numbers only: steps and epochs have no halves, so a short run is
    labelled 1, 2, 3 rather than 1, 1.5, 2, 2.5."""

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list:
        levels = [(spacing, values) for spacing, values in super().tickValues(minVal, maxVal, size)
                  if spacing >= 1]
        if levels:
            return levels
        low, high = sorted((minVal, maxVal))
        return [(1.0, [float(v) for v in range(math.ceil(low), math.floor(high) + 1)])]

    def tickStrings(self, values: list, scale: float, spacing: float) -> list[str]:
        return [f"{round(v * scale):d}" for v in values]


SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def power_of_ten(value: float) -> str:
    """1e-05 as 10⁻⁵ and 2.5e-05 as 2.5·10⁻⁵: short, and the same form at every tick."""
    exponent = math.floor(math.log10(value) + 1e-9)
    mantissa = f"{value / 10 ** exponent:.2g}"
    power = f"10{str(exponent).translate(SUPERSCRIPT)}"
    return power if mantissa == "1" else f"{mantissa}·{power}"


class RateAxis(pg.AxisItem):
    """A log axis with only as many labels as fit its height: whole decades (every second
    or third one when space is short), or 1, 2, 5 times a power of ten when the rate spans
    less than a decade. pyqtgraph's own labels 0.001, 0.0001 and 10⁻⁵ in one column, and
    draws a grid line at every 2…9 of each decade."""

    LABEL_SPACING = 1.8  # label heights from one label to the next

    def logTickValues(self, minVal: float, maxVal: float, size: float, stdTicks: list) -> list:
        low, high = sorted((minVal, maxVal))
        fit = max(2, int(size / (self.LABEL_SPACING * QFontMetricsF(self.font()).height())))
        for mantissas in ((1,), (1, 2, 5)):
            values = [e + math.log10(m) for e in range(math.floor(low), math.ceil(high) + 1)
                      for m in mantissas if low <= e + math.log10(m) <= high]
            if len(values) >= 2 or (values and mantissas == (1, 2, 5)):
                stride = math.ceil(len(values) / fit)
                return [(None, values[::stride])]
        return [(None, [(low + high) / 2])]

    def logTickStrings(self, values: list, scale: float, spacing: float) -> list[str]:
        return [power_of_ten(10 ** v * scale) for v in values]


class MoreLabel(pg.LabelItem):
    """"+3 more" at the end of a legend cut short, or "fewer" when it is let out: a click
    toggles; the tooltip names the entries it stands for."""

    def __init__(self, legend: FlowLegend):
        super().__init__("", size=legend.opts["labelTextSize"], parent=legend)
        self.legend = legend
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def mouseClickEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            event.accept()
            self.legend.expanded = not self.legend.expanded
            self.legend.header.flow()


class FlowLegend(pg.LegendItem):
    """A plot's legend as a line of text: its entries left to right after the plot's title,
    wrapping onto more lines as the width needs, in its `PlotHeader` above the data, so it
    never covers a curve. No box; hidden while it has no entries. Clicking an entry's line
    hides or shows its curve (pyqtgraph's). When the entries need more lines than the plot
    can spare, the last one says "+3 more", which lets them all out; earlier runs' entries
    come after the current run's, so they are the first to wait there."""

    GAP = 12  # px between entries, and after the title

    def __init__(self, header: PlotHeader):
        super().__init__(frame=False, labelTextSize="8pt")
        self.header = header
        self.expanded = False  # all entries shown, however many lines they take
        self._secondary: set[int] = set()  # ids of the samples of entries that go last
        self.setParentItem(header)
        self.more = MoreLabel(self)
        self.hide()

    def addItem(self, item, name: str, secondary: bool = False) -> None:
        super().addItem(item, name)
        if secondary:
            self._secondary.add(id(self.items[-1][0]))
            self.header.flow()

    def _addItemToLayout(self, sample, label) -> None:
        sample.setParentItem(self)  # placed by the header's next flow, with the others
        label.setParentItem(self)

    def _removeItemFromLayout(self, *items) -> None:
        for item in items:
            self._secondary.discard(id(item))
            item.close()
            if item.scene() is not None:
                item.scene().removeItem(item)

    def updateSize(self) -> None:
        """Entries came or went: the header lays them out again."""
        self.setVisible(bool(self.items))
        self.header.flow()

    def flow(self, width: float, indent: float, line: float, most_lines: int) -> float:
        """Place the entries in lines of `width`, the first from `indent`, in at most
        `most_lines` unless expanded; the height they take."""
        entries = sorted(self.items, key=lambda entry: id(entry[0]) in self._secondary)
        widths = [sample.width() + label.item.boundingRect().width() for sample, label in entries]
        places = _flow(widths, width, indent, line, self.GAP)
        count = len(entries)
        too_many = bool(places) and places[-1][1] >= most_lines * line
        if too_many and not self.expanded:  # as many as leave room for "+N more" after them
            self.more.setText(f"+{count} more")
            while count > 0:
                count -= 1
                places = _flow(widths[:count] + [self.more.item.boundingRect().width()], width, indent, line,
                               self.GAP)
                if places[-1][1] < most_lines * line:
                    break
            hidden = [label.text for _, label in entries[count:]]
            self.more.setText(f"+{len(hidden)} more")
            self.more.setToolTip(f"Also: {', '.join(hidden)}. Click to show them all")
        elif too_many:  # let out: "fewer" after the last
            self.more.setText("fewer")
            self.more.setToolTip("Show only the entries that leave the curves their room")
            places = _flow(widths + [self.more.item.boundingRect().width()], width, indent, line, self.GAP)
        for index, (sample, label) in enumerate(entries):
            label.setVisible(index < count)
            sample.setVisible(index < count)
            if index < count:
                x, y = places[index]
                label.resize(label.item.boundingRect().width(), line)
                sample.setPos(x, y + (line - sample.height()) / 2)
                label.setPos(x + sample.width(), y)
        self.more.setVisible(too_many)
        if too_many:
            x, y = places[-1]
            self.more.setGeometry(x, y, self.more.item.boundingRect().width(), line)
        bottom = places[-1][1] + line if places else 0.0
        self.setGeometry(0, 0, width, bottom)
        return bottom

    def paint(self, painter, *args) -> None:
        """No box: the legend is outside the data, on the plot's background."""


def _flow(widths: list[float], width: float, indent: float, line: float, gap: float) -> list[tuple]:
    """Where items of these widths go, left to right in lines of `width`, the first line from
    `indent`: (x, y) each."""
    places, x, y = [], indent, 0.0
    for item_width in widths:
        if x > 0 and x + item_width > width:
            x, y = 0.0, y + line
        places.append((x, y))
        x += item_width + gap
    return places


class PlotHeader(pg.GraphicsWidget):
    """A plot's title, then its legend on the same line and as many more as it needs, between
    the title's place and the data (where the top axis would be, which these plots never show).
    `plot.legend` is its legend, so the curves added with a name appear in it. The legend takes
    at most LEGEND_SHARE of the plot's height unless the user lets it out."""

    LINE = 20  # px: the least height of a line of the title and entries (a legend's sample is 20 px high)
    LEGEND_SHARE = 0.4

    def __init__(self, plot: pg.PlotItem, title: str):
        super().__init__()
        self.plot = plot
        self.title = pg.LabelItem(title, size="10pt", parent=self)
        self.legend = FlowLegend(self)
        plot.legend = self.legend
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        plot.layout.removeItem(plot.getAxis("top"))
        plot.layout.addItem(self, 1, 0, 1, 3)
        plot.geometryChanged.connect(self.flow)  # a shorter plot spares fewer lines
        self.flow()

    def set_title(self, text: str, **style) -> None:
        self.title.setText(text, **style)
        self.flow()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.flow()

    def flow(self) -> None:
        """Title, then entries, wrapped at this width; the header as high as the lines it took."""
        title = self.title.item.boundingRect()
        texts = [label.item.boundingRect().height() for _, label in self.legend.items]
        line = math.ceil(max(self.LINE, title.height(), *texts))
        self.title.setGeometry(0, 0, title.width(), line)
        most_lines = max(1, int(self.LEGEND_SHARE * self.plot.size().height() / line))
        indent = title.width() + FlowLegend.GAP
        legend_height = self.legend.flow(self.size().width(), indent, line, most_lines)
        height = max(line, legend_height)
        if height != self.minimumHeight() or height != self.maximumHeight():
            self.setMinimumHeight(height)
            self.setMaximumHeight(height)
            self.updateGeometry()


class RunCurves:
    """The curves of one run, in every plot."""

    def __init__(self, label: str, number: int):
        self.label, self.number = label, number
        self.batch_raw: Curve | None = None
        self.batch_smooth: Curve | None = None
        self.learning_rate: Curve | None = None
        self.epoch: dict[str, Curve] = {}  # by Keras log key
        self.markers: list = []  # phase boundaries and the best epoch
        self.raw_loss = Series()  # every batch loss, to smooth again with another weight
        self.average, self.averaged = 0.0, 0  # the running EMA of the finite losses, and their count
        self.rate_phase: int | None = None  # the phase of the last batch's rate, and that rate:
        self.last_rate = math.nan  # where a new phase's rate steps from

    def curves(self) -> list[Curve]:
        fixed = [self.batch_raw, self.batch_smooth, self.learning_rate]
        return [c for c in fixed if c is not None] + list(self.epoch.values())

    @property
    def empty(self) -> bool:
        return self.raw_loss.n == 0 and not self.epoch


class PlotView(pg.GraphicsLayoutWidget):
    """Adds up how long it spent painting, for the drawing budget. One redraw costs several
    paints (new data, then the axes and ranges that follow from it), so all count. Says when
    its size changed, so the plots can arrange themselves for it."""

    paint_seconds = 0.0
    resized = Signal()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.resized.emit()

    def paintEvent(self, event) -> None:
        started = time.perf_counter()
        super().paintEvent(event)
        self.paint_seconds += time.perf_counter() - started

    def take_paint_seconds(self) -> float:
        """The painting time since the last call."""
        spent, self.paint_seconds = self.paint_seconds, 0.0
        return spent
