"""The run record, run.json (issue 18): what a run writes about itself, that user fields survive
the run's own updates, that old run folders still read, and that a record trains again to the
same history and weights on the CPU."""

import json
from pathlib import Path

import numpy as np
import pytest

from app.core.document.fileformat import load, save
from app.core.document.project import Project
from app.core.document.training_setup import config_from_dict
from app.core.editing.builder import GraphBuilder
from app.core.training.events import FAILED, FINISHED, STOPPED, EpochEnded, RunControl, RunStarted
from app.core.training.record import (
    RECORD_FILE,
    file_sha256,
    read_record,
    recorded_project,
    write_user_fields,
)
from app.core.training.runner import train


def tiny_data(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(40, 4)).astype("float32")
    y = np.stack([x[:, 0] - x[:, 1], x[:, 2] * 0.5, x[:, 3]], axis=1).astype("float32")
    np.savez(path, x=x, y=y)
    return path


def tiny_project(folder: Path, *, deterministic: bool = True) -> Project:
    """Input → Dense → Dropout → Dense → Output on a 40-sample npz beside it, two phases; saved."""
    tiny_data(folder / "tiny.npz")
    b = GraphBuilder()
    b.add("features", "Input", 0, 0, shape=[4])
    b.add("hidden", "Dense", 1, 0, units=8, activation="relu")
    b.add("drop", "Dropout", 2, 0, rate=0.3)
    b.add("head", "Dense", 3, 0, units=3)
    b.add("score", "Output", 4, 0, loss="mean_squared_error")
    b.chain("features", "hidden", "drop", "head", "score")
    project = Project(b.graph, "tiny", training=config_from_dict({
        "settings": {"batch_size": 8, "seed": 7, "deterministic": deterministic},
        "data": {"source": "npz", "path": "tiny.npz", "mapping": {"features": "x", "score": "y"},
                 "validation_split": 0.25, "validation_path": None, "shuffle": True},
        "phases": [{"name": "warm", "epochs": 1, "learning_rate": 0.01},
                   {"name": "tune", "epochs": 2, "learning_rate": 0.001}]}))
    project.folder = folder  # its data path is relative to the folder it is saved in
    save(project, folder / "tiny.graft")
    return load(folder / "tiny.graft")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("record")
    project = tiny_project(folder)
    ended = train(project)
    assert ended.status == FINISHED, ended.message
    return folder, folder / "tiny.runs" / "run-001"


def test_a_two_phase_run_records_what_produced_it_and_how_it_went(finished_run):
    folder, run = finished_run
    record = json.loads((run / RECORD_FILE).read_text())
    assert (record["format"], record["format_version"]) == ("graft-run", 1)
    assert (record["name"], record["tags"], record["notes"]) == ("run-001", [], "")
    assert record["status"] == FINISHED and record["started"] and record["ended"]
    assert record["duration_s"] > 0
    document = record["project"]["document"]
    assert document == load(folder / "tiny.graft").to_dict() | {"training": document["training"]}
    assert [n["name"] for n in document["nodes"]] == ["features", "hidden", "drop", "head", "score"]
    assert len(record["project"]["sha256"]) == 64 and record["project"]["folder"] == str(folder)
    assert record["seed"] == 7 and record["settings"]["deterministic"] is True
    assert [(p["name"], p["epochs"]) for p in record["phases"]] == [("warm", 1), ("tune", 2)]
    data = record["data"]
    assert data["source"] == "npz" and data["path"] == "tiny.npz" and data["bundled"] is None
    assert data["files"] == [{"role": "path", "path": "tiny.npz", "sha256": file_sha256(folder / "tiny.npz"),
                              "bytes": (folder / "tiny.npz").stat().st_size}]
    assert (data["train_samples"], data["validation_samples"]) == (30, 10)
    assert data["split"] == {"validation_split": 0.25, "shuffle": True}
    assert set(record["packages"]) == {"python", "tensorflow", "keras", "numpy", "graft"}
    assert record["packages"]["numpy"] == np.__version__
    assert record["machine"]["strategy"] == "default" and record["machine"]["replicas"] == 1
    assert isinstance(record["machine"]["gpus"], list) and record["machine"]["cpu"]
    history = json.loads((run / "history.json").read_text())
    metrics = record["metrics"]
    assert metrics["monitor"] == "val_loss"
    assert [p["name"] for p in metrics["phases"]] == ["warm", "tune"]
    tune = [row for row in history if row["phase"] == "tune"]
    best = min(tune, key=lambda row: row["val_loss"])
    assert metrics["phases"][1]["final"] == {k: v for k, v in tune[-1].items() if k != "phase"}
    assert metrics["phases"][1]["best"]["epoch"] == best["epoch"]
    assert metrics["phases"][0]["final"]["epoch"] == 1
    assert {"best.weights.h5", "last.weights.h5", "history.json", "state.json", RECORD_FILE} <= set(
        record["files"])


def test_the_bundled_set_is_recorded_by_name_and_version(tmp_path):
    from app.core.training.record import data_fingerprint
    from app.core.training.sources import RESOURCES

    data = config_from_dict({"data": {"source": "bundled", "path": "wine", "validation_path": None}}).data
    found = data_fingerprint(data, tmp_path, 114, 28)
    digest = file_sha256(RESOURCES / "wine.csv")
    assert found["bundled"] == {"name": "wine", "version": digest}
    assert found["files"][0]["path"] == "wine.csv"


def test_user_fields_written_during_a_run_survive_its_updates(tmp_path):
    project = tiny_project(tmp_path)
    folder = []

    def sink(event):
        if isinstance(event, RunStarted):
            folder.append(Path(event.run_dir))
        if isinstance(event, EpochEnded) and event.global_epoch == 1:
            write_user_fields(folder[0], name="baseline", tags=["small", "npz"], notes="first try")

    assert train(project, sink=sink).status == FINISHED
    record = read_record(folder[0])
    assert (record["name"], record["tags"], record["notes"]) == ("baseline", ["small", "npz"], "first try")
    assert record["status"] == FINISHED and len(record["metrics"]["phases"]) == 2
    write_user_fields(folder[0], notes="kept")
    assert read_record(folder[0])["name"] == "baseline" and read_record(folder[0])["notes"] == "kept"


def test_a_stopped_and_a_failed_run_say_so(tmp_path):
    project = tiny_project(tmp_path)
    control = RunControl()

    def stop(event):
        if isinstance(event, EpochEnded):
            control.stop()

    assert train(project, sink=stop, control=control).status == STOPPED
    stopped = read_record(tmp_path / "tiny.runs" / "run-001")
    assert stopped["status"] == STOPPED and stopped["ended"] and stopped["metrics"]["phases"][0]["final"]

    def fail(event):
        if isinstance(event, EpochEnded):
            raise RuntimeError("a bug in a callback")

    assert train(project, sink=fail).status == FAILED
    assert read_record(tmp_path / "tiny.runs" / "run-002")["status"] == FAILED


def test_reading_is_tolerant(tmp_path):
    assert read_record(tmp_path / "nothing") is None
    old = tmp_path / "run-004"
    old.mkdir()
    (old / "state.json").write_text(json.dumps({"status": "finished", "phase": 1, "epoch": 0,
                                                "settings": {"seed": 3, "monitor": "val_loss"},
                                                "phases": [{"name": "train", "epochs": 2}]}))
    (old / "history.json").write_text(json.dumps([
        {"phase": "train", "epoch": 1, "loss": 2.0, "val_loss": 1.5},
        {"phase": "train", "epoch": 2, "loss": 1.0, "val_loss": 1.7}]))
    record = read_record(old)
    assert (record["name"], record["status"], record["format_version"], record["seed"]) == (
        "run-004", "finished", 0, 3)
    assert record["metrics"]["phases"] == [{"name": "train",
                                            "best": {"epoch": 1, "loss": 2.0, "val_loss": 1.5},
                                            "final": {"epoch": 2, "loss": 1.0, "val_loss": 1.7}}]
    write_user_fields(old, name="from before")
    assert read_record(old)["name"] == "from before" and read_record(old)["status"] == "finished"
    (old / RECORD_FILE).write_text('{"format": "graft-run", "format_version": 1, "name": "x", '
                                   '"tags": "not a list", "future_key": 1}')
    record = read_record(old)
    assert record["name"] == "x" and record["tags"] == [] and record["future_key"] == 1
    (old / RECORD_FILE).write_text("{damaged")
    assert read_record(old)["name"] == "run-004"
    with pytest.raises(ValueError):
        write_user_fields(old, tags="one,two")


def test_two_cpu_runs_of_one_record_give_equal_histories_and_weights(finished_run, tmp_path):
    _, run = finished_run
    results = []
    for name in ("again-1", "again-2"):
        project, _ = recorded_project(run)
        ended = train(project, out_dir=tmp_path / name)
        assert ended.status == FINISHED, ended.message
        results.append(tmp_path / name)
    first, second = (json.loads((folder / "history.json").read_text()) for folder in results)
    original = json.loads((run / "history.json").read_text())
    assert first == second == original
    import h5py

    def weights(folder):
        with h5py.File(folder / "last.weights.h5") as store:
            found = {}
            store.visititems(lambda name, item: found.__setitem__(name, item[()])
                             if isinstance(item, h5py.Dataset) else None)
            return found

    a, b, c = weights(results[0]), weights(results[1]), weights(run)
    assert a.keys() == b.keys() == c.keys() and a
    assert all(np.array_equal(a[k], b[k]) and np.array_equal(a[k], c[k]) for k in a)
