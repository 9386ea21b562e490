"""Export as a TensorFlow SavedModel folder, for TensorFlow Serving and converters."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from app.core.document.project import Project
from app.core.export.common import (
    CHECKING,
    SAVEDMODEL,
    SCRATCH_PREFIX,
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
    names = list(model.output_names)  # compile names each output after its Output node
    specs = [tf.TensorSpec(t.shape, t.dtype, name=t.name) for t in model.inputs]

    def serve(*tensors):
        outputs = model(list(tensors) if len(tensors) > 1 else tensors[0], training=False)
        return dict(zip(names, outputs if isinstance(outputs, (list, tuple)) else [outputs]))

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", serve, input_signature=specs)
    with writing(out_dir), tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=SCRATCH_PREFIX) as scratch:
        staged = Path(scratch) / out_dir.name
        progress("Writing the SavedModel")
        archive.write_out(str(staged), verbose=False)
        progress(CHECKING)
        sample = sample_batch(model)
        expected = predict(model, sample)
        signature = tf.saved_model.load(str(staged)).signatures["serving_default"]
        result = signature(**{t.name: tf.constant(x) for t, x in zip(model.inputs, sample)})
        got = [np.asarray(result[name]) for name in names]
        report = checked_report(SAVEDMODEL, out_dir, expected, got, "SavedModel", "tf.saved_model.load")
        if report.ok:
            if out_dir.exists():  # checked above: an earlier SavedModel or an empty folder
                # moved aside, not deleted first: a failed move puts it back, and the scratch
                # folder's cleanup removes it once the new one is in place
                aside = Path(scratch) / f"{out_dir.name}.old"
                os.replace(out_dir, aside)
                try:
                    os.replace(staged, out_dir)
                except OSError:
                    os.replace(aside, out_dir)
                    raise
            else:
                os.replace(staged, out_dir)
    return report
