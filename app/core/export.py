"""Export a project's model for use outside Graft: a `.keras` file, a TensorFlow SavedModel,
a standalone Python script (export_python) or ONNX (export_onnx); `export` picks by format.

Each carries the trained weights when the project has some. Each export is proved rather
than trusted: the written file is loaded back the way a user of it would load it (plain
Keras in safe mode, or `tf.saved_model.load`) and its predictions on a seeded sample batch
are compared with the in-app model's, so a report of success means the file really works.
Files are written beside the target and moved into place only when complete and proved, so
a failed export never leaves a half-written or wrong file where the old one was."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.core.compile import CompileError
from app.core.project import Project
from app.core.training.runner import RunError, load_trained_model
from app.core.validate import analyze

KERAS, SAVEDMODEL, PYTHON, ONNX, REPORT = "keras", "savedmodel", "python", "onnx", "report"
TOLERANCE = 1e-5  # float32 round-off between the in-app model and a reloaded graph
SAMPLE_BATCH = 4
SEED = 0
CHECKING = "Checking: reloading it and comparing predictions"


class ExportError(Exception):
    """The model cannot be exported; the message names the problem and the fix."""


@dataclass(frozen=True)
class ExportReport:
    format: str  # a key of FORMATS
    path: Path
    max_abs_difference: float
    ok: bool
    message: str


Progress = Callable[[str], None]  # told each stage as it starts, e.g. "Writing the SavedModel"


def no_progress(stage: str) -> None:
    pass


@dataclass(frozen=True)
class Format:
    """What a user picks from: the file or folder each format writes, and how to name it."""

    key: str
    label: str
    suffix: str  # of the file written, "" for a folder
    folder: bool = False


FORMATS = {f.key: f for f in (
    Format(SAVEDMODEL, "TensorFlow SavedModel (folder)", "", folder=True),
    Format(KERAS, "Keras model file (.keras)", ".keras"),
    Format(PYTHON, "Python script with its weights (.py)", ".py"),
    Format(ONNX, "ONNX model (.onnx)", ".onnx"),
    Format(REPORT, "Model report (.html)", ".html"),
)}


def export(project: Project, format: str, out_path: str | Path, *, model=None,
           progress: Progress = no_progress) -> ExportReport:
    """Export in the named format (a key of FORMATS): the one entry point the CLI and the editor use."""
    if format == KERAS:
        return export_keras(project, out_path, model=model, progress=progress)
    if format == SAVEDMODEL:
        return export_savedmodel(project, out_path, model=model, progress=progress)
    if format == PYTHON:
        from app.core.export_python import export_python

        return export_python(project, out_path, model=model, progress=progress)
    if format == ONNX:
        from app.core.export_onnx import export_onnx

        return export_onnx(project, out_path, model=model, progress=progress)
    if format == REPORT:
        from app.core.report import write_report

        progress("Writing the report")
        path = write_report(project, out_path)
        return ExportReport(REPORT, path, 0.0, True, f"Model report written to {path}.")
    raise ExportError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")


def export_keras(project: Project, out_path: str | Path, *, model=None,
                 progress: Progress = no_progress) -> ExportReport:
    """Write the model as one `.keras` file that plain Keras loads in safe mode. `model` is
    the in-app model when the caller already holds one (the editor does): an untrained
    project's fresh layers are randomly initialised, so a new compile would differ from it."""
    import keras

    out_path = Path(out_path)
    if out_path.suffix != ".keras":
        raise ExportError(f"{out_path.name}: a Keras model file must end in .keras; rename it")
    check_target(out_path, folder=False)
    model = in_app_model(project, model, progress)
    served = [layer.name for layer in model.layers if _holds_savedmodel(layer)]
    if served:
        raise ExportError(f"node {served[0]!r} is a SavedModel: a .keras file would only point at its "
                          "folder, and Keras refuses to load that in safe mode; export as a SavedModel "
                          "or ONNX instead")
    sample = sample_batch(model)
    expected = predict(model, sample)
    with tempfile.TemporaryDirectory(dir=out_path.parent, prefix=".graft-export-") as scratch:
        staged = Path(scratch) / out_path.name
        progress("Writing the Keras model file")
        model.save(staged)
        progress(CHECKING)
        reloaded = keras.saving.load_model(staged, safe_mode=True, compile=False)
        report = checked_report(KERAS, out_path, expected, predict(reloaded, sample), "Keras model file",
                         "keras.saving.load_model (safe mode)")
        if report.ok:
            os.replace(staged, out_path)
    return report


def export_savedmodel(project: Project, out_dir: str | Path, *, model=None,
                      progress: Progress = no_progress) -> ExportReport:
    """Write a SavedModel folder for TensorFlow Serving, TFLite converters and the like. Its
    "serving_default" signature takes and returns tensors named after the graph's Input
    and Output nodes, so callers address them by the names they see in the editor."""
    import keras
    import tensorflow as tf

    out_dir = Path(out_dir)
    check_target(out_dir, folder=True)
    model = in_app_model(project, model, progress)
    sample = sample_batch(model)
    expected = predict(model, sample)
    names = list(model.output_names)  # compile names each output after its Output node
    specs = [tf.TensorSpec(t.shape, t.dtype, name=t.name) for t in model.inputs]

    def serve(*tensors):
        outputs = model(list(tensors) if len(tensors) > 1 else tensors[0], training=False)
        return dict(zip(names, outputs if isinstance(outputs, (list, tuple)) else [outputs]))

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", serve, input_signature=specs)
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=".graft-export-") as scratch:
        staged = Path(scratch) / out_dir.name
        progress("Writing the SavedModel")
        archive.write_out(str(staged), verbose=False)
        progress(CHECKING)
        signature = tf.saved_model.load(str(staged)).signatures["serving_default"]
        result = signature(**{t.name: tf.constant(x) for t, x in zip(model.inputs, sample)})
        got = [np.asarray(result[name]) for name in names]
        report = checked_report(SAVEDMODEL, out_dir, expected, got, "SavedModel", "tf.saved_model.load")
        if report.ok:
            if out_dir.exists():  # checked above: an earlier SavedModel or an empty folder
                shutil.rmtree(out_dir)
            os.replace(staged, out_dir)
    return report


def sample_batch(model) -> list[np.ndarray]:
    """Seeded random data shaped like the model's inputs (unknown dimensions become 8).
    Integer inputs get 0 or 1, valid indices for any Embedding."""
    rng = np.random.default_rng(SEED)
    batch = []
    for tensor in model.inputs:
        shape = [SAMPLE_BATCH] + [d if d is not None else 8 for d in tensor.shape[1:]]
        dtype = np.dtype(str(tensor.dtype))
        if dtype.kind == "b":
            batch.append(rng.integers(0, 2, shape).astype(bool))
        elif np.issubdtype(dtype, np.integer):
            batch.append(rng.integers(0, 2, shape).astype(dtype))
        else:
            batch.append(rng.standard_normal(shape).astype(dtype))
    return batch


def in_app_model(project: Project, model=None, progress: Progress = no_progress):
    """The in-app model: the caller's, or compiled with the trained weights when there are some."""
    progress("Building the model")
    analysis = analyze(project.graph, project.context)
    if not analysis.ok:
        listing = "; ".join(p.message for p in analysis.errors)
        raise ExportError(f"the graph has {len(analysis.errors)} error(s), fix them before exporting: "
                          f"{listing}")
    if model is not None:
        return model
    try:
        return load_trained_model(project).model
    except RunError as error:  # missing or no longer fitting trained weights
        raise ExportError(f"cannot export the trained model: {error}") from None
    except CompileError as error:
        raise ExportError(f"cannot export, the model does not build: {error}") from None


def _holds_savedmodel(layer) -> bool:
    """Whether the layer is, or nests, Keras's wrapper of an external SavedModel."""
    import keras

    return isinstance(layer, keras.layers.TFSMLayer) or any(
        _holds_savedmodel(inner) for inner in getattr(layer, "layers", ()))


def check_target(path: Path, folder: bool) -> None:
    """Refuse a target that exporting would destroy or could not write; replacing an earlier
    export of the same kind is fine, it is what "export again" means."""
    if not path.parent.is_dir():
        raise ExportError(f"the folder {path.parent} does not exist; create it or choose another place")
    if folder:
        if path.is_file():
            raise ExportError(f"{path} is a file; a SavedModel is a folder, choose another name")
        if path.is_dir() and any(path.iterdir()) and not (path / "saved_model.pb").is_file():
            raise ExportError(f"{path} is a folder with other files in it; choose an empty or new folder")
    elif path.is_dir():
        raise ExportError(f"{path} is a folder; choose another name for the {path.suffix or 'new'} file")
    if path.exists() and not os.access(path, os.W_OK):
        raise ExportError(f"{path} exists and is read-only; choose another place or make it writable")
    if not os.access(path.parent, os.W_OK):
        raise ExportError(f"the folder {path.parent} is read-only; choose another place")


def predict(model, sample: list[np.ndarray]) -> list[np.ndarray]:
    outputs = model(sample if len(sample) > 1 else sample[0], training=False)
    return [np.asarray(o) for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]


def checked_report(kind: str, path: Path, expected, got, what: str, loader: str) -> ExportReport:
    difference = max((float(np.max(np.abs(e.astype(np.float64) - g.astype(np.float64)), initial=0.0))
                      if e.shape == g.shape else float("inf")) for e, g in zip(expected, got))
    if len(expected) == len(got) and difference <= TOLERANCE:
        return ExportReport(kind, path, difference, True, f"{what} written to {path}; reloaded with "
                            f"{loader}, predictions match (max abs difference {difference:.1g}).")
    return ExportReport(kind, path, difference, False, f"{what} not written to {path}: reloaded with "
                        f"{loader}, its predictions differ from Graft's by up to {difference:.3g} (more "
                        f"than {TOLERANCE:g}); please report this.")
