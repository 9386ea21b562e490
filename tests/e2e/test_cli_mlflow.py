"""`graft train PROJECT --mlflow URI` (issue 18): the run is logged to MLflow for this run only,
a folder relative to where graft runs; with tracking off, MLflow is not even imported."""

import subprocess
import sys

from app.core.document.fileformat import load
from tests.conftest import ROOT
from tests.core.test_mlflow_tracking import epoch_histories, metric_histories, tracked_runs
from tests.core.test_run_record import tiny_project
from tests.e2e.test_cli import graft


def test_train_with_mlflow_logs_the_run_to_a_folder_relative_to_where_it_runs(tmp_path):
    tiny_project(tmp_path)
    done = graft("train", "tiny.graft", "--epochs", "1", "--mlflow", "mlruns", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "MLflow" not in done.stdout  # no warning
    client, [run] = tracked_runs(tmp_path / "mlruns")
    assert (run.info.run_name, run.info.status, run.data.params["phases.1.name"]) == (
        "run-001", "FINISHED", "tune")
    histories, expected = metric_histories(client, run), epoch_histories(tmp_path / "tiny.runs" / "run-001")
    assert {key: histories[key] for key in expected} == expected
    assert load(tmp_path / "tiny.graft").training.settings["tracking_uri"] == ""  # for this run only


def test_with_tracking_off_a_run_does_not_import_mlflow(tmp_path):
    project = tiny_project(tmp_path).path
    code = ("import sys; from app.cli import main; "
            f"code = main(['train', {str(project)!r}, '--epochs', '1']); "
            "print('mlflow imported' if 'mlflow' in sys.modules else 'mlflow not imported'); sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("mlflow not imported")
    assert not list(tmp_path.rglob("mlflow.db"))


def test_a_tracking_server_that_cannot_be_reached_is_one_warning_and_the_run_finishes(tmp_path):
    tiny_project(tmp_path)
    done = graft("train", "tiny.graft", "--epochs", "1", "--mlflow", "http://127.0.0.1:9", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "training finished" in done.stdout and "MLflow" not in done.stdout
    warnings = [line for line in done.stderr.splitlines() if "MLflow" in line]
    assert len(warnings) == 1 and warnings[0].startswith("graft: warning: MLflow: not logged to")
