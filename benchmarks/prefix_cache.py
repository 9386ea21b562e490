"""Benchmark: frozen-prefix caching against a plain `fit` of the same model.

The first phase of transfer learning: MobileNetV2 at 96×96 (random weights, nothing
downloaded), frozen, with a new 10-class head, 10 epochs on 1,024 synthetic images (a fifth
held out for validation; the same data and pipeline both ways). (a) a plain `model.fit` of the
compiled model, the base frozen, computes the base on every batch of every epoch; (b) Graft's
run computes it once per sample (the caching pass) and trains the head on the cached features.
The goal's figure is training time: (a) the `fit` call, (b) from Graft's `RunStarted` (model
built, data prepared) to its last epoch's end, the caching pass included. The whole runs
(the build and the data too, and for Graft its checkpoints, evaluation and run record) are
reported beside it. Rounds alternate their order, each run from a cleared Keras session; a
ratio is the median of the rounds' own ratios.

    .venv/bin/python benchmarks/prefix_cache.py           # measure, rewrite docs/benchmarks.md
    .venv/bin/python benchmarks/prefix_cache.py --no-doc  # measure and print only
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core.document.project import Project  # noqa: E402
from app.core.editing.commands import CommandStack, SetParams, edit_training  # noqa: E402
from app.core.training.events import EpochEnded, RunStarted  # noqa: E402
from app.core.training.record import read_record  # noqa: E402
from benchmarks.report import measured_on, write_section  # noqa: E402
from benchmarks.training import SCRATCH, fresh, mobilenet, plain_keras  # noqa: E402

GOAL = 5.0  # issue 20: caching pass included, at least 5× faster than a plain fit
EPOCHS = 10
SAMPLES = 1024  # enough that the one-off costs (building, tracing) do not decide the ratio
ROUNDS = 3


def frozen_mobilenet() -> Project:
    """benchmarks/training.py's MobileNetV2 project with its base frozen, trained EPOCHS epochs
    on SAMPLES synthetic images instead of its 512."""
    project = mobilenet()
    rng = np.random.default_rng(0)
    np.savez(project.training.data["path"], images=rng.random((SAMPLES, 96, 96, 3), dtype=np.float32),
             labels=rng.integers(0, 10, SAMPLES))
    stack = CommandStack(project)
    stack.push(SetParams(project.graph.node_by_name("base").id, {"trainable": "frozen"}))
    settings = project.training.settings | {"epochs": EPOCHS}
    stack.push(edit_training(project.training, f"Train {EPOCHS} epochs", settings=settings))
    return project


def plain(project: Project) -> tuple[float, float]:
    """Seconds of a plain `fit` of the compiled model (its base frozen) on Graft's pipeline, as
    benchmarks/training.py's plain_fit makes it: the whole (model built, data prepared) and
    the `fit` alone."""
    began = time.perf_counter()
    view, data = plain_keras(project)
    fitting = time.perf_counter()
    view.fit(data.train, validation_data=data.validation, epochs=EPOCHS, shuffle=False, verbose=0)
    ended = time.perf_counter()
    return ended - began, ended - fitting


def graft(project: Project) -> tuple[float, float, dict]:
    """Seconds of a whole Graft run (model built, data prepared, prefix cached, trained,
    checkpointed, evaluated, recorded), of its training alone (from RunStarted, once the model
    is built and the data prepared, to its last epoch's end: the caching pass included), and
    what its record says of the caching."""
    from app.core.training.runner import train

    times = {}

    def clock(event) -> None:
        if isinstance(event, RunStarted | EpochEnded):
            times[type(event).__name__] = time.perf_counter()

    out = Path(tempfile.mkdtemp(dir=SCRATCH, prefix="graft-"))
    began = time.perf_counter()
    ended = train(project, sink=clock, out_dir=out)
    whole = time.perf_counter() - began
    if ended.status != "finished":
        raise SystemExit(f"the Graft run did not finish: {ended.message}")
    return whole, times["EpochEnded"] - times["RunStarted"], read_record(out)["prefix_cache"]["train"]


def report(runs: list[dict], note: dict) -> str:

    ratios = [r["plain_fit"] / r["graft_training"] for r in runs]
    whole = [r["plain"] / r["graft"] for r in runs]
    ratio = statistics.median(ratios)

    def median(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    return "\n".join([
        "## Frozen-prefix caching (`benchmarks/prefix_cache.py`)",
        "",
        f"The first phase of transfer learning, {EPOCHS} epochs: MobileNetV2 at 96×96 (random "
        f"weights), frozen, with a new 10-class Dense head, on {SAMPLES} synthetic images (a fifth "
        "held out for validation; batch 32; the same data and `tf.data` pipeline both ways). (a) a "
        "plain `model.fit` of the compiled model computes the frozen base on every batch of every "
        "epoch; (b) Graft's run computes it once per sample (the caching pass) and trains the head "
        "on the cached features. Training time: (a) the `fit` call; (b) from the run's `RunStarted` "
        "(model built, data prepared, as before `fit`) to its last epoch's end, the caching pass "
        "(data prepared again unshuffled, the base traced and run once over every sample) included. "
        "The whole run adds to both the model's build and the data's preparation, and to (b) what "
        "Graft does after training (checkpoints of the full model's weights, the evaluation, the run "
        f"record). {len(runs)} rounds alternating their order, each run from a cleared Keras session; "
        "each ratio is the median of the rounds' own ratios.",
        "",
        "| | (a) plain `fit`, frozen base | (b) Graft, cached prefix | ratio (a)/(b) | each round | goal |",
        "|---|---|---|---|---|---|",
        f"| training, caching pass included | {median('plain_fit'):.1f} s | {median('graft_training'):.1f} s "
        f"| **{ratio:.1f}×** {'PASS' if ratio >= GOAL else 'FAIL'} | {', '.join(f'{r:.1f}' for r in ratios)} "
        f"| ≥ {GOAL:g}× |",
        f"| whole run | {median('plain'):.1f} s | {median('graft'):.1f} s | {statistics.median(whole):.1f}× "
        f"| {', '.join(f'{r:.1f}' for r in whole)} | — |",
        "",
        f"The caching pass of the last round took {note['seconds']:.1f} s for {note['samples']} samples "
        f"({note['bytes'] / 2**20:.1f} MiB, kept in {note['stored']}). The loss history is the uncached "
        "run's within float rounding (`tests/core/test_prefix_cache.py`), and the final evaluation "
        "predicts through the same cache.",
        "",
        measured_on(),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite docs/benchmarks.md")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    project = frozen_mobilenet()
    runs, note = [], {}
    for round_ in range(args.rounds):
        times = {}
        for run in ("plain", "graft") if round_ % 2 == 0 else ("graft", "plain"):
            fresh()
            if run == "plain":
                times["plain"], times["plain_fit"] = plain(project)
            else:
                times["graft"], times["graft_training"], note = graft(project)
        runs.append(times)
        print(f"round {round_ + 1}: training: plain fit {times['plain_fit']:.1f} s, Graft "
              f"{times['graft_training']:.1f} s (caching pass {note['seconds']:.1f} s), "
              f"{times['plain_fit'] / times['graft_training']:.1f}×; whole: {times['plain']:.1f} s against "
              f"{times['graft']:.1f} s", flush=True)
    if not note.get("used"):
        raise SystemExit(f"Graft did not cache the prefix: {json.dumps(note)}")
    section = report(runs, note)
    if not args.no_doc:
        write_section("prefix_cache", section)
    print(section)
    ratio = statistics.median(r["plain_fit"] / r["graft_training"] for r in runs)
    print(f"prefix caching: {ratio:.1f}× a plain fit in training time (goal ≥ {GOAL:g}×)")


if __name__ == "__main__":
    main()
