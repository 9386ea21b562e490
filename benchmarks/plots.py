"""Benchmark: one redraw of the Training dock's plots holding a run of 1,000,000 batches.

Why this exists: a long run's loss-per-batch curve grows to millions of points while the
plots keep redrawing several times a second on the UI thread; one redraw (new points pushed
to the curves, then the paint) must stay under 16 ms, a frame at 60 Hz. A curve with many
points in view hands pyqtgraph only the lowest and highest point of each stretch, kept as
the points arrive (app/gui/training/curves.py: Series.shown); the side-by-side switches that
off, leaving pyqtgraph's own downsampling and clipping to the view, which pass over every
point at each redraw.

    .venv/bin/python benchmarks/plots.py           # measure, rewrite docs/benchmarks.md
    .venv/bin/python benchmarks/plots.py --no-doc  # measure and print only

It rewrites only its own section of docs/benchmarks.md (between the markers below)."""

from __future__ import annotations

import argparse
import datetime
import gc
import os
import platform
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pyqtgraph as pg  # noqa: E402

import app.gui.training.curves as curves  # noqa: E402
from app.core.training.events import BatchEnded, EpochEnded  # noqa: E402
from app.gui.app import application  # noqa: E402
from app.gui.theme import apply_theme  # noqa: E402
from app.gui.training.plots import TrainingPlots  # noqa: E402
from benchmarks.report import DOC, write_section  # noqa: E402

POINTS = 1_000_000
STEPS_PER_EPOCH = 1_000
DELIVERY = 200  # batches per delivery: a fast run's 5 deliveries a second
REDRAWS = 60  # timed redraws per row
GOAL_MS = 16.0
SIZE = (1200, 700)  # the plots' widget, about the Training dock of a large window
ZOOMED_STEPS = 20_000  # the zoomed-in rows show the last 2 % of the run
COMMAND = ".venv/bin/python benchmarks/plots.py"
# What profiling found (kept with the script, so that a rerun writes it again).
FINDINGS = """**What profiling found (cProfile, issue 20).** With every point handed over, a
redraw missed the goal (median 35 ms, p95 72 ms), and pyqtgraph's downsampling and clipping
bought nothing at this size: the time was not the paint but pyqtgraph's data handling in
`setData`, which passes over every point of every changed curve at every redraw, whatever
is shown. Of about 50 ms per redraw under the profiler, 14 ms was `applyLogMapping` (the
learning-rate plot's log axis took `log10` of all 1,000,000 rates), 22 ms `_getDisplayDataset`
(finding the visible range and the peak downsampling, each a pass over the whole curve) and
8 ms `_getArrayBounds` (the data's minimum and maximum for the auto-range). Now each curve's
`Series` keeps the lowest and highest value of every 16 points as they arrive (O(new points)
a delivery), and a curve with more than 20,000 points in view hands pyqtgraph at most about
4,000: the lowest and highest point of each stretch of the visible range, as peak
downsampling draws them, plus the run's first and last point off screen so that the
auto-range still spans the whole run. Zooming or panning redraws such a curve for the new
range; up to 20,000 points in view, every point is drawn as before."""


def batches(first: int, count: int, rng: np.random.Generator) -> list[BatchEnded]:
    """`count` batches from global step `first`: a decaying, noisy loss and a stepped rate."""
    steps = np.arange(first, first + count)
    losses = 2.0 * np.exp(-steps / 300_000) + 0.3 * rng.random(count)
    return [BatchEnded(0, (s - 1) // STEPS_PER_EPOCH, (s - 1) % STEPS_PER_EPOCH + 1, STEPS_PER_EPOCH, int(s),
                       float(loss), {}, 1e-3 * 0.5 ** (s // 250_000), 5000.0, None)
            for s, loss in zip(steps.tolist(), losses.tolist(), strict=True)]


def filled(qt) -> tuple[TrainingPlots, np.random.Generator]:
    """The plots after a run of POINTS batches (and its epochs), all drawn once."""
    plots = TrainingPlots()
    plots.resize(*SIZE)
    plots.show()
    plots.begin_run("long run")
    rng = np.random.default_rng(0)
    for first in range(1, POINTS + 1, 50_000):
        plots.add_batches(batches(first, 50_000, rng))
        for epoch in range(first // STEPS_PER_EPOCH, (first + 50_000) // STEPS_PER_EPOCH):
            plots.add_epoch(EpochEnded(0, epoch, epoch + 1, {"loss": 1.0 / (epoch + 1),
                                                             "val_loss": 1.1 / (epoch + 1)}, False))
    plots.redraw()
    plots.view.repaint()
    qt.processEvents()
    assert plots.batch_count == POINTS, plots.batch_count
    return plots, rng


def redraws(plots: TrainingPlots, rng: np.random.Generator, zoomed: bool) -> list[float]:
    """Time REDRAWS live redraws: a delivery of new batches, then `redraw()` and a synchronous
    paint, as the redraw timer and the event loop do them. Zoomed: the batch plots show the
    last ZOOMED_STEPS steps (a user's zoom holds while points arrive)."""
    times = []
    gc.collect()
    for _ in range(REDRAWS):
        step = plots.batch_count + 1
        if zoomed:  # set first: a zoom redraws the curves for it at once (untimed here)
            plots.batch_plot.vb.setXRange(step + DELIVERY - ZOOMED_STEPS, step + DELIVERY, padding=0)
        plots.add_batches(batches(step, DELIVERY, rng))
        started = time.perf_counter()
        plots.redraw()
        plots.view.repaint()
        times.append((time.perf_counter() - started) * 1000)
    return times


@contextmanager
def every_point_handed_over():
    """Every point to pyqtgraph, as before Graft decimated: its downsampling and clipping only."""
    saved = curves.DECIMATE_ABOVE
    curves.DECIMATE_ABOVE = 10 * POINTS
    try:
        yield
    finally:
        curves.DECIMATE_ABOVE = saved


def p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20, method="inclusive")[18]


def row(label: str, times: list[float], plain: list[float]) -> str:
    verdict = "PASS" if p95(times) < GOAL_MS else "FAIL"
    return (f"| {label} | < {GOAL_MS:.0f} ms | **{statistics.median(times):.1f} ms** | "
            f"p95 {p95(times):.1f} ms (min {min(times):.1f}, max {max(times):.1f}) | {verdict} | "
            f"{statistics.median(plain):.0f} ms, "
            f"p95 {p95(plain):.0f} ms ({statistics.median(plain) / statistics.median(times):.0f}× slower) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite docs/benchmarks.md")
    args = parser.parse_args()

    qt = application()
    apply_theme(qt, "dark")
    print(f"filling the plots with {POINTS:,} batches …")
    started = time.perf_counter()
    plots, rng = filled(qt)
    fill_s = time.perf_counter() - started
    results = {}
    for zoomed in (False, True):  # side by side, in turns: the host drifts
        results[zoomed] = redraws(plots, rng, zoomed)
        with every_point_handed_over():
            results[zoomed, "plain"] = redraws(plots, rng, zoomed)
        results[zoomed] += redraws(plots, rng, zoomed)
    points = plots.batch_count
    plots.close()

    table = [
        "| One redraw (new batches, `redraw()`, paint) | Goal | Median | Spread | Result | "
        "Every point handed to pyqtgraph (before) |",
        "|---|---|---|---|---|---|",
        row(f"Whole run in view ({points:,} points a curve)", results[False], results[False, "plain"]),
        row(f"Zoomed in to the last {ZOOMED_STEPS:,} steps", results[True], results[True, "plain"]),
    ]
    print("\n".join(table))
    if args.no_doc:
        return
    section = f"""## Live plots with 1,000,000 points (`benchmarks/plots.py`)

Why: a long run's loss-per-batch curve grows to millions of points while the Training dock
keeps redrawing on the UI thread. Goal: **one redraw < {GOAL_MS:.0f} ms** (a frame at 60 Hz) with
{POINTS:,} batches in the plots.

- Machine: {os.cpu_count()} CPUs ({platform.machine()}), {platform.platform()}; Python
  {platform.python_version()}, pyqtgraph {pg.__version__}, `{os.environ["QT_QPA_PLATFORM"]}` Qt; measured
  {datetime.date.today()}.
- The Training dock's plots ({SIZE[0]}×{SIZE[1]} pixels) hold one run of {POINTS:,} batches
  ({POINTS // STEPS_PER_EPOCH:,} epochs): the raw and smoothed batch loss and the learning rate
  ({points:,} points each by the end), and the epoch losses. Filling them took {fill_s:.1f} s
  (the batches are made in Python). A redraw is timed as the dock does it: {DELIVERY} new batches
  arrive, then `TrainingPlots.redraw()` (the new points to the curves, the ranges settled) and a
  synchronous paint of the plots. {2 * REDRAWS} redraws per row ({REDRAWS} before and {REDRAWS}
  after the side-by-side, which hands pyqtgraph every point, as before, for {REDRAWS} redraws;
  pyqtgraph's peak downsampling and clipping to the view stay on in both). Judged on the 95th
  percentile.

{chr(10).join(table)}

{FINDINGS}

Reproduce: `{COMMAND}` (`make bench` runs every benchmark).
"""
    write_section("plots", section)
    print(f"\nwrote {DOC}")


if __name__ == "__main__":
    main()
