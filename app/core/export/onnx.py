"""Export a project's model as ONNX, for runtimes outside TensorFlow (ONNX Runtime and the
many tools that read ONNX).

The conversion goes through tf2onnx, which is an optional extra: most users never need it,
and it brings onnx along. Keras's own `Model.export(format="onnx")` drives it, because Keras
patches tf2onnx for NumPy 2. Like the other exports this one is proved rather than trusted
when it can be: onnxruntime runs the written file on the seeded sample batch and its
predictions are compared with the in-app model's. Without onnxruntime the file is written
unchecked, and the report says so and how to install it. The graph's Input and Output node
names are the ONNX input and output names, so callers feed and fetch by the names they see
in the editor. The file is written beside the target and moved into place only when it is
complete (and proved, where it can be)."""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from pathlib import Path

from app.core.cards.loading import error_gist
from app.core.document.project import Project
from app.core.export.common import (
    CHECKING,
    ONNX,
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

INSTALL_EXTRA = "pip install 'graft-studio[onnx]'"
INSTALL_RUNTIME = "pip install onnxruntime"


def export_onnx(project: Project, out_path: str | Path, *, model=None,
                progress: Progress = no_progress) -> ExportReport:
    """Write the model as one `.onnx` file whose inputs and outputs carry the graph's Input
    and Output node names. `model` is the in-app model when the caller already holds one."""
    out_path = Path(out_path)
    if out_path.suffix != ".onnx":
        raise ExportError(f"{out_path.name}: an ONNX model file must end in .onnx; rename it")
    _require_tf2onnx()
    check_target(out_path, folder=False)
    model = in_app_model(project, model, progress)
    with (writing(out_path),
          tempfile.TemporaryDirectory(dir=out_path.parent, prefix=SCRATCH_PREFIX) as scratch):
        staged = Path(scratch) / out_path.name
        progress("Writing the ONNX model")
        names = _convert(model, staged)
        try:
            import onnxruntime
        except ImportError:
            os.replace(staged, out_path)
            return ExportReport(ONNX, out_path, math.nan, True,
                                f"ONNX model written to {out_path}, but not checked: onnxruntime is "
                                f"not installed. To check exports, install it: {INSTALL_RUNTIME}")
        progress(CHECKING)
        sample = sample_batch(model)
        expected = predict(model, sample)
        try:
            session = onnxruntime.InferenceSession(str(staged), providers=["CPUExecutionProvider"])
            got = session.run(names, {t.name: x for t, x in zip(model.inputs, sample)})
        except Exception as error:  # onnxruntime's own errors share no base class
            return ExportReport(ONNX, out_path, math.inf, False,
                                f"ONNX model not written to {out_path}: onnxruntime cannot run the "
                                f"converted model ({error_gist(error, with_type=True)}); please report this.")
        report = checked_report(ONNX, out_path, expected, got, "ONNX model", "onnxruntime")
        if report.ok:
            os.replace(staged, out_path)
    return report


def _require_tf2onnx() -> None:
    """Fail before any work when the optional extra is missing, saying how to add it."""
    try:
        import tf2onnx  # noqa: F401
    except ImportError:
        raise ExportError(f"ONNX export needs the optional extra: {INSTALL_EXTRA}") from None
    except Exception as error:  # installed, but not for this TensorFlow or NumPy
        raise ExportError(f"tf2onnx is installed but does not import ({error_gist(error, with_type=True)}); "
                          f"reinstall the optional extra: {INSTALL_EXTRA}") from None


def _convert(model, path: Path) -> list[str]:
    """Convert through a view of `model` whose outputs are keyed by Output node name (tf2onnx
    names a graph output after its key); returns the output names in the model's order."""
    import keras
    import tensorflow as tf

    names = list(model.output_names)  # compile names each output after its Output node
    named = keras.Model(model.inputs, dict(zip(names, model.outputs)))
    specs = [tf.TensorSpec(t.shape, t.dtype, name=t.name) for t in model.inputs]
    signature = specs if len(specs) == 1 else [specs]  # Keras wants several inputs as one list
    with warnings.catch_warnings():
        # Keras's NumPy 2 patch for tf2onnx probes np.object, which NumPy warns about
        warnings.filterwarnings("ignore", message=".*np.object.*", category=FutureWarning)
        try:
            named.export(str(path), format="onnx", input_signature=signature, verbose=False)
        except OSError:
            raise  # a full disk or a refused write, which `writing` names as such
        except Exception as error:  # an operation tf2onnx cannot express, most likely
            raise ExportError("the model cannot be converted to ONNX: "
                              f"{error_gist(error, with_type=True)}") from None
    return names

