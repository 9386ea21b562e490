"""Issue 16, "nothing lost, nothing crashes", at the command line: `graft` never shows a user a
traceback for their own mistake or their machine's state (a bad file, a full disk, a missing
display, Ctrl+C), and its exit code says which it was: 0 fine, 1 problems or a failed run,
2 unreadable input, 130 interrupted. A traceback appears only for a bug, and then says so.

Most checks call `app.cli.main` in this process (a subprocess costs seconds of TensorFlow
start-up); subprocesses only where the thing under test is the process itself: signals, the
bytes on fd 2, a closed pipe, a missing display."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import app.cli
from app.cli import main
from app.tensorflow_noise import quiet_tensorflow, tensorflow_noise_filtered
from benchmarks.reliability_training import wine_project
from tests.conftest import EXAMPLES, ROOT, small_project

COMMANDS = {  # argv after the project, for each command that reads one
    "validate": [],
    "summary": [],
    "train": ["--epochs", "1"],
    "export": ["--format", "keras", "-o", "{tmp}/out.keras"],
}


def run_cli(capsys, command: str, project, tmp_path, *extra) -> tuple[int, str, str]:
    """`graft COMMAND PROJECT …` in this process; a KeyboardInterrupt or any exception that
    escapes `main` fails the test instead of ending the session."""
    options = [arg.format(tmp=tmp_path) for arg in COMMANDS[command]]
    try:
        code = main([command, str(project), *options, *map(str, extra)])
    except BaseException as error:  # noqa: BLE001 - what escapes is the finding
        pytest.fail(f"graft {command} let {type(error).__name__}: {error} escape")
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    """stderr holds exactly one line, "graft: …", and no traceback."""
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("graft: "), err
    return lines[0]


def edited(tmp_path, name: str, change) -> Path:
    """A copy of the small project with `change(document)` applied to its JSON."""
    document = json.loads(small_project(tmp_path / "base.graft").read_text())
    change(document)
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


# --- input that cannot be read: exit 2, one line -------------------------------------------------

def test_a_folder_given_as_the_project_is_named_as_a_folder(tmp_path, capsys):
    """Was "cannot read the file: [Errno 21] Is a directory: '…'", the path told twice."""
    small_project(tmp_path / "mine.graft")
    code, _, err = run_cli(capsys, "validate", tmp_path, tmp_path)
    assert code == 2
    assert one_line(err) == (f"graft: {tmp_path} is a folder, not a project file; give the .graft file "
                             "in it (mine.graft)")


def _unknown_type(document):
    document["nodes"][1]["type"] = "Perceptron"


def _bad_units(document):
    document["nodes"][1]["params"]["units"] = -3


def written(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


UNREADABLE = {
    "missing": lambda tmp_path: tmp_path / "nope.graft",
    "not UTF-8": lambda tmp_path: written(tmp_path / "b.graft", b"\xff\xfe\x00"),
    "empty": lambda tmp_path: written(tmp_path / "e.graft", b""),
    "unknown node type": lambda tmp_path: edited(tmp_path, "u.graft", _unknown_type),
    "a value out of range": lambda tmp_path: edited(tmp_path, "v.graft", _bad_units),
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", UNREADABLE)
def test_a_project_that_cannot_be_read_exits_2_with_one_line(tmp_path, capsys, command, case):
    code, _, err = run_cli(capsys, command, UNREADABLE[case](tmp_path), tmp_path)
    assert code == 2
    assert one_line(err).startswith("graft: cannot open project: ")


# --- problems and failed runs: exit 1 ------------------------------------------------------------

@pytest.mark.parametrize("command", COMMANDS)
def test_a_model_file_that_will_not_load_is_a_problem_not_a_crash(tmp_path, capsys, command):
    def junk_model(document):
        document["nodes"][1].update(type="ModelFile", params={"path": "junk.keras"})

    (tmp_path / "junk.keras").write_bytes(b"not a zip archive")
    code, out, err = run_cli(capsys, command, edited(tmp_path, "m.graft", junk_model), tmp_path)
    assert code == 1
    assert "model file junk.keras is not a readable .keras archive" in out + err
    assert "Traceback" not in out + err


@pytest.mark.parametrize("weights, expected", [
    ("missing.weights.h5", "the trained weights missing.weights.h5 are missing"),
    ("junk.weights.h5", "the trained weights junk.weights.h5 do not fit the graph"),
])
def test_trained_weights_that_are_missing_or_do_not_fit_are_one_line(tmp_path, capsys, weights, expected):
    (tmp_path / "junk.weights.h5").write_bytes(b"junk")
    project = edited(tmp_path, "w.graft", lambda d: d["training"].update(weights=weights))
    code, _, err = run_cli(capsys, "export", project, tmp_path)
    assert code == 1 and expected in one_line(err)


@pytest.mark.parametrize("out", ["a_file", "a_file/run", "/proc/graft-run"])
def test_a_run_folder_that_cannot_be_written_is_one_line_and_exit_1(tmp_path, capsys, out):
    project = wine_project(tmp_path)
    (tmp_path / "a_file").write_text("not a folder")
    target = out if out.startswith("/") else tmp_path / out
    code, _, err = run_cli(capsys, "train", project.path, tmp_path, "--out", target)
    assert code == 1 and f"cannot write {target}" in one_line(err)


def test_an_export_the_disk_refuses_is_one_line_naming_the_target(tmp_path, capsys, monkeypatch):
    """A full disk while exporting escaped as an OSError traceback."""
    def disk_full(project, format, out_path, **_):
        raise OSError(errno.ENOSPC, "No space left on device", str(Path(out_path).parent / ".staging"))

    monkeypatch.setattr("app.core.export.formats.export", disk_full)
    project = small_project(tmp_path / "small.graft")
    code, _, err = run_cli(capsys, "export", project, tmp_path)
    assert code == 1
    assert one_line(err) == (f"graft: cannot export to {tmp_path}/out.keras: {tmp_path}/.staging: the disk "
                             "is full; free some space and try again")


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc, where nothing can be written")
def test_an_export_into_a_folder_nothing_can_be_written_to_is_one_line(tmp_path, capsys):
    """What a read-only folder does for a user without root: the write fails (as root, only /proc
    refuses everyone)."""
    project = small_project(tmp_path / "small.graft")
    code, _, err = run_cli(capsys, "export", project, tmp_path, "-o", "/proc/graft-test.keras")
    assert code == 1 and one_line(err).startswith("graft: cannot export")


# --- Ctrl+C: exit 130, one line ------------------------------------------------------------------

@pytest.mark.parametrize("command", COMMANDS)
def test_ctrl_c_in_any_command_is_one_line_and_exit_130(tmp_path, capsys, monkeypatch, command):
    """Ctrl+C while validate, summary or export worked (or before a run began) printed a
    KeyboardInterrupt traceback."""
    def pressed(*_, **__):
        raise KeyboardInterrupt

    monkeypatch.setattr(app.cli, "open_project", pressed)
    code, _, err = run_cli(capsys, command, small_project(tmp_path / "s.graft"), tmp_path)
    assert code == 130 and one_line(err) == "graft: interrupted"


SLOW_SAVE = """
import sys, time
import app.cli as cli
real_save = cli.save
def slow_save(project, path):
    print("SAVING", flush=True)  # the test presses Ctrl+C now
    time.sleep(3)
    real_save(project, path)
cli.save = slow_save
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.parametrize("presses", ["during the save", "during the run and again during the save"])
def test_ctrl_c_never_cuts_the_final_save_of_the_project_short(tmp_path, presses):
    """A second Ctrl+C landed in the save of the project after the run: a traceback, and the
    project did not point at the weights the run had kept. The save now finishes, then `graft`
    exits 130."""
    project = wine_project(tmp_path, epochs=3 if presses == "during the save" else 100000)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    with open(tmp_path / "stderr", "w") as stderr:
        process = subprocess.Popen([sys.executable, "-c", SLOW_SAVE, "train", str(project.path)], cwd=ROOT,
                                   env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        for line in process.stdout:
            if presses != "during the save" and line.lstrip().startswith("epoch 1/"):
                process.send_signal(signal.SIGINT)
            if line.startswith("SAVING"):
                process.send_signal(signal.SIGINT)
                break
        out, _ = process.communicate(timeout=60)
    finally:
        process.kill()
    err = (tmp_path / "stderr").read_text()
    assert process.returncode == 130, out + err
    assert "Traceback" not in err and "graft: interrupted; finishing the save of the project first" in err
    saved = json.loads(project.path.read_text())
    assert saved["training"]["weights"].startswith("wine.runs/run-001/")
    assert (project.path.parent / saved["training"]["weights"]).is_file()


# --- bugs: the traceback, then a line that says so -----------------------------------------------

def test_a_bug_shows_its_traceback_and_says_it_is_a_bug(tmp_path, capsys, monkeypatch):
    def broken(*_, **__):
        return {}["no such key"]

    monkeypatch.setattr(app.cli, "open_project", broken)
    code, _, err = run_cli(capsys, "validate", tmp_path / "p.graft", tmp_path)
    assert code == 1
    assert err.startswith("Traceback (most recent call last):") and "KeyError: 'no such key'" in err
    assert err.strip().splitlines()[-1] == ("graft: this is a bug in Graft; please report it with the "
                                            "text above")


def test_a_bug_in_a_run_shows_its_traceback_and_says_it_is_a_bug(tmp_path, capsys, monkeypatch):
    """The runner turns what it did not foresee into a failed run with a traceback; `graft train`
    showed that traceback without saying what it was."""
    def broken_run(*_):
        return 1 / 0

    monkeypatch.setattr("app.core.training.runner.Run", broken_run)
    code, _, err = run_cli(capsys, "train", wine_project(tmp_path).path, tmp_path)
    assert code == 1 and "ZeroDivisionError" in err and "Traceback" in err
    assert err.strip().splitlines()[-2:] == [
        "graft: training failed: ZeroDivisionError: division by zero",
        "graft: this is a bug in Graft; please report it with the text above"]


def test_help_lists_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert ("exit codes: 0 fine, 1 problems or a failed run, 2 unreadable input, a wrong option or "
            "missing system libraries for the editor, 130 interrupted (Ctrl+C)") in " ".join(out.split())


# --- the process itself: stderr noise, a closed pipe, no display ---------------------------------

def graft_process(*args, env: dict, **options) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300, **options)


TENSORFLOW_NOISE = ["oneDNN custom operations", "absl::InitializeLog", "cudart_stub", "cuda drivers",
                    "cpu_feature_guard", "rebuild TensorFlow"]


def test_tensorflow_start_up_noise_never_reaches_stderr():
    """The absl and CUDA lines TensorFlow's C++ writes while it loads reached the terminal even
    with TF_CPP_MIN_LOG_LEVEL=3; here the user has not set it at all."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    done = graft_process("summary", EXAMPLES / "shared_base.graft", env=env)
    assert done.returncode == 0, done.stderr
    assert not [noise for noise in TENSORFLOW_NOISE if noise in done.stderr], done.stderr


def test_the_noise_filter_keeps_every_other_line_on_stderr(capfd):
    """Real errors must still reach the user while TensorFlow loads."""
    with tensorflow_noise_filtered():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to "
                    b"STDERR\nI0000 00:00:1796459975.539333   22216 cudart_stub.cc:31] Could not find "
                    b"cuda drivers on your machine, GPU will not be used.\n"
                    b"E0000 00:00:1796460022.647345   22645 some_op.cc:52] a real failure\n"
                    b"2024-05-01 10:00:00.000000: I tensorflow/core/util/port.cc:113] oneDNN custom "
                    b"operations are on. You may see slightly different numerical results.\n")
        print("a Python warning", file=sys.stderr)
    lines = capfd.readouterr().err.splitlines()
    assert sorted(lines) == ["E0000 00:00:1796460022.647345   22645 some_op.cc:52] a real failure",
                             "a Python warning"]


def test_tensorflow_retracing_notes_are_not_shown_and_its_other_warnings_are(caplog):
    """Each run (each trial of a sweep) builds a new model, which TensorFlow notes as retracing."""
    import logging

    quiet_tensorflow()
    logger = logging.getLogger("tensorflow")
    logger.warning("5 out of the last 13 calls to <function f> triggered tf.function retracing. Tracing …")
    logger.warning("a warning that matters")
    assert [record.getMessage() for record in caplog.records] == ["a warning that matters"]


def test_a_reader_that_goes_away_is_no_traceback(tmp_path):
    """`graft validate p | head -1` printed a BrokenPipeError traceback."""
    project = small_project(tmp_path / "small.graft")
    process = subprocess.Popen([sys.executable, "-m", "app", "validate", str(project)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()  # the reader is gone before anything is written
    err = process.stderr.read()
    assert process.wait(timeout=60) == 1
    assert err == "", err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="DISPLAY matters on Linux only")
def test_the_editor_without_a_display_says_so_in_one_line():
    """Qt aborted the process (exit 134) with five lines about platform plugins."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    started = time.monotonic()
    done = graft_process(env=env)
    assert done.returncode == 1, done.stderr
    assert one_line(done.stderr) == (
        "graft: no display to open the editor on (DISPLAY and WAYLAND_DISPLAY are unset); run graft in "
        "a desktop session, or use graft validate, summary, train or export here")
    assert time.monotonic() - started < 60


def test_a_project_without_positions_is_laid_out_by_the_command_line_too(tmp_path, capsys):
    """Finding 4, on the command line: `graft train` saved (and reports drew) the pile at (0, 0)."""
    from app.cli import _load
    from tests.core.test_layout import EXAMPLES, overlapping_pairs, without_positions

    path = without_positions(EXAMPLES / "broken.graft", tmp_path / "generated.graft")
    assert overlapping_pairs(_load(str(path)).graph) == []
