"""Reliability experiment 2 (issue 16): SIGKILL during save.

Why this exists: a save can be cut short at any instant (a crash, a power cut, the user
killing Graft). Graft writes every file through `document/atomic.py` (temporary file, fsync,
rename), so the file on disk must always be the old one or the new one, never half of each,
and the temporary file a killed save leaves must be gone after the next save. This script
kills a process that saves over and over, at seeded random moments, and checks both:

- the project save (`fileformat.save`) of a 2,000-node project, alternating two versions;
- a checkpoint write (`atomic_write_bytes` with real `.weights.h5` bytes, as
  `training/store.py: save_weights` writes them), alternating two states of a model.

After each kill the file must be byte for byte one of the two versions and load (the project
with `fileformat.load`, the weights with Keras's `load_weights`); then one more save, and no
`.NAME.*.tmp` file may remain.

The savers are forked from a warm writer process (`--writer`), so each kill costs a fork, not
a Python start, and the first write begins at once.

Run from the repository root:

    .venv/bin/python benchmarks/reliability_kill.py          # 150 kills of each
    .venv/bin/python benchmarks/reliability_kill.py --quick  # 5 of each

tests/reliability/test_kill.py runs the quick part."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.reliability import run_alone  # noqa: E402

KILLS, QUICK_KILLS = 150, 5  # of each kind
PROJECT_NODES = 2000
PROJECT, CHECKPOINT = "project", "checkpoint"
TARGETS = {PROJECT: "project.graft", CHECKPOINT: "checkpoint.weights.h5"}
VERSIONS = {PROJECT: ("a.graft", "b.graft"), CHECKPOINT: ("a.weights.h5", "b.weights.h5")}


# -- what is saved -----------------------------------------------------------------------------
def project_document(nodes: int, name: str, width: int) -> dict:
    """A chain of `nodes` nodes (Input, Dense and Dropout in turn, an Output last): a large
    project that needs no model file."""
    document = {"format": "graft-project", "format_version": 3, "name": name,
                "description": f"{nodes} nodes, saved again and again while being killed",
                "nodes": [{"id": "n0", "type": "Input", "name": "x", "params": {"shape": [width]}}],
                "edges": []}
    for i in range(1, nodes):
        last = i == nodes - 1
        kind, params = (("Output", {"loss": "mean_squared_error"}) if last else
                        ("Dense", {"units": width, "activation": "relu"}) if i % 2 else
                        ("Dropout", {"rate": 0.1}))
        document["nodes"].append({"id": f"n{i}", "type": kind, "name": f"{kind.lower()}_{i}",
                                  "position": [float(i % 40) * 200, float(i // 40) * 120],
                                  "params": params})
        document["edges"].append({"id": f"e{i}", "from": {"node": f"n{i - 1}", "port": "out"},
                                  "to": {"node": f"n{i}", "port": "in"}})
    return document


def checkpoint_model(seed: int):
    """A small Keras model (about 1 MB of weights), its weights drawn from `seed`."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((256,))
    x = keras.layers.Dense(512, activation="relu", name="hidden")(inputs)
    return keras.Model(inputs, keras.layers.Dense(256, name="out")(x))


def prepare(folder: Path, kinds: tuple[str, ...]) -> dict:
    """The two versions of each file, written beside the target, and the first target (version
    a); returns what the checks need: the versions' bytes and a model that loads the weights."""
    from app.core.document.atomic import atomic_write_bytes
    from app.core.document.fileformat import loads, save

    prepared = {}
    if PROJECT in kinds:
        a, b = (loads(json.dumps(project_document(PROJECT_NODES + extra, name, width)))
                for extra, name, width in ((0, "old", 16), (7, "new", 24)))
        for project, name in zip((a, b), VERSIONS[PROJECT]):
            save(project, folder / name)
        save(a, folder / TARGETS[PROJECT])
        prepared[PROJECT] = {"project": a, "versions": _read_versions(folder, PROJECT)}
    if CHECKPOINT in kinds:
        from app.core.training.store import weights_bytes

        model = checkpoint_model(1)
        for seed, name in zip((1, 2), VERSIONS[CHECKPOINT]):
            (folder / name).write_bytes(weights_bytes(checkpoint_model(seed)))
        atomic_write_bytes(folder / TARGETS[CHECKPOINT], (folder / VERSIONS[CHECKPOINT][0]).read_bytes())
        prepared[CHECKPOINT] = {"model": model, "versions": _read_versions(folder, CHECKPOINT)}
    return prepared


def _read_versions(folder: Path, kind: str) -> list[bytes]:
    versions = [(folder / name).read_bytes() for name in VERSIONS[kind]]
    assert versions[0] != versions[1] and (folder / TARGETS[kind]).read_bytes() == versions[0]
    return versions


# -- the writer: saves until it is killed ------------------------------------------------------
def writer(kind: str, folder: Path) -> None:
    """Serve forks that save `kind` over and over: on "go SEED" fork one (it starts at once and
    never stops by itself) and say its pid; on "reap" wait for it and say how it ended."""
    from app.core.document.atomic import atomic_write_bytes
    from app.core.document.fileformat import load, save

    target = folder / TARGETS[kind]
    if kind == PROJECT:
        projects = [load(folder / name) for name in VERSIONS[kind]]

        def write(i: int) -> None:
            save(projects[i % 2], target)
    else:
        blobs = [(folder / name).read_bytes() for name in VERSIONS[kind]]

        def write(i: int) -> None:
            atomic_write_bytes(target, blobs[i % 2])

    print("ready", flush=True)
    pid = None
    for line in sys.stdin:
        command = line.split()
        if command[0] == "go":
            pid = os.fork()
            if pid == 0:
                try:
                    i = int(command[1])
                    while True:
                        write(i)
                        i += 1
                finally:
                    os._exit(1)  # only a failed write gets here: the harness reports it
            print(f"pid {pid}", flush=True)
        elif command[0] == "reap":
            _, status = os.waitpid(pid, 0)
            print(f"ended {status}", flush=True)


class Writer:
    """The harness's end of a writer process."""

    def __init__(self, kind: str, folder: Path):
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--writer", kind, str(folder)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._expect("ready")

    def _expect(self, word: str) -> str:
        line = self.process.stdout.readline()
        if not line.startswith(word):
            raise RuntimeError(f"the writer said {line!r}, not {word!r}")
        return line.split(maxsplit=1)[1].strip() if " " in line else ""

    def _send(self, line: str) -> None:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def kill_after(self, start: int, delay: float, watch: Path | None = None) -> bool:
        """Start a saver, SIGKILL it `delay` seconds later, or, with `watch` (the target), `delay`
        seconds after a write to it begins; whether SIGKILL is what ended the saver."""
        self._send(f"go {start}")
        pid = int(self._expect("pid"))
        if watch is not None:
            write_begins(watch, deadline=time.perf_counter() + 10)
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
        self._send("reap")
        status = int(self._expect("ended"))
        return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def write_begins(target: Path, deadline: float) -> None:
    """Return as soon as a write of `target` shows: its temporary file appears, or the file
    itself changes (what a write in place would do). Uniform random kills mostly land while
    the document is being made; these land in the few milliseconds the bytes go to disk."""
    def stamp():
        try:
            info = target.stat()
        except FileNotFoundError:
            return None
        return info.st_ino, info.st_size, info.st_mtime_ns

    before = stamp()
    while time.perf_counter() < deadline:
        if leftovers(target.parent, target.name) or stamp() != before:
            return


# -- the experiment ----------------------------------------------------------------------------
@dataclass
class Tally:
    kills: int = 0
    corrupt: list[str] = field(default_factory=list)
    in_write: int = 0  # kills aimed at the moment a write began
    left_by_kill: int = 0  # kills that landed between the temporary file and its rename
    left_after_save: list[str] = field(default_factory=list)
    writer_failed: int = 0
    new_seen: int = 0  # kills after which the file was the other version: saves did complete


def leftovers(folder: Path, name: str) -> list[str]:
    pattern = re.compile(rf"\.{re.escape(name)}\.[0-9a-f]{{8}}\.tmp")
    return sorted(p.name for p in folder.iterdir() if pattern.fullmatch(p.name))


def verify(kind: str, folder: Path, prepared: dict) -> str | None:
    """Why the target is neither version, or does not load; None when it is fine."""
    target = folder / TARGETS[kind]
    data = target.read_bytes()
    versions = prepared["versions"]
    if data not in versions:
        return f"{len(data):,} bytes, neither version ({', '.join(f'{len(v):,}' for v in versions)} bytes)"
    try:
        if kind == PROJECT:
            from app.core.document.fileformat import load

            load(target)
        else:
            prepared["model"].load_weights(target)
    except Exception as error:  # a file equal to a good version that does not load: report it
        return f"it does not load: {type(error).__name__}: {error}"
    return None


def save_once(kind: str, folder: Path, prepared: dict, version: int) -> None:
    """The next save, as Graft makes it."""
    from app.core.document.atomic import atomic_write_bytes
    from app.core.document.fileformat import save

    target = folder / TARGETS[kind]
    if kind == PROJECT:
        save(prepared["project"], target)  # version a
    else:
        atomic_write_bytes(target, prepared["versions"][version])


def save_seconds(kind: str, folder: Path, prepared: dict) -> float:
    """How long one save takes here: the kills are spread over a few of them."""
    start = time.perf_counter()
    for _ in range(3):
        save_once(kind, folder, prepared, 0)
    return (time.perf_counter() - start) / 3


def kill_runs(kind: str, kills: int, folder: Path, prepared: dict, seed: int = 0) -> Tally:
    rng = random.Random(f"{kind}/{seed}")
    tally = Tally()
    cycle = save_seconds(kind, folder, prepared)
    writer_process = Writer(kind, folder)
    try:
        for i in range(kills):
            target = folder / TARGETS[kind]
            if i % 3:  # two in three aimed: within a millisecond of the write's start
                killed = writer_process.kill_after(rng.randrange(2), rng.uniform(0, 0.001), target)
                tally.in_write += 1
            else:  # the others anywhere in a few saves
                killed = writer_process.kill_after(rng.randrange(2), rng.uniform(0, 3 * cycle))
            tally.kills += 1
            tally.writer_failed += not killed
            problem = verify(kind, folder, prepared)
            if problem:
                tally.corrupt.append(problem)
            elif (folder / TARGETS[kind]).read_bytes() == prepared["versions"][1]:
                tally.new_seen += 1
            tally.left_by_kill += bool(leftovers(folder, TARGETS[kind]))
            save_once(kind, folder, prepared, rng.randrange(2))
            tally.left_after_save += leftovers(folder, TARGETS[kind])
    finally:
        writer_process.close()
    return tally


def described(tally: Tally) -> str:
    return (f"{tally.kills} ({tally.in_write} as a write began; after {tally.new_seen} the file was "
            f"the other version, {tally.left_by_kill} left a temporary file)")


def experiment(quick: bool = False) -> dict:
    kills = QUICK_KILLS if quick else KILLS
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="graft-kill-") as scratch:
        tallies = {}
        for kind in (PROJECT, CHECKPOINT):
            folder = Path(scratch) / kind
            folder.mkdir()
            tallies[kind] = kill_runs(kind, kills, folder, prepare(folder, (kind,))[kind])
    project, checkpoint = tallies[PROJECT], tallies[CHECKPOINT]
    corrupt = len(project.corrupt) + len(checkpoint.corrupt)
    left = len(project.left_after_save) + len(checkpoint.left_after_save)
    failed_writers = project.writer_failed + checkpoint.writer_failed
    rows = [
        (f"kills on the project save ({PROJECT_NODES:,} nodes)", described(project)),
        ("kills on the checkpoint (.weights.h5, atomic_write_bytes)", described(checkpoint)),
        ("files corrupt (neither version, or not loading)", str(corrupt)),
        ("temporary files left after the next save", str(left)),
        ("savers that ended other than by the kill", str(failed_writers)),
        ("time", f"{time.perf_counter() - start:.1f} s"),
    ]
    return {"title": "SIGKILL during save", "rows": rows, "failures": corrupt + left + failed_writers,
            "details": project.corrupt + checkpoint.corrupt + project.left_after_save
            + checkpoint.left_after_save}


if __name__ == "__main__":
    if sys.argv[1:2] == ["--writer"]:  # the child that is killed
        writer(sys.argv[2], Path(sys.argv[3]))
    else:
        sys.exit(run_alone(experiment, "the fast part the tests run",
                           lambda result: [print(f"  FAILED: {detail}") for detail in result["details"]]))
