"""TensorBoard logs of a run: read back from the event files the run wrote."""

import math

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.util.tensor_util import make_ndarray

from app.core.document.fileformat import save
from app.core.document.training_setup import config_from_dict
from app.core.training import events
from app.core.training.runner import train
from tests.core.test_training import wine_regression

STEPS = 9  # 142 wine rows in batches of 16


def read(folder) -> EventAccumulator:
    """Every event of one TensorBoard run folder (by default TensorBoard samples 10 per tag)."""
    accumulator = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    accumulator.Reload()
    return accumulator


def scalars(accumulator, tag) -> list[tuple[int, float]]:
    return [(event.step, float(make_ndarray(event.tensor_proto))) for event in accumulator.Tensors(tag)]


def two_phases(folder, **settings):
    """The wine regression in two phases; the second tunes `hidden` at a tenth of its rate,
    so its optimizer holds one inner optimizer per multiplier."""
    project = wine_regression(folder, tensorboard=True, **settings)
    document = project.training.to_dict()
    document["phases"] = [{"name": "warm", "epochs": 2},
                          {"name": "tune", "epochs": 1, "learning_rate": 0.001,
                           "lr_multipliers": {"hidden": 0.1}}]
    project.training = config_from_dict(document)
    save(project, folder / "wine.graft")
    return project


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tensorboard")
    # one step per call, so that every step logs its own point
    ended = train(two_phases(folder, schedule="cosine", learning_rate=0.01, steps_per_execution=1))
    assert ended.status == events.FINISHED, ended.message + ended.details
    return folder / "wine.runs" / "run-001" / "tensorboard"


def test_each_phase_writes_its_epoch_scalars_for_training_and_validation(run_folder):
    for phase, epochs in (("warm", 2), ("tune", 1)):
        train_log, validation_log = (read(run_folder / phase / part) for part in ("train", "validation"))
        assert [step for step, _ in scalars(train_log, "epoch_loss")] == list(range(epochs))
        assert [step for step, _ in scalars(validation_log, "epoch_loss")] == list(range(epochs))
        assert all(math.isfinite(value) for _, value in scalars(validation_log, "epoch_loss"))


def test_every_training_batch_writes_its_loss(run_folder):
    warm, tune = read(run_folder / "warm" / "train"), read(run_folder / "tune" / "train")
    assert [step for step, _ in scalars(warm, "batch_loss")] == list(range(1, 2 * STEPS + 1))
    assert [step for step, _ in scalars(tune, "batch_loss")] == list(range(1, STEPS + 1))


def test_the_learning_rate_is_the_one_each_step_used_along_the_cosine_schedule(run_folder):
    warm = read(run_folder / "warm" / "train")
    rates = scalars(warm, "batch_learning_rate")
    assert [step for step, _ in rates] == list(range(1, 2 * STEPS + 1))
    total = 2 * STEPS
    for step, rate in rates:  # batch k runs at step k - 1 of the schedule
        assert rate == pytest.approx(0.01 * (1 + math.cos(math.pi * (step - 1) / total)) / 2, rel=1e-4)
    epoch_rates = scalars(warm, "epoch_learning_rate")  # where the schedule stands at the epoch's end
    assert [step for step, _ in epoch_rates] == [0, 1]
    assert [rate for _, rate in epoch_rates] == [pytest.approx(0.005, rel=1e-4), pytest.approx(0, abs=1e-9)]


def test_a_phase_with_rate_multipliers_logs_its_base_rate(run_folder):
    """Its optimizer runs one inner optimizer per multiplier; the base rate is what is logged."""
    tune = read(run_folder / "tune" / "train")
    assert scalars(tune, "batch_learning_rate")[0] == (1, pytest.approx(0.001, rel=1e-4))
    assert [step for step, _ in scalars(tune, "epoch_learning_rate")] == [0]


def test_the_model_graph_is_written(run_folder):
    warm = read(run_folder / "warm" / "train")
    assert warm.Tags()["graph"]
    names = {node.name for node in warm.Graph().node}
    assert any("hidden" in name for name in names) and any("predict" in name for name in names)
    assert "keras" in warm.Tags()["tensors"]  # Keras's layer summary: the conceptual graph


def test_with_several_steps_per_execution_batches_are_numbered_by_step(tmp_path):
    """One point per execution of 4 steps: its losses at its last step, the rate at its first."""
    project = wine_regression(tmp_path, tensorboard=True, steps_per_execution=4, epochs=2)
    ended = train(project)
    assert ended.status == events.FINISHED, ended.message + ended.details
    log = read(tmp_path / "wine.runs" / "run-001" / "tensorboard" / "train" / "train")
    assert [step for step, _ in scalars(log, "batch_loss")] == [4, 8, 9, 13, 17, 18]
    assert [step for step, _ in scalars(log, "batch_learning_rate")] == [1, 5, 9, 10, 14, 18]


def test_a_mirrored_run_writes_the_same_logs(tmp_path):
    """The distributed loop trains without fit; it writes the same scalars and graph itself."""
    project = wine_regression(tmp_path, tensorboard=True, epochs=2, schedule="cosine", learning_rate=0.01)
    ended = train(project, strategy="mirrored")
    assert ended.status == events.FINISHED, ended.message + ended.details
    logs = tmp_path / "wine.runs" / "run-001" / "tensorboard" / "train"
    train_log, validation_log = read(logs / "train"), read(logs / "validation")
    assert [step for step, _ in scalars(train_log, "batch_loss")] == list(range(1, 2 * STEPS + 1))
    assert scalars(train_log, "batch_learning_rate")[STEPS] == (STEPS + 1, pytest.approx(0.005, rel=1e-4))
    assert [step for step, _ in scalars(train_log, "epoch_loss")] == [0, 1]
    assert [step for step, _ in scalars(train_log, "epoch_learning_rate")] == [0, 1]
    assert [step for step, _ in scalars(validation_log, "epoch_loss")] == [0, 1]
    assert train_log.Tags()["graph"]
