"""Export a project's model for use outside Graft: a `.keras` file, a TensorFlow SavedModel,
a standalone Python script (export_python) or ONNX (export_onnx); `export` picks by format.

Each carries the trained weights when the project has some. Each export is proved rather
than trusted: the written file is loaded back the way a user of it would load it (plain
Keras in safe mode, or `tf.saved_model.load`) and its predictions on a seeded sample batch
are compared with the in-app model's, so a report of success means the file really works.
Files are written beside the target and moved into place only when complete and proved, so
a failed export never leaves a half-written or wrong file where the old one was."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.core.document.project import Project
from app.core.export.common import (
    KERAS,
    ONNX,
    PYTHON,
    REPORT,
    SAVEDMODEL,
    ExportError,
    ExportReport,
    Progress,
    no_progress,
)
from app.core.export.keras_file import export_keras
from app.core.export.onnx import export_onnx
from app.core.export.python import export_python
from app.core.export.report import export_report
from app.core.export.savedmodel import export_savedmodel


@dataclass(frozen=True)
class Format:
    """What a user picks from: the file or folder each format writes, how to name it, and the
    function that writes it (project, out_path, *, model, progress) -> ExportReport."""

    key: str
    label: str
    suffix: str  # of the file written, "" for a folder
    write: Callable[..., ExportReport]
    folder: bool = False


FORMATS = {f.key: f for f in (
    Format(SAVEDMODEL, "TensorFlow SavedModel (folder)", "", export_savedmodel, folder=True),
    Format(KERAS, "Keras model file (.keras)", ".keras", export_keras),
    Format(PYTHON, "Python script with its weights (.py)", ".py", export_python),
    Format(ONNX, "ONNX model (.onnx)", ".onnx", export_onnx),
    Format(REPORT, "Model report (.html)", ".html", export_report),
)}


def export(project: Project, format: str, out_path: str | Path, *, model=None,
           progress: Progress = no_progress) -> ExportReport:
    """Export in the named format (a key of FORMATS): the one entry point the CLI and the editor use."""
    if format not in FORMATS:
        raise ExportError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    return FORMATS[format].write(project, out_path, model=model, progress=progress)
