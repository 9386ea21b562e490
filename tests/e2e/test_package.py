"""Issue 17, finding 13: there was no bundle. `make package`'s spec builds one folder whose one
executable, `graft`, is the command line and the editor; here it is built from scratch once per
session (about two minutes; `pytest -m package` runs just these) and its commands run headless on
the example it ships, outside the checkout."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import app
from tests.conftest import ROOT

pytest.importorskip("PyInstaller", reason="make package needs PyInstaller (pip install -e '.[dev]')")
pytestmark = pytest.mark.package


@pytest.fixture(scope="session")
def bundle(tmp_path_factory):
    """dist/graft/, built once per session into a temporary folder, as `make package` builds it;
    removed afterwards (it is 1.8 GB)."""
    out = tmp_path_factory.mktemp("package")
    done = subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
                           "--distpath", str(out / "dist"), "--workpath", str(out / "build"),
                           str(ROOT / "packaging" / "graft.spec")],
                          capture_output=True, text=True, cwd=ROOT, timeout=1800)
    assert done.returncode == 0, done.stderr[-5000:]
    yield out / "dist" / "graft"
    shutil.rmtree(out, ignore_errors=True)


def bundled(bundle: Path, *args, cwd: Path, **env) -> subprocess.CompletedProcess:
    """The bundle's graft as a user runs it: headless, outside the checkout, without Graft's Python."""
    environ = {key: value for key, value in os.environ.items()
               if key not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(bundle / "graft"), *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env={**environ, **env}, timeout=600)


def test_the_bundle_validates_the_example_it_ships(bundle, tmp_path):
    example = bundle / "_internal" / "resources" / "examples" / "transfer.graft"
    done = bundled(bundle, "validate", example, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "no problems"


def test_the_bundle_exports_with_tensorflow_and_keras_inside(bundle, tmp_path):
    """A SavedModel, whose signatures AutoGraph converts (it warned at length without TensorFlow's
    source in the bundle); then a Python script, whose check runs it in a fresh Python, which in
    the bundle is the bundle's own executable (`graft -P script`)."""
    example = bundle / "_internal" / "resources" / "examples" / "transfer.graft"
    for form, target in (("savedmodel", "model"), ("python", "model.py")):
        done = bundled(bundle, "export", example, "--format", form, "-o", target, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "predictions match" in done.stdout and done.stderr == "", done.stderr
        assert (tmp_path / target).exists()


def test_the_bundle_runs_a_sweep_with_its_study_database(bundle, tmp_path):
    """Optuna's storage reads its migrations as files, which the bundle must carry."""
    from tests.core.test_sweep import digits_sweep_project

    project = digits_sweep_project(tmp_path, epochs=1)
    done = bundled(bundle, "sweep", project, "--trials", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "the study 'digits' has 2 of 2 trials" in done.stdout
    assert (tmp_path / "digits.sweep.db").is_file()


def test_the_bundle_says_its_version_and_those_it_runs_on(bundle, tmp_path):
    """Read from the packages' metadata, which the bundle must carry ("TensorFlow not installed")."""
    done = bundled(bundle, "--version", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"graft {app.__version__}"
    for name, package in (("TensorFlow", "tensorflow"), ("Keras", "keras")):
        assert f"{name} {metadata.version(package)}" in done.stdout


def test_the_bundle_installs_its_launcher_pointing_at_itself(bundle, tmp_path):
    done = bundled(bundle, "--install-desktop", cwd=tmp_path, XDG_DATA_HOME=str(tmp_path / "share"))
    assert done.returncode == 0, done.stderr
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(tmp_path / "share" / "applications" / "graft.desktop")
    assert entry["Desktop Entry"]["Exec"] == f"{bundle / 'graft'} %F"
    assert (tmp_path / "share" / "mime" / "packages" / "graft-project.xml").is_file()


# Run by the bundle's own Python (`graft -P`, as the Python export's check runs it): the editor's
# window on the example, once the project is open; then the window drawn, and what it showed.
OPEN_THE_EDITOR = """\
import os, sys
from PySide6.QtGui import QIcon
from app.gui.app import ICON, application, open_window

window = open_window([sys.argv[1]])
for _ in range(10_000):
    if window.document.graph.nodes:
        break
    application().processEvents()
window.grab().save(sys.argv[2])
print(window.windowTitle(), len(window.document.graph.nodes), not QIcon(str(ICON)).pixmap(32, 32).isNull())
sys.stdout.flush()
os._exit(0)  # TensorFlow is still loading in the background: nothing to wait for
"""


def test_the_bundled_editor_opens_the_example_it_ships(bundle, tmp_path):
    """PySide6, its offscreen and SVG plugins, pyqtgraph and Graft's icons, all from the bundle."""
    (tmp_path / "open_the_editor.py").write_text(OPEN_THE_EDITOR)
    example = bundle / "_internal" / "resources" / "examples" / "transfer.graft"
    done = bundled(bundle, "-P", "open_the_editor.py", example, "window.png", cwd=tmp_path,
                   QT_QPA_PLATFORM="offscreen", GRAFT_RECOVERY_DIR=str(tmp_path / "recovery"),
                   XDG_CONFIG_HOME=str(tmp_path / "config"))
    assert done.returncode == 0, done.stderr
    title, nodes, icon = done.stdout.splitlines()[-1].rsplit(" ", 2)
    assert title.startswith("Transfer learning (transfer.graft)") and (nodes, icon) == ("5", "True")
    assert (tmp_path / "window.png").stat().st_size > 10_000


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="DISPLAY matters on Linux only")
def test_the_bundled_editor_without_a_display_says_so(bundle, tmp_path):
    """The editor's start-up check runs in the bundle too, before Qt could abort."""
    done = bundled(bundle, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("graft: no display to open the editor on"), done.stderr
