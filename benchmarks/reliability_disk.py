"""Experiment for the reliability report: a full disk and read-only folders, for every file
Graft writes.

Why this exists: issue 16 found that a full disk while a checkpoint was written killed the
process (h5py segfaulted, exit 139, as it closed the file) after truncating the previous
checkpoint, because Keras wrote straight into `last.weights.h5`. Here each file Graft
writes (the project, by File ▸ Save in the editor; the editor's autosave; a checkpoint; a
run's history; a Keras-file export; a Python-script export) is written once, then written
again where it cannot be:

- disk full: as root, a small tmpfs filled to its last page; otherwise a file-size limit
  (RLIMIT_FSIZE, SIGXFSZ ignored), under which a write fails with EFBIG as on a full disk;
- read-only folder: as root (whom permission bits do not stop), a read-only bind mount of
  the folder over itself; otherwise the folder's mode set to 0555.

Each case runs in a fresh Python, which must still be up at the end (exit 0, normal
interpreter exit included: that is where h5py crashed), must have said why in one line of
at most 300 characters naming the file or its folder (no traceback, no "[Errno"), and must
have left the file written before it byte for byte as it was. The fast parts are in
`tests/reliability/test_disk_faults.py`. Run from the repository root:

    .venv/bin/python benchmarks/reliability_disk.py           # both faults
    .venv/bin/python benchmarks/reliability_disk.py --quick   # the full disk only
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import traceback
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.reliability import run_alone  # noqa: E402

TARGETS = ("project save", "autosave", "checkpoint", "history", "export .keras", "export .py")
DISK_FULL, READ_ONLY = "disk full", "read-only folder"
TMPFS_SIZE = "4m"
CASE_TIMEOUT_S = 300
MESSAGE_LIMIT = 300  # characters of one message, as in the fuzz experiment
CHILD = "from benchmarks.reliability_disk import child; child()"


# -- the cases, each run in a fresh Python (`child`) ------------------------------------------

def small_project(folder: Path):
    """A Dense regression on the bundled wine data, saved in `folder`: trains in a second."""
    from app.core.document.fileformat import save
    from app.core.document.project import Project
    from app.core.document.training_setup import config_from_dict
    from app.core.editing.builder import GraphBuilder

    b = GraphBuilder()
    b.add("features", "Input", 0, 0, shape=[12])
    b.add("hidden", "Dense", 1, 0, units=32, activation="relu")
    b.add("predict", "Dense", 2, 0, units=1)
    b.add("alcohol", "Output", 3, 0, loss="mean_squared_error")
    b.chain("features", "hidden", "predict", "alcohol")
    columns = ["malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols", "flavanoids",
               "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue",
               "od280_od315_of_diluted_wines", "proline"]
    training = config_from_dict({
        "data": {"source": "bundled", "path": "wine", "mapping": {"features": columns, "alcohol": "alcohol"}},
        "settings": {"batch_size": 32, "epochs": 1}})
    project = Project(b.graph, "wine", training=training)
    save(project, folder / "wine.graft")
    return project


class Case:
    """`setup` writes the file once; `act` writes it again (under the fault) and returns what
    the user is told; `finish` ends the case once its files are compared. `files` must be
    intact after `act`; `folder` is where the writes go."""

    def __init__(self, place: Path):
        self.place = place
        self.files: list[Path] = []
        self.folder = place
        self.limit = 0  # the file-size limit that stands for a full disk

    def finish(self) -> None:
        pass


class Editor(Case):
    """The editor's window, its questions answered and its warnings kept."""

    def window(self, recovery: Path):
        os.environ["GRAFT_RECOVERY_DIR"] = str(recovery)
        from PySide6.QtCore import QSettings
        from PySide6.QtWidgets import QMessageBox

        from app.gui.app import application
        from app.gui.main_window import MainWindow

        self.app = application()
        self.shown: list[str] = []
        QMessageBox.warning = lambda parent, title, text, *rest: self.shown.append(text)
        MainWindow.ask_unsaved = lambda window: QMessageBox.StandardButton.Discard
        settings = QSettings(str(Path(tempfile.mkdtemp()) / "settings.ini"), QSettings.Format.IniFormat)
        return MainWindow(settings=settings)

    def edit(self, units: int) -> None:
        from app.core.editing.commands import AddNode, new_node

        graph = self.win.document.graph
        self.win.document.push(AddNode(new_node(graph, "Dense", {"units": units}, (10 * units, 20))))

    def finish(self) -> None:
        self.win.close()
        self.app.processEvents()


class ProjectSave(Editor):
    def setup(self) -> None:
        from app.gui.document import Document

        small_project(self.place)
        self.win = self.window(Path(tempfile.mkdtemp()))
        self.win.set_document(Document.open(self.place / "wine.graft"))
        self.files = [self.place / "wine.graft"]
        self.limit = self.files[0].stat().st_size
        self.edit(5)

    def act(self) -> str:
        saved = self.win.save()
        modified = self.win.document.modified
        if saved or not modified:
            return "saved, or the changes were marked saved"
        return " / ".join(self.shown)


class Autosave(Editor):
    def setup(self) -> None:
        self.folder = self.place / "recovery"
        self.win = self.window(self.folder)
        self.edit(5)
        self.win.autosave()
        self.files = [self.win.recovery.path]
        self.limit = self.files[0].stat().st_size
        for units in range(6, 30):
            self.edit(units)

    def act(self) -> str:
        self.win.autosave()
        message = self.win.statusBar().currentMessage()
        modified = self.win.document.modified
        return message if modified else "the changes were marked saved"


class Checkpoint(Case):
    def setup(self) -> None:
        from app.core.training.runner import train

        self.project = small_project(self.place)
        self.folder = self.place / "run"
        first = train(self.project, out_dir=self.folder)
        assert first.status == "finished", first.message
        self.files = [self.folder / "last.weights.h5", self.folder / "best.weights.h5"]
        self.limit = self.files[0].stat().st_size // 2

    def act(self) -> str:
        from app.core.training.runner import train

        ended = train(self.project, out_dir=self.folder)
        return ended.message if ended.status == "failed" else f"the run {ended.status}"


class History(Case):
    def setup(self) -> None:
        from app.core.training.store import write_history

        self.folder = self.place / "run"
        self.folder.mkdir()
        write_history(self.folder, [{"phase": "main", "epoch": 1, "loss": 0.5}])
        self.files = [self.folder / "history.json", self.folder / "history.csv"]
        self.limit = self.files[0].stat().st_size

    def act(self) -> str:
        from app.core.training.runner import write_failure
        from app.core.training.store import write_history

        try:
            write_history(self.folder, [{"phase": "main", "epoch": e, "loss": 0.5} for e in range(1, 100)])
        except OSError as error:
            return write_failure(error)  # what the run ends with
        return "written"


class Export(Case):
    key = name = ""

    def setup(self) -> None:
        import keras  # noqa: F401  (before any fault: its first import may write its config)

        from app.core.export.formats import export

        self.project = small_project(self.place)
        report = export(self.project, self.key, self.place / self.name)
        assert report.ok, report.message
        self.files = [self.place / self.name]
        if self.key == "python":
            self.files.append(self.place / f"{Path(self.name).stem}.weights.h5")
        self.limit = max(f.stat().st_size for f in self.files) // 2

    def act(self) -> str:
        from app.core.export.common import ExportError
        from app.core.export.formats import export

        try:
            report = export(self.project, self.key, self.place / self.name)
        except ExportError as error:
            return str(error)
        return report.message if not report.ok else "written"


class KerasExport(Export):
    key, name = "keras", "model.keras"


class PythonExport(Export):
    key, name = "python", "model.py"


CASES = dict(zip(TARGETS, (ProjectSave, Autosave, Checkpoint, History, KerasExport, PythonExport)))


@contextmanager
def fault(how: str, case: Case):
    """The fault, for the duration of the case's second write."""
    if how == "limit":
        import resource  # POSIX only: the other faults need none of it

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (case.limit, hard))
        try:
            yield
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    elif how == "tmpfs-full":
        with open(case.place / "filler", "wb", buffering=0) as handle:
            try:
                while True:
                    handle.write(bytes(4096))
            except OSError:
                pass  # full
        yield
    elif how == "chmod":
        mode = case.folder.stat().st_mode & 0o7777
        case.folder.chmod(0o555)
        try:
            yield
        finally:
            case.folder.chmod(mode)
    elif how == "bind-ro":  # a mount of its own: files open for writing elsewhere do not block it
        folder = str(case.folder)
        subprocess.run(["mount", "--bind", folder, folder], check=True)
        try:
            subprocess.run(["mount", "-o", "remount,bind,ro", folder], check=True)
            yield
        finally:
            subprocess.run(["umount", folder], check=True)
    else:
        raise ValueError(how)


def digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def child() -> None:
    """One case: argv target, fault, place; prints its outcome as JSON."""
    target, how, place = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    case = CASES[target](place)
    case.setup()
    before = {str(f): digest(f) for f in case.files}
    try:
        with fault(how, case):
            message = case.act()
    except Exception:  # what the user would have met instead of a message
        message = "traceback: " + traceback.format_exc()
    kept = all(digest(Path(f)) == h and h is not None for f, h in before.items())
    case.finish()
    print(json.dumps({"message": message, "kept": kept, "files": list(before),
                      "folder": str(case.folder)}), flush=True)


# -- the experiment ---------------------------------------------------------------------------

def can_mount() -> bool:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return False
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", folder],
                              capture_output=True)
        if done.returncode != 0:
            return False
        subprocess.run(["umount", folder], check=True)
    return True


def faults(quick: bool) -> dict[str, tuple[str | None, str]]:
    """Each fault: how it is made here (None: it cannot be) and how the report says so."""
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    if can_mount():
        chosen = {DISK_FULL: ("tmpfs-full", f"a tmpfs of {TMPFS_SIZE.upper()}B filled up (as root)"),
                  READ_ONLY: ("bind-ro", "a read-only bind mount of the folder (as root)")}
    else:
        chosen = {DISK_FULL: ("limit", "a file-size limit (RLIMIT_FSIZE)"),
                  READ_ONLY: (None, "skipped: root ignores permission bits and no tmpfs could be mounted")
                  if root else ("chmod", "the folder's mode 0555")}
    return {DISK_FULL: chosen[DISK_FULL]} if quick else chosen


def run_case(target: str, how: str) -> dict:
    """The case in a fresh Python, on its own tmpfs when the fault needs one."""
    with tempfile.TemporaryDirectory(prefix="graft-disk-") as scratch:
        place = Path(scratch) / "place"
        place.mkdir()
        mounted = how == "tmpfs-full"
        if mounted:
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(place)],
                           check=True)
        try:
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "QT_QPA_PLATFORM": "offscreen"}
            try:
                done = subprocess.run([sys.executable, "-c", CHILD, target, how, str(place)], cwd=ROOT,
                                      env=env, capture_output=True, text=True, timeout=CASE_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                return {"up": False, "why": f"hung for {CASE_TIMEOUT_S} s"}
        finally:
            if mounted:
                subprocess.run(["umount", str(place)], check=True)
    lines = done.stdout.strip().splitlines()
    try:
        outcome = json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = " / ".join(done.stderr.strip().splitlines()[-2:])
        return {"up": False, "why": f"exit {done.returncode}, nothing reported: {tail[:200]}"}
    return {**outcome, "up": done.returncode == 0,
            "why": "" if done.returncode == 0 else f"exit {done.returncode} after reporting"}


def verdict(outcome: dict) -> tuple[bool, bool, bool]:
    """Clear message, previous file intact, process up."""
    message = outcome.get("message", "")
    named = any(place in message for place in [*outcome.get("files", []), outcome.get("folder", "\0")])
    clear = (named and "\n" not in message.strip() and len(message) <= MESSAGE_LIMIT
             and "traceback" not in message.lower() and "[Errno" not in message)
    return clear, bool(outcome.get("kept")), bool(outcome.get("up"))


def experiment(quick: bool = False) -> dict:
    """The disk experiment, as the reliability report shows it."""
    chosen = faults(quick)
    rows, details = [], []
    tried = clear_count = kept_count = up_count = failures = 0
    for fault_name, (how, said) in chosen.items():
        rows.append((f"{fault_name}: made by", said))
        if how is None:
            continue
        for target in TARGETS:
            outcome = run_case(target, how)
            clear, kept, up = verdict(outcome)
            tried += 1
            clear_count, kept_count, up_count = clear_count + clear, kept_count + kept, up_count + up
            failures += not (clear and kept and up)
            problems = [text for ok, text in ((clear, "no clear message"), (kept, "previous file lost"),
                                              (up, f"process died ({outcome.get('why')})")) if not ok]
            message = " ".join(outcome.get("message", "").split())[:150].replace("|", "/")
            details.append((f"  {target}, {fault_name}",
                            ("ok: " if not problems else "; ".join(problems) + ": ") + message))
    rows += [("cases tried", str(tried)),
             ("a clear message naming the file", f"{clear_count} of {tried}"),
             ("previous file intact", f"{kept_count} of {tried}"),
             ("process up", f"{up_count} of {tried}")]
    return {"title": "Disk full and read-only folders", "rows": rows + details, "failures": failures}


if __name__ == "__main__":
    sys.exit(run_alone(experiment, "the full disk only"))
