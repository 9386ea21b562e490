"""Reliability experiment 7 (issue 16): a soak of 100,000 training steps with the live plots open.

Why this exists: a run is left going overnight in the editor, the Plots tab showing every
batch. Neither the process's memory nor the window's responsiveness may degrade with the
number of steps drawn: memory growth from the end of the first epoch to the end of the run
must stay under 50 MB, and the UI thread's event loop must answer within 50 ms at the 99th
percentile throughout. The run is real (a Dense regression on the bundled wine data, one
sample per step, from the editor's Training dock with the Plots tab showing); it is stopped
from the dock once it has trained the steps asked for.

    .venv/bin/python benchmarks/reliability_soak.py            # 100,000 steps
    .venv/bin/python benchmarks/reliability_soak.py --quick    # 5,000 steps

Latency: a 10 ms timer on the UI thread records how late each tick fires (the way
benchmarks/training.py measures it). A freeze shows as one late tick, so the longest one and
the ticks over 50 ms are reported beside the percentiles."""

from __future__ import annotations

import array
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks.reliability import run_alone  # noqa: E402

STEPS, QUICK_STEPS = 100_000, 5_000
PROBE_MS = 10
RSS_EVERY_MS = 1000
GROWTH_GOAL_MB, LATENCY_GOAL_MS = 50.0, 50.0
WINDOW_SIZE = (1600, 1000)
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    """The process's resident memory now (not the peak), from /proc/self/statm."""
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * PAGE / 2**20


def soak(steps: int, folder: Path) -> dict:
    """Train `steps` steps from the editor's dock with the Plots tab showing; what was seen."""
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QSettings, QTimer

    from app.core.training.events import BatchEnded, EpochEnded
    from app.gui.app import application
    from app.gui.document import Document
    from app.gui.main_window import MainWindow
    from app.gui.theme import apply_theme
    from benchmarks.reliability_training import wine_project

    os.environ["GRAFT_RECOVERY_DIR"] = str(folder / "recovery")
    app = application()
    apply_theme(app, "dark")
    project = wine_project(folder / "project", epochs=100_000, batch_size=1, validation_split=0.1)
    window = MainWindow(Document.open(project.path),
                        settings=QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat))
    window.resize(*WINDOW_SIZE)
    window.show()
    window.document.wait_until_analysed(120)
    window.show_training("plots")
    panel = window.training
    seen = {"step": 0, "epochs": 0, "first_epoch_rss": None, "first_epoch_at": None, "redraws": 0,
            "rss": [], "stopping": False,
            # compact buffers: the measurement must not be what grows (a list of floats costs 32 B each)
            "lateness": array.array("d"), "late_at": array.array("d")}
    panel.plots.redrawn.connect(lambda: seen.__setitem__("redraws", seen["redraws"] + 1))

    def take(delivered: list) -> None:
        for event in delivered:
            if isinstance(event, BatchEnded):
                seen["step"] = event.global_step
            elif isinstance(event, EpochEnded):
                seen["epochs"] = event.global_epoch
                if seen["first_epoch_rss"] is None:
                    seen["first_epoch_rss"], seen["first_epoch_at"] = rss_mb(), time.monotonic()
        if seen["step"] >= steps and not seen["stopping"]:
            seen["stopping"] = True
            panel.stop()

    clock, probe = QElapsedTimer(), QTimer(interval=PROBE_MS)

    def tick() -> None:
        seen["lateness"].append(max(0.0, clock.nsecsElapsed() / 1e6 - PROBE_MS))
        seen["late_at"].append(time.monotonic())
        clock.restart()

    probe.timeout.connect(tick)
    memory = QTimer(interval=RSS_EVERY_MS)
    memory.timeout.connect(lambda: seen["rss"].append((time.monotonic(), rss_mb())))
    loop = QEventLoop()
    panel.runEnded.connect(lambda ended: (seen.__setitem__("ended", ended), loop.quit()))
    started = time.monotonic()
    assert panel.start(), panel.refusal()
    panel.run.events.connect(take)
    clock.start()
    probe.start()
    memory.start()
    loop.exec()  # the editor's own event loop, as in the app, until the run has ended
    probe.stop()
    memory.stop()
    seen["end_rss"], seen["ended_at"] = rss_mb(), time.monotonic()
    seen["wall"] = seen["ended_at"] - started
    seen["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    seen["drawn"] = panel.plots.batch_count
    panel.shutdown()
    window.document.undo_stack.setClean()  # the stored weights need no saving here
    window.close()
    window.deleteLater()
    app.processEvents()
    return seen


def worst_minute_p99(lateness: list[float], at: list[float]) -> float:
    """The highest p99 of any whole minute of the run: "throughout", not on average."""
    if not at:
        return 0.0
    values, times = np.asarray(lateness), np.asarray(at) - at[0]
    minutes = times // 60
    whole = [values[minutes == m] for m in np.unique(minutes) if (minutes == m).sum() > 100]
    return max((float(np.percentile(v, 99)) for v in whole), default=float(np.percentile(values, 99)))


def experiment(quick: bool = False) -> dict:
    steps = QUICK_STEPS if quick else STEPS
    with tempfile.TemporaryDirectory(prefix="graft-soak-") as scratch:
        seen = soak(steps, Path(scratch))
    ended = seen.get("ended")
    lateness = np.asarray(seen["lateness"])
    p50, p99 = (float(np.percentile(lateness, q)) for q in (50, 99))
    start_rss = seen["first_epoch_rss"] or seen["end_rss"]
    growth = seen["end_rss"] - start_rss
    minute_p99 = worst_minute_p99(seen["lateness"], seen["late_at"])
    trained_from = seen["first_epoch_at"] or seen["late_at"][0]
    after_first = lateness[np.asarray(seen["late_at"]) >= trained_from]
    halfway = (trained_from + seen["ended_at"]) / 2
    at_half = next((rss for at, rss in seen["rss"] if at >= halfway), seen["end_rss"])
    trained = ended is not None and ended.status == "stopped" and seen["step"] >= steps
    rows = [
        ("steps trained (one sample each)", f"{seen['step']:,}"),
        ("epochs", f"{seen['epochs']:,}"),
        ("wall time", f"{seen['wall'] / 60:.1f} min ({seen['step'] / seen['wall']:,.0f} steps/s)"),
        ("batch losses drawn in the plot", f"{seen['drawn']:,}"),
        ("plot redraws", f"{seen['redraws']:,}"),
        ("RSS after the first epoch", f"{start_rss:,.0f} MB"),
        ("RSS at the end", f"{seen['end_rss']:,.0f} MB (peak {seen['peak_rss']:,.0f} MB)"),
        ("RSS growth (goal < 50 MB)", f"{growth:+.1f} MB"),
        ("RSS growth over the second half", f"{seen['end_rss'] - at_half:+.1f} MB"),
        ("UI latency p50", f"{p50:.1f} ms"),
        ("UI latency p99 (goal < 50 ms)", f"{p99:.1f} ms"),
        ("UI latency p99, worst minute", f"{minute_p99:.1f} ms"),
        ("UI latency max", f"{lateness.max():.0f} ms ({after_first.max():.0f} ms after the first epoch, "
                           "which traces the training step)"),
        ("ticks later than 50 ms", f"{int((lateness > LATENCY_GOAL_MS).sum())} of {len(lateness):,}"),
        ("how the run ended", f"{ended.status if ended else 'never'}: {ended.message if ended else ''}"),
    ]
    failures = int(growth >= GROWTH_GOAL_MB or p99 >= LATENCY_GOAL_MS or not trained)
    return {"title": "Soak: 100,000 steps with live plots", "rows": rows, "failures": failures}


if __name__ == "__main__":
    sys.exit(run_alone(experiment, f"{QUICK_STEPS:,} steps instead of {STEPS:,}"))
