"""Benchmark: saving and exporting a ResNet50 project against plain Keras doing the same.

The project: an Input of 224×224×3 images, a ResNet50 node (keras.applications, random
weights: nothing downloads), a 10-class Dense head and an Output, with trained weights in a
`.weights.h5` file beside it. Plain Keras gets the same model: `keras.applications.ResNet50`
and a Dense head written in a script, holding the same weights (its predictions are checked
equal to Graft's before anything is timed).

- Save: the model in memory after training. Graft writes the weights (`store.save_weights`,
  as its runs do) and the project file (`fileformat.save`, cards included); plain Keras writes
  the same, the architecture and the weights, with `model.save(path.keras)`. Beside it, the
  weights alone: `store.save_weights` against `model.save_weights`.
- Exports (.keras, SavedModel, ONNX): from the files on disk, as `graft export` starts. Graft
  is `fileformat.load` + `export()` (the model built from the project and its weights, written,
  then reloaded and its predictions compared: the check); plain Keras builds the model in its
  script, loads the weights and calls `model.save(path)`, `model.export(folder)` or
  `model.export(path, format="onnx")`, checking nothing.

Rounds interleave the two (in turn plain first and Graft first), each operation from a
cleared Keras session; a ratio is the median of the rounds' own Graft/plain ratios.

    .venv/bin/python benchmarks/export.py            # measure, rewrite docs/benchmarks.md
    .venv/bin/python benchmarks/export.py --no-doc   # measure and print only
    .venv/bin/python benchmarks/export.py --profile  # also cProfile one Graft run of each
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core.document import fileformat  # noqa: E402
from app.core.editing.builder import GraphBuilder  # noqa: E402
from app.core.editing.commands import CommandStack, edit_training  # noqa: E402
from app.core.export.common import CHECKING, KERAS, ONNX, SAVEDMODEL  # noqa: E402
from app.core.training.store import save_weights  # noqa: E402
from benchmarks.report import measured_on, write_section  # noqa: E402
from benchmarks.training import SCRATCH, fresh  # noqa: E402

GOAL = 1.5  # issue 20: Graft, its check included, at most 1.5× the time of plain Keras
ROUNDS = 3
SHAPE = (224, 224, 3)
CLASSES = 10
OPERATIONS = {  # key: what the row says
    "save": "Save: the weights and the project file (plain: `model.save`, architecture and weights)",
    "weights": "Save the weights alone (plain: `model.save_weights`)",
    KERAS: "Export `.keras` (plain: build, load weights, `model.save`)",
    SAVEDMODEL: "Export SavedModel (plain: build, load weights, `model.export(folder)`)",
    ONNX: "Export ONNX (plain: build, load weights, `model.export(path, format=\"onnx\")`)",
}
IN_MEMORY = ("save", "weights")  # operations on the model held in memory
TARGETS = {KERAS: "model.keras", SAVEDMODEL: "model_savedmodel", ONNX: "model.onnx"}


def resnet_project(folder: Path) -> Path:
    """Save the ResNet50 project and its weights (the random init of a first build, standing
    in for trained ones) in `folder`; returns the project file."""
    b = GraphBuilder()
    b.add("image", "Input", 0, 0, shape=list(SHAPE))
    b.add("base", "Application", 300, 0, architecture="ResNet50", input_shape=list(SHAPE), pooling="avg")
    b.add("classes", "Dense", 600, 0, units=CLASSES, activation="softmax")
    b.add("label", "Output", 900, 0, loss="sparse_categorical_crossentropy")
    b.chain("image", "base", "classes", "label")
    project = b.project
    path = folder / "resnet50.graft"
    fileformat.save(project, path)
    save_weights(graft_model(project), folder / "resnet50.weights.h5")
    CommandStack(project).push(edit_training(project.training, "Store trained weights",
                                             weights="resnet50.weights.h5"))
    fileformat.save(project, path)
    return path


def graft_model(project):
    from app.core.training.runner import load_trained_model

    return load_trained_model(project).model


def plain_model(weights: Path | None = None):
    """The same architecture as a plain Keras script writes it."""
    import keras

    image = keras.Input(SHAPE, name="image")
    features = keras.applications.ResNet50(include_top=False, weights=None, input_shape=SHAPE,
                                           pooling="avg")(image)
    model = keras.Model(image, keras.layers.Dense(CLASSES, activation="softmax")(features))
    if weights is not None:
        model.load_weights(weights)
    return model


def plain_weights(project_path: Path) -> Path:
    """Plain Keras's weights file, holding Graft's weights; refuses if the two models'
    predictions differ (they would not be the same model)."""
    project = fileformat.load(project_path)
    graft, plain = graft_model(project), plain_model()
    plain.set_weights(graft.get_weights())
    batch = np.random.default_rng(0).standard_normal((2, *SHAPE)).astype(np.float32)
    difference = np.max(np.abs(np.asarray(graft(batch)) - np.asarray(plain(batch))))
    if difference > 1e-5:
        raise SystemExit(f"plain Keras's model predicts differently from Graft's (by {difference:.3g})")
    path = project_path.parent / "plain.weights.h5"
    plain.save_weights(path)
    return path


def timed_plain(operation: str, folder: Path, weights: Path, model=None) -> float:
    """Seconds of plain Keras doing `operation` (the save on `model`, held in memory)."""
    began = time.perf_counter()
    if operation == "save":
        model.save(folder / "plain-saved.keras")
        return time.perf_counter() - began
    if operation == "weights":
        model.save_weights(folder / "plain-saved.weights.h5")
        return time.perf_counter() - began
    model = plain_model(weights)
    target = folder / f"plain-{TARGETS[operation]}"
    if operation == KERAS:
        model.save(target)
    elif operation == SAVEDMODEL:
        model.export(str(target), verbose=False)
    else:  # Keras needs the signature of a model never called
        import tensorflow as tf

        model.export(str(target), format="onnx", verbose=False,
                     input_signature=[tf.TensorSpec((None, *SHAPE), tf.float32)])
    return time.perf_counter() - began


def timed_graft(operation: str, folder: Path, project_path: Path, model=None) -> tuple[float, float]:
    """Seconds of Graft doing `operation`, and of its check (the export's stage from
    CHECKING to the end); the save on `model`, held in memory."""
    from app.core.export.formats import export

    if operation in IN_MEMORY:
        project = fileformat.load(project_path)
        began = time.perf_counter()
        save_weights(model, folder / "graft-saved.weights.h5")
        if operation == "save":
            fileformat.save(project, folder / "graft-saved.graft")
        return time.perf_counter() - began, 0.0
    stages = {}
    began = time.perf_counter()
    target = folder / f"graft-{TARGETS[operation]}"
    report = export(fileformat.load(project_path), operation, target,
                    progress=lambda stage: stages.setdefault(stage, time.perf_counter()))
    ended = time.perf_counter()
    if not report.ok:
        raise SystemExit(f"Graft's {operation} export failed: {report.message}")
    return ended - began, ended - stages.get(CHECKING, ended)


def measure(operation: str, round_: int, folder: Path, project_path: Path, weights: Path) -> dict:
    """One round of `operation`: plain and Graft in the round's order, each from a cleared
    session, into a folder emptied first."""
    times = {}
    for side in ("plain", "graft") if round_ % 2 == 0 else ("graft", "plain"):
        fresh()
        out = folder / f"{operation}-{side}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        model = None
        if operation in IN_MEMORY:  # the model in memory, built untimed
            model = plain_model(weights) if side == "plain" else graft_model(fileformat.load(project_path))
        if side == "plain":
            times["plain"] = timed_plain(operation, out, weights, model)
        else:
            times["graft"], times["check"] = timed_graft(operation, out, project_path, model)
    return times


def profile(operation: str, folder: Path, project_path: Path) -> None:
    """cProfile one Graft run of `operation`; prints where the time goes."""
    fresh()
    out = folder / f"profile-{operation}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    model = graft_model(fileformat.load(project_path)) if operation in IN_MEMORY else None
    profiler = cProfile.Profile()
    profiler.enable()
    timed_graft(operation, out, project_path, model)
    profiler.disable()
    print(f"\n--- cProfile: Graft {operation} (cumulative) ---")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


def report(rounds: list[dict[str, dict]], onnx_note: str, weights_mib: float) -> str:

    lines = [
        "## Saving and exporting a ResNet50 project (`benchmarks/export.py`)",
        "",
        "The project: an Input of 224×224×3 images, a ResNet50 node (random weights), a 10-class "
        f"Dense head and an Output, with its weights in a `.weights.h5` file ({weights_mib:.0f} MiB). "
        "Plain Keras gets the same model written in a script (`keras.applications.ResNet50` and a "
        "Dense head, predictions checked equal to Graft's). *Save* starts from the model in memory, as after "
        "training: Graft writes the weights (as its runs do) and the project file (its model cards "
        "included), plain Keras the same architecture and weights with `model.save(path.keras)`; "
        "the weights alone are compared beside it. *Exports* start from the files on disk, as "
        "`graft export` does: Graft loads the project, builds the model with its weights, writes "
        "the file, then proves it by reloading it (Keras in safe mode, `tf.saved_model.load`, "
        "onnxruntime) and comparing predictions on a seeded batch (the check, timed from its "
        "progress stage to the end); the plain script builds the model, loads the weights and "
        "writes the file, checking nothing. "
        f"{len(rounds)} rounds, each operation in turn plain first and Graft first, each from a "
        "cleared Keras session; times are medians, the ratio the median of the rounds' own "
        "Graft/plain ratios (their spread in brackets).",
        "",
        "| operation | plain Keras s | Graft s (check included) | of which the check s | ratio | goal |",
        "|---|---|---|---|---|---|",
    ]
    for operation, label in OPERATIONS.items():
        runs = [r[operation] for r in rounds if operation in r]
        if not runs:
            lines.append(f"| {label} | — | — | — | {onnx_note} | ≤ {GOAL:g} |")
            continue
        ratios = [r["graft"] / r["plain"] for r in runs]
        ratio = statistics.median(ratios)
        check = statistics.median(r["check"] for r in runs)
        lines.append(
            f"| {label} | {statistics.median(r['plain'] for r in runs):.2f} | "
            f"{statistics.median(r['graft'] for r in runs):.2f} | {f'{check:.2f}' if check else '—'} | "
            f"**{ratio:.2f}** ({min(ratios):.2f}–{max(ratios):.2f}) {'PASS' if ratio <= GOAL else 'FAIL'} "
            f"| ≤ {GOAL:g} |")
    lines += [
        "",
        "**What profiling found (cProfile, issue 20).** Before the changes below, a `.keras` export "
        "took 12.1 s under the profiler: the model built with its weights 3.6 s (ResNet50 2.0 s, "
        "the weights 1.5 s; built once, as the plain script builds it), the in-app model's "
        "predictions on the check's 4 samples 1.9 s, the write 1.6 s, the reload 3.1 s and the "
        "reloaded model's predictions 1.9 s. Those first predictions were made before the write, "
        "so the progress (and this benchmark) counted them as building: the check was about 2 s "
        "bigger than it looked. **Fixed:** every format now makes both predictions in its checking "
        "stage, and the check's batch is 2 samples instead of 4 (still a batched call; an eager "
        "ResNet50 call costs about 0.9 s at 4 and 0.5 s at 2 here). **What remains** is the reload "
        "itself: `keras.saving.load_model` rebuilds the model from its config (its 320 variables "
        "first given their random initial values, 1.7 s of the 3.1 under the profiler) and then "
        "reads the weights, which is the plain script's build over again, so a proved `.keras` file "
        "costs about twice the unproved one; nothing is built or converted twice. Only a check "
        "that does not rebuild the model (reading the weights back from the file, say) would bring "
        "it within 1.5×, and it would no longer prove that Keras loads the file. SavedModel and "
        "ONNX spend most of their time tracing and converting, which both sides do once; their "
        "checks are small beside it, and single rounds swing by half on this shared machine (ONNX: "
        "Graft faster in one round of three). *Saving* writes what `model.save` writes, the "
        "architecture and the weights. Of the weights alone, Graft's file is made in memory "
        "through a Python file object (so that a full disk never leaves a truncated checkpoint: "
        "h5py crashes then) and written atomically with an fsync, which `model.save_weights` does "
        "not do; that is what the weights alone pay. h5py's in-memory `core` driver, tried for the "
        "file in memory, made no difference beyond this machine's noise (3 runs).",
        "",
        measured_on(),
    ]
    return "\n".join(lines)


def onnx_missing() -> str:
    """Why the ONNX row cannot be measured here, or "" when it can."""
    try:
        import onnxruntime  # noqa: F401
        import tf2onnx  # noqa: F401
    except ImportError as error:
        return f"not measured: {error.name} is not installed (`pip install 'graft-studio[onnx]' onnxruntime`)"
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite docs/benchmarks.md")
    parser.add_argument("--profile", action="store_true", help="print cProfile summaries of Graft's runs")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--operation", choices=list(OPERATIONS), action="append",
                        help="measure only this operation (repeatable); default: all")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(dir=SCRATCH, prefix="export-"))
    project_path = resnet_project(folder)
    weights = plain_weights(project_path)
    onnx_note = onnx_missing()
    operations = [o for o in args.operation or OPERATIONS if not (o == ONNX and onnx_note)]
    if args.profile:
        for operation in operations:
            profile(operation, folder, project_path)
    rounds = []
    for round_ in range(args.rounds):
        rounds.append({})
        for operation in operations:
            times = rounds[-1][operation] = measure(operation, round_, folder, project_path, weights)
            print(f"round {round_ + 1} {operation}: plain {times['plain']:.2f} s, "
                  f"Graft {times['graft']:.2f} s (check {times['check']:.2f} s), "
                  f"{times['graft'] / times['plain']:.2f}×", flush=True)
    section = report(rounds, onnx_note, weights.stat().st_size / 2**20)
    if not args.no_doc:
        write_section("export", section)
    print("\n" + section)
    ratios = {o: statistics.median(r[o]["graft"] / r[o]["plain"] for r in rounds) for o in operations}
    print("save and export, Graft / plain Keras (goal ≤ 1.5): "
          + ", ".join(f"{o} {ratio:.2f}" for o, ratio in ratios.items()))


if __name__ == "__main__":
    main()
