"""Reliability experiment 6, the tests: faults during training (made by the helpers of
benchmarks/reliability_training.py, which reports them). Each ends the run with a message,
keeps the last good weights in the run folder (`last.weights.h5` loads, holds no NaN, and is
what the model was before the fault) and leaves no thread behind.

Covered elsewhere, not repeated here: NaN or Inf in the data is refused before anything trains
(tests/core/test_training_data.py, "nan in inputs"); a huge learning rate diverging in the first
epoch keeps the starting weights (tests/core/test_training.py,
test_a_huge_learning_rate_stops_with_the_nan_message_and_keeps_the_last_good_weights); a stop
honoured within a second, and after an epoch's last step (same file); closing the window with a
synthetic runner (tests/gui/test_training.py,
test_closing_the_window_during_a_run_stops_it_and_waits_for_the_thread)."""

from __future__ import annotations

import json
import threading

import pytest

from app.core.training import events
from app.gui.data_checks import DATA_THREAD
from benchmarks.reliability_training import (
    close_window_during_run,
    diverging,
    exception_in_a_layer,
    poison_at,
    sigint_twice,
    stop_during_validation,
    thread_alive,
)


@pytest.mark.parametrize("step, validation_split, said", [
    (2, 0.2, "the loss became NaN in phase 'train', epoch 3, step 4"),
    (None, 0.2, "the validation loss became NaN or infinite in phase 'train', epoch 3"),
    (None, 0.0, "the weights became NaN or infinite in phase 'train', epoch 3, at its last step"),
], ids=["mid-epoch", "last step", "last step without validation data"])
def test_weights_that_became_nan_are_never_kept_as_good(tmp_path, step, validation_split, said):
    """Bug: without validation data, an update that made the weights NaN at an epoch's last
    step went unnoticed (the epoch's mean loss was finite), so those weights became the
    "last good" and the best ones, and both files held NaN after the divergence that followed."""
    outcome = diverging(tmp_path, "NaN weights", poison_at(step), validation_split=validation_split)
    assert outcome.ended.status == events.DIVERGED, outcome.ended.message + outcome.ended.details
    assert said in outcome.ended.message and "last good weights" in outcome.ended.message
    assert outcome.weights_ok, outcome.kept  # last.weights.h5 is the weights epoch 3 began with
    assert outcome.details["state"]["status"] == events.DIVERGED
    history = json.loads((tmp_path / "wine.runs" / "run-001" / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2]
    assert outcome.threads_left == 0


def test_an_exception_inside_a_training_step_keeps_the_finished_epochs_and_can_resume(tmp_path):
    """Bug: the run ended "failed" with its folder empty (no weights, no history, no state), so
    the epochs already trained were lost and there was nothing to resume. Its message also
    listed TensorFlow's Python frames, dozens of lines in the banner."""
    outcome = exception_in_a_layer(tmp_path)
    ended = outcome.ended
    assert ended.status == events.FAILED
    assert ended.message.startswith("training failed: UnknownError: Graph execution error: RuntimeError: "
                                    "a layer failed on this batch (at node EagerPyFunc)")
    assert ended.message.endswith("; the weights of the last finished epoch were kept in wine.runs/run-001/"
                                  "last.weights.h5; resume the run to go on from epoch 3 of phase 'train'")
    assert "\n" not in ended.message and "File " not in ended.message
    assert "layer_computation" in ended.details  # where it failed: in the details
    assert [e.epoch for e in outcome.events if isinstance(e, events.EpochEnded)] == [0, 1]
    assert outcome.weights_ok, outcome.kept  # those of epoch 2's end
    state = outcome.details["state"]
    assert (state["status"], state["phase"], state["epoch"]) == (events.STOPPED, 0, 2)
    assert outcome.details["resumed"] == [2, 3]  # the resume trained the rest and finished
    assert outcome.threads_left == 0


def test_a_stop_during_validation_keeps_the_trained_weights_and_resumes_that_epoch(tmp_path):
    """The stop lands on the second validation batch of the second epoch: the weights its
    training part reached are kept, the epoch is not counted, and a resume trains it again."""
    outcome = stop_during_validation(tmp_path)
    assert outcome.ended.status == events.STOPPED and "resume" in outcome.ended.message
    assert [e.epoch for e in outcome.events if isinstance(e, events.EpochEnded)] == [0]
    assert outcome.weights_ok, outcome.kept
    state = outcome.details["state"]
    assert (state["status"], state["phase"], state["epoch"]) == (events.STOPPED, 0, 1)
    assert outcome.details["resumed"] == [1, 2]
    assert outcome.threads_left == 0


def test_closing_the_editor_during_a_real_run_asks_stops_it_keeps_its_weights_and_ends_its_thread(
        qtbot, tmp_path):
    python_threads = set(threading.enumerate())
    outcome = close_window_during_run(tmp_path, qt_pool=False)
    assert outcome.details["asked"] == 2 and outcome.details["cancelled"]  # Cancel: window and run stay
    assert outcome.ended.status == events.STOPPED
    assert outcome.details["stored"] == "wine.runs/run-001/last.weights.h5"  # in the project
    assert outcome.details["state"]["status"] == events.STOPPED
    assert outcome.weights_ok, outcome.kept
    assert outcome.threads_left == 0
    # Python 3.11 lists an ended foreign thread (the QThread) for ever: ask the OS. The data
    # checks' shared thread, started with the window, lives as long as the process (as the loader's).
    assert [t for t in threading.enumerate() if t not in python_threads and thread_alive(t.native_id)
            and t.name != DATA_THREAD] == []


def test_sigint_twice_stops_graft_train_with_its_weights_kept_and_resumable(tmp_path):
    """Ctrl+C pressed twice in a row at `graft train`: the run stops (exit 130), not killed
    half-way: the run folder keeps finite weights and a state that a resume goes on from."""
    outcome = sigint_twice(tmp_path)
    assert outcome.details["returncode"] == 130, outcome.details["stderr"]
    assert outcome.ended.message.startswith("training stopped")
    assert "Traceback" not in outcome.details["stderr"]
    state = outcome.details["state"]
    assert state["status"] == events.STOPPED and state["epoch"] >= 2
    assert outcome.ok, outcome.kept  # finite weights, in the project, and a resume went on from there
