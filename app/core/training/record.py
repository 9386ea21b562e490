"""The run record, `run.json` in each run folder: what produced the run (the project as trained,
its seed, settings and phases, a fingerprint of its data, the packages and the machine), how it
went (status, start, end, best and final metrics per phase, the files it wrote) and what the
user calls it (name, tags, notes). The schema is in docs/project-format.md, "Run record".

The run writes it whole (`document/atomic.py`) when it starts, at each checkpoint and at its end;
each write keeps the user's keys as they are on disk, so a rename during a run is not lost.
Readers tolerate a folder without one (a run from before records existed: `read_record` makes
what it can from state.json and history.json) and keys they do not know."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import platform
import threading
from datetime import UTC, datetime
from pathlib import Path

from app.core.document.atomic import atomic_write_text
from app.core.training.store import RECORD_FILE, read_history

FORMAT, FORMAT_VERSION = "graft-run", 1
USER_KEYS = ("name", "tags", "notes")
RUNNING = "running"

# One writer at a time in this process: the run's thread and the editor's may both write.
_WRITING = threading.Lock()


# -- reading -------------------------------------------------------------------------------------

def read_record(folder: str | Path) -> dict | None:
    """The run's record, with every key of the schema present (missing ones take their empty
    value; unknown ones are kept). A run from before records existed gets one made from its
    state.json and history.json (`format_version` 0, no project, data or machine). None where
    the folder holds neither: not a run."""
    folder = Path(folder)
    stored = _read_json(folder / RECORD_FILE)
    if isinstance(stored, dict) and stored.get("format") == FORMAT:
        return _with_defaults(stored, folder)
    state = _read_json(folder / "state.json")
    if not isinstance(state, dict):
        return None
    return _with_defaults(_from_state(state, folder), folder)


def write_user_fields(folder: str | Path, name: str | None = None, tags: list[str] | None = None,
                      notes: str | None = None) -> dict:
    """Set the user's name, tags or notes of a run (None: keep as is) and return the record.
    Read-modify-write under the writers' lock, written whole; a run from before records
    existed gets a run.json with what `read_record` makes of it. Raises ValueError for a
    value of the wrong kind and FileNotFoundError where `folder` is not a run."""
    folder = Path(folder)
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ValueError("a run's name must be some text; type a name")
    if tags is not None and (not isinstance(tags, list | tuple) or not all(isinstance(t, str) for t in tags)):
        raise ValueError("a run's tags must be a list of words")
    if notes is not None and not isinstance(notes, str):
        raise ValueError("a run's notes must be text")
    with _WRITING:
        record = read_record(folder)
        if record is None:
            raise FileNotFoundError(f"{folder} is not a run folder (it has no run.json or state.json)")
        if name is not None:
            record["name"] = name.strip()
        if tags is not None:
            record["tags"] = list(dict.fromkeys(t.strip() for t in tags if t.strip()))
        if notes is not None:
            record["notes"] = notes
        _write(folder, record)
    return record


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _empty(folder: Path) -> dict:
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "name": folder.name, "tags": [],
            "notes": "", "status": None, "started": None, "ended": None, "duration_s": None,
            "project": None, "seed": None, "settings": {}, "phases": [], "data": None,
            "packages": {}, "machine": {}, "metrics": {"monitor": None, "phases": []}, "files": []}


def _with_defaults(record: dict, folder: Path) -> dict:
    """`record` with each missing or mistyped key of the schema at its empty value."""
    full = _empty(folder)
    for key, value in record.items():
        default = full.get(key)
        if default is None or isinstance(value, type(default)):
            full[key] = value
    if not isinstance(full["name"], str) or not full["name"].strip():
        full["name"] = folder.name
    full["tags"] = [t for t in full["tags"] if isinstance(t, str)]
    return full


def _from_state(state: dict, folder: Path) -> dict:
    """What a run from before records existed tells of itself."""
    settings = state.get("settings") if isinstance(state.get("settings"), dict) else {}
    phases = state.get("phases") if isinstance(state.get("phases"), list) else []
    monitor = settings.get("monitor", "val_loss")
    history = read_history(folder)
    files = sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    return {"format_version": 0, "status": state.get("status"), "seed": settings.get("seed"),
            "settings": settings, "phases": phases, "data": _legacy_data(state.get("data")),
            "metrics": phase_metrics(history, [p.get("name") for p in phases if isinstance(p, dict)],
                                     monitor),
            "files": files}


def _legacy_data(data) -> dict | None:
    if not isinstance(data, dict):
        return None
    return {"source": data.get("source"), "path": data.get("path"),
            "validation_path": data.get("validation_path"), "files": [], "bundled": None,
            "train_samples": None, "validation_samples": None,
            "split": {"validation_split": data.get("validation_split"), "shuffle": data.get("shuffle")}}


# -- writing -------------------------------------------------------------------------------------

def _write(folder: Path, record: dict) -> None:
    atomic_write_text(folder / RECORD_FILE, json.dumps(record, indent=2, allow_nan=False,
                                                        default=_plain) + "\n", newline="\n")


def _plain(value):
    """numpy numbers and the like, as JSON has them."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def start_record(folder: Path, *, document: dict, seed: int, settings: dict, phases: list[dict],
                 data: dict, machine: dict, project_path: Path | None = None,
                 project_folder: Path | None = None) -> dict:
    """Write the record of a run starting now (status "running") and return it. `document` is
    the project as trained, its relative paths relative to `project_folder`. A record already
    in `folder` (a resumed run) keeps its start, user keys and project, and is running again."""
    folder = Path(folder)
    with _WRITING:
        before = _read_json(folder / RECORD_FILE)
        before = _with_defaults(before, folder) if isinstance(before, dict) else None
        if before and before["format_version"] == FORMAT_VERSION and before["project"]:
            record = before
            record.update(status=RUNNING, ended=None, packages=package_versions(), machine=machine)
        else:
            text = json.dumps(document, sort_keys=True, ensure_ascii=False, allow_nan=False)
            kept = {key: before[key] for key in USER_KEYS} if before else {}
            record = _empty(folder) | kept | {
                "status": RUNNING, "started": _now(),
                "project": {"document": document, "sha256": hashlib.sha256(text.encode()).hexdigest(),
                            "path": str(project_path) if project_path is not None else None,
                            "folder": str(project_folder) if project_folder is not None else None},
                "seed": seed, "settings": copy.deepcopy(settings), "phases": copy.deepcopy(phases),
                "data": data, "packages": package_versions(), "machine": machine}
        _write(folder, record)
    return record


def update_record(folder: Path, record: dict, *, status: str, history: list[dict], ended: bool = False,
                  duration_s: float | None = None) -> dict:
    """The record as the run stands now (at a checkpoint, or with `ended` at its end): its
    status, metrics and files, keeping the user's keys as they are on disk. Returns it."""
    folder = Path(folder)
    with _WRITING:
        on_disk = _read_json(folder / RECORD_FILE)
        if isinstance(on_disk, dict):
            record.update({key: on_disk[key] for key in USER_KEYS if key in on_disk})
        record["status"] = status
        record["ended"] = _now() if ended else None
        if duration_s is not None:
            record["duration_s"] = round(duration_s, 3)
        monitor = record.get("settings", {}).get("monitor", "val_loss")
        record["metrics"] = phase_metrics(history, [p["name"] for p in record.get("phases", [])], monitor)
        record["files"] = sorted({p.name for p in folder.iterdir() if p.is_file()
                                  and not p.name.startswith(".")} | {RECORD_FILE})
        _write(folder, record)
    return record


def phase_metrics(history: list[dict], phase_names: list[str], monitor: str) -> dict:
    """Per phase, its best epoch (lowest `monitor`, or loss where the phase has no such
    number) and its final one, each with its numbers."""
    phases = []
    for name in dict.fromkeys(phase_names):
        rows = [row for row in history if isinstance(row, dict) and row.get("phase") == name]
        if not rows:
            phases.append({"name": name, "best": None, "final": None})
            continue
        key = monitor if any(_number(row.get(monitor)) for row in rows) else "loss"
        scored = [row for row in rows if _number(row.get(key))]
        best = min(scored, key=lambda row: row[key]) if scored else rows[-1]
        phases.append({"name": name, "best": _numbers(best), "final": _numbers(rows[-1])})
    used = monitor if any(_number(row.get(monitor)) for row in history if isinstance(row, dict)) else "loss"
    return {"monitor": used, "phases": phases}


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _numbers(row: dict) -> dict:
    return {key: value for key, value in row.items() if key == "epoch" or _number(value)}


# -- what the record holds -----------------------------------------------------------------------

def package_versions() -> dict:
    """Python, TensorFlow, Keras, numpy and Graft, as installed."""
    from app.versions import versions

    found = versions()
    try:
        import numpy
        numpy_version = numpy.__version__
    except ImportError:  # pragma: no cover - Graft needs numpy
        numpy_version = "not installed"
    return {"python": found["Python"], "tensorflow": found["TensorFlow"], "keras": found["Keras"],
            "numpy": numpy_version, "graft": found["Graft"]}


def machine_info(strategy: str = "default", replicas: int = 1) -> dict:
    """The CPU, the GPUs TensorFlow sees, and how the run spreads over them."""
    import tensorflow as tf

    gpus = [device.name for device in tf.config.list_physical_devices("GPU")]
    return {"cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "platform": platform.platform(), "gpus": gpus, "strategy": strategy, "replicas": int(replicas)}


# Hashes by (path, size, mtime): a data file is read once per process, not once per run.
_HASHES: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def data_files(source: str, path: str | None, base_dir: Path) -> list[Path]:
    """The files a data source reads (an image folder: every file under it, in order)."""
    from app.core.training.sources import locate

    if not path:
        return []
    _, where = locate(source, path, base_dir)
    if where.is_dir():
        return sorted(p for p in where.rglob("*") if p.is_file() and not p.name.startswith("."))
    return [where]


def data_fingerprint(data: dict, base_dir: Path, train_samples: int | None,
                     validation_samples: int | None) -> dict:
    """Where the samples came from and a sha256 of each file, the counts and the split.
    Paths are as the setup names them; files are listed relative to `base_dir` when inside it."""
    files = []
    for key in ("path", "validation_path"):
        for file in data_files(data["source"], data.get(key), base_dir):
            files.append({"role": key, "path": _shown(data["source"], file, base_dir),
                          "sha256": file_sha256(file), "bytes": file.stat().st_size})
    bundled = None
    if data["source"] == "bundled" and files:
        bundled = {"name": data["path"], "version": files[0]["sha256"]}
    return {"source": data["source"], "path": data.get("path"),
            "validation_path": data.get("validation_path"), "files": files, "bundled": bundled,
            "train_samples": train_samples, "validation_samples": validation_samples,
            "split": {"validation_split": data.get("validation_split"), "shuffle": data.get("shuffle")}}


def _shown(source: str, file: Path, base_dir: Path) -> str:
    """A bundled file by its name, another relative to the project's folder where it can be."""
    if source == "bundled":
        return file.name
    try:
        return Path(os.path.relpath(file, base_dir)).as_posix() if base_dir else str(file)
    except ValueError:  # another drive
        return str(file)


def changed_files(record: dict, base_dir: Path) -> list[str]:
    """The data files of `record` that are missing or differ now (each with how), read from
    `base_dir` as the run read them."""
    data = record.get("data") or {}
    recorded = {(f.get("role"), f.get("path")): f.get("sha256") for f in data.get("files", [])}
    now = {}
    for key in ("path", "validation_path"):
        try:
            found = data_files(data.get("source"), data.get(key), base_dir)
        except Exception:  # noqa: BLE001 - a source that cannot be found is a change to report
            found = []
        for file in found:
            now[(key, _shown(data.get("source"), file, base_dir))] = file_sha256(file)
    changes = [f"{path} differs" for (role, path), digest in recorded.items()
               if (role, path) in now and now[(role, path)] != digest]
    changes += [f"{path} is missing" for (role, path) in recorded if (role, path) not in now]
    changes += [f"{path} is new" for (role, path) in now if (role, path) not in recorded]
    return changes


# -- running a record again ----------------------------------------------------------------------

class RecordError(ValueError):
    """A run folder whose record cannot be run again, with what to do instead."""


def recorded_project(folder: Path):
    """The project exactly as the run in `folder` trained it (its recorded settings and
    phases), with its paths relative to the original project's folder; raises RecordError."""
    from app.core.document.fileformat import ProjectError, from_dict

    folder = Path(folder)
    record = read_record(folder)
    if record is None:
        raise RecordError(f"{folder} is not a run folder (it has no run.json); give a folder of "
                          "PROJECT.runs")
    project = record.get("project")
    if record["format_version"] < 1 or not isinstance(project, dict) or not isinstance(
            project.get("document"), dict):
        raise RecordError(f"{folder / RECORD_FILE} does not record the project (a run from an older "
                          "Graft); train the project again instead")
    document = copy.deepcopy(project["document"])
    training = document.get("training") if isinstance(document.get("training"), dict) else {}
    document["training"] = training | {"settings": record["settings"], "phases": record["phases"]}
    try:
        rebuilt = from_dict(document)
    except (ProjectError, ValueError) as error:
        raise RecordError(f"{folder / RECORD_FILE}: the recorded project cannot be read: {error}") from None
    where = project.get("folder")
    rebuilt.folder = Path(where) if where else folder.parent.parent
    rebuilt.path = Path(project["path"]) if project.get("path") else None
    return rebuilt, record


def next_run_folder(folder: Path) -> Path:
    """A new folder beside the run in `folder`: the next run-NNN in a project's runs folder,
    otherwise `<name>-again`, `<name>-again-2`, …"""
    folder = Path(folder).resolve()
    base = folder.parent
    if base.name.endswith(".runs"):
        taken = [int(p.name[4:]) for p in base.glob("run-*") if p.name[4:].isdigit()]
        return base / f"run-{max(taken, default=0) + 1:03d}"
    candidate, count = base / f"{folder.name}-again", 1
    while candidate.exists():
        count += 1
        candidate = base / f"{folder.name}-again-{count}"
    return candidate


def metric_differences(before: dict, after: dict, rel_tol: float = 1e-6) -> list[str]:
    """Each phase's final metric of `before` that `after` does not match within `rel_tol`
    (relative), as "phase 'b': val_loss 0.5123 (was 0.5121)"; empty when all match."""
    ours = {p.get("name"): p.get("final") or {} for p in after.get("metrics", {}).get("phases", [])}
    differences = []
    for phase in before.get("metrics", {}).get("phases", []):
        name, was = phase.get("name"), phase.get("final") or {}
        now = ours.get(name)
        if now is None or (was and not now):
            differences.append(f"phase {name!r} did not train")
            continue
        for key, value in was.items():
            new = now.get(key)
            if new is None:
                differences.append(f"phase {name!r}: {key} is missing (was {value:.6g})")
            elif not math.isclose(new, value, rel_tol=rel_tol, abs_tol=1e-12):
                differences.append(f"phase {name!r}: {key} {new:.6g} (was {value:.6g})")
    return differences
