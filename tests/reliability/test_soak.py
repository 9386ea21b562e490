"""Reliability experiment 7, the tests: what the soak (benchmarks/reliability_soak.py, 100,000
steps with the live plots open) found. Its figures (memory growth, UI latency) are measured
there, not asserted here."""

from __future__ import annotations

from app.core.training.events import BatchEnded, EpochEnded
from app.gui.training.plots import EPOCH_MARKERS_UP_TO, TrainingPlots


def epoch(number: int) -> EpochEnded:
    return EpochEnded(0, number - 1, number, {"loss": 1.0 / number, "val_loss": 1.2 / number,
                                              "mae": 0.5, "val_mae": 0.6}, False)


def markers(plots: TrainingPlots) -> dict[str, int]:
    """How many epoch markers each epoch curve draws."""
    return {key: len(curve.item.scatter.data) if curve.item.opts["symbol"] else 0
            for key, curve in plots.current.epoch.items()}


def test_a_long_runs_epoch_curves_drop_their_markers(qtbot):
    """Found by the soak: at 700 epochs (100,000 steps of 142), every redraw rebuilt each epoch
    curve's 700 markers in Python (pyqtgraph's scatter), and drawing took four times as long
    as at the start, holding the UI thread and training's lock. Past EPOCH_MARKERS_UP_TO epochs
    the epoch curves are lines; the batch curves never had markers."""
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.begin_run()
    plots.add_batches([BatchEnded(0, 0, 1, 10, 1, 1.0, {}, 1e-3, 100.0, None)])
    for number in range(1, EPOCH_MARKERS_UP_TO + 1):
        plots.add_epoch(epoch(number))
    plots.redraw()
    assert markers(plots) == dict.fromkeys(["loss", "val_loss", "mae", "val_mae"], EPOCH_MARKERS_UP_TO)
    plots.add_epoch(epoch(EPOCH_MARKERS_UP_TO + 1))
    plots.redraw()
    assert markers(plots) == dict.fromkeys(["loss", "val_loss", "mae", "val_mae"], 0)
    curve = plots.current.epoch["val_loss"].item
    assert len(curve.xData) == EPOCH_MARKERS_UP_TO + 1  # the line keeps every epoch
    plots.apply_theme()  # restyling keeps them off
    assert markers(plots) == dict.fromkeys(["loss", "val_loss", "mae", "val_mae"], 0)
