"""`graft train` and the project it trains: it never writes an absolute path into it, and a
project whose run went outside its folder is left exactly as it was."""

import json
import shutil
from pathlib import Path

from app.cli import main
from tests.conftest import EXAMPLES


def shipped_copy(tmp_path) -> Path:
    """The shipped examples and models, copied with their layout (examples name ../models/…)."""
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    shutil.copytree(EXAMPLES.parent / "models", tmp_path / "models")
    return tmp_path / "examples" / "transfer.graft"


def strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def test_a_shipped_example_is_unchanged_after_training_with_out_elsewhere(tmp_path, capsys):
    example = shipped_copy(tmp_path)
    before = example.read_bytes()
    elsewhere = tmp_path / "scratch" / "run"
    code = main(["train", str(example), "--epochs", "1", "--phase", "head", "--out", str(elsewhere)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert example.read_bytes() == before
    assert (elsewhere / "best.weights.h5").is_file()
    weights = (elsewhere / "best.weights.h5").resolve()
    assert f"is unchanged: the weights {weights} are outside its folder" in out


def test_train_writes_weights_relative_to_the_project_file_and_never_an_absolute_path(tmp_path, capsys):
    example = shipped_copy(tmp_path)
    assert main(["train", str(example), "--epochs", "1", "--phase", "head",
                 "--out", str(example.parent / "mine")]) == 0
    saved = json.loads(example.read_text())
    assert saved["training"]["weights"] == "mine/best.weights.h5"
    assert main(["train", str(example), "--epochs", "1", "--phase", "head"]) == 0
    saved = json.loads(example.read_text())
    assert saved["training"]["weights"] == "transfer.runs/run-001/best.weights.h5"
    assert not [s for s in strings(saved) if Path(s).is_absolute()]
    assert "now uses the weights transfer.runs/run-001/best.weights.h5" in capsys.readouterr().out


def test_a_project_that_cannot_be_saved_after_training_is_reported_without_a_traceback(tmp_path, capsys):
    """The run wrote its weights, then `graft train` died with an uncaught OSError saving the project."""
    example = shipped_copy(tmp_path)
    before = example.read_bytes()
    example.chmod(0o444)
    code = main(["train", str(example), "--epochs", "1", "--phase", "head"])
    captured = capsys.readouterr()
    assert code == 1
    assert "cannot save" in captured.err and "the file is read-only" in captured.err
    assert "transfer.runs/run-001/best.weights.h5" in captured.err  # where the weights are
    assert "Traceback" not in captured.out + captured.err
    assert example.read_bytes() == before


def test_a_run_folder_that_cannot_be_made_is_reported_without_a_traceback(tmp_path, capsys):
    example = shipped_copy(tmp_path)
    (tmp_path / "a_file").write_text("not a folder")
    code = main(["train", str(example), "--epochs", "1", "--out", str(tmp_path / "a_file" / "run")])
    captured = capsys.readouterr()
    assert code == 1
    assert f"cannot write {tmp_path / 'a_file' / 'run'}" in captured.err
    assert "Traceback" not in captured.out + captured.err
