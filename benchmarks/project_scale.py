"""Benchmark: loading and validating projects of 10,000 to 100,000 nodes.

Why this exists: people keep large generated graphs in Graft, and a loader or validator
that scans the graph for each node turns a 100,000-node project into minutes. The goal
(issue 16): from 10k to 100k nodes the time grows at most 12×, i.e. in proportion to the
size. Two shapes: a long chain of mixed adapters, and one Concatenate taking thousands of
branches (a merge's inputs were once found by scanning every edge).

Each round times the sizes side by side in one process (the 10k project three times, its
median taken), so the machine's noise hits every size alike; the table shows the median of
the rounds' ratios with their spread.

    .venv/bin/python benchmarks/project_scale.py            # measure, rewrite docs/benchmarks.md
    .venv/bin/python benchmarks/project_scale.py --no-doc   # only print
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core.analysis.validate import analyze  # noqa: E402
from app.core.document.fileformat import load  # noqa: E402
from benchmarks.report import write_section  # noqa: E402

SIZES = (10_000, 30_000, 100_000)
ROUNDS = 5
GOAL_RATIO = 12.0  # 10k → 100k nodes
COMMAND = ".venv/bin/python benchmarks/project_scale.py"
BLOCK = [("Dense", {"units": 16, "activation": "relu"}), ("LayerNormalization", {}),
         ("Dropout", {"rate": 0.1}), ("Activation", {"activation": "gelu"})]


def _document(nodes: list[dict], edges: list[tuple[str, str, str]]) -> dict:
    return {"format": "graft-project", "format_version": 3, "name": "scale", "nodes": nodes,
            "edges": [{"id": f"e{i}", "from": {"node": a, "port": "out"}, "to": {"node": b, "port": port}}
                      for i, (a, b, port) in enumerate(edges)]}


def chain(n: int) -> dict:
    """Input → n-2 adapters (Dense, LayerNormalization, Dropout, Activation, repeated) → Output."""
    nodes = [{"id": "n0", "type": "Input", "name": "x", "position": [0, 0], "params": {"shape": [16]}}]
    for i in range(1, n - 1):
        kind, params = BLOCK[(i - 1) % len(BLOCK)]
        nodes.append({"id": f"n{i}", "type": kind, "name": f"{kind.lower()}_{i}",
                      "position": [i * 200.0, 0], "params": params})
    nodes.append({"id": f"n{n - 1}", "type": "Output", "name": "y", "position": [n * 200.0, 0], "params": {}})
    return _document(nodes, [(f"n{i - 1}", f"n{i}", "in") for i in range(1, n)])


def merge(n: int) -> dict:
    """Input → n-3 Dense branches → one Concatenate of them all → Output."""
    k = n - 3
    nodes = [{"id": "x", "type": "Input", "name": "x", "params": {"shape": [8]}},
             {"id": "m", "type": "Concatenate", "name": "cat", "params": {}},
             {"id": "y", "type": "Output", "name": "y", "params": {}}]
    nodes += [{"id": f"d{i}", "type": "Dense", "name": f"d{i}", "params": {"units": 2}} for i in range(k)]
    edges = [("m", "y", "in")]
    for i in range(k):
        edges += [("x", f"d{i}", "in"), (f"d{i}", "m", f"in{i}")]
    return _document(nodes, edges)


def load_and_validate(path: Path) -> tuple[float, float]:
    """Seconds to load the file and to validate what it holds (the graph must be valid)."""
    gc.collect()
    start = time.perf_counter()
    project = load(path)
    loaded = time.perf_counter()
    analysis = analyze(project.graph, project.context)
    done = time.perf_counter()
    assert analysis.ok, [p.message for p in analysis.errors][:3]
    return loaded - start, done - loaded


def measure(folder: Path, shape, rounds: int) -> dict[int, list[tuple[float, float]]]:
    """{size: [(load s, validate s) per round]}; the smallest size is the median of three."""
    paths = {}
    for n in SIZES:
        paths[n] = folder / f"{shape.__name__}-{n}.graft"
        paths[n].write_text(json.dumps(shape(n)), encoding="utf-8")
    load_and_validate(paths[SIZES[0]])  # warm: imports, caches
    times: dict[int, list[tuple[float, float]]] = {n: [] for n in SIZES}
    for _ in range(rounds):
        for n in SIZES:
            runs = [load_and_validate(paths[n]) for _ in range(3 if n == SIZES[0] else 1)]
            times[n].append(min(runs, key=sum) if n != SIZES[0] else sorted(runs, key=sum)[1])
    return times


def table(name: str, times: dict[int, list[tuple[float, float]]]) -> tuple[list[str], float]:
    """Rows of the markdown table and the median 10k → 100k ratio of load + validate."""
    base = [sum(t) for t in times[SIZES[0]]]
    rows, last_ratio = [], 0.0
    for n in SIZES:
        loads, checks = [t[0] for t in times[n]], [t[1] for t in times[n]]
        ratios = [sum(t) / b for t, b in zip(times[n], base)]
        ratio = statistics.median(ratios)
        rows.append(f"| {name} | {n:,} | {statistics.median(loads):.2f} | {statistics.median(checks):.2f} | "
                    f"{statistics.median(map(sum, times[n])):.2f} | {ratio:.1f}× "
                    f"({min(ratios):.1f}–{max(ratios):.1f}) | {ratio * SIZES[0] / n:.2f} |")
        last_ratio = ratio
    return rows, last_ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--no-doc", action="store_true", help="leave docs/benchmarks.md untouched")
    args = parser.parse_args()
    rows, ratios = [], {}
    with tempfile.TemporaryDirectory() as folder:
        for shape in (chain, merge):
            times = measure(Path(folder), shape, args.rounds)
            shape_rows, ratios[shape.__name__] = table(shape.__name__, times)
            rows += shape_rows
    worst = max(ratios.values())
    met = "met" if worst <= GOAL_RATIO else "MISSED"
    section = "\n".join([
        "## Loading and validating 10,000 to 100,000 nodes",
        "",
        f"`{COMMAND}` — {datetime.date.today()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs. `load()` of the project file, then `analyze()` of its graph; "
        f"{args.rounds} rounds, each timing every size side by side (10k: median of three runs). "
        "Times are medians in seconds; the ratio is the median of the rounds' ratios to 10k "
        "(spread min–max); *per node* is that ratio divided by the size ratio (1.00 = linear).",
        "",
        "| graph | nodes | load s | validate s | total s | × 10k | per node |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        f"Goal: 10k → 100k nodes at most {GOAL_RATIO:.0f}× the time — **{met}** "
        f"(chain {ratios['chain']:.1f}×, merge {ratios['merge']:.1f}×).",
    ])
    print(section)
    if not args.no_doc:
        write_section("project_scale", section)
    print(f"10k → 100k: {worst:.1f}× (goal ≤ {GOAL_RATIO:.0f}×)")
    return 0 if worst <= GOAL_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
