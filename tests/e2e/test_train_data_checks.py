"""`graft train` checks the data before the first epoch (issue 17): an error is printed with
the Output, the field and the fix, and stops it with exit 1 and no traceback; a warning is
printed and training goes on."""

import numpy as np

from app.core.document.fileformat import save
from app.core.document.project import Project
from app.core.document.training_setup import config_from_dict
from app.core.editing.builder import GraphBuilder
from tests.e2e.test_cli import graft

N = 40


def digits_project(folder, labels):
    """Input 'pixels' (4 features) → Dense(10) → Output 'digit' (10 classes), on data.npz."""
    np.savez(folder / "data.npz", x=np.random.default_rng(0).random((N, 4)), y=labels)
    b = GraphBuilder()
    b.add("pixels", "Input", 0, 0, shape=[4])
    b.add("dense", "Dense", 1, 0, units=10)
    b.add("digit", "Output", 2, 0, loss="sparse_categorical_crossentropy")
    b.chain("pixels", "dense", "digit")
    training = config_from_dict({"settings": {"epochs": 1, "batch_size": 8},
                                 "data": {"source": "npz", "path": str(folder / "data.npz"),
                                          "mapping": {"pixels": "x", "digit": "y"}}})
    save(Project(b.graph, "digits", training=training), folder / "digits.graft")
    return folder / "digits.graft"


def test_a_data_error_stops_train_before_the_first_epoch_with_exit_1(tmp_path):
    done = graft("train", digits_project(tmp_path, np.arange(N) % 10 + 3))
    assert done.returncode == 1, done.stdout + done.stderr
    assert ("graft: data error: Output 'digit' has 10 classes (it receives (None, 10)), but array 'y' in "
            "data.npz holds labels up to 12; labels must be 0 to 9") in done.stderr
    assert "the data does not fit the graph (1 error above); nothing was trained" in done.stderr
    assert "Traceback" not in done.stderr
    assert "epoch" not in done.stdout and "run folder" not in done.stdout
    assert not (tmp_path / "digits.runs").exists()


def test_a_data_warning_is_printed_and_training_goes_on(tmp_path):
    done = graft("train", digits_project(tmp_path, np.arange(N) % 2))
    assert done.returncode == 0, done.stdout + done.stderr
    assert ("graft: data warning: Output 'digit' has 10 classes, but its labels, array 'y' in data.npz, "
            "hold only 2 of them (0, 1)") in done.stderr
    assert "epoch 1/1" in done.stdout
