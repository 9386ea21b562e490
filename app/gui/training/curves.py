"""What the training plots are made of: growing numpy buffers (`Series`), a plot item with
its buffer (`Curve`), the curves of one run (`RunCurves`), the smoothing and colour helpers,
and a plot widget that adds up its painting time for the drawing budget."""

from __future__ import annotations

import math
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor

LOG_KEYS_SKIPPED = ("learning_rate", "lr")  # plotted per batch already


class Series:
    """x and y in growing numpy buffers (doubling), so appending is amortised O(1)."""

    def __init__(self, capacity: int = 256):
        self.x = np.empty(capacity)
        self.y = np.empty(capacity)
        self.n = 0

    def extend(self, xs: np.ndarray, ys: np.ndarray) -> None:
        end = self.n + len(xs)
        if end > len(self.x):
            capacity = max(2 * len(self.x), end)
            self.x = np.resize(self.x, capacity)
            self.y = np.resize(self.y, capacity)
        self.x[self.n:end] = xs
        self.y[self.n:end] = ys
        self.n = end

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

    def append(self, x: float, y: float) -> None:
        self.extend(np.array([x]), np.array([y]))

    def extend(self, xs: np.ndarray, ys: np.ndarray) -> None:
        self.series.extend(xs, ys)
        self.dirty = True

    def redraw(self) -> None:
        if (self.markers_up_to is not None and self.series.n > self.markers_up_to
                and self.item.opts["symbol"] is not None):
            self.item.setSymbol(None)
        self.item.setData(self.series.xs, self.series.ys)
        self.dirty = False

    def remove(self) -> None:
        self.plot.removeItem(self.item)


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

    def curves(self) -> list[Curve]:
        fixed = [self.batch_raw, self.batch_smooth, self.learning_rate]
        return [c for c in fixed if c is not None] + list(self.epoch.values())

    @property
    def empty(self) -> bool:
        return self.raw_loss.n == 0 and not self.epoch


class PlotView(pg.GraphicsLayoutWidget):
    """Adds up how long it spent painting, for the drawing budget. One redraw costs several
    paints (new data, then the axes and ranges that follow from it), so all count."""

    paint_seconds = 0.0

    def paintEvent(self, event) -> None:
        started = time.perf_counter()
        super().paintEvent(event)
        self.paint_seconds += time.perf_counter() - started

    def take_paint_seconds(self) -> float:
        """The painting time since the last call."""
        spent, self.paint_seconds = self.paint_seconds, 0.0
        return spent
