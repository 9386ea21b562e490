"""Hyperparameter sweeps with Optuna: every trial is an ordinary run of the project with the
trial's values applied, and the study lives in a database beside the project.

`run_sweep` runs trials on the calling thread (Keras keeps its state per thread, so the
editor runs the whole sweep on one worker thread, and `graft sweep` on its main one). A trial
applies its values to a copy of the project through the same core commands an edit uses
(`trial_changes`), trains it with `runner.train`, reports the objective at each epoch's end
and is pruned (its run stopped) when Optuna's median pruner says so. Several processes, on
one machine or many, may work on one study: each starts a trial only while the study has
fewer finished, pruned and running trials than asked for, so together they run exactly that
many, and run folders are claimed atomically (`Run._new_folder`).

`sweep_results` reads a study back (the trials table), and `best_changes` is the one
undoable command that puts the best trial's values into the project (the editor's Apply best,
`graft sweep --apply`)."""

from __future__ import annotations

import contextlib
import json
import math
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from app.core.document.atomic import atomic_write_text
from app.core.document.fileformat import snapshot
from app.core.document.project import Project
from app.core.document.sweep_space import (
    BATCH_SIZE,
    DROPOUT,
    LEARNING_RATE,
    NODE_PARAMS,
    OPTIMIZER,
    TRAINABLE,
    UNITS,
    default_space,
    parameter_name,
    problems,
)
from app.core.document.training_setup import SETTINGS, ConfigError
from app.core.editing.commands import Command, CommandStack, Macro, SetParams, edit_training
from app.core.training.events import DIVERGED, FINISHED, EpochEnded, RunControl, RunStarted
from app.core.training.record import RECORD_FILE, read_record, write_user_fields

STUDY_SUFFIX = ".sweep.db"
PRUNE_AFTER = 3  # trials that must complete before the median pruner judges another
COMPLETE, PRUNED, FAILED, RUNNING = "complete", "pruned", "failed", "running"
SQLITE_WAIT_S = 60  # how long a write waits for another process's lock on a SQLite study
STORAGE_ATTEMPTS = 4


class SweepError(Exception):
    """A sweep that cannot start or go on, with what to change."""


@dataclass(frozen=True)
class TrialResult:
    """One trial of a study: its values by parameter name, its objective (the best epoch's; for
    a pruned trial the value it was pruned at; None for a failed one), its run folder and, for
    one that did not complete, why."""

    number: int
    state: str
    value: float | None
    params: dict
    run_dir: str | None = None
    message: str = ""
    targets: dict = field(default_factory=dict)  # what each value sets: the space's entry, by name


@dataclass(frozen=True)
class SweepResults:
    study: str
    objective: str
    trials: list[TrialResult]
    best: TrialResult | None  # the completed trial with the lowest objective


@dataclass(frozen=True)
class TrialStarted:
    number: int
    params: dict


@dataclass(frozen=True)
class TrialEnded:
    trial: TrialResult


@dataclass(frozen=True)
class SweepEnded:
    message: str
    stopped: bool  # by the user (Ctrl+C, Stop), before the study had its trials
    failed: bool = False  # a trial failed, which would fail the next ones too


class _SweepStopped(Exception):
    """The user stopped the sweep; the trial in progress is recorded as failed."""


class _TrialFailed(Exception):
    """A trial's run failed (not diverged): the sweep stops rather than fail every trial."""


class _Surplus(Exception):
    """Other processes started the study's last trials first: this trial does not run."""


# -- the study -----------------------------------------------------------------------------------

def study_name(project: Project) -> str:
    return project.path.stem


def default_storage(project: Project) -> str:
    """`sqlite:///<project folder>/<stem>.sweep.db`, beside the project's file."""
    return f"sqlite:///{project.path.parent.resolve() / (project.path.stem + STUDY_SUFFIX)}"


def space_of(project: Project) -> tuple[dict, bool]:
    """The project's sweep space, or the default one (and True) when it has none."""
    sweep = project.training.sweep
    return (sweep, False) if sweep is not None else (default_space(SETTINGS, project.training.phases), True)


def sweep_problems(project: Project, space: dict) -> list[str]:
    """What stops a sweep of `space` from starting: no parameters, or one that names a node
    or phase the project does not have (the graph and the setup are checked by each run)."""
    if not space["parameters"]:
        return ["the sweep searches nothing; add a parameter to search"]
    return problems(space, project.graph, project.training.phases)


def objective_of(project: Project, space: dict) -> str:
    return space["objective"] or project.training.settings["monitor"]


def _optuna():
    try:
        import optuna
    except ImportError:
        raise SweepError("sweeps need Optuna: pip install optuna") from None
    return optuna


def _storage(url: str):
    optuna = _optuna()
    from sqlalchemy.exc import DBAPIError

    options = {"connect_args": {"timeout": SQLITE_WAIT_S}} if url.startswith("sqlite") else {}
    attempt = 0
    while True:
        try:
            with warnings.catch_warnings():  # the heartbeat is "experimental" since Optuna 2.8
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                # The heartbeat marks a trial whose process died as failed, so it no longer counts.
                return optuna.storages.RDBStorage(url, engine_kwargs=options, heartbeat_interval=60)
        except DBAPIError as error:
            # Two processes opening a new database at once: one's tables and version are written
            # while the other writes them too; the second attempt finds them.
            attempt += 1
            if attempt == STORAGE_ATTEMPTS:
                raise SweepError(f"cannot open the study's storage {_shown_url(url)}: {error.orig}") from None
            time.sleep(0.5 * attempt)
        except Exception as error:  # noqa: BLE001 - a bad URL or an unreachable server: say which
            raise SweepError(f"cannot open the study's storage {_shown_url(url)}: {error}") from None


def _shown_url(url: str) -> str:
    """The storage URL without its password, for messages and run records."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


def _counted(study, states) -> list:
    return study.get_trials(deepcopy=False, states=states)


# -- running it ------------------------------------------------------------------------------------

def run_sweep(project: Project, trials: int | None = None, storage: str | None = None,
              timeout: float | None = None, *, sink: Callable[[object], None] = lambda event: None,
              control: RunControl | None = None, seed: int | None = None) -> SweepEnded:
    """Run trials of the project's sweep until its study has `trials` finished or pruned ones
    (default: the space's), `timeout` seconds have passed, or `control` stops it. Every
    trial is a run in the project's runs folder. `sink` receives each run's events and this
    module's TrialStarted, TrialEnded and, last, SweepEnded. `seed` seeds the sampler (a
    fixed one in two processes would sample the same values). Raises SweepError where the
    sweep cannot start; a trial's own failure ends the sweep with its message."""
    optuna = _optuna()
    if project.path is None:
        raise SweepError("save the project first: a sweep keeps its study and runs beside it")
    space, _ = space_of(project)
    found = sweep_problems(project, space)
    if found:
        raise SweepError("the sweep does not fit the project:\n" + "\n".join(f"  - {m}" for m in found))
    control = control or RunControl()
    total = trials or space["trials"]
    timeout = timeout if timeout is not None else space["timeout"]
    url = storage or default_storage(project)
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
              optuna.trial.TrialState.RUNNING)
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=PRUNE_AFTER) if space["pruning"]
              else optuna.pruners.NopPruner())
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # the sink says what happens
    try:
        study = optuna.create_study(storage=_storage(url), study_name=study_name(project),
                                    direction="minimize", load_if_exists=True, pruner=pruner,
                                    sampler=optuna.samplers.TPESampler(seed=seed))
        if len(_counted(study, states)) >= total:
            ended = SweepEnded(f"the study {study.study_name!r} has its {total} trials already; ask for "
                               "more trials to go on with it", stopped=False)
        else:
            ended = _optimize(project, study, space, total, timeout, url, sink, control, states)
    finally:
        optuna.logging.set_verbosity(verbosity)
    sink(ended)
    return ended


def _optimize(project, study, space, total, timeout, url, sink, control, states) -> SweepEnded:
    targets = {parameter_name(entry): entry for entry in space["parameters"]}
    objective_name = objective_of(project, space)

    def objective(trial) -> float:
        ahead = [t for t in _counted(study, states) if t.number < trial.number]
        if len(ahead) >= total:
            trial.set_user_attr("skipped", True)
            study.stop()
            raise _Surplus
        if control.stop_requested:
            trial.set_user_attr("skipped", True)
            raise _SweepStopped
        values = {name: _suggest(trial, name, entry) for name, entry in targets.items()}
        trial.set_user_attr("targets", targets)
        sink(TrialStarted(trial.number, values))
        return _run_trial(project, trial, values, targets, objective_name, url, sink, control)

    def enough(study, _trial) -> None:
        if len(_counted(study, states)) >= total:
            study.stop()

    try:
        study.optimize(objective, timeout=timeout, catch=(_Surplus,), callbacks=[enough])
    except _SweepStopped:
        return SweepEnded("the sweep was stopped; run it again to go on with the study", stopped=True)
    except _TrialFailed as error:
        return SweepEnded(f"the sweep stopped: {error}", stopped=False, failed=True)
    done, running = len(_counted(study, states[:2])), len(_counted(study, states[2:]))
    elsewhere = f" ({running} running in another process)" if running else ""
    return SweepEnded(f"the study {study.study_name!r} has {done} of {total} trials{elsewhere}",
                      stopped=False)


def _suggest(trial, name: str, entry: dict):
    kind = entry["kind"]
    if kind == LEARNING_RATE:
        return trial.suggest_float(name, entry["low"], entry["high"], log=True)
    if kind in (BATCH_SIZE, OPTIMIZER):
        return trial.suggest_categorical(name, entry["choices"])
    if kind == DROPOUT:
        return trial.suggest_float(name, entry["low"], entry["high"])
    return trial.suggest_int(name, entry["low"], entry["high"], log=entry.get("log", False))


class _TrialControl(RunControl):
    """A trial's run control: stopped when pruned, or when the whole sweep is."""

    def __init__(self, sweep: RunControl):
        super().__init__()
        self.sweep = sweep

    def checkpoint(self) -> None:
        if self.sweep.stop_requested:
            self.stop()
        super().checkpoint()


def _run_trial(project, trial, values, targets, objective_name, url, sink, control) -> float:
    from app.core.training.runner import train

    optuna = _optuna()
    copy = snapshot(project)
    CommandStack(copy).push(Macro(f"Trial {trial.number}", trial_changes(copy, targets, values)))
    trial_control = _TrialControl(control)
    seen = {"best": math.inf, "last": None, "pruned": False, "run_dir": None}

    def trial_sink(event) -> None:
        sink(event)
        if isinstance(event, RunStarted):
            seen["run_dir"] = event.run_dir
            trial.set_user_attr("run_dir", event.run_dir)
        elif isinstance(event, EpochEnded):
            value = event.logs.get(objective_name, event.logs.get("loss"))
            if value is None or not math.isfinite(value):
                return
            seen["best"], seen["last"] = min(seen["best"], value), value
            trial.report(value, event.global_epoch)
            if trial.should_prune():
                seen["pruned"] = True
                trial_control.stop()

    ended = train(copy, sink=trial_sink, control=trial_control)
    state, value, message = COMPLETE, None, ""
    if seen["pruned"]:
        state, value = PRUNED, seen["last"]
        message = "pruned: worse than the median of earlier trials at this epoch"
    elif ended.status == DIVERGED:
        state, value, message = PRUNED, seen["last"], f"pruned: {ended.message}"
    elif control.stop_requested and ended.status != FINISHED:
        state, message = FAILED, "stopped with the sweep"
    elif ended.status != FINISHED or not math.isfinite(seen["best"]):
        state, message = FAILED, ended.message
    else:
        value = seen["best"]
    trial.set_user_attr("message", message)
    result = TrialResult(trial.number, state, value, values, seen["run_dir"], message, targets)
    if seen["run_dir"]:
        record_trial(Path(seen["run_dir"]), study_name(project), _shown_url(url), result)
    sink(TrialEnded(result))
    if state == PRUNED:
        raise optuna.TrialPruned(message)
    if state == FAILED:
        raise _SweepStopped if control.stop_requested else _TrialFailed(f"trial {trial.number} failed: "
                                                                        f"{message}")
    return value


def record_trial(folder: Path, study: str, storage: str, trial: TrialResult) -> None:
    """The trial in its run's record: tags `sweep` and `trial N`, and a "sweep" key with the
    study, the trial's number, values, state and objective (docs/project-format.md)."""
    record = read_record(folder)
    if record is None:
        return
    record["sweep"] = {"study": study, "storage": storage, "trial": trial.number, "params": trial.params,
                       "state": trial.state, "value": trial.value}
    text = json.dumps(record, indent=2, allow_nan=False) + "\n"
    atomic_write_text(folder / RECORD_FILE, text, newline="\n")
    write_user_fields(folder, tags=[*record["tags"], "sweep", f"trial {trial.number}"])


# -- values into a project ---------------------------------------------------------------------------

def trial_changes(project: Project, targets: dict, values: dict) -> list[Command]:
    """The commands that give `project` a trial's `values` (by parameter name; `targets` says
    what each sets): one setup edit for the settings and phases, one per node parameter.
    Raises ConfigError where a value's node or phase is no longer in the project."""
    settings = dict(project.training.settings)
    phases = [phase.to_dict() for phase in project.training.phases]
    by_name = {phase["name"]: phase for phase in phases}
    commands: list[Command] = []
    for name, value in values.items():
        entry = targets[name]
        kind, phase_name = entry["kind"], entry.get("phase")
        if phase_name is not None and phase_name not in by_name:
            raise ConfigError("training.sweep", f"{name}: there is no phase {phase_name!r} any more")
        if kind in (BATCH_SIZE, OPTIMIZER) or (kind == LEARNING_RATE and phase_name is None):
            settings[kind] = value
        elif kind == LEARNING_RATE:
            by_name[phase_name]["learning_rate"] = value
        elif kind == TRAINABLE:
            by_name[phase_name]["trainable"] = {**by_name[phase_name]["trainable"], entry["node"]: value}
        elif kind in (DROPOUT, UNITS):
            node = project.graph.node_by_name(entry["node"])
            if node is None:
                raise ConfigError("training.sweep", f"{name}: there is no node {entry['node']!r} any more")
            commands.append(SetParams(node.id, {NODE_PARAMS[kind]: value}))
    if settings != project.training.settings or phases != [p.to_dict() for p in project.training.phases]:
        commands.insert(0, edit_training(project.training, "Set trial values", settings=settings,
                                         phases=phases))
    return commands


def best_changes(project: Project, best: TrialResult) -> Macro:
    """One undoable command that gives the project the best trial's values."""
    return Macro(f"Apply best trial {best.number}", trial_changes(project, best.targets, best.params))


# -- reading a study back -----------------------------------------------------------------------------

def sweep_results(project: Project, storage: str | None = None) -> SweepResults:
    """The project's study as it stands: every trial (not those skipped: the study had its
    trials, or the sweep was stopped, before they began), oldest first, and the best completed
    one. An empty list where there is no study yet (nothing is created to say so)."""
    space, _ = space_of(project)
    objective = objective_of(project, space)
    name = study_name(project)
    url = storage or default_storage(project)
    empty = SweepResults(name, objective, [], None)
    if storage is None and not Path(url.removeprefix("sqlite:///")).is_file():
        return empty
    optuna = _optuna()
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        with contextlib.suppress(KeyError):  # no study of that name in the storage yet
            study = optuna.load_study(study_name=name, storage=_storage(url))
            return _results(study, name, objective)
    finally:
        optuna.logging.set_verbosity(verbosity)
    return empty


def _results(study, name: str, objective: str) -> SweepResults:
    states = {"COMPLETE": COMPLETE, "PRUNED": PRUNED, "FAIL": FAILED, "RUNNING": RUNNING}
    trials = [TrialResult(t.number, states.get(t.state.name, t.state.name.lower()), _value(t), dict(t.params),
                          t.user_attrs.get("run_dir"), t.user_attrs.get("message", ""),
                          t.user_attrs.get("targets", {}))
              for t in study.get_trials(deepcopy=False) if not t.user_attrs.get("skipped")]
    complete = [t for t in trials if t.state == COMPLETE and t.value is not None]
    return SweepResults(name, objective, trials, min(complete, key=lambda t: t.value, default=None))


def _value(trial) -> float | None:
    """A completed trial's objective; a pruned one's last reported value."""
    if trial.state.name == "COMPLETE":
        return trial.value
    if trial.state.name == "PRUNED" and trial.intermediate_values:
        return trial.intermediate_values[max(trial.intermediate_values)]
    return None
