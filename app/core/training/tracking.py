"""Each run logged to MLflow (the `tracking_uri` setting, or `graft train --mlflow URI`): its
parameters (settings, phases, data), its metrics per epoch (step: the epoch over the whole run),
tags (Graft's version, the project, the run folder, its status and the user's tags), the run
record and the trained model (`model/model.keras`, which `keras.saving.load_model` reads).

MLflow is an optional extra, imported only when a run is tracked. The tracker is the run's sink
(it passes every event on) and logs through `MlflowClient` with the MLflow run's id, never the
fluent API's active run: the editor trains on a worker thread. Every MLflow call runs in order
on one thread of its own, so a slow or unreachable server never slows the training down; the
first failure becomes one warning line (the `warning` of the run's RunEnded), nothing more
of that run is logged, and the run goes on. The run's end waits for the calls already queued."""

from __future__ import annotations

import json
import logging
import socket
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlparse

from app.core.training.events import (
    DIVERGED,
    FAILED,
    FINISHED,
    STOPPED,
    EpochEnded,
    Evaluated,
    RunEnded,
    RunStarted,
)
from app.core.training.record import RECORD_FILE, read_record
from app.core.training.run import RunError

STORE_FILE, ARTIFACTS = "mlflow.db", "mlartifacts"  # what a folder store holds
MODEL_FILE = "model.keras"
RUN_DIR_TAG = "graft.run_dir"  # how a resumed run finds the MLflow run it goes on with
STATUSES = {FINISHED: "FINISHED", STOPPED: "KILLED", DIVERGED: "FAILED", FAILED: "FAILED"}
CONNECT_SECONDS = 5.0  # MLflow itself retries an unreachable server for minutes
BATCH = 100  # params per log_batch call (MLflow's limit)


def tracker(project, sink, uri: str | None = None) -> Tracker | None:
    """The tracker of a run of `project` that sends its events to `sink`, or None when tracking
    is off. `uri` overrides the project's `tracking_uri` setting (a folder in it is relative to
    the current directory, one in the setting to the project's folder). Raises RunError when
    MLflow is not installed: the user asked for tracking, so the run does not start without it."""
    if uri is None:
        text, base_dir = project.training.settings["tracking_uri"], project.context.base_dir
    else:
        text, base_dir = uri, Path.cwd()
    if not text.strip():
        return None
    try:
        import mlflow  # noqa: F401 - only to know it is there before the run starts
    except ImportError:
        raise RunError(f"tracking to {text.strip()} needs MLflow, which is not installed: pip install "
                       "'graft-studio[mlflow]', or clear the tracking URI") from None
    return Tracker(store_uri(text, base_dir), sink)


def store_uri(text: str, base_dir: Path) -> str:
    """The tracking URI for `text`: a URI as it is; a folder (relative to `base_dir`) becomes a
    SQLite store in it, because MLflow 3 no longer writes plain folder stores."""
    text = text.strip()
    if len(urlparse(text).scheme) > 1:  # one letter is a Windows drive
        return text
    folder = (Path(base_dir) / Path(text).expanduser()).resolve()
    return f"sqlite:///{(folder / STORE_FILE).as_posix()}"


def run_params(record: dict) -> dict[str, str]:
    """A run record's settings, phases and data as MLflow params: flat names
    (`settings.learning_rate`, `phases.1.trainable`, `data.path`), values as the project file
    writes them."""
    params = {f"settings.{key}": value for key, value in record["settings"].items() if key != "tracking_uri"}
    for index, phase in enumerate(record["phases"]):
        params |= {f"phases.{index}.{key}": value for key, value in phase.items()}
    data = record.get("data") or {}
    params |= {f"data.{key}": data.get(key)
               for key in ("source", "path", "validation_path", "train_samples", "validation_samples")}
    params |= {f"data.{key}": value for key, value in (data.get("split") or {}).items()}
    document = (record.get("project") or {}).get("document") or {}
    params["data.mapping"] = document.get("training", {}).get("data", {}).get("mapping")
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in params.items()}


class Tracker:
    """One run's MLflow run: the runner sets `run` once the run is made, sends the run's events
    through it, and calls `end` with how the run ended."""

    def __init__(self, uri: str, sink):
        self.uri, self.sink = uri, sink
        self.run = None  # the Run (run.py): its folder, history and model
        self.following = False  # an MLflow run was asked for: the run started, on the chief
        self.client, self.run_id = None, None  # MLflow's, once the tracker's thread made them
        self.step = 0  # the last epoch logged, over the whole run
        self.problem: str | None = None  # the warning, once a call failed
        self.calls = ThreadPoolExecutor(max_workers=1, thread_name_prefix="graft-mlflow")

    # -- on the training thread -----------------------------------------------------------------

    def __call__(self, event) -> None:
        self.sink(event)
        if isinstance(event, RunStarted) and getattr(self.run, "chief", True):  # one MLflow run per run
            self.following = True
            resumed = event.resumed_from is not None
            self._later(self._start, Path(event.run_dir), resumed, list(self.run.history))
        elif isinstance(event, EpochEnded) and self.following:
            self.step = event.global_epoch
            self._later(self._log_metrics, [(event.global_epoch, event.logs)])
        elif isinstance(event, Evaluated) and self.following:
            evaluated = {f"evaluation/{name}": value for name, value in event.metrics.items()}
            self._later(self._log_metrics, [(self.step, evaluated)])

    def end(self, ended: RunEnded) -> RunEnded:
        """Log how the run ended and its model, wait for every call, and return `ended` with
        the warning when logging failed."""
        with tempfile.TemporaryDirectory(prefix="graft-mlflow-") as scratch:
            if self.following and not self.problem:
                self._later(self._finish, ended.status, self._saved_model(ended, Path(scratch)))
            self.calls.shutdown(wait=True)
        return replace(ended, warning=self.problem) if self.problem else ended

    def _saved_model(self, ended: RunEnded, scratch: Path) -> Path | None:
        """The run's model with the weights it ended with (those the project now points at), as a
        .keras file; saved here, on the run's thread, because Keras keeps per-thread state."""
        if ended.weights is None or not hasattr(self.run, "model"):
            return None
        try:
            self.run.model.load_weights(self.run.folder / Path(ended.weights).name)
            self.run.model.save(scratch / MODEL_FILE)
        except Exception as error:  # noqa: BLE001 - the run is over and written; only the artifact is lost
            self._warn("the model could not be saved for", error)
            return None
        return scratch / MODEL_FILE

    def _later(self, call, *args) -> None:
        self.calls.submit(self._safely, call, *args)

    # -- on the tracker's thread ------------------------------------------------------------------

    def _safely(self, call, *args) -> None:
        if self.problem:
            return  # one warning per run: nothing more is logged after a failure
        try:
            call(*args)
        except Exception as error:  # noqa: BLE001 - tracking never fails the run
            self._warn("not logged to", error)

    def _warn(self, what: str, error: Exception) -> None:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        self.problem = self.problem or (
            f"MLflow: {what} {self.uri} ({reason}); check that the tracking server runs and the "
            "tracking URI is right (the tracking_uri setting, or graft train --mlflow)")

    def _client(self):
        """The client, once the server answers; a folder store's folder is made."""
        import mlflow

        logging.getLogger("mlflow").setLevel(logging.WARNING)  # not its lines among the run's

        where = urlparse(self.uri)
        if where.scheme in ("http", "https"):
            port = where.port or (443 if where.scheme == "https" else 80)
            try:
                socket.create_connection((where.hostname, port), timeout=CONNECT_SECONDS).close()
            except OSError as error:
                raise ConnectionError(f"cannot connect: {error.strerror or error}") from None
        elif where.scheme == "sqlite":
            self._database().parent.mkdir(parents=True, exist_ok=True)
        return mlflow.MlflowClient(self.uri)

    def _database(self) -> Path:
        return Path(self.uri[len("sqlite:///"):]).resolve()

    def _experiment(self, client, name: str) -> str:
        """The experiment named after the project, made when new; a local store keeps its
        artifacts beside its database (MLflow's default is the current directory)."""
        found = client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        location = (self._database().parent / ARTIFACTS).as_uri() if self.uri.startswith("sqlite:") else None
        try:
            return client.create_experiment(name, artifact_location=location)
        except Exception:
            found = client.get_experiment_by_name(name)  # another process made it just now
            if found is None:
                raise
            return found.experiment_id

    def _start(self, folder: Path, resumed: bool, earlier: list[dict]) -> None:
        from mlflow.entities import Param
        from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

        self.client = client = self._client()
        record = read_record(folder)
        project = ((record.get("project") or {}).get("document") or {}).get("name") or folder.parent.stem
        experiment = self._experiment(client, project)
        if resumed and (run := self._earlier_run(experiment, folder)) is not None:
            self.run_id = run.info.run_id  # a resumed run goes on in the MLflow run it started
            client.update_run(self.run_id, status="RUNNING")
            return
        tags = {RUN_DIR_TAG: str(folder), "graft.run_folder": folder.name, "graft.project": project,
                "graft.version": record["packages"].get("graft", ""), "graft.status": record["status"],
                "graft.project_sha256": (record.get("project") or {}).get("sha256") or "",
                "graft.tags": ", ".join(record["tags"])}
        self.run_id = client.create_run(experiment, tags=tags, run_name=record["name"]).info.run_id
        params = [Param(key, value[:MAX_PARAM_VAL_LENGTH]) for key, value in run_params(record).items()]
        for first in range(0, len(params), BATCH):
            client.log_batch(self.run_id, params=params[first:first + BATCH])
        # a resumed run that was not tracked before: its earlier epochs too
        self._log_metrics([(step, {k: v for k, v in row.items() if k not in ("phase", "epoch")})
                           for step, row in enumerate(earlier, 1)])

    def _earlier_run(self, experiment: str, folder: Path):
        quote = '"' if "'" in str(folder) else "'"
        found = self.client.search_runs([experiment], f"tags.`{RUN_DIR_TAG}` = {quote}{folder}{quote}",
                                        max_results=1, order_by=["attributes.start_time DESC"])
        return found[0] if found else None

    def _log_metrics(self, rows: list[tuple[int, dict]]) -> None:
        from mlflow.entities import Metric
        from mlflow.utils.validation import MAX_METRICS_PER_BATCH

        now = int(time.time() * 1000)
        metrics = [Metric(key, float(value), now, step) for step, logs in rows for key, value in logs.items()
                   if isinstance(value, int | float) and not isinstance(value, bool)]
        for first in range(0, len(metrics), MAX_METRICS_PER_BATCH):
            self.client.log_batch(self.run_id, metrics=metrics[first:first + MAX_METRICS_PER_BATCH])

    def _finish(self, status: str, model: Path | None) -> None:
        """The run's final name, tags and status, then its record and model as artifacts."""
        from mlflow.entities import RunTag

        client, folder = self.client, self.run.folder
        record = read_record(folder)
        tags = {"graft.status": status, "graft.tags": ", ".join(record["tags"])}
        if record["notes"]:
            tags["mlflow.note.content"] = record["notes"]  # the description MLflow's UI shows
        client.log_batch(self.run_id, tags=[RunTag(key, value) for key, value in tags.items()])
        client.update_run(self.run_id, name=record["name"])
        client.set_terminated(self.run_id, STATUSES.get(status, "FAILED"))
        client.log_artifact(self.run_id, str(folder / RECORD_FILE))
        if model is not None:
            client.log_artifact(self.run_id, str(model), "model")
