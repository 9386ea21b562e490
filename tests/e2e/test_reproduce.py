"""`graft train --reproduce RUN_FOLDER` (issue 18): a run's record trained again says whether it
matches, and names the data file that changed since."""

import json

import numpy as np
import pytest

from tests.core.test_run_record import tiny_data, tiny_project
from tests.e2e.test_cli import graft


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A project trained by `graft train`, with its data in its folder."""
    folder = tmp_path_factory.mktemp("reproduce")
    tiny_project(folder)
    done = graft("train", folder / "tiny.graft")
    assert done.returncode == 0, done.stderr
    return folder, folder / "tiny.runs" / "run-001"


def test_a_record_run_again_matches(trained):
    folder, run = trained
    done = graft("train", "--reproduce", run)
    assert done.returncode == 0, done.stderr
    assert f"the metrics match {run}" in done.stdout
    again = json.loads((folder / "tiny.runs" / "run-002" / "run.json").read_text())
    assert again["metrics"] == json.loads((run / "run.json").read_text())["metrics"]
    assert again["project"]["sha256"] == json.loads((run / "run.json").read_text())["project"]["sha256"]


def test_a_changed_data_file_is_named_and_the_run_does_not_match(trained, tmp_path):
    folder, run = trained
    before = np.load(folder / "tiny.npz")["x"].copy()
    tiny_data(folder / "tiny.npz", seed=1)
    assert not np.array_equal(np.load(folder / "tiny.npz")["x"], before)
    done = graft("train", "--reproduce", run, "--out", tmp_path / "again")
    assert done.returncode == 1
    assert "the data changed since" in done.stderr and "tiny.npz differs" in done.stderr
    assert f"the run does not match {run}" in done.stderr and "data: tiny.npz differs" in done.stderr
    assert "phase 'tune': val_loss" in done.stderr  # other data, other numbers
    assert (tmp_path / "again" / "run.json").is_file()


def test_reproduce_refuses_what_would_change_the_run_and_a_folder_without_a_record(trained, tmp_path):
    _, run = trained
    done = graft("train", "--reproduce", run, "--epochs", "3")
    assert done.returncode == 2 and "leave out --epochs" in done.stderr
    done = graft("train", "--reproduce", tmp_path)
    assert done.returncode == 2 and "is not a run folder" in done.stderr
