"""Mixed precision (issue 20): every node computes in float16 with float32 variables, an
imported float32 `.keras` model and a SavedModel included, the outputs are float32, the
weights it trains load into a float32 model, and it runs under the mirrored strategy."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from app.core.document.fileformat import load, save
from app.core.document.project import Project
from app.core.document.training_setup import config_from_dict
from app.core.editing.builder import GraphBuilder
from app.core.training.distributed import DistributedRun
from app.core.training.events import FINISHED, RunControl
from app.core.training.optim import make_optimizer
from app.core.training.record import read_record
from app.core.training.run import Run
from app.core.training.runner import load_trained_model
from tests.core.test_distributed import finish, start_workers, trained_weights
from tests.core.test_run_record import tiny_data, tiny_project


def float32_model(path: Path) -> Path:
    """A model file as people save one: float32, with batch normalisation (float32 statistics)."""
    inputs = keras.Input((4,))
    hidden = keras.layers.BatchNormalization()(keras.layers.Dense(8, activation="relu")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3)(hidden))
    if path.suffix == ".keras":
        model.save(path)
    else:
        model.export(path, verbose=False)
    return path


def imported_project(folder: Path, model_file: str, trainable: str = "trainable") -> Project:
    """Input → Dense → the model file → Dense → Output on 40 samples, in mixed precision; saved.
    The model file takes float16 from the Dense before it."""
    folder.mkdir(exist_ok=True)
    tiny_data(folder / "tiny.npz")
    float32_model(folder / model_file)
    b = GraphBuilder()
    b.add("features", "Input", 0, 0, shape=[4])
    b.add("adapt", "Dense", 1, 0, units=4)
    b.add("base", "ModelFile", 2, 0, path=model_file, trainable=trainable)
    b.add("head", "Dense", 3, 0, units=3)
    b.add("score", "Output", 4, 0, loss="mean_squared_error")
    b.chain("features", "adapt", "base", "head", "score")
    project = Project(b.graph, "tiny", training=config_from_dict({
        "settings": {"batch_size": 8, "seed": 7, "mixed_precision": True},
        "data": {"source": "npz", "path": "tiny.npz", "mapping": {"features": "x", "score": "y"},
                 "validation_split": 0.25, "validation_path": None, "shuffle": True},
        "phases": [{"name": "all", "epochs": 2, "learning_rate": 0.01}]}))
    project.folder = folder
    save(project, folder / "tiny.graft")
    return load(folder / "tiny.graft")


def trained(project: Project, strategy: str = "default") -> Run:
    arguments = (project, lambda event: None, RunControl(), None, None, None, False)
    run = Run(*arguments) if strategy == "default" else DistributedRun(*arguments, strategy)
    ended = run.run()
    assert ended.status == FINISHED, ended.message
    project.training.weights = ended.weights
    return run


def assert_mixed(run: Run) -> None:
    """Every layer that computes, the imported model's included, in float16 with float32
    variables; the outputs float32; the losses finite, and the imported model trained (loss
    scaling skips only the steps whose gradients overflow); the record says mixed precision."""
    imported = run.model.get_layer("base")
    layers = [layer for layer in imported.layers if not isinstance(layer, keras.layers.InputLayer)]
    for layer in [*layers, run.model.get_layer("adapt"), run.model.get_layer("head")]:
        assert (layer.compute_dtype, layer.variable_dtype) == ("float16", "float32"), layer.name
    assert {w.dtype for w in run.model.weights} == {"float32"}
    assert [t.dtype for t in run.model.outputs] == ["float32"]
    prediction = run.model(np.ones((2, 4), "float32"))
    assert prediction.dtype == "float32" and np.isfinite(prediction).all()
    assert all(np.isfinite(row["loss"]) for row in run.history)
    saved = keras.saving.load_model(run.project.folder / "base.keras").get_weights()
    now = imported.get_weights()
    assert len(now) == len(saved) and not all(np.allclose(a, b) for a, b in zip(now, saved))
    record = read_record(run.folder)
    assert record["settings"]["mixed_precision"] is True
    assert keras.config.dtype_policy().name == "float32"  # the run put the policy back


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> tuple[Project, Run]:
    project = imported_project(tmp_path_factory.mktemp("fit"), "base.keras")
    return project, trained(project)


def test_an_imported_float32_keras_model_trains_in_float16_with_float32_variables(fitted):
    assert_mixed(fitted[1])


def test_weights_trained_in_mixed_precision_load_into_a_float32_model(fitted):
    project, run = fitted
    model = load_trained_model(project).model
    assert {layer.compute_dtype for layer in model.get_layer("base").layers} == {"float32"}
    for got, kept in zip(model.get_weights(), run.model.get_weights()):
        np.testing.assert_array_equal(got, kept)
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    np.testing.assert_allclose(model(x), run.model(x), rtol=0.02, atol=0.02)


def test_a_mirrored_run_in_mixed_precision_finishes_with_loss_scaling(tmp_path):
    run = trained(imported_project(tmp_path, "base.keras"), strategy="mirrored")
    assert_mixed(run)
    assert isinstance(run.optimizer, keras.optimizers.LossScaleOptimizer)
    assert read_record(run.folder)["machine"]["strategy"] == "mirrored"


def test_two_workers_train_in_mixed_precision_to_the_same_weights(tmp_path):
    project = tiny_project(tmp_path)
    project.training.settings["mixed_precision"] = True
    save(project, project.path)
    results = finish(start_workers(project.path, tmp_path))
    assert [code for code, _, _ in results] == [0, 0], results
    assert "2 replica(s) in all" in results[0][2]  # their gradients' overflow checked together
    chief, other = tmp_path / "out0", tmp_path / "out1" / "worker-1"
    history = json.loads((chief / "history.json").read_text())
    assert len(history) == 3 and all(np.isfinite(row["loss"]) for row in history)
    assert json.loads((other / "history.json").read_text()) == history
    assert read_record(chief)["settings"]["mixed_precision"] is True
    for ours, theirs in zip(trained_weights(project.path, chief / "last.weights.h5"),
                            trained_weights(project.path, other / "last.weights.h5")):
        assert ours.dtype == "float32" and np.array_equal(ours, theirs)


def test_a_frozen_savedmodel_runs_in_mixed_precision_in_its_own_dtypes(tmp_path):
    run = trained(imported_project(tmp_path, "base_savedmodel", trainable="frozen"))
    tfsm = next(layer for layer in run.model.get_layer("base").layers
                if isinstance(layer, keras.layers.TFSMLayer))
    assert not tfsm.autocast  # its graph takes float32, not the float16 the run computes in
    assert run.model.get_layer("head").compute_dtype == "float16"
    assert [t.dtype for t in run.model.outputs] == ["float32"]


def test_loss_scaling_keeps_the_grouped_optimizers_groups_and_state():
    dense = keras.layers.Dense(2)
    dense.build((None, 3))
    grouped = make_optimizer("adam", 0.01, [(0.1, [dense.kernel])])
    grouped.build(dense.trainable_variables)
    inner = grouped.optimizers
    keras.optimizers.LossScaleOptimizer(grouped).build(dense.trainable_variables)
    assert grouped.optimizers == inner  # built again, it would start fresh groups (a resume's state lost)
