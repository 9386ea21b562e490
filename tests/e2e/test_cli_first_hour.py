"""The command line as a new user meets it in the first hour (issue 17, finding 11): --version,
--help, the short loss and metric names Keras accepts, a relative -o, a quiet terminal, and a
SavedModel's outputs named as its signature names them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import EXAMPLES, ROOT, small_project

# What TensorFlow's C++ writes while it loads, whatever TF_CPP_MIN_LOG_LEVEL says
NOISE = ("All log messages before absl::InitializeLog()", "oneDNN custom operations are on",
         "cudart_stub.cc", "cpu_feature_guard.cc")


def graft(*args, cwd=ROOT, env=None, code=None):
    """`graft ARGS` in a fresh Python, as a user's shell runs it (or `code`, a script around main)."""
    command = [sys.executable, "-c", code, *map(str, args)] if code else \
        [sys.executable, "-m", "app", *map(str, args)]
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd,
                          env={k: v for k, v in environment.items() if v is not None}, timeout=600)


def test_version_prints_graft_and_what_it_runs_on_without_importing_tensorflow():
    from importlib.metadata import version

    done = graft("--version")
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert first == f"graft {version('graft-studio')}"
    assert f"TensorFlow {version('tensorflow')}" in second and f"Keras {version('keras')}" in second
    assert f"Python {sys.version.split()[0]}" in second
    asked = graft("--version", code="import sys\nfrom app.cli import main\ntry:\n    main(sys.argv[1:])\n"
                  "except SystemExit:\n    print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    assert asked.stdout.splitlines()[-1] == "False False", asked.stdout + asked.stderr


def test_help_says_that_graft_with_a_project_opens_the_editor():
    done = graft("--help")
    assert done.returncode == 0
    usage = done.stdout.split("\n\n")[0]
    assert "graft [PROJECT.graft ...]" in usage and "graft COMMAND PROJECT.graft" in usage
    assert "graft --help | --version" in usage
    assert "graft PROJECT.graft   open that project in the editor" in done.stdout
    assert "graft                 open the editor" in done.stdout


def npz_project(folder, loss: str, metrics: list[str]):
    """small_project with data, its Output's loss and metrics spelled as given."""
    document = json.loads(small_project(folder / "small.graft").read_text())
    score = next(node for node in document["nodes"] if node["name"] == "score")
    score["params"] |= {"loss": loss, "metrics": metrics}
    rng = np.random.default_rng(0)
    np.savez(folder / "data.npz", x=rng.random((32, 4), dtype=np.float32),
             y=rng.random((32, 3), dtype=np.float32))
    document["training"] = {"data": {"source": "npz", "path": "data.npz",
                                     "mapping": {"features": "x", "score": "y"}},
                            "settings": {"epochs": 1, "batch_size": 16}}
    path = folder / "small.graft"
    path.write_text(json.dumps(document))
    return path


def test_keras_short_names_for_losses_and_metrics_validate_and_train(tmp_path):
    path = npz_project(tmp_path, "mse", ["mae", "mape"])
    done = graft("validate", path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no problems" in done.stdout
    done = graft("train", path, "--epochs", "1", "--out", tmp_path / "run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "training finished" in done.stdout
    # Graft keeps one name for each: the file now says what the short names stand for
    score = next(n for n in json.loads(path.read_text())["nodes"] if n["name"] == "score")
    assert score["params"]["loss"] == "mean_squared_error"
    assert score["params"]["metrics"] == ["mean_absolute_error", "mean_absolute_percentage_error"]


def test_an_unknown_loss_is_still_refused_naming_the_place(tmp_path):
    done = graft("validate", npz_project(tmp_path, "msee", []))
    assert done.returncode == 2
    assert "nodes[2].params.loss: expected one of" in done.stderr and 'got "msee"' in done.stderr


def test_python_export_to_a_relative_path_writes_beside_the_current_folder(tmp_path):
    small_project(tmp_path / "small.graft")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = graft("export", "../small.graft", "--format", "python", "-o", "out.py", cwd=elsewhere)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (elsewhere / "out.py").is_file() and (elsewhere / "out.weights.h5").is_file()
    assert "predictions match" in done.stdout


# TensorFlow's lines, forced on: the oneDNN notice on any x86 CPU, and the user's own setting of
# TF_CPP_MIN_LOG_LEVEL (none, or 2, which absl's lines ignore)
@pytest.mark.parametrize("level", [None, "2"])
def test_a_command_that_loads_tensorflow_leaves_its_start_up_lines_off_the_terminal(level):
    done = graft("summary", EXAMPLES / "cascade.graft",
                 env={"TF_CPP_MIN_LOG_LEVEL": level, "TF_ENABLE_ONEDNN_OPTS": "1"})
    assert done.returncode == 0, done.stderr
    assert not [line for line in done.stderr.splitlines() if any(n in line for n in NOISE)], done.stderr


def test_the_editor_leaves_tensorflows_start_up_lines_off_the_terminal():
    """`graft PROJECT` opens the editor, which imports TensorFlow in the background; here the
    editor is replaced by that import, so the test needs no display."""
    code = ("import sys, threading\nimport app.gui.app as editor\n"
            "def run(paths):\n    loading = threading.Thread(target=lambda: __import__('keras'))\n"
            "    loading.start(); loading.join(); return 0\n"
            "editor.run = run\nfrom app.cli import main\nsys.exit(main(sys.argv[1:]))")
    done = graft(EXAMPLES / "cascade.graft", code=code,
                 env={"TF_CPP_MIN_LOG_LEVEL": None, "TF_ENABLE_ONEDNN_OPTS": "1",
                      "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, done.stderr
    assert not [line for line in done.stderr.splitlines() if any(n in line for n in NOISE)], done.stderr


def test_a_user_who_asks_for_tensorflows_info_lines_gets_them():
    done = graft("summary", EXAMPLES / "cascade.graft",
                 env={"TF_CPP_MIN_LOG_LEVEL": "0", "TF_ENABLE_ONEDNN_OPTS": "1"})
    assert done.returncode == 0, done.stderr
    assert "oneDNN custom operations are on" in done.stderr


def test_a_savedmodels_outputs_are_ports_named_as_its_signature_names_them(tmp_path):
    import keras

    pixels = keras.Input((4,), name="pixels")
    hidden = keras.layers.Dense(8)(pixels)
    outputs = {"scores": keras.layers.Dense(3)(hidden), "embedding": keras.layers.Dense(5)(hidden)}
    keras.Model(pixels, outputs).export(tmp_path / "named", verbose=False)
    document = {"format": "graft-project", "format_version": 3, "name": "two heads", "nodes": [
        {"id": "n1", "type": "Input", "name": "x", "params": {"shape": [4]}},
        {"id": "n2", "type": "ModelFile", "name": "named", "params": {"path": "named"}},
        {"id": "n3", "type": "Output", "name": "y", "params": {}},
        {"id": "n4", "type": "Output", "name": "z", "params": {}}], "edges": [
        {"id": "e1", "from": {"node": "n1", "port": "out"}, "to": {"node": "n2", "port": "in"}},
        {"id": "e2", "from": {"node": "n2", "port": "scores"}, "to": {"node": "n3", "port": "in"}},
        {"id": "e3", "from": {"node": "n2", "port": "embedding"}, "to": {"node": "n4", "port": "in"}}]}
    (tmp_path / "named.graft").write_text(json.dumps(document))
    done = graft("summary", tmp_path / "named.graft")
    assert done.returncode == 0, done.stdout + done.stderr
    row = next(line for line in done.stdout.splitlines() if line.startswith("named "))
    assert "embedding=(None, 5)  scores=(None, 3)" in row
    assert any(line.startswith("y ") and "(None, 3)" in line for line in done.stdout.splitlines())
    assert any(line.startswith("z ") and "(None, 5)" in line for line in done.stdout.splitlines())


def test_a_project_saved_before_outputs_were_named_keeps_its_numbered_ports(tmp_path):
    """Its card numbers the outputs and stays valid while the folder is unchanged: it compiles."""
    import keras

    from app.core.analysis.validate import analyze
    from app.core.document.fileformat import save
    from app.core.document.project import Project
    from app.core.editing.builder import GraphBuilder
    from app.core.nodes import Context

    pixels = keras.Input((4,), name="pixels")
    keras.Model(pixels, [keras.layers.Dense(3)(pixels), keras.layers.Dense(5)(pixels)]).export(
        tmp_path / "two", verbose=False)
    b = GraphBuilder()
    b.add("x", "Input", shape=[4])
    b.add("two", "ModelFile", path="two")
    b.add("y", "Output")
    b.add("z", "Output")
    b.chain("x", "two")
    b.wire("two", "y", source_port="output_0")
    b.wire("two", "z", source_port="output_1")
    assert analyze(b.graph, Context(tmp_path)).ok  # reads the card, which saving keeps
    save(Project(b.graph, "old", folder=tmp_path), tmp_path / "old.graft")
    document = json.loads((tmp_path / "old.graft").read_text())
    assert document["cards"][0]["card"]["output_names"] == ["output_0", "output_1"]
    del document["cards"][0]["card"]["output_names"]  # as Graft wrote cards before
    for edge in document["edges"]:
        port = edge["from"]["port"]
        edge["from"]["port"] = port.replace("output_", "out") if port.startswith("output_") else port
    (tmp_path / "old.graft").write_text(json.dumps(document))
    done = graft("summary", tmp_path / "old.graft")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "out0=(None, 3)  out1=(None, 5)" in done.stdout
