"""Issue 18, the Runs panel's core: `list_runs` reads every run folder of a project from disk,
from its run.json, or from state.json and history.json for a run from before records existed,
and lists a damaged one as "unreadable" rather than fail."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

from app.core.document.fileformat import load, save
from app.core.document.project import Project
from app.core.document.training_setup import config_from_dict
from app.core.editing.builder import GraphBuilder
from app.core.training.record import write_user_fields
from app.core.training.runs import UNKNOWN, UNREADABLE, list_runs, read_run
from app.core.training.store import read_history

WINE_COLUMNS = ["alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols",
                "flavanoids", "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue",
                "od280_od315_of_diluted_wines", "proline"]


def wine_file(path: Path) -> Path:
    """Input → Dense → Output on the bundled wine data: trains in a second, needs no file."""
    b = GraphBuilder()
    b.add("features", "Input", 0, 0, shape=[13])
    b.add("hidden", "Dense", 1, 0, units=4, activation="relu")
    b.add("cultivar", "Output", 2, 0, loss="sparse_categorical_crossentropy")
    b.chain("features", "hidden", "cultivar")
    save(Project(b.graph, "wine", training=config_from_dict({
        "settings": {"epochs": 2, "batch_size": 32},
        "data": {"source": "bundled", "path": "wine", "mapping": {"features": WINE_COLUMNS,
                                                                   "cultivar": "label"}}})), path)
    return path


def train_runs(path: Path, count: int) -> list[Path]:
    """`count` real runs of the project at `path`, as `graft train` makes them."""
    from app.cli import main

    for _ in range(count):
        assert main(["train", str(path), "--epochs", "2"]) == 0
    return sorted((path.parent / f"{path.stem}.runs").glob("run-*"))


def runs_folder(tmp_path: Path) -> tuple[Project, Path]:
    project = load(wine_file(tmp_path / "wine.graft"))
    folder = tmp_path / "wine.runs"
    folder.mkdir()
    return project, folder


def write_json(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value), encoding="utf-8")


def recorded_run(folder: Path, **keys) -> Path:
    """A run folder with a run.json as the run writes it (schema: format_version 1)."""
    record = {"format": "graft-run", "format_version": 1, "name": folder.name, "tags": [], "notes": "",
              "status": "finished", "started": "2026-12-05T12:00:00+00:00", "ended": None,
              "duration_s": 75.5, "phases": [{"name": "head", "epochs": 2}, {"name": "fine", "epochs": 1}],
              "metrics": {"monitor": "val_loss", "phases": [
                  {"name": "head", "best": {"epoch": 2, "loss": 0.8, "val_loss": 0.9},
                   "final": {"epoch": 2, "loss": 0.8, "val_loss": 0.9}},
                  {"name": "fine", "best": {"epoch": 1, "loss": 0.5, "val_loss": 0.6},
                   "final": {"epoch": 1, "loss": 0.5, "val_loss": 0.6}}]}} | keys
    write_json(folder / "run.json", record)
    return folder


def legacy_run(folder: Path, status: str = "stopped") -> Path:
    """A run from before run.json: state.json and history.json only."""
    write_json(folder / "state.json", {"status": status, "phase": 0, "epoch": 2,
                                       "settings": {"monitor": "val_loss"}, "data": {"source": "bundled"},
                                       "phases": [{"name": "train", "epochs": 5}]})
    write_json(folder / "history.json", [{"phase": "train", "epoch": 1, "loss": 1.0, "val_loss": 1.2},
                                         {"phase": "train", "epoch": 2, "loss": 0.7, "val_loss": 0.95}])
    return folder


def test_a_real_run_made_by_graft_train_is_listed_with_its_phases_best_and_status(tmp_path):
    path = wine_file(tmp_path / "wine.graft")
    [folder] = train_runs(path, 1)
    [run] = list_runs(load(path))
    history = read_history(folder)
    assert run.folder == folder and run.name == "run-001"
    assert run.status == "finished"
    assert run.phases == ("train",)
    assert run.monitor == "val_loss"
    assert math.isclose(run.best, min(row["val_loss"] for row in history))
    assert abs(run.started - datetime.now(UTC)).total_seconds() < 3600  # it started today, not in 1970


def test_a_recorded_run_shows_its_name_tags_notes_start_duration_and_best_of_all_phases(tmp_path):
    project, runs = runs_folder(tmp_path)
    recorded_run(runs / "run-001", name="baseline", tags=["lr-1e-3", "frozen"], notes="first try")
    [run] = list_runs(project)
    assert (run.name, run.tags, run.notes) == ("baseline", ("lr-1e-3", "frozen"), "first try")
    assert run.started == datetime(2026, 12, 5, 12, tzinfo=UTC)
    assert run.duration_s == 75.5
    assert run.phases == ("head", "fine")
    assert (run.monitor, run.best) == ("val_loss", 0.6)  # the lower of the two phases' best
    assert json.loads(json.dumps(run.to_dict()))["best"] == 0.6  # --json's row is plain JSON


def test_runs_are_listed_by_number_and_only_run_folders_count(tmp_path):
    project, runs = runs_folder(tmp_path)
    for number in (10, 2, 1):
        recorded_run(runs / f"run-{number:03d}" if number < 10 else runs / f"run-{number}")
    (runs / "run-005").write_text("a file, not a run")
    (runs / "notes").mkdir()
    assert [run.folder.name for run in list_runs(project)] == ["run-001", "run-002", "run-10"]


def test_a_run_from_before_records_is_read_from_its_state_and_history(tmp_path):
    project, runs = runs_folder(tmp_path)
    legacy_run(runs / "run-001")
    [run] = list_runs(project)
    assert (run.name, run.status, run.phases) == ("run-001", "stopped", ("train",))
    assert (run.monitor, run.best) == ("val_loss", 0.95)
    assert run.duration_s is None and run.tags == () and run.notes == ""
    assert run.started == datetime.fromtimestamp((runs / "run-001").stat().st_mtime, UTC)


def test_a_renamed_run_is_listed_by_its_new_name(tmp_path):
    project, runs = runs_folder(tmp_path)
    legacy_run(runs / "run-001")
    write_user_fields(runs / "run-001", name="wider head", tags=["wide"], notes="units 64")
    [run] = list_runs(project)
    assert (run.name, run.tags, run.notes, run.status) == ("wider head", ("wide",), "units 64", "stopped")


def test_damaged_runs_are_listed_as_unreadable_and_the_others_still_are(tmp_path):
    project, runs = runs_folder(tmp_path)
    recorded_run(runs / "run-001", name="good")
    legacy_run(runs / "run-002")
    (runs / "run-002" / "run.json").write_text("{ not json", encoding="utf-8")  # garbage beside a good state
    (runs / "run-003").mkdir()
    (runs / "run-003" / "state.json").write_bytes(b"\x00\xff garbage")
    write_json(runs / "run-004" / "run.json", ["a list, not a record"])
    recorded_run(runs / "run-005", status=None, started="yesterday", duration_s="long", tags="x",
                 notes=7, phases="all", metrics=[1, 2])  # every value of the wrong kind
    (runs / "run-006").mkdir()  # a run being set up: nothing written yet
    rows = {run.folder.name: run for run in list_runs(project)}
    assert rows["run-001"].name == "good"
    assert [rows[f"run-00{n}"].status for n in (2, 3, 4)] == [UNREADABLE] * 3
    assert rows["run-002"].name == "run-002" and rows["run-002"].best is None
    odd = rows["run-005"]
    assert (odd.status, odd.duration_s, odd.tags, odd.notes, odd.phases, odd.best) == (
        UNKNOWN, None, (), "", (), None)
    assert rows["run-006"].status == UNKNOWN
    assert read_run(runs / "run-003").status == UNREADABLE


def test_a_project_never_saved_or_never_trained_has_no_runs(tmp_path):
    assert list_runs(Project()) == []
    assert list_runs(load(wine_file(tmp_path / "wine.graft"))) == []
