"""What every export format shares: its errors and report, the seeded sample batch each
export is proved on, the in-app model to compare against, and the checks of a target path."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.core.analysis.validate import analyze
from app.core.build.compile import CompileError
from app.core.document.atomic import write_advice
from app.core.document.project import Project
from app.core.training.run import RunError
from app.core.training.runner import load_trained_model

KERAS, SAVEDMODEL, PYTHON, ONNX, REPORT = "keras", "savedmodel", "python", "onnx", "report"
TOLERANCE = 1e-5  # float32 round-off between the in-app model and a reloaded graph
SAMPLE_BATCH = 2  # proves a batched call; each sample more is a forward pass more for a big model
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


SCRATCH_PREFIX = ".graft-export-"  # the folder beside the target where an export is staged


@contextmanager
def writing(out_path: Path) -> Iterator[None]:
    """Staging and moving an export into place: an OSError (a full disk, a refused write)
    becomes an ExportError naming the file; the staged files go, the old target stays."""
    try:
        yield
    except OSError as error:
        raise write_failed(out_path, error) from None


def write_failed(out_path: Path, error: OSError) -> ExportError:
    """One line: the file that could not be written (the target, not the staging folder's
    copy, which means nothing to a user), why, and the fix for that cause."""
    named = Path(error.filename) if isinstance(error.filename, (str, os.PathLike)) else None
    target = named if named is not None and not any(
        part.startswith(SCRATCH_PREFIX) for part in named.parts) else out_path
    return ExportError(f"cannot write {target}: {error.strerror or error}; "
                       f"{write_advice(error, 'choose another place')}")


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
