"""A run's folder, `<project>.runs/run-NNN/`, and what it holds: `last.weights.h5`,
`best.weights.h5`, `history.json` and `history.csv` (one row per epoch), `state.json` (how
the run stands, and its phases and settings as they were, which is all a resume reads), and
`optimizer.npz` (the optimizer's state with the last weights, so a resumed phase goes on with
its moments and its learning-rate schedule where they were).

Every one of them is written whole (`document/atomic.py`): a full disk or a refused write
fails with an OSError naming the file, and the file written before it stays as it was."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from app.core.document.atomic import atomic_write_bytes, atomic_write_text
from app.core.document.project import Project
from app.core.document.training_setup import ConfigError, Phase, TrainingConfig, config_from_dict

LAST_WEIGHTS, BEST_WEIGHTS = "last.weights.h5", "best.weights.h5"
OPTIMIZER_FILE = "optimizer.npz"
RECORD_FILE = "run.json"  # the run record (record.py)


def runs_dir(project: Project) -> Path:
    """Beside the project's file: `<folder>/<name>.runs`."""
    return project.path.parent / f"{project.path.stem}.runs"


def latest_run(project: Project, status: str | None = None, *, trials: bool = True) -> Path | None:
    """The newest run folder of the project (optionally only one that ended with `status`, and
    with `trials` False not a sweep's trial: a trial trains its own values, not the project's,
    so a pruned one, which ended stopped, is no run for Resume to go on with)."""
    if project.path is None or not runs_dir(project).is_dir():
        return None
    for folder in sorted(runs_dir(project).glob("run-*"), reverse=True):
        state = read_state(folder)
        if (state and (status is None or state.get("status") == status)
                and (trials or not _is_trial(folder))):
            return folder
    return None


def _is_trial(folder: Path) -> bool:
    """Whether a sweep ran the run as a trial: its record has a "sweep" key (sweep.py)."""
    try:
        record = json.loads((folder / RECORD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and "sweep" in record


def read_state(folder: Path) -> dict | None:
    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def write_state(folder: Path, status: str, phase: int, epoch: int, setup: TrainingConfig,
                phases: list[Phase], base_dir: Path) -> None:
    """state.json: how the run stands (`phase`, `epoch`: where it goes on from) and the setup it
    trains with, its phases as they were (the ones it was asked to run, with their epochs) and
    its data files as absolute paths (`base_dir`: what relative ones are relative to)."""
    data = dict(setup.data)
    if data["source"] != "bundled":
        for key in ("path", "validation_path"):
            if data[key]:
                data[key] = str((base_dir / Path(data[key]).expanduser()).resolve())
    state = {"status": status, "phase": phase, "epoch": epoch, "settings": setup.settings,
             "data": data, "phases": [p.to_dict() for p in phases]}
    atomic_write_text(folder / "state.json", json.dumps(state, indent=2) + "\n")


def recorded_setup(state: dict, folder: Path) -> tuple[TrainingConfig, list[Phase]]:
    """The setup and phases a run's state.json recorded; raises ConfigError naming the place
    in state.json when it is damaged or from a Graft that did not record them."""
    where = f"{folder / 'state.json'}"
    missing = [key for key in ("settings", "data", "phases") if key not in state]
    if missing:
        raise ConfigError(where, f"does not record the run's {', '.join(missing)} (written by an older "
                          "Graft); start a new run")
    setup = config_from_dict({key: state[key] for key in ("settings", "data", "phases")}, where)
    return setup, setup.phases


def read_history(folder: Path) -> list[dict]:
    try:
        history = json.loads((folder / "history.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return history if isinstance(history, list) else []


def write_history(folder: Path, history: list[dict]) -> None:
    """history.json for programs, history.csv for spreadsheets: one row per epoch."""
    atomic_write_text(folder / "history.json", json.dumps(history, indent=2) + "\n")
    columns = list(dict.fromkeys(key for row in history for key in row))
    table = io.StringIO(newline="")  # the csv module writes its own line ends
    writer = csv.DictWriter(table, fieldnames=columns)
    writer.writeheader()
    writer.writerows(history)
    atomic_write_text(folder / "history.csv", table.getvalue(), newline="")


def weights_bytes(model) -> bytes:
    """The model's weights as a `.weights.h5` file that `model.load_weights` reads, made in
    memory. h5py writing to a disk that fills up truncates the old file and then
    crashes the process (a segfault when it closes the file), so it never writes to disk
    here; the price is the file's size in memory for the moment of the write. This is what
    Keras's `save_weights_only` does, with an io.BytesIO where it opens the file."""
    from keras.src.saving import saving_lib

    buffer = io.BytesIO()
    store = saving_lib.H5IOStore(buffer, mode="w")
    try:
        saving_lib._save_state(model, weights_store=store, assets_store=None, inner_path="",
                               visited_saveables=set())
    finally:
        store.close()
    return buffer.getvalue()


def save_weights(model, path: Path) -> None:
    """`model`'s weights to `path` (a `.weights.h5` file that `model.load_weights` reads),
    written whole: a full disk or a refused write raises OSError naming `path`, and the
    file that was there stays intact."""
    atomic_write_bytes(path, weights_bytes(model))

