"""Benchmark: how soon after an edit the editor's previews show the edited graph, and does the
window stay responsive while they are computed?

Each scenario opens a window, turns previews on (the first update imports TensorFlow and builds
every node: reported, not the point) and then makes the same edits back and forth through the
document, as the inspector would. The time from the edit to the previews of the edited graph on
the cards includes the debounce (DEBOUNCE_MS in app/gui/preview/controller.py) that lets a burst
of edits be previewed once. Meanwhile a 10 ms timer on the UI thread records how late each tick
is: the event loop's latency, whose goal, as for training, is a p99 under 50 ms.

Scenarios: the transfer example (its pretrained digits encoder on the first 8 held-out digits),
and MobileNetV2 at 96×96 (weights none: random, nothing downloads) with a new head, on 8
synthetic images. Edits: a parameter after the pretrained model, a new value each time (only
the edited node and what follows it are computed); and MobileNetV2's pooling, max and average
in turn (the model is built again, then both models and their outputs are in the previewer's
cache, as after an undo).

    .venv/bin/python benchmarks/previews.py           # measure, rewrite docs/benchmarks.md
    .venv/bin/python benchmarks/previews.py --no-doc  # measure and print only"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
SCRATCH = Path(tempfile.mkdtemp(prefix="graft-bench-previews-"))
os.environ["GRAFT_RECOVERY_DIR"] = str(SCRATCH / "recovery")
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PySide6.QtCore import QElapsedTimer, QEventLoop, QSettings, QTimer  # noqa: E402

from app.core.document.fileformat import save  # noqa: E402
from app.core.document.project import Project  # noqa: E402
from app.core.document.training_setup import config_from_dict  # noqa: E402
from app.core.editing.builder import GraphBuilder  # noqa: E402
from app.core.editing.commands import SetParams  # noqa: E402
from app.gui.app import application  # noqa: E402
from app.gui.document import Document  # noqa: E402
from app.gui.main_window import MainWindow  # noqa: E402
from app.gui.preview.controller import DEBOUNCE_MS  # noqa: E402
from benchmarks.report import DOC, measured_on, write_section  # noqa: E402

LATENCY_GOAL_MS = 50.0
PROBE_MS = 10
EDITS = 20  # per edit kind: back and forth
SETTLE_TIMEOUT_S = 300


def transfer() -> Path:
    return ROOT / "resources" / "examples" / "transfer.graft"


def mobilenet() -> Path:
    """Input 96×96×3 → MobileNetV2 (random weights, average pooling) → Dense head → Output."""
    folder = SCRATCH / "mobilenet"
    folder.mkdir()
    rng = np.random.default_rng(0)
    np.savez(folder / "images.npz", images=rng.random((64, 96, 96, 3), dtype=np.float32),
             labels=rng.integers(0, 10, 64))
    b = GraphBuilder()
    b.add("image", "Input", 0, 0, shape=[96, 96, 3])
    b.add("base", "Application", 320, 0, architecture="MobileNetV2", input_shape=[96, 96, 3], pooling="avg")
    b.add("head", "Dense", 640, 0, units=10, activation="softmax")
    b.add("label", "Output", 960, 0, loss="sparse_categorical_crossentropy")
    b.chain("image", "base", "head", "label")
    training = config_from_dict({"data": {"source": "npz", "path": "images.npz", "validation_split": 0.25,
                                          "mapping": {"image": "images", "label": "labels"}}})
    project = Project(b.graph, "MobileNetV2 previews", training=training)
    project.folder = folder
    save(project, folder / "mobilenet.graft")
    return folder / "mobilenet.graft"


# name: (label, project file, edits: (node name, parameter, its value at the i-th edit))
SCENARIOS = {
    "transfer": ("transfer example (digits encoder + head)", transfer,
                 [("dropout", "rate", lambda i: round(0.1 + 0.02 * i, 2))]),
    "mobilenet": ("MobileNetV2 96×96 (random weights) + head", mobilenet,
                  [("head", "units", lambda i: 11 + i),
                   ("base", "pooling", lambda i: ("max", "avg")[i % 2])]),
}


class Probe:
    """A timer on the UI thread that records how late each tick fires."""

    def __init__(self):
        self.lateness: list[float] = []
        self._clock = QElapsedTimer()
        self._timer = QTimer(interval=PROBE_MS)
        self._timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        self.lateness.append(max(0.0, self._clock.nsecsElapsed() / 1e6 - PROBE_MS))
        self._clock.restart()

    def start(self) -> None:
        self._clock.start()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()


def until_previewed(window: MainWindow) -> float:
    """Run the editor's event loop until the cards show the previews of the document as it is;
    the seconds that took."""
    started = time.perf_counter()
    loop = QEventLoop()
    poll = QTimer(interval=2)
    poll.timeout.connect(lambda: window.previews.settled and loop.quit())
    poll.start()
    QTimer.singleShot(SETTLE_TIMEOUT_S * 1000, loop.quit)
    loop.exec()
    poll.stop()
    assert window.previews.settled, "the previews did not arrive"
    return time.perf_counter() - started


def measure(name: str) -> dict:
    label, project_file, edits = SCENARIOS[name]
    app = application()
    settings = QSettings(str(SCRATCH / f"{name}.ini"), QSettings.Format.IniFormat)
    window = MainWindow(Document.open(project_file()), settings=settings)
    window.resize(1600, 1000)
    window.show()
    app.processEvents()
    window.document.wait_until_analysed(120)
    window.previews.set_enabled(True)
    first = until_previewed(window)
    errors = window.previews.result.errors or window.previews.result.sample_error
    assert not errors, errors
    graph, probe, times = window.document.graph, Probe(), {}
    probe.start()
    for node_name, param, value in edits:
        node = graph.node_by_name(node_name)
        computed, cached = [], []  # seconds of the edits that computed nodes, and of those the cache served
        recomputed = 0  # the most nodes an edit computed
        for i in range(EDITS):
            window.document.push(SetParams(node.id, {param: value(i)}))
            spent = until_previewed(window)
            count = len(window.previews.result.computed)
            (computed if count else cached).append(spent)
            recomputed = max(recomputed, count)
        times[f"{node_name}.{param}"] = (computed, cached, recomputed)
        print(f"{name}: edit {node_name}.{param}: {recomputed} nodes computed in {len(computed)} edits, "
              f"median {statistics.median(computed) * 1000:.0f} ms, max {max(computed) * 1000:.0f} ms; "
              f"{len(cached)} from the cache", flush=True)
    probe.stop()
    window.document.undo_stack.setClean()
    window.close()
    window.deleteLater()
    app.processEvents()
    return {"label": label, "first": first, "edits": times, "p99": float(np.percentile(probe.lateness, 99)),
            "median_late": statistics.median(probe.lateness), "worst_late": max(probe.lateness),
            "nodes": len(graph.nodes)}


def edits(times: list[float]) -> str:
    return f"{len(times)} edit{'s' * (len(times) != 1)}"


def report(results: list[dict]) -> str:

    lines = [
        "## Previews (`benchmarks/previews.py`)",
        "",
        "Time from an edit (a parameter set through the document, as the inspector sets it) to the "
        f"cards showing the previews of the edited graph, {EDITS} edits per row; it "
        f"includes the {DEBOUNCE_MS} ms debounce that previews a burst of edits once. UI latency: how "
        f"late a {PROBE_MS} ms timer on the UI thread fires during all the edits of a scenario "
        "(the previews are computed on their own thread; the UI thread only snapshots the project "
        "and draws the results).",
        "",
        "| scenario | edit | nodes computed | edit → previews, median (max) | from the cache | "
        "first previews | UI latency p99 (median, worst) | goal |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for edit, (computed, cached, recomputed) in r["edits"].items():
            from_cache = f"{statistics.median(cached) * 1000:.0f} ms ({edits(cached)})" if cached else "–"
            lines.append(
                f"| {r['label']} | `{edit}` | {recomputed} of {r['nodes']} | "
                f"**{statistics.median(computed) * 1000:.0f} ms** ({max(computed) * 1000:.0f} ms, "
                f"{edits(computed)}) | {from_cache} | {r['first']:.1f} s | "
                f"**{r['p99']:.1f} ms** ({r['median_late']:.1f} ms, worst {r['worst_late']:.0f} ms) "
                f"{'PASS' if r['p99'] < LATENCY_GOAL_MS else 'FAIL'} | < {LATENCY_GOAL_MS:.0f} ms |")
    lines += [
        "",
        "First previews: from switching previews on to every card showing its node's output, "
        "which reads the sample and builds every node (TensorFlow was already loaded for the "
        "analysis). The first pooling edit builds MobileNetV2 again (max pooling); after that "
        "both models and their outputs are in the previewer's cache, as after an undo.",
        "",
        measured_on(", offscreen Qt"),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite docs/benchmarks.md")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), action="append",
                        help="measure only this scenario (repeatable); default: all")
    args = parser.parse_args()
    application()
    results = [measure(name) for name in args.scenario or SCENARIOS]
    section = report(results)
    print("\n" + section)
    if not args.no_doc:
        write_section("previews", section)
        print(f"\nwrote {DOC}")


if __name__ == "__main__":
    main()
