"""Issue 18: `graft runs PROJECT` lists every run of a project as a table, and `--json` for scripts."""

import json
import re

from app.core.training.record import write_user_fields
from app.core.training.store import read_history
from tests.core.test_runs import legacy_run, train_runs, wine_file
from tests.e2e.test_cli import graft


def test_graft_runs_prints_every_run_in_aligned_columns(tmp_path):
    project = wine_file(tmp_path / "wine.graft")
    [trained] = train_runs(project, 1)
    write_user_fields(trained, name="baseline", tags=["small", "wine"], notes="four units\nsecond line")
    legacy_run(tmp_path / "wine.runs" / "run-002")
    (tmp_path / "wine.runs" / "run-003").mkdir()
    (tmp_path / "wine.runs" / "run-003" / "run.json").write_text("garbage")
    done = graft("runs", project)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["name", "date", "status", "phases", "best", "duration", "tags", "notes"]
    assert set(lines[1]) == {"-", " "}
    baseline, legacy, garbage = lines[2:]
    assert baseline.startswith("baseline ") and " finished " in baseline and " train " in baseline
    assert re.search(r" val_loss \d+\.\d{4} ", baseline) and "small, wine" in baseline
    assert baseline.endswith("four units…")  # the notes' first line, marked as cut short
    assert legacy.startswith("run-002 ") and " stopped " in legacy and "val_loss 0.9500" in legacy
    assert garbage.startswith("run-003 ") and " unreadable" in garbage
    for column, rows in (("status", lines[2:]), ("best", lines[2:4]), ("tags", lines[2:3])):
        at = lines[0].index(column)  # each column starts where its heading does
        assert all(row[at - 2:at] == "  " and row[at] != " " for row in rows), column


def test_graft_runs_json_gives_each_run_for_scripts(tmp_path):
    project = wine_file(tmp_path / "wine.graft")
    [trained] = train_runs(project, 1)
    done = graft("runs", project, "--json")
    assert done.returncode == 0, done.stderr
    [run] = json.loads(done.stdout)
    assert run["folder"] == str(trained) and run["name"] == "run-001" and run["status"] == "finished"
    assert run["phases"] == ["train"] and run["monitor"] == "val_loss"
    assert run["best"] == min(row["val_loss"] for row in read_history(trained))
    assert run["tags"] == [] and run["notes"] == ""


def test_graft_runs_says_when_there_are_none_and_exits_2_for_a_missing_project(tmp_path):
    project = wine_file(tmp_path / "wine.graft")
    done = graft("runs", project)
    assert done.returncode == 0
    assert done.stdout.strip() == f"{project} has no runs yet; graft train {project} makes one"
    assert json.loads(graft("runs", project, "--json").stdout) == []
    missing = graft("runs", tmp_path / "nowhere.graft")
    assert missing.returncode == 2
    assert missing.stderr.startswith("graft: cannot open project") and "Traceback" not in missing.stderr
