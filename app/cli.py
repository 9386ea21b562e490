"""Command line: `graft [PROJECT]` (the editor), `graft validate PROJECT`, `graft summary PROJECT`,
`graft train PROJECT`, `graft export PROJECT`, `graft runs PROJECT`, `graft sweep PROJECT`,
`graft --version`.

Exit codes: 0 fine, 1 problems (the project has errors, training or export failed, the disk or
a permission refused a write), 2 unreadable input (a project file that cannot be read, a wrong
option), 130 interrupted by Ctrl+C (a stopped run can be resumed). A user never sees a
traceback for their own mistake or their machine's state: `main` turns those into one line,
"graft: …". Only a bug shows its traceback, followed by a line that says it is one; it exits 1
like any failure, so scripts need to know only the four codes above."""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import signal
import sys
import textwrap
import time
import traceback
from pathlib import Path

from app.core.document.fileformat import ProjectError, save
from app.core.document.paths import inside
from app.core.document.project import SUFFIX, changed_models
from app.core.editing.layout import open_project
from app.tensorflow_noise import filter_tensorflow_start_up, quiet_tensorflow
from app.versions import version_text

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_CODES = ("exit codes: 0 fine, 1 problems or a failed run, 2 unreadable input, a wrong option or "
              "missing system libraries for the editor, 130 interrupted (Ctrl+C)")
BUG = "graft: this is a bug in Graft; please report it with the text above"
USAGE = """graft [PROJECT.graft ...]
       graft COMMAND PROJECT.graft [OPTIONS]
       graft --help | --version | --install-desktop"""
DESCRIPTION = """Compose pretrained Keras models on a node graph.

  graft                 open the editor
  graft PROJECT.graft   open that project in the editor (several: a window each)
  graft COMMAND ...     work on a project without the editor; graft COMMAND --help
                        says how"""


def _load(path: str):
    if Path(path).is_dir():
        inside_it = ", ".join(sorted(p.name for p in Path(path).glob(f"*{SUFFIX}")))
        print(f"graft: {path} is a folder, not a project file; give the {SUFFIX} file in it"
              f"{f' ({inside_it})' if inside_it else ''}", file=sys.stderr)
        return None
    try:
        return open_project(path)  # laid out where the file gives no positions, as the editor does
    except ProjectError as error:
        print(f"graft: cannot open project: {error}", file=sys.stderr)
        return None


def cmd_validate(args) -> int:
    from app.core.analysis.validate import ERROR, WARNING, analyze

    project = _load(args.project)
    if project is None:
        return EXIT_USAGE
    graph = project.graph
    analysis = analyze(graph, project.context)
    print(f"{args.project}: {len(graph.nodes)} nodes, {len(graph.edges)} edges")
    for message in changed_models(project):
        print(f"warning: {message}")
    for problem in analysis.problems:
        print(problem)
    errors = sum(p.severity == ERROR for p in analysis.problems)
    warnings = sum(p.severity == WARNING for p in analysis.problems)
    print(f"{errors} error(s), {warnings} warning(s)" if analysis.problems else "no problems")
    return EXIT_PROBLEMS if errors else EXIT_OK


def cmd_summary(args) -> int:
    from app.core.analysis.validate import analyze
    from app.core.build.compile import CompileError, compile_graph

    project = _load(args.project)
    if project is None:
        return EXIT_USAGE
    analysis = analyze(project.graph, project.context)
    compiled = None
    if analysis.ok:
        try:
            compiled = compile_graph(project.graph, project.context, analysis)
        except CompileError as error:
            print(f"compile failed: {error}")
            return EXIT_PROBLEMS
    print(f"{project.name} ({args.project})")
    print(_node_table(project.graph, analysis, compiled.param_counts() if compiled else {}))
    print(_cost_totals(project, analysis))
    for problem in analysis.problems:
        print(problem)
    if compiled is None:
        print("the model cannot be compiled until the errors above are fixed")
        return EXIT_PROBLEMS
    print()
    compiled.model.summary(print_fn=lambda line, **_: print(line))
    return EXIT_OK


def _node_table(graph, analysis, compiled_counts: dict) -> str:
    """One row per node: its output shape(s), parameters and, once compiled, trainable ones,
    then its cost (analysis/cost.py): multiply-adds and activation memory per sample, and the
    memory of its parameters."""
    from app.core.analysis.cost import cost_texts
    from app.core.nodes import node_type

    rows = [("node", "type", "output shape", "params", "trainable", "multiply-adds", "params memory",
             "activations")]
    for node in graph.nodes:
        result = analysis.nodes.get(node.id)
        if result is None or result.outputs is None:
            shape = "?"
        elif result.outputs:
            shape = "  ".join(f"{p}={s}" if len(result.outputs) > 1 else str(s)
                              for p, s in result.outputs.items())
        else:  # an Output: show what it returns
            shape = "  ".join(str(s) for s in result.inputs.values())
        total, trainable = compiled_counts.get(node.id, (None, None))
        if total is None and result is not None:
            total, trainable = result.param_count, result.trainable_count
        rows.append((node.name, node_type(node.type).title, shape,
                     "?" if total is None else f"{total:,}",
                     "" if trainable is None else f"{trainable:,}",
                     *cost_texts(result.cost if result is not None else None)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for i, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) if j < 3 else cell.rjust(w)
                               for j, (cell, w) in enumerate(zip(row, widths))).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cost_totals(project, analysis) -> str:
    """The graph's cost summed, and what training takes for the setup's batch size: in each
    phase, the one that takes the most (or with each node's own freezing, without phases)."""
    from app.core.analysis.cost import cost_texts, training_memory, training_memory_text
    from app.core.analysis.freezing import trainable_by_node

    total = analysis.cost_totals()
    macs, params, activations = cost_texts(total)
    lines = [f"total: {'at least ' if total.partial else ''}{macs} multiply-adds per sample, {params} "
             f"of parameters, {activations} of activations per sample"]
    estimates = []
    for phase in project.training.phases or [None]:
        by_node = trainable_by_node(project.graph, analysis, project.context,
                                    phase.trainable if phase else None)
        if by_node is not None:
            estimate = training_memory(analysis, project.graph, by_node, project.training.settings)
            estimates.append((estimate.total, phase.name if phase else "", estimate))
    if estimates:
        _, phase_name, estimate = max(estimates, key=lambda item: item[0])
        in_phase = f" (phase {phase_name!r}, the largest)" if len(estimates) > 1 else ""
        lines.append(training_memory_text(estimate) + in_phase)
    return "\n".join(lines)


def cmd_train(args) -> int:
    """The editor's runner, headless: a text progress bar, then the project points at the
    trained weights (saved in place)."""
    from app.core.document.training_setup import ConfigError
    from app.core.training.events import DIVERGED, FINISHED, STOPPED, RunControl
    from app.core.training.runner import train

    if args.reproduce:
        return cmd_reproduce(args)
    if args.project is None:
        print("graft: train needs a project: graft train PROJECT.graft (or --reproduce RUN_FOLDER)",
              file=sys.stderr)
        return EXIT_USAGE
    project = _load(args.project)
    if project is None:
        return EXIT_USAGE
    try:
        project.training.run_phases(args.phase, args.epochs)
    except ConfigError as error:
        print(f"graft: {error}", file=sys.stderr)
        return EXIT_USAGE
    if not args.resume and not _training_data_fits(project):
        return EXIT_PROBLEMS
    if args.strategy != "default":
        _show_strategy_notes()
    control = RunControl()
    with _ctrl_c_stops(control) as interrupts:
        ended = train(project, sink=TextProgress(), control=control, phase=args.phase,
                      epochs=args.epochs, out_dir=args.out, resume=args.resume, strategy=args.strategy,
                      tracking_uri=args.mlflow)
        interrupts.saving = True
        saved = True
        if ended.weights and ended.status in (FINISHED, STOPPED, DIVERGED):
            saved = _use_weights(project, ended.weights, args.project)
    if ended.details:  # the traceback of what the runner did not foresee
        print(ended.details, file=sys.stderr)
    if ended.status == FINISHED:
        print(ended.message)
    else:
        print(ended.message if ended.status == STOPPED else f"graft: {ended.message}", file=sys.stderr)
    if ended.warning:
        print(f"graft: warning: {ended.warning}", file=sys.stderr)
    if ended.details:
        print(BUG, file=sys.stderr)
    if not saved:
        return EXIT_PROBLEMS
    if interrupts.count:
        return EXIT_INTERRUPTED
    return {FINISHED: EXIT_OK, STOPPED: EXIT_INTERRUPTED}.get(ended.status, EXIT_PROBLEMS)


def cmd_reproduce(args) -> int:
    """`graft train --reproduce RUN_FOLDER`: the run's record trained again into a new folder
    beside it (or --out), then whether it matches: the same data and every phase's final
    metrics. A data file that changed since is said first, and the run goes on (its numbers
    show how much the change matters); the end lists it with the metrics that differ. Exit 0
    when it matches, 1 when not (or the run did not finish)."""
    from app.core.training.events import FINISHED, STOPPED, RunControl
    from app.core.training.record import (
        RecordError,
        changed_files,
        metric_differences,
        next_run_folder,
        read_record,
        recorded_project,
    )
    from app.core.training.runner import train

    refused = [option for option, value in (("PROJECT", args.project), ("--resume", args.resume),
                                            ("--phase", args.phase), ("--epochs", args.epochs),
                                            ("--strategy", args.strategy != "default")) if value]
    if refused:
        print(f"graft: --reproduce runs the record as it was; leave out {', '.join(refused)}",
              file=sys.stderr)
        return EXIT_USAGE
    original = Path(args.reproduce)
    try:
        project, record = recorded_project(original)
    except RecordError as error:
        print(f"graft: {error}", file=sys.stderr)
        return EXIT_USAGE
    changes = changed_files(record, project.context.base_dir)
    if changes:
        print(f"graft: the data changed since {original}: {'; '.join(changes)}; the results will differ",
              file=sys.stderr)
    folder = Path(args.out) if args.out else next_run_folder(original)
    control = RunControl()
    with _ctrl_c_stops(control) as interrupts:
        ended = train(project, sink=TextProgress(), control=control, out_dir=folder, tracking_uri=args.mlflow)
    if ended.details:
        print(ended.details, file=sys.stderr)
        print(BUG, file=sys.stderr)
    if ended.status != FINISHED:
        print(ended.message if ended.status == STOPPED else f"graft: {ended.message}", file=sys.stderr)
        return EXIT_INTERRUPTED if interrupts.count or ended.status == STOPPED else EXIT_PROBLEMS
    differences = [f"data: {change}" for change in changes]
    differences += metric_differences(record, read_record(folder) or {})
    if differences:
        print(f"graft: the run does not match {original}:", file=sys.stderr)
        for line in differences:
            print(f"  - {line}", file=sys.stderr)
        print(f"the new run is in {folder}")
        return EXIT_PROBLEMS
    print(f"the metrics match {original}: every phase's final metrics within 1e-6 (relative); "
          f"the new run is in {folder}")
    return EXIT_OK


def _training_data_fits(project) -> bool:
    """The data checks before the first epoch (data_checks.py), each problem on stderr: False
    when one is an error, which would stop the run. Warnings are told and training goes on. A
    resumed run trains on the setup it recorded, which the run itself checks."""
    from app.core.analysis.validate import ERROR, analyze
    from app.core.training.data_checks import check_data

    analysis = analyze(project.graph, project.context)
    if not analysis.ok:
        return True  # the run lists the graph's errors
    found = check_data(project.training.data, project.graph, analysis, project.context.base_dir)
    for problem in found:
        print(f"graft: data {problem}", file=sys.stderr)
    errors = sum(p.severity == ERROR for p in found)
    if errors:
        print(f"graft: the data does not fit the graph ({errors} error{'s' * (errors != 1)} above); nothing "
              "was trained", file=sys.stderr)
    return not errors


STOPPING_RUN = "graft: stopping after this step; go on later with --resume"
STOPPING_SWEEP = "graft: stopping the sweep after this step; run it again to go on with the study"


class _Interrupts:
    """Ctrl+C during `graft train`, as a SIGINT handler. The first stops the run where a
    resume can go on; none cuts anything short after that, above all not the save of the
    project that follows the run (a half-handled save is what "nothing lost" rules out).
    `cmd_train` exits 130 once everything is written. `stopping` is the first Ctrl+C's line."""

    def __init__(self, control, stopping: str = STOPPING_RUN):
        self.control, self.count, self.saving, self.stopping = control, 0, False, stopping

    def __call__(self, signum, frame) -> None:
        self.count += 1
        self.control.stop()
        if self.saving:
            line = "graft: interrupted; finishing the save of the project first"
        elif self.count == 1:
            line = self.stopping
        else:
            line = "graft: already stopping; the weights and the project are saved first"
        with contextlib.suppress(OSError):  # os.write: safe whatever the main thread was printing
            os.write(2, (line + "\n").encode())


@contextlib.contextmanager
def _ctrl_c_stops(control, stopping: str = STOPPING_RUN):
    """While the block runs, Ctrl+C never raises: it asks the run to stop (see _Interrupts)."""
    interrupts = _Interrupts(control, stopping)
    previous = signal.signal(signal.SIGINT, interrupts)
    try:
        yield interrupts
    finally:
        signal.signal(signal.SIGINT, previous)


def _use_weights(project, weights: str, shown: str) -> bool:
    """Point the project at a run's weights, through the same command the editor uses, and
    save it. Only weights inside the project's folder are written into it, as a path relative
    to it: a project never names a path outside its folder because of a run (a shipped example
    trained with --out elsewhere stays as it was)."""
    from app.core.editing.commands import CommandStack, edit_training

    path = project.context.resolve(weights).resolve()
    if not inside(path, project.path.parent):
        print(f"{shown} is unchanged: the weights {path} are outside its folder. To use them, train "
              "with --out inside the project's folder, or copy them there and set training.weights "
              "in the editor's Training panel")
        return True
    CommandStack(project).push(edit_training(project.training, "Store trained weights", weights=weights))
    try:
        save(project, project.path)
    except OSError as error:
        print(f"graft: cannot save {shown}: {error.strerror or error}. It is unchanged; the weights "
              f"are in {weights}", file=sys.stderr)
        return False
    print(f"{shown} now uses the weights {weights}")
    return True


def _show_strategy_notes() -> None:
    """The distributed runner logs which devices and workers it uses; show that on stderr."""
    import logging

    notes = logging.getLogger("app.core.training.distributed")
    if not notes.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("graft: %(message)s"))
        notes.addHandler(handler)
    notes.setLevel(logging.INFO)
    notes.propagate = False


class TextProgress:
    """Prints a run's events: one redrawn bar line on a terminal, a line per epoch always."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty()
        self.last_draw = 0.0

    def __call__(self, event) -> None:
        from app.core.training import events
        from app.core.training.events import duration

        if isinstance(event, events.RunStarted):
            self._line(f"run folder {event.run_dir}: {event.train_samples} training and "
                       f"{event.validation_samples} validation samples")
        elif isinstance(event, events.PhaseStarted):
            self.phase = event
            self._line(f"phase {event.index + 1} {event.name!r}: {event.epochs} epoch(s) of "
                       f"{event.steps_per_epoch} steps, learning rate {event.learning_rate:g}, "
                       f"{event.trainable_params:,} trainable / {event.frozen_params:,} frozen parameters")
            if event.warning:
                self._line(f"warning: {event.warning}")
        elif isinstance(event, events.BatchEnded) and self.live:
            now = time.monotonic()
            if now - self.last_draw >= 0.1 or event.step == event.steps:
                self.last_draw = now
                done = int(20 * event.step / event.steps)
                left = "" if event.seconds_left is None else f" {duration(event.seconds_left)} left"
                self.stream.write(f"\r  epoch {event.epoch + 1}/{self.phase.epochs} "
                                  f"[{'#' * done}{'.' * (20 - done)}] {event.step}/{event.steps} "
                                  f"loss {event.loss:.4f} {event.samples_per_second:,.0f} samples/s"
                                  f"{left}\x1b[K")
                self.stream.flush()
        elif isinstance(event, events.EpochEnded):
            numbers = "  ".join(f"{key} {value:.4f}" for key, value in event.logs.items())
            self._line(f"  epoch {event.epoch + 1}/{self.phase.epochs}  {numbers}"
                       f"{'  (best)' if event.best else ''}")
        elif isinstance(event, events.Evaluated):
            for name, value in event.metrics.items():
                self._line(f"validation {name}: {value:.4f}")

    def _line(self, text: str) -> None:
        self.stream.write(("\r\x1b[K" if self.live else "") + text + "\n")
        self.stream.flush()


def cmd_export(args) -> int:
    """Write the (trained) model in one format, proved by loading it back (or running it)."""
    from app.core.export.common import ExportError
    from app.core.export.formats import export

    project = _load(args.project)
    if project is None:
        return EXIT_USAGE
    try:
        report = export(project, args.format, args.output, progress=lambda stage: print(f"{stage}…"))
    except ExportError as error:
        print(f"graft: cannot export: {error}", file=sys.stderr)
        return EXIT_PROBLEMS
    except OSError as error:  # the disk or a permission refused a write the export's checks did not foresee
        print(f"graft: cannot export to {args.output}: {_os_error(error)}", file=sys.stderr)
        return EXIT_PROBLEMS
    print(report.message, file=sys.stdout if report.ok else sys.stderr)
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def cmd_runs(args) -> int:
    """Every run of the project, from its runs folder: a table, or JSON for scripts."""
    import json

    from app.core.training.runs import list_runs

    project = _load(args.project)
    if project is None:
        return EXIT_USAGE
    runs = list_runs(project)
    if args.json:
        print(json.dumps([run.to_dict() for run in runs], indent=2))
    elif not runs:
        print(f"{args.project} has no runs yet; graft train {args.project} makes one")
    else:
        print(runs_table(runs))
    return EXIT_OK


def runs_table(runs) -> str:
    """One row per run, in aligned columns; the notes' first line, cut short."""
    def notes(text: str) -> str:
        lines = text.strip().splitlines() or [""]
        return lines[0] if len(lines) == 1 and len(lines[0]) <= 40 else lines[0][:39] + "…"

    rows = [("name", "date", "status", "phases", "best", "duration", "tags", "notes")]
    rows += [(run.name, run.date_text, run.status, ", ".join(run.phases), run.best_text, run.duration_text,
              ", ".join(run.tags), notes(run.notes)) for run in runs]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def cmd_sweep(args) -> int:
    """Trials of the project's sweep (training.sweep; without one, the learning rate and the
    batch size), each a run of its own: a line per trial, then the best. With --apply the best
    trial's values are saved into the project. Ctrl+C stops after the current step; running
    it again goes on with the study."""
    from app.core.document.sweep_space import parameter_name
    from app.core.training.events import RunControl
    from app.core.training.sweep import (
        SweepError,
        TrialEnded,
        best_changes,
        run_sweep,
        space_of,
        sweep_results,
    )

    project = _load(args.project)
    if project is None:
        return EXIT_USAGE
    space, default = space_of(project)
    if default:
        searched = ", ".join(parameter_name(entry) for entry in space["parameters"])
        print(f"{args.project} sets up no sweep (training.sweep); searching {searched} (learning rates "
              "1e-4 to 1e-1 on a log range, batch sizes 16, 32, 64)")
    folder = project.folder

    def trial_line(event) -> None:
        if isinstance(event, TrialEnded):
            print(_trial_text(event.trial, folder), flush=True)

    control = RunControl()
    with _ctrl_c_stops(control, STOPPING_SWEEP) as interrupts:
        try:
            ended = run_sweep(project, args.trials, args.storage, args.timeout, sink=trial_line,
                              control=control)
        except SweepError as error:
            print(f"graft: {error}", file=sys.stderr)
            return EXIT_PROBLEMS
        print(ended.message, file=sys.stderr if ended.failed else sys.stdout)
        best = sweep_results(project, args.storage).best
        if best is None:
            print("no trial has completed yet, so there is no best one")
        else:
            print(f"best: {_trial_text(best, folder)}")
        interrupts.saving = True
        if args.apply and best is not None:
            from app.core.editing.commands import CommandStack

            CommandStack(project).push(best_changes(project, best))
            save(project, project.path)
            print(f"{args.project} now has the values of trial {best.number}")
    if interrupts.count or ended.stopped:
        return EXIT_INTERRUPTED
    return EXIT_PROBLEMS if ended.failed else EXIT_OK


def _trial_text(trial, folder) -> str:
    """`trial 3  learning_rate 0.00286  batch_size 32  val_loss 0.4123  complete  digits.runs/run-004`."""
    def shown(value) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    values = "  ".join(f"{name} {shown(value)}" for name, value in trial.params.items())
    objective = "" if trial.value is None else f"  objective {trial.value:.4f}"
    run = f"  {os.path.relpath(trial.run_dir, folder)}" if trial.run_dir else ""
    why = f" ({trial.message})" if trial.message and trial.state == "failed" else ""
    return f"trial {trial.number}  {values}{objective}  {trial.state}{why}{run}"


def cmd_editor(paths: list[str]) -> int:
    """Qt only for the editor (TensorFlow loads later, in the background). Without a display, or
    without a library its platform plugin needs, Qt aborts the process with lines about platform
    plugins, so that is said first, plainly."""
    from app.gui.platform_check import start_problem

    problem = start_problem()
    if problem is not None:
        print(problem.line, file=sys.stderr)
        return problem.exit_code
    try:
        from app.gui.app import run
    except ImportError as error:  # Qt without a system library it needs, e.g. libEGL
        print(f"graft: the editor cannot start: {error}; install what is missing, or use graft "
              "validate, summary, train or export", file=sys.stderr)
        return EXIT_PROBLEMS
    return run(paths)


def build_parser() -> argparse.ArgumentParser:
    from app.core.export.formats import FORMATS
    from app.core.training.distributed import STRATEGIES
    from app.desktop import cmd_install_desktop

    parser = argparse.ArgumentParser(
        prog="graft", usage=USAGE, description=DESCRIPTION, epilog=textwrap.fill(EXIT_CODES + ".", 79),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=_Version)
    parser.add_argument("--install-desktop", dest="run", action="store_const", const=cmd_install_desktop,
                        help="add Graft to your application menu and let .graft files open in it (for this "
                        "user: $XDG_DATA_HOME or ~/.local/share)")
    commands = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND", prog="graft")
    validate = commands.add_parser("validate", help="check a project; exit 1 on any error")
    validate.add_argument("project", help="a .graft project file")
    validate.set_defaults(run=cmd_validate)
    summary = commands.add_parser(
        "summary", help="per-node shapes and parameters, then the compiled Keras model")
    summary.add_argument("project", help="a .graft project file")
    summary.set_defaults(run=cmd_summary)
    train = commands.add_parser(
        "train", help="train the project as its training setup says; writes history and weights")
    train.add_argument("project", nargs="?", help="a .graft project file")
    train.add_argument("--reproduce", metavar="RUN_FOLDER",
                       help="train a run's record (run.json) again into a new run folder beside it and "
                       "say whether its metrics match; exit 1 when they do not")
    train.add_argument("--epochs", type=_positive, help="epochs for every phase (overrides the setup)")
    train.add_argument("--phase", help="run only the phase with this name")
    train.add_argument("--out", help="folder for the weights and history (default: PROJECT.runs/run-NNN)")
    train.add_argument("--resume", action="store_true", help="go on with the last stopped run")
    train.add_argument("--strategy", choices=STRATEGIES, default="default",
                       help="default: Keras fit on one device; mirrored: every local GPU; multiworker: "
                       "several machines, as the TF_CONFIG environment variable describes (docs/cluster.md)")
    train.add_argument("--mlflow", metavar="URI",
                       help="log this run to MLflow at URI instead of the tracking_uri setting: a folder "
                       "(a SQLite store in it), sqlite:///FILE or a server http://HOST:PORT; needs "
                       "graft-studio[mlflow]")
    train.set_defaults(run=cmd_train)
    export = commands.add_parser(
        "export", help="write the trained model as a SavedModel, .keras, Python script or ONNX, checked "
        "by loading it back; or a model report")
    export.add_argument("project", help="a .graft project file")
    export.add_argument("--format", required=True, choices=list(FORMATS),
                        help="savedmodel: a folder for TensorFlow Serving; keras: one .keras file; python: a "
                        "script and its weights file; onnx: needs graft-studio[onnx]; report: an HTML page")
    export.add_argument("-o", "--output", required=True, help="the file or folder to write")
    export.set_defaults(run=cmd_export)
    runs = commands.add_parser("runs", help="list the project's runs: name, date, status, phases, best "
                               "monitored metric, duration, tags and notes")
    runs.add_argument("project", help="a .graft project file")
    runs.add_argument("--json", action="store_true", help="print the runs as JSON, for scripts")
    runs.set_defaults(run=cmd_runs)
    sweep = commands.add_parser(
        "sweep", help="search hyperparameters with Optuna: trials of the project's sweep "
        "(training.sweep), each a run of its own; several processes may share one study")
    sweep.add_argument("project", help="a .graft project file")
    sweep.add_argument("--trials", type=_positive,
                       help="trials the study should have in all, counting those already run (default: the "
                       "sweep's trials)")
    sweep.add_argument("--storage", metavar="URL",
                       help="the study's database (default: sqlite:///PROJECT.sweep.db beside the project); "
                       "a shared database URL lets several machines work on one study")
    sweep.add_argument("--timeout", type=_positive, metavar="S", help="start no new trial after S seconds")
    sweep.add_argument("--apply", action="store_true", help="save the best trial's values into the project")
    sweep.set_defaults(run=cmd_sweep)
    return parser


class _Version(argparse.Action):
    """--version: asked at once, so it reads versions only when given (and never imports TensorFlow)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="print the versions of Graft, TensorFlow, Keras, PySide6 and Python")

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_text())
        parser.exit()


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Run one command and return its exit code. What goes wrong because of the user's input,
    disk or Ctrl+C becomes one line on stderr; only a bug shows a traceback, and says so."""
    argv = sys.argv[1:] if argv is None else argv
    quiet_tensorflow()
    filter_tensorflow_start_up()  # the editor too: it imports TensorFlow in the background
    try:
        parser = build_parser()
        if not argv or all(Path(arg).suffix == SUFFIX for arg in argv):
            return cmd_editor(argv)  # `graft` or `graft PROJECT…` opens the editor
        args = parser.parse_args(argv)
        code = args.run(args)
        sys.stdout.flush()  # here, so that a reader gone away is seen below, not at exit
        return code
    except KeyboardInterrupt:
        print("graft: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `graft validate p | head -1`: the reader has what it wanted
        _silence_stdout()
        return EXIT_PROBLEMS
    except Exception as error:  # noqa: BLE001 - the last place a user's error can become one line
        line = _user_error(error)
        if line is None:
            traceback.print_exc()
            print(BUG, file=sys.stderr)
            return EXIT_PROBLEMS
        print(f"graft: {line[0]}", file=sys.stderr)
        return line[1]


def _user_error(error: Exception) -> tuple[str, int] | None:
    """The line and exit code for an error that is the user's input or machine, not a bug.
    The commands catch these where they can name more; this is the net under them."""
    from app.core.build.compile import CompileError
    from app.core.cards.card import CardError
    from app.core.cards.loading import ModelLoadError
    from app.core.document.migrations import MigrationError
    from app.core.document.training_setup import ConfigError
    from app.core.export.common import ExportError
    from app.core.graph.graph import GraphError
    from app.core.graph.params import ParamError
    from app.core.training.run import RunError
    from app.core.training.sources import DataError

    if isinstance(error, ProjectError | MigrationError | ConfigError):
        return str(error), EXIT_USAGE
    if isinstance(error, ExportError | RunError | DataError | CompileError | ModelLoadError | CardError
                  | GraphError | ParamError):
        return str(error), EXIT_PROBLEMS
    if isinstance(error, OSError) and (error.filename or error.errno in _REASONS):
        return _os_error(error), EXIT_PROBLEMS
    return None


_REASONS = {
    errno.ENOSPC: "the disk is full; free some space and try again",
    errno.EDQUOT: "the disk quota is used up; free some space and try again",
    errno.EACCES: "permission denied; make it writable (or readable) or choose another place",
    errno.EPERM: "not permitted; make it writable or choose another place",
    errno.EROFS: "the file system is read-only; choose another place",
    errno.ENOENT: "no such file or folder; check the path",
    errno.ENOTDIR: "a part of the path is a file, not a folder; check the path",
    errno.EISDIR: "it is a folder; give a file",
    errno.EEXIST: "it exists already; remove it or choose another name",
    errno.ENAMETOOLONG: "the name is too long; choose a shorter one",
}


def _os_error(error: OSError) -> str:
    """`path: reason; fix`, for an error of the disk or of permissions."""
    reason = _REASONS.get(error.errno, error.strerror or str(error))
    return f"{error.filename}: {reason}" if error.filename else reason


def _silence_stdout() -> None:
    """After a broken pipe, Python would report it again while flushing stdout at exit."""
    with contextlib.suppress(AttributeError, OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
