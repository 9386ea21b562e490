"""The editor's launch leaves pyqtgraph and the export formats for later (issue 20: a project of
big pretrained models on screen within 1 s): the plots are built when first needed, and the
window looks the same as with them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "resources" / "examples" / "cascade.graft"

LAUNCH = """
import json, os, sys
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
from app.gui.app import application, open_window

window = open_window([sys.argv[1]], QSettings(sys.argv[2], QSettings.Format.IniFormat))
for _ in range(5):
    QApplication.processEvents()
launched = {"nodes": len(window.scene.node_items),
            "late": sorted(m for m in ("pyqtgraph", "app.gui.export_dialog", "app.gui.training.plots")
                           if m in sys.modules),
            "dock": window.training_dock.height()}
training = window.training
training.tabs.setCurrentIndex(training.plots_tab)  # the Plots tab shown builds them
window.training_dock.raise_()
for _ in range(5):
    QApplication.processEvents()
plots = training.plots
print(json.dumps({**launched, "plots": plots.isVisible(), "controls": plots.controls.isVisible(),
                  "dock after": window.training_dock.height(),
                  "pyqtgraph after": "pyqtgraph" in sys.modules}), flush=True)
os._exit(0)  # at once, as the launch benchmark does: not waiting for the loader thread
"""


def test_the_window_opens_a_project_without_pyqtgraph_and_builds_the_plots_when_shown(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "GRAFT_RECOVERY_DIR": str(tmp_path / "recovery")}
    done = subprocess.run([sys.executable, "-c", LAUNCH, str(EXAMPLE), str(tmp_path / "settings.ini")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    shown = json.loads(done.stdout.strip().splitlines()[-1])
    assert shown["nodes"] > 0
    assert shown["late"] == []  # nothing the first paint does not need
    assert shown["pyqtgraph after"] and shown["plots"] and shown["controls"]
    assert shown["dock after"] == shown["dock"]  # the dock was as tall before the plots came
