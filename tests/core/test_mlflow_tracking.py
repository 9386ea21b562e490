"""MLflow tracking (issue 18): with the `tracking_uri` setting, a run is logged to MLflow with its
params, per-epoch metrics, tags, run record and model; a tracking server that cannot be reached
only costs a warning; without MLflow installed the run refuses to start and says what to install."""

import json
import sys
from pathlib import Path

import keras
import mlflow
import numpy as np
import pytest

from app.core.training.events import FAILED, FINISHED, STOPPED, EpochEnded, RunControl, RunStarted
from app.core.training.record import read_record, write_user_fields
from app.core.training.runner import load_trained_model, train
from app.core.training.tracking import RUN_DIR_TAG, store_uri
from tests.core.test_run_record import tiny_project
from tests.core.test_training import example_copy


def tracked_runs(store: Path) -> tuple[mlflow.MlflowClient, list]:
    """The client of the folder store `store` and every run in it, as `mlflow.search_runs`
    finds them (the way a user's script looks for runs)."""
    uri = store_uri(str(store), Path.cwd())
    client = mlflow.MlflowClient(uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    mlflow.set_tracking_uri(uri)
    try:
        return client, mlflow.search_runs(experiment_ids=experiments, output_format="list")
    finally:
        mlflow.set_tracking_uri(None)


def metric_histories(client, run) -> dict[str, list[tuple[int, float]]]:
    return {key: [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, key)]
            for key in run.data.metrics}


def epoch_histories(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """history.json as (global epoch, value) per metric."""
    rows = json.loads((folder / "history.json").read_text())
    keys = [key for key in rows[0] if key not in ("phase", "epoch")]
    return {key: [(step, row[key]) for step, row in enumerate(rows, 1)] for key in keys}


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """The two-phase transfer example on the bundled digits, one epoch a phase, tracked to the
    folder `mlruns` beside it (the setting's folder is relative to the project); the user names
    and tags the run while it trains."""
    folder = tmp_path_factory.mktemp("tracked")
    project = example_copy("transfer", folder, tracking_uri="mlruns")
    started = []

    def sink(event):
        if isinstance(event, RunStarted):
            started.append(Path(event.run_dir))
        if isinstance(event, EpochEnded) and event.global_epoch == 1:
            write_user_fields(started[0], name="baseline", tags=["digits", "small"], notes="first try")

    ended = train(project, sink=sink, epochs=1)
    assert ended.status == FINISHED, ended.message + ended.details
    assert not ended.warning
    client, runs = tracked_runs(folder / "mlruns")
    assert len(runs) == 1
    return project, ended, started[0], client, runs[0]


def test_a_tracked_run_has_its_params_metrics_and_tags(tracked):
    _, _, folder, client, run = tracked
    record = read_record(folder)
    assert client.get_experiment(run.info.experiment_id).name == "Transfer learning"
    assert (run.info.run_name, run.info.status) == ("baseline", "FINISHED")
    params = run.data.params
    assert params["settings.learning_rate"] == "0.001" and params["settings.batch_size"] == "64"
    assert "settings.tracking_uri" not in params  # where it is logged is no parameter of the run
    assert (params["phases.0.name"], params["phases.0.learning_rate"]) == ("head", "0.01")
    assert (params["phases.1.name"], params["phases.1.trainable"]) == ("fine_tune", '{"backbone": 3}')
    assert params["phases.1.lr_multipliers"] == '{"backbone": 0.5}'
    assert (params["data.source"], params["data.path"], params["data.validation_path"]) == (
        "bundled", "digits", "digits_holdout")
    assert params["data.train_samples"] == str(record["data"]["train_samples"])
    assert params["data.mapping"] == '{"image": "images", "label": "labels"}'
    histories, expected = metric_histories(client, run), epoch_histories(folder)
    assert {"loss", "val_loss", "accuracy", "val_accuracy"} <= set(expected)
    assert {key: histories[key] for key in expected} == expected
    [(step, accuracy)] = histories["evaluation/label accuracy"]
    assert step == 2 and 0 <= accuracy <= 1
    tags = run.data.tags
    assert tags["graft.version"] == record["packages"]["graft"]
    assert (tags["graft.project"], tags["graft.run_folder"], tags["graft.status"]) == (
        "Transfer learning", "run-001", FINISHED)
    assert (tags["graft.tags"], tags["mlflow.note.content"]) == ("digits, small", "first try")
    assert tags[RUN_DIR_TAG] == str(folder)


def test_a_tracked_run_has_its_record_and_a_model_that_keras_loads(tracked, tmp_path):
    project, ended, folder, client, run = tracked
    assert sorted(a.path for a in client.list_artifacts(run.info.run_id)) == ["model", "run.json"]
    assert [a.path for a in client.list_artifacts(run.info.run_id, "model")] == ["model/model.keras"]
    downloaded = Path(client.download_artifacts(run.info.run_id, "", str(tmp_path)))
    assert json.loads((downloaded / "run.json").read_text()) == read_record(folder)
    model = keras.saving.load_model(downloaded / "model" / "model.keras")
    project.training = project.training.replaced(weights=ended.weights)
    trained = load_trained_model(project).model
    pixels = np.random.default_rng(0).random((4, 8, 8, 1), dtype=np.float32)
    np.testing.assert_allclose(model.predict(pixels, verbose=0), trained.predict(pixels, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_a_resumed_run_goes_on_in_its_mlflow_run(tmp_path):
    project = tiny_project(tmp_path)  # phases warm (1 epoch) and tune (2)
    store, control = tmp_path / "store", RunControl()

    def stop(event):
        if isinstance(event, EpochEnded):
            control.stop()

    assert train(project, sink=stop, control=control, tracking_uri=str(store)).status == STOPPED
    _, [stopped] = tracked_runs(store)
    assert stopped.info.status == "KILLED" and stopped.data.tags["graft.status"] == STOPPED
    assert train(project, resume=True, tracking_uri=str(store)).status == FINISHED
    client, [run] = tracked_runs(store)
    assert run.info.run_id == stopped.info.run_id and run.info.status == "FINISHED"
    expected = epoch_histories(tmp_path / "tiny.runs" / "run-001")
    assert [step for step, _ in expected["val_loss"]] == [1, 2, 3]
    histories = metric_histories(client, run)
    assert {key: histories[key] for key in expected} == expected  # each epoch once, the stopped run's too


def test_a_server_that_cannot_be_reached_is_a_warning_and_the_run_goes_on(tmp_path):
    project = tiny_project(tmp_path)
    ended = train(project, epochs=1, tracking_uri="http://127.0.0.1:9")
    assert ended.status == FINISHED and ended.weights
    assert ended.message.startswith("training finished: ") and "MLflow" not in ended.message
    assert ended.warning.startswith("MLflow: not logged to http://127.0.0.1:9 (cannot connect: ")
    assert "check that the tracking server runs" in ended.warning and "\n" not in ended.warning
    assert read_record(tmp_path / "tiny.runs" / "run-001")["status"] == FINISHED


def test_without_mlflow_a_tracked_run_does_not_start_and_says_what_to_install(tmp_path, monkeypatch):
    project = tiny_project(tmp_path)
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow now raises ImportError
    ended = train(project, tracking_uri="mlruns")
    assert ended.status == FAILED and not ended.details
    assert ended.message == ("tracking to mlruns needs MLflow, which is not installed: pip install "
                             "'graft-studio[mlflow]', or clear the tracking URI")
    assert not (tmp_path / "tiny.runs").exists()


def test_a_folder_is_a_sqlite_store_in_it_and_a_uri_stays_as_it_is(tmp_path):
    assert store_uri("runs/mlflow", tmp_path) == f"sqlite:///{tmp_path.as_posix()}/runs/mlflow/mlflow.db"
    assert store_uri(f" {tmp_path} ", Path("/elsewhere")) == f"sqlite:///{tmp_path.as_posix()}/mlflow.db"
    for uri in ("http://tracking.example:5000", "https://mlflow.example", "sqlite:///team.db"):
        assert store_uri(uri, tmp_path) == uri
