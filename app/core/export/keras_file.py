"""Export as one `.keras` file that plain Keras loads in safe mode."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from app.core.document.project import Project
from app.core.export.common import (
    CHECKING,
    KERAS,
    SCRATCH_PREFIX,
    ExportError,
    ExportReport,
    Progress,
    check_target,
    checked_report,
    in_app_model,
    no_progress,
    predict,
    sample_batch,
    writing,
)


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
    with (writing(out_path),
          tempfile.TemporaryDirectory(dir=out_path.parent, prefix=SCRATCH_PREFIX) as scratch):
        staged = Path(scratch) / out_path.name
        progress("Writing the Keras model file")
        model.save(staged)
        progress(CHECKING)
        sample = sample_batch(model)
        expected = predict(model, sample)
        reloaded = keras.saving.load_model(staged, safe_mode=True, compile=False)
        report = checked_report(KERAS, out_path, expected, predict(reloaded, sample), "Keras model file",
                         "keras.saving.load_model (safe mode)")
        if report.ok:
            os.replace(staged, out_path)
    return report


def _holds_savedmodel(layer) -> bool:
    """Whether the layer is, or nests, Keras's wrapper of an external SavedModel."""
    import keras

    return isinstance(layer, keras.layers.TFSMLayer) or any(
        _holds_savedmodel(inner) for inner in getattr(layer, "layers", ()))
