"""Suite-wide settings: Qt offscreen, TensorFlow quiet, paths to the bundled resources."""

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "resources" / "examples"
MODELS = ROOT / "resources" / "models"


@pytest.fixture
def models_dir() -> Path:
    return MODELS


def small_project(path: Path) -> Path:
    """Input → Dense → Output, no data or model file, saved at `path`: what the CLI tests run on."""
    from app.core.document.fileformat import save
    from app.core.document.project import Project
    from app.core.editing.builder import GraphBuilder

    b = GraphBuilder()
    b.add("features", "Input", 0, 0, shape=[4])
    b.add("hidden", "Dense", 1, 0, units=3, activation="relu")
    b.add("score", "Output", 2, 0, loss="mean_squared_error")
    b.wire("features", "hidden")
    b.wire("hidden", "score")
    save(Project(b.graph, "small"), path)
    return path
