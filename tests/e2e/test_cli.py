"""The `graft` command as a user runs it: exit codes and what it prints."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, ROOT, small_project

GOOD = ["cascade", "parallel", "shared_base", "transfer"]


def graft(*args, cwd=ROOT):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "app", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=600)


@pytest.mark.parametrize("name", GOOD)
def test_validate_passes_on_each_good_example(name):
    done = graft("validate", EXAMPLES / f"{name}.graft")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 error(s)" in done.stdout or "no problems" in done.stdout


def test_validate_fails_on_the_broken_example_naming_edge_shapes_and_fix():
    done = graft("validate", EXAMPLES / "broken.graft")
    assert done.returncode == 1
    out = done.stdout
    assert ("error: edge pixels.out → mlp.in: model 'mlp' expects (None, 64) but receives "
            "(None, 8, 8, 1)\n    fix: Insert Flatten") in out
    assert "edge pixels.out → fused.in1" in out and "fix: Insert GlobalAveragePooling2D" in out
    assert "edge tokens.out → embed.in" in out and "fix: Insert Cast(int32)" in out
    assert "warning: 'orphan' reaches no Output" in out
    assert "warning: Input 'extra' is not connected" in out
    assert "3 error(s), 2 warning(s)" in out


def test_summary_prints_shapes_parameters_and_the_keras_summary():
    done = graft("summary", EXAMPLES / "shared_base.graft")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    trunk = next(line for line in lines if line.startswith("trunk "))
    assert "(None, 32)" in trunk and "5,856" in trunk and "1,056" in trunk
    assert any(line.startswith("is_even") and "(None, 1)" in line for line in lines)
    assert 'Model: "graft_model"' in done.stdout and "Total params: 6,219" in done.stdout


def test_summary_of_a_broken_project_lists_problems_and_exits_1():
    done = graft("summary", EXAMPLES / "broken.graft")
    assert done.returncode == 1
    assert "cannot be compiled until the errors above are fixed" in done.stdout


def test_a_malformed_project_gives_one_clear_line_and_exit_2(tmp_path):
    document = json.loads((EXAMPLES / "cascade.graft").read_text())
    document["nodes"][0]["params"]["shape"] = [8, "eight", 1]
    bad = tmp_path / "bad.graft"
    bad.write_text(json.dumps(document))
    done = graft("validate", bad)
    assert done.returncode == 2
    assert done.stderr.strip().endswith(
        'bad.graft: nodes[0].params.shape: expected a shape: a list of positive integers <= 16777216 or '
        'null (unknown), got [8, "eight", 1]')
    assert "Traceback" not in done.stderr


def test_a_missing_file_is_reported_not_crashed_on(tmp_path):
    done = graft("validate", tmp_path / "nope.graft")
    assert done.returncode == 2 and "file not found" in done.stderr


def test_train_runs_headless_and_writes_history_and_weights(tmp_path):
    from app.core.document.fileformat import load, save

    project = load(EXAMPLES / "transfer.graft")
    save(project, tmp_path / "transfer.graft")
    out = tmp_path / "out"
    done = graft("train", tmp_path / "transfer.graft", "--epochs", "2", "--phase", "head", "--out", out)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "phase 1 'head': 2 epoch(s) of 23 steps" in done.stdout
    assert "epoch 2/2" in done.stdout and "val_accuracy" in done.stdout
    assert "validation label accuracy:" in done.stdout and "training finished" in done.stdout
    rows = (out / "history.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[0].startswith("phase,epoch,")
    assert len(json.loads((out / "history.json").read_text())) == 2
    assert (out / "best.weights.h5").is_file() and (out / "last.weights.h5").is_file()
    saved = json.loads((tmp_path / "transfer.graft").read_text())
    assert saved["training"]["weights"] == "out/best.weights.h5"

    # The trained project exports as files that predict what the trained model predicts.
    import keras
    import numpy as np

    from app.core.training.runner import load_trained_model

    trained = load_trained_model(load(tmp_path / "transfer.graft")).model
    images = np.random.default_rng(1).random((5, 8, 8, 1), dtype=np.float32)
    done = graft("export", tmp_path / "transfer.graft", "--format", "keras", "-o", tmp_path / "digits.keras")
    assert done.returncode == 0 and "predictions match" in done.stdout, done.stdout + done.stderr
    exported = keras.saving.load_model(tmp_path / "digits.keras")
    np.testing.assert_allclose(exported(images), trained(images), atol=1e-5)
    done = graft("export", tmp_path / "transfer.graft", "--format", "savedmodel", "-o", tmp_path / "served")
    assert done.returncode == 0 and (tmp_path / "served" / "saved_model.pb").is_file(), done.stderr


def test_export_writes_every_format_the_editor_offers_to_a_relative_path(tmp_path, monkeypatch, capsys):
    from app.cli import build_parser, main
    from app.core.export.formats import FORMATS

    small_project(tmp_path / "small.graft")
    monkeypatch.chdir(tmp_path)  # every path below is relative, as a user in a shell types it
    for key, format in FORMATS.items():
        target = Path("out") / f"small_{key}{format.suffix}"
        target.parent.mkdir(exist_ok=True)
        code = main(["export", "small.graft", "--format", key, "-o", str(target)])
        out, err = capsys.readouterr()
        assert code == 0, f"{key}: {out}{err}"
        assert (tmp_path / target).is_dir() if format.folder else (tmp_path / target).is_file(), key
    assert (tmp_path / "out" / "small_savedmodel" / "saved_model.pb").is_file()
    assert (tmp_path / "out" / "small_python.weights.h5").is_file()
    assert not list(tmp_path.rglob(".graft-export-*"))  # no staging left behind
    with pytest.raises(SystemExit):
        build_parser().parse_args(["export", "p.graft", "--format", "pickle", "-o", "out"])


def test_export_refuses_a_graph_with_errors_and_names_them(tmp_path):
    done = graft("export", EXAMPLES / "broken.graft", "--format", "keras", "-o", tmp_path / "b.keras")
    assert done.returncode == 1 and "cannot export: the graph has 3 error(s)" in done.stderr
    assert not (tmp_path / "b.keras").exists() and "Traceback" not in done.stderr


def test_train_refuses_an_unknown_phase_and_a_bad_epoch_count(tmp_path):
    done = graft("train", EXAMPLES / "transfer.graft", "--phase", "warmup")
    assert done.returncode == 2
    assert "no phase named 'warmup' (phases: 'head', 'fine_tune')" in done.stderr
    done = graft("train", EXAMPLES / "transfer.graft", "--epochs", "0")
    assert done.returncode == 2 and "expected a whole number >= 1, got '0'" in done.stderr
