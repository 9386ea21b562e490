"""The core stays free of Qt: the import-linter contract holds, and importing every core
module pulls in neither PySide6 nor pyqtgraph nor TensorFlow (which loads lazily)."""

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_import_linter_contract_holds():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 kept, 0 broken" in done.stdout


# Subclasses of Keras classes, imported only once a training run has started.
KERAS_BOUND = {"app.core.training.callbacks", "app.core.training.optim"}


def test_core_imports_without_qt_or_tensorflow():
    modules = sorted(
        {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
         for p in (ROOT / "app" / "core").rglob("*.py")} - KERAS_BOUND)
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "bad = [m for m in ('PySide6', 'pyqtgraph', 'tensorflow', 'keras', 'app.gui') "
        "if m in sys.modules]\n"
        "print('loaded:', bad)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    assert done.stdout.strip() == "loaded: []", done.stdout + done.stderr
