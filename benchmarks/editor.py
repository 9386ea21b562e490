"""Benchmark: how fast the editor opens, and how fast its canvas repaints a 1,000-node graph.

Why this exists: the editor must appear before TensorFlow has loaded (importing it alone
takes seconds), so the launch must stay under 2 s with TensorFlow off that path. And the
canvas must stay smooth on big graphs while panning and zooming (under 33 ms a frame, i.e.
30 frames a second); zoomed out it draws less detail (DETAIL_LOD, TITLE_LOD in
app/gui/canvas/items.py), and the side-by-side shows what that buys.

Run from the repository root (make bench runs it after validate_graph.py):

    .venv/bin/python benchmarks/editor.py           # measure, rewrite docs/benchmarks.md
    .venv/bin/python benchmarks/editor.py --no-doc  # measure and print only

It rewrites only its own section of docs/benchmarks.md (between the markers below), and
exits with status 1 when TensorFlow or Keras was imported before the window was shown."""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
SCRATCH = tempfile.TemporaryDirectory(prefix="graft-bench-")  # removed at exit
os.environ["GRAFT_RECOVERY_DIR"] = str(Path(SCRATCH.name) / "recovery")  # the launch children inherit it
sys.path.insert(0, str(ROOT))

from PySide6 import __version__ as PYSIDE_VERSION  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402

import app.gui.canvas.items as items  # noqa: E402
from app.core.document.project import Project  # noqa: E402
from app.core.editing.builder import GraphBuilder  # noqa: E402
from app.core.graph.graph import Graph  # noqa: E402
from app.gui.app import application  # noqa: E402
from app.gui.document import Document  # noqa: E402
from app.gui.main_window import MainWindow  # noqa: E402
from app.gui.theme import apply_theme  # noqa: E402
from benchmarks.report import DOC, write_section  # noqa: E402

EXAMPLE = "resources/examples/cascade.graft"
LAUNCH_RUNS = 5  # each after one untimed warm-up run (cold file caches are not the point)
LAUNCH_GOAL_S, FRAME_GOAL_MS = 2.0, 33.0
CHAINS, CHAINS_PER_ROW = 250, 8  # 250 chains Input → Dense → Dense → Output = 1,000 nodes
NODE_GAP, CHAIN_GAP, ROW_GAP = 280.0, 1200.0, 160.0  # the grid fits the viewport at 10 %
WINDOW = (1600, 1000)
ZOOMS = (1.0, 0.4, 0.1)  # full detail, titles only, blocks only
LOD_ZOOM = 0.1  # the zoom the side-by-side without level of detail repeats
PAN_FRAMES, PAN_STEP_PX = 60, 24  # a circle of 24-pixel drags
ROUNDS = 3  # circles per zoom level, and zoom sweeps; the frames of all rounds are pooled
ZOOM_NOTCH = 1.0015 ** 120  # one mouse-wheel notch, as GraphView.wheelEvent zooms
COMMAND = ".venv/bin/python benchmarks/editor.py"

# A fresh process: the time it reaches "window shown", and what it had imported by then.
# perf_counter is CLOCK_MONOTONIC on Linux, one clock for every process, so the parent
# subtracts the moment it spawned this child and interpreter start-up is counted too.
WINDOW_CHILD = """
import time
started = time.perf_counter()
import json, os, sys
from PySide6.QtCore import QEvent, QObject, QSettings, QTimer
from app.gui.app import application, open_window

def report(imported):
    print(json.dumps({"started": started, "shown": time.perf_counter(), **imported,
                      "nodes": len(window.scene.node_items)}), flush=True)
    os._exit(0)  # at once: a normal exit would wait for the background TensorFlow import

class FirstPaint(QObject):
    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Paint and window.isVisible() and window.scene.node_items:
            watched.removeEventFilter(self)
            # What had been imported when this paint began; the time once it has finished.
            imported = {"tensorflow": "tensorflow" in sys.modules, "keras": "keras" in sys.modules}
            QTimer.singleShot(0, lambda: report(imported))
        return False

window = open_window([sys.argv[1]], QSettings(sys.argv[2], QSettings.Format.IniFormat))
first_paint = FirstPaint()
window.view.viewport().installEventFilter(first_paint)
application().exec()
"""
TENSORFLOW_CHILD = """
import time
started = time.perf_counter()
import json
import tensorflow
print(json.dumps({"started": started, "shown": time.perf_counter()}), flush=True)
"""


# -- launch -----------------------------------------------------------------------------
def spawn(code: str, *args: str) -> dict:
    """Run `code` in a fresh interpreter; adds `seconds`, from spawning it to its report."""
    spawned = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise SystemExit(f"benchmark child failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads(lines[-1])
    result["seconds"] = result["shown"] - spawned
    result["startup"] = result["started"] - spawned
    return result


def launches(code: str, *args: str) -> list[dict]:
    spawn(code, *args)  # warm-up
    return [spawn(code, *args) for _ in range(LAUNCH_RUNS)]


# -- canvas -----------------------------------------------------------------------------
def build_graph() -> Graph:
    """250 chains Input → Dense → Dense → Output on a grid, 8 chains a row."""
    b = GraphBuilder()
    for i in range(CHAINS):
        row, column = divmod(i, CHAINS_PER_ROW)
        x, y = column * CHAIN_GAP, row * ROW_GAP
        b.add(f"input_{i}", "Input", x, y, shape=[32])
        b.add(f"hidden_{i}", "Dense", x + NODE_GAP, y, units=64, activation="relu")
        b.add(f"logits_{i}", "Dense", x + 2 * NODE_GAP, y, units=10)
        b.add(f"output_{i}", "Output", x + 3 * NODE_GAP, y, loss="mean_squared_error")
        b.chain(f"input_{i}", f"hidden_{i}", f"logits_{i}", f"output_{i}")
    return b.graph


def set_zoom(window: MainWindow, zoom: float) -> None:
    """Zoom to `zoom` with the whole graph's centre in the middle of the view."""
    view = window.view
    view.set_zoom(zoom / view.zoom)
    view.centerOn(window.scene.itemsBoundingRect().center())


def nodes_in_view(window: MainWindow) -> int:
    view = window.view
    visible = view.mapToScene(view.viewport().rect()).boundingRect()
    return sum(visible.intersects(item.sceneBoundingRect()) for item in window.scene.node_items.values())


def frame(window: MainWindow) -> float:
    """One full, synchronous repaint of the canvas, in ms."""
    start = time.perf_counter()
    window.view.viewport().repaint()
    return (time.perf_counter() - start) * 1000


def panning(window: MainWindow, zoom: float) -> list[float]:
    """Frame times while dragging the canvas round a circle at this zoom, ROUNDS times."""
    set_zoom(window, zoom)
    frame(window)  # the first frame at a new zoom fills the node caches; the zoom rows time that
    gc.collect()
    times = []
    for k in range(PAN_FRAMES * ROUNDS):
        angle = 2 * math.pi * k / PAN_FRAMES
        window.view.pan(PAN_STEP_PX * math.cos(angle), PAN_STEP_PX * math.sin(angle))
        times.append(frame(window))
    return times


def zooming(window: MainWindow) -> list[float]:
    """Frame times while wheel-zooming from 100 % out to 10 % and back in, one frame a notch,
    ROUNDS times."""
    notches = math.ceil(math.log(10) / math.log(ZOOM_NOTCH))
    set_zoom(window, 1.0)
    frame(window)
    gc.collect()
    times = []
    for factor in ([1 / ZOOM_NOTCH] * notches + [ZOOM_NOTCH] * notches) * ROUNDS:
        set_zoom(window, window.view.zoom * factor)
        times.append(frame(window))
    return times


@contextmanager
def lod_off(window: MainWindow):
    """Draw every node in full detail at any zoom, as if the canvas had no level of detail."""
    saved = items.DETAIL_LOD, items.TITLE_LOD
    items.DETAIL_LOD = items.TITLE_LOD = 0.0
    for item in window.scene.items():
        item.update()  # drop cached pixmaps drawn with the old thresholds
    try:
        yield
    finally:
        items.DETAIL_LOD, items.TITLE_LOD = saved
        for item in window.scene.items():
            item.update()


def detail(zoom: float) -> str:
    """What the canvas draws at this zoom, read from the thresholds so the table cannot go stale."""
    if zoom >= items.DETAIL_LOD:
        return "full detail"
    return "titles only" if zoom >= items.TITLE_LOD else "blocks only"


def p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20, method="inclusive")[18]


# -- reporting --------------------------------------------------------------------------
def frame_row(label: str, times: list[float], side: list[float] | None = None) -> str:
    """Judged on p95: a frame goal is about nearly every frame, not the typical one."""
    verdict = "PASS" if p95(times) < FRAME_GOAL_MS else "FAIL"
    beside = "—" if side is None else (
        f"without level of detail: {statistics.median(side):.1f} ms, p95 {p95(side):.1f} ms "
        f"({statistics.median(side) / statistics.median(times):.1f}× slower)")
    return (f"| {label} | < {FRAME_GOAL_MS:.0f} ms | **{statistics.median(times):.1f} ms** | "
            f"p95 {p95(times):.1f} ms | {verdict} | {beside} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite docs/benchmarks.md")
    args = parser.parse_args()

    settings_file = str(Path(SCRATCH.name) / "settings.ini")
    print(f"launching the editor on {EXAMPLE}, {LAUNCH_RUNS} runs …")
    window_runs = launches(WINDOW_CHILD, EXAMPLE, settings_file)
    print(f"importing TensorFlow, {LAUNCH_RUNS} runs …")
    tf_runs = launches(TENSORFLOW_CHILD)
    window_s = [r["seconds"] for r in window_runs]
    tf_s = [r["seconds"] for r in tf_runs]
    startup_ms = statistics.median(r["startup"] for r in window_runs) * 1000
    leaked = {name: runs for name in ("tensorflow", "keras") if (runs := sum(r[name] for r in window_runs))}

    print("building and opening the 1,000-node graph …")
    qt = application()
    apply_theme(qt, "dark")
    settings = QSettings(settings_file, QSettings.Format.IniFormat)
    window = MainWindow(Document(Project(build_graph())), settings=settings)
    window.resize(*WINDOW)
    window.show()
    for _ in range(5):
        qt.processEvents()
    assert window.document.analysis is not None and window.document.analysis.ok
    viewport = window.view.viewport().size()
    in_view = {}
    pans = {}
    for zoom in ZOOMS:
        pans[zoom] = panning(window, zoom)
        set_zoom(window, zoom)
        in_view[zoom] = nodes_in_view(window)
    zoom_times = zooming(window)
    with lod_off(window):
        pan_no_lod = panning(window, LOD_ZOOM)
        zoom_no_lod = zooming(window)
    window.close()

    imported = " and ".join(f"`{name}` in {runs} of {LAUNCH_RUNS} runs" for name, runs in leaked.items())
    verdict = "PASS" if statistics.median(window_s) < LAUNCH_GOAL_S and not leaked else "FAIL"
    if leaked:
        verdict += f" (already imported: {imported})"
    table = [
        "| Measurement | Goal | Measured (median) | Spread | Result | Side by side |",
        "|---|---|---|---|---|---|",
        f"| Launch to window shown (`cascade.graft`, from process spawn to first canvas paint) | "
        f"< {LAUNCH_GOAL_S:.0f} s, no TensorFlow | **{statistics.median(window_s):.2f} s** | "
        f"{min(window_s):.2f} – {max(window_s):.2f} s | {verdict} | `python -c \"import tensorflow\"`: "
        f"{statistics.median(tf_s):.2f} s ({min(tf_s):.2f} – {max(tf_s):.2f} s) |",
        *(frame_row(f"Repaint while panning at {zoom * 100:.0f} % ({detail(zoom)}, "
                    f"{in_view[zoom]:,} nodes in view)", pans[zoom], pan_no_lod if zoom == LOD_ZOOM else None)
          for zoom in ZOOMS),
        frame_row("Repaint while wheel-zooming 100 % → 10 % → 100 % (one frame a notch, node caches "
                  "redrawn at every new scale)", zoom_times, zoom_no_lod),
    ]
    print("\n".join(table))
    print(f"\nwindow {statistics.median(window_s):.2f} s vs importing TensorFlow "
          f"{statistics.median(tf_s):.2f} s; interpreter start-up {startup_ms:.0f} ms of that")

    if not args.no_doc:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        section = f"""## Editor: launch and canvas (1,000 nodes)

Why: the window must appear long before TensorFlow has loaded, and the canvas must stay
smooth on big graphs. Goals: **launch to window shown < {LAUNCH_GOAL_S:.0f} s**, with TensorFlow
and Keras not imported yet, and **< {FRAME_GOAL_MS:.0f} ms per canvas frame** while panning and
zooming a 1,000-node graph.

- Machine: {os.cpu_count()} CPUs ({platform.machine()}), no GPU,
  {platform.platform()}, load average {load} after the run;
  Python {platform.python_version()}, PySide6 {PYSIDE_VERSION}; measured {datetime.date.today()}.
  Qt paints with the `{os.environ["QT_QPA_PLATFORM"]}` platform: software rendering into an
  image, a fair proxy for a desktop's raster painting, without the compositor.
- Launch: a fresh `python -c` calls `open_window(["{EXAMPLE}"])`
  with a throwaway settings file and recovery folder, and reports once the window is
  visible and the canvas has finished its first paint with the example's nodes. Timed from
  spawning the process, so the interpreter's start-up ({startup_ms:.0f} ms) counts too
  (`time.perf_counter` is one monotonic clock for both processes); median of {LAUNCH_RUNS} runs
  after one warm-up. `import tensorflow` is timed the same way.
- Canvas: {CHAINS} chains Input → Dense → Dense → Output ({CHAINS * 4:,} nodes, {CHAINS * 3:,} connections)
  on a grid, dark theme, in a {WINDOW[0]}×{WINDOW[1]} window whose canvas is
  {viewport.width()}×{viewport.height()} pixels. A frame is one full, synchronous `viewport().repaint()`.
  Panning: {ROUNDS} circles of {PAN_FRAMES} drags of {PAN_STEP_PX} pixels at each zoom, after one untimed
  frame. Zooming: {ROUNDS} sweeps, one frame per wheel notch ({ZOOM_NOTCH:.3f}×). A row passes when
  its 95th percentile frame is under the goal.
- Level of detail: below {items.DETAIL_LOD * 100:.0f} % zoom nodes draw their titles only, below
  {items.TITLE_LOD * 100:.0f} % coloured blocks. The side-by-side sets both thresholds to 0 and runs again.

{chr(10).join(table)}

Beside TensorFlow: the window is shown in **{statistics.median(window_s):.2f} s**; importing
TensorFlow alone takes **{statistics.median(tf_s):.2f} s**.

Reproduce: `{COMMAND}` (`make bench` runs both benchmarks).
"""
        write_section("editor", section)
        print(f"\nwrote {DOC}")
    if leaked:
        raise SystemExit(f"FAIL: imported before the window was shown: {imported} (the editor "
                         "must show its window first and load TensorFlow afterwards)")


if __name__ == "__main__":
    main()
