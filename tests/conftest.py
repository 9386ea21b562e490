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
