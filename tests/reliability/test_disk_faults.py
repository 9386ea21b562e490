"""Issue 16: nothing Graft writes is half-written, and a full disk or a refused write never
kills the process. Writes are made to fail for real: a subprocess with RLIMIT_FSIZE (a write
past the limit fails with EFBIG, as on a full disk; no root needed), and, as root, a small
tmpfs that really fills up."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.core.document.atomic import atomic_write_bytes, atomic_write_text
from tests.conftest import ROOT

# Run first in every script: SIGXFSZ ignored (so a write past the limit fails with EFBIG
# instead of killing the process), and `file_size_limit`, under which no file grows past
# `size` bytes; the limit is lifted after, so a script sets up without it.
PRELUDE = textwrap.dedent("""
    import json, resource, signal, sys
    from contextlib import contextmanager
    from pathlib import Path

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    @contextmanager
    def file_size_limit(size):
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
        try:
            yield
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))

    def failure(call):
        try:
            call()
        except OSError as error:
            return {"errno": error.errno, "filename": str(error.filename), "text": str(error)}
        return None
""")


def run_script(body: str, *args, timeout: int = 180) -> dict:
    """Run PRELUDE + `body` in a fresh Python; what it printed last, as JSON. Its exit code
    must be 0: a crash (139 is a segfault) fails the test with what it printed."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(body), *map(str, args)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"exit {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp") or p.name.startswith(".graft-"))


# -- what a replace keeps ----------------------------------------------------------------------

def test_bytes_are_written_whole_and_a_failed_write_names_the_target_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "model.weights.h5"
    atomic_write_bytes(target, b"old")
    got = run_script("""
        from app.core.document.atomic import atomic_write_bytes
        with file_size_limit(20000):
            print(json.dumps(failure(lambda: atomic_write_bytes(Path(sys.argv[1]), bytes(50000)))))
    """, target)
    assert got["errno"] == errno.EFBIG and got["filename"] == str(target)
    assert target.read_bytes() == b"old" and leftovers(tmp_path) == []
    atomic_write_bytes(target, b"\x00\x01new")
    assert target.read_bytes() == b"\x00\x01new"


def test_text_keeps_the_line_ends_it_asks_for(tmp_path):
    atomic_write_text(tmp_path / "a.csv", "a\nb\n", newline="\r\n")
    atomic_write_text(tmp_path / "b.txt", "a\r\nb\n", newline="")
    assert (tmp_path / "a.csv").read_bytes() == b"a\r\nb\r\n"
    assert (tmp_path / "b.txt").read_bytes() == b"a\r\nb\n"


def test_a_replace_keeps_the_mode(tmp_path):
    target = tmp_path / "p.graft"
    target.write_text("old")
    target.chmod(0o640)
    atomic_write_bytes(target, b"new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640 and target.read_bytes() == b"new"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="giving a file to another "
                    "user needs root")
def test_a_replace_keeps_the_owner_and_group(tmp_path):
    """Root saving a user's project made it root's, and the user could no longer save it."""
    target = tmp_path / "p.graft"
    target.write_text("old")
    os.chown(target, 4321, 1234)
    target.chmod(0o664)
    atomic_write_text(target, "new")
    info = target.stat()
    assert (info.st_uid, info.st_gid) == (4321, 1234) and stat.S_IMODE(info.st_mode) == 0o664


def test_a_replace_keeps_extended_attributes(tmp_path):
    target = tmp_path / "p.graft"
    target.write_text("old")
    try:
        os.setxattr(target, "user.graft.origin", b"kept")
    except (AttributeError, OSError) as error:
        pytest.skip(f"no user extended attributes here: {error}")
    atomic_write_text(target, "new")
    assert os.getxattr(target, "user.graft.origin") == b"kept" and target.read_text() == "new"


def test_a_replace_keeps_hard_links(tmp_path):
    """A rename would give the target a new inode and leave the other name with the old content."""
    target, other = tmp_path / "p.graft", tmp_path / "backup" / "p.graft"
    other.parent.mkdir()
    target.write_text("old, and longer than what replaces it")
    os.link(target, other)
    atomic_write_text(target, "new")
    assert other.read_text() == "new" and target.read_text() == "new"
    assert target.stat().st_ino == other.stat().st_ino and target.stat().st_nlink == 2
    atomic_write_bytes(other, b"longer than before " * 100)
    assert target.read_bytes() == b"longer than before " * 100
    assert leftovers(tmp_path) == [] and leftovers(other.parent) == []


def test_a_hard_linked_file_keeps_its_old_content_when_the_new_one_cannot_be_written(tmp_path):
    target, other = tmp_path / "p.graft", tmp_path / "q.graft"
    target.write_text("old")
    os.link(target, other)
    got = run_script("""
        from app.core.document.atomic import atomic_write_bytes
        with file_size_limit(20000):
            print(json.dumps(failure(lambda: atomic_write_bytes(Path(sys.argv[1]), bytes(50000)))))
    """, target)
    assert got["errno"] == errno.EFBIG and got["filename"] == str(target)
    assert target.read_text() == other.read_text() == "old" and target.stat().st_nlink == 2
    assert leftovers(tmp_path) == []


# -- weights made in memory --------------------------------------------------------------------

def test_weights_made_in_memory_load_back_with_keras(tmp_path):
    import keras
    import numpy as np

    from app.core.training.store import save_weights

    def model():
        inputs = keras.Input((4,))
        return keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Dense(3)(inputs)))

    saved = model()
    path = tmp_path / "m.weights.h5"
    save_weights(saved, path)
    loaded = model()
    loaded.load_weights(path)
    for a, b in zip(saved.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


# -- each thing Graft writes, on a full disk ---------------------------------------------------

def test_a_project_save_on_a_full_disk_names_the_file_and_keeps_the_saved_one(tmp_path):
    from tests.core.test_training import wine_regression

    project = wine_regression(tmp_path)
    before = digest(project.path)
    got = run_script("""
        from app.core.document.fileformat import load, save
        project = load(sys.argv[1])
        project.description = "a long description " * 500
        with file_size_limit(2000):
            print(json.dumps(failure(lambda: save(project, project.path))))
    """, project.path)
    assert got["errno"] == errno.EFBIG and got["filename"] == str(project.path)
    assert digest(project.path) == before and leftovers(tmp_path) == []


def test_an_autosave_on_a_full_disk_names_its_file_and_keeps_the_last_one(tmp_path):
    got = run_script("""
        from app.core.document.project import Project
        from app.gui.recovery import RecoveryFile
        recovery = RecoveryFile(Path(sys.argv[1]))
        project = Project()
        recovery.write(project, "the last autosave")
        before = recovery.path.read_text()
        with file_size_limit(500):
            refused = failure(lambda: recovery.write(project, "unsaved work " * 200))
        print(json.dumps({"refused": refused, "path": str(recovery.path),
                          "kept": recovery.path.read_text() == before}))
    """, tmp_path / "recovery")
    assert got["refused"]["errno"] == errno.EFBIG and got["refused"]["filename"] == got["path"]
    assert got["kept"]


def test_a_history_on_a_full_disk_names_the_file_and_keeps_the_one_written_before(tmp_path):
    """history.json was written in place: a full disk left it cut short, a resume read nothing."""
    from app.core.training.store import read_history, write_history

    rows = [{"phase": "main", "epoch": 1, "loss": 0.5}]
    write_history(tmp_path, rows)
    before = {name: digest(tmp_path / name) for name in ("history.json", "history.csv")}
    got = run_script("""
        from app.core.training.store import write_history
        rows = [{"phase": "main", "epoch": e, "loss": 0.5} for e in range(1, 200)]
        with file_size_limit(1000):
            print(json.dumps(failure(lambda: write_history(Path(sys.argv[1]), rows))))
    """, tmp_path)
    assert got["errno"] == errno.EFBIG and got["filename"] == str(tmp_path / "history.json")
    assert {name: digest(tmp_path / name) for name in before} == before
    assert read_history(tmp_path) == rows and leftovers(tmp_path) == []
    assert (tmp_path / "history.csv").read_bytes() == b"phase,epoch,loss\r\nmain,1,0.5\r\n"


TRAIN_TWICE = """
    import hashlib
    from app.core.training.runner import train
    from tests.core.test_training import wine_regression

    folder, limit = Path(sys.argv[1]), int(sys.argv[2])
    project = wine_regression(folder, epochs=1)
    run = Path(sys.argv[3]) if len(sys.argv) > 3 else folder / "run"
    first = train(project, epochs=1, out_dir=run)
    last = run / "last.weights.h5"
    before = hashlib.sha256(last.read_bytes()).hexdigest()
    if limit:
        with file_size_limit(limit):
            ended = train(project, epochs=1, out_dir=run)
    else:  # the disk is full: fill what is left of it
        with open(run.parent / "filler", "wb", buffering=0) as handle:
            try:
                while True:
                    handle.write(bytes(4096))
            except OSError:
                pass
        ended = train(project, epochs=1, out_dir=run)
    print(json.dumps({"first": first.status, "status": ended.status, "message": ended.message,
                      "kept": hashlib.sha256(last.read_bytes()).hexdigest() == before,
                      "leftovers": sorted(p.name for p in run.iterdir() if p.name.startswith("."))}))
"""


def test_a_checkpoint_on_a_full_disk_ends_the_run_with_the_file_named_and_the_last_one_kept(tmp_path):
    """h5py wrote into last.weights.h5 itself: past the limit it truncated the previous
    checkpoint and the process died in a segfault (exit 139) as h5py closed the file."""
    got = run_script(TRAIN_TWICE, tmp_path, 4000)
    assert got["first"] == "finished" and got["status"] == "failed"
    # the first file past the limit: the run record (run.json, the whole project in it) is
    # written as the run starts, before any weights, and is the larger file here
    written = {tmp_path / "run" / name for name in ("last.weights.h5", "run.json")}
    assert any(got["message"] == (f"cannot write {file}: File too large; free some space on its disk or "
                                  "choose another folder with --out") for file in written), got["message"]
    assert got["kept"] and got["leftovers"] == []


@contextlib.contextmanager
def small_tmpfs(disk: Path, size: str):
    """A real disk of `size` that fills up, mounted at `disk` for the block (root only)."""
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="mounting a small "
                    "tmpfs needs root")
def test_a_checkpoint_on_a_really_full_tmpfs_ends_the_run_and_the_process_lives(tmp_path):
    """The finding as found, on a disk that really fills up: the process must live (h5py
    writing there could kill it, exit 139), name the file and keep the previous checkpoint
    (the old code named "a file of the run")."""
    with small_tmpfs(tmp_path / "disk", "256k") as disk:
        got = run_script(TRAIN_TWICE, tmp_path, 0, disk / "run")
    assert got["first"] == "finished" and got["status"] == "failed"
    assert got["message"].startswith(f"cannot write {disk / 'run'}/")
    assert got["message"].endswith(": No space left on device; free some space on its disk or choose "
                                   "another folder with --out")
    assert got["kept"] and got["leftovers"] == []


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0 or not hasattr(os, "posix_fallocate"),
                    reason="mounting a small tmpfs needs root")
def test_a_hard_linked_file_that_outgrows_a_full_disk_keeps_its_old_content(tmp_path):
    """Its new content fits beside it, the growth in place does not: refused before a byte changes."""
    with small_tmpfs(tmp_path / "disk", "64k") as disk:
        target = disk / "p.graft"
        target.write_bytes(b"o" * 8192)
        os.link(target, disk / "q.graft")
        with open(disk / "filler", "wb", buffering=0) as handle:
            try:
                while True:
                    handle.write(bytes(4096))
            except OSError:
                pass
        os.truncate(disk / "filler", max(0, (disk / "filler").stat().st_size - 7 * 4096))
        with pytest.raises(OSError) as refused:
            atomic_write_bytes(target, b"n" * 6 * 4096)
        assert refused.value.errno == errno.ENOSPC and refused.value.filename == str(target)
        assert target.read_bytes() == (disk / "q.graft").read_bytes() == b"o" * 8192
        assert leftovers(disk) == []


@pytest.fixture(scope="module")
def exports_on_a_full_disk(tmp_path_factory) -> tuple[Path, dict]:
    """Each export over an earlier one, on a full disk: one Python for both (TensorFlow
    loads once)."""
    folder = tmp_path_factory.mktemp("exports")
    got = run_script("""
        import keras  # loaded before the limit: its first import may write its config
        from app.core.export.common import ExportError
        from app.core.export.formats import export
        from tests.core.test_training import wine_regression

        folder = Path(sys.argv[1])
        project = wine_regression(folder)
        (folder / "model.weights.h5").write_bytes(b"the previous weights")
        results = {}
        for key, name in (("keras", "model.keras"), ("python", "model.py")):
            (folder / name).write_bytes(b"the previous export")
            with file_size_limit(2000):
                try:
                    results[key] = "written: " + export(project, key, folder / name).message
                except ExportError as error:
                    results[key] = "refused: " + str(error)
                except Exception as error:
                    results[key] = f"raised {type(error).__name__}: {error}"
        print(json.dumps(results))
    """, folder)
    return folder, got


def test_a_keras_export_on_a_full_disk_is_refused_naming_the_file_and_keeps_the_old_one(
        exports_on_a_full_disk):
    folder, got = exports_on_a_full_disk
    assert got["keras"] == (f"refused: cannot write {folder / 'model.keras'}: File too large; free some "
                            "space on its disk or choose another place")
    assert (folder / "model.keras").read_bytes() == b"the previous export"
    assert leftovers(folder) == []


def test_a_python_export_on_a_full_disk_is_refused_naming_the_file_and_keeps_the_old_ones(
        exports_on_a_full_disk):
    folder, got = exports_on_a_full_disk
    assert got["python"] == (f"refused: cannot write {folder / 'model.py'}: File too large; free some "
                             "space on its disk or choose another place")
    assert (folder / "model.py").read_bytes() == b"the previous export"
    assert (folder / "model.weights.h5").read_bytes() == b"the previous weights"
    assert leftovers(folder) == []
