"""The training runner: a project in, trained weights and a history out, on the calling thread.

The GUI runs it on a worker thread and the CLI on the main one; both watch it through the
events of `events.py` and steer it through a `RunControl`.

`train` picks the run (`run.Run`, Keras's fit on one device, or `distributed.DistributedRun`);
`load_trained_model` is how export and prediction get the trained model back."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from pathlib import Path

from app.core.analysis.memory import readable_failure
from app.core.build.compile import CompiledGraph, compile_graph
from app.core.document.atomic import write_advice
from app.core.document.project import Project
from app.core.training.distributed import DistributedRun
from app.core.training.events import FAILED, RunControl, RunEnded, failure_message
from app.core.training.run import Run, RunError
from app.core.training.tracking import tracker


def train(project: Project, *, sink: Callable[[object], None] = lambda event: None,
          control: RunControl | None = None, phase: str | None = None, epochs: int | None = None,
          out_dir: str | Path | None = None, resume: bool = False, strategy: str = "default",
          tracking_uri: str | None = None) -> RunEnded:
    """Train `project` (not changed here: the caller stores `RunEnded.weights`). Never raises
    for a training problem: the result, also sent to `sink`, says what happened. `strategy`
    "mirrored" or "multiworker" trains under tf.distribute (see distributed.py) instead of `fit`.
    `tracking_uri` overrides the setup's MLflow tracking URI for this run (tracking.py)."""
    tracked = None
    try:
        tracked = tracker(project, sink, tracking_uri)  # None when tracking is off
        arguments = (project, tracked or sink, control or RunControl(), phase, epochs, out_dir, resume)
        run = Run(*arguments) if strategy == "default" else DistributedRun(*arguments, strategy)
        if tracked is not None:
            tracked.run = run
        ended = run.run()
    except RunError as error:
        ended = RunEnded(FAILED, str(error))
    except OSError as error:  # a full disk, no permission, a path that cannot be made: no bug
        ended = RunEnded(FAILED, write_failure(error))
    except Exception as error:  # a bug or a Keras failure: readable message, details kept
        ended = RunEnded(FAILED, readable_failure(error, project.graph) or failure_message(error),
                         traceback.format_exc())
    if tracked is not None:
        ended = tracked.end(ended)
    sink(ended)
    return ended


def write_failure(error: OSError) -> str:
    """One line for a run's file that could not be written: which file, why, and the fix for
    that cause. The file written before it is intact (every file of a run is written whole)."""
    return (f"cannot write {error.filename or 'a file of the run'}: {error.strerror or error}; "
            f"{write_advice(error, 'choose another folder with --out')}")


def load_trained_model(project: Project) -> CompiledGraph:
    """The project's model with its trained weights (when it has some), for prediction and
    export; raises RunError when the weights no longer fit the graph."""
    compiled = compile_graph(project.graph, project.context)
    weights = project.training.weights
    if weights:
        path = project.context.resolve(weights)
        if not path.is_file():
            raise RunError(f"the trained weights {weights} are missing; train again or clear them")
        try:
            compiled.model.load_weights(path)
        except Exception:  # Keras's own account lists whole weight arrays: left out
            raise RunError(f"the trained weights {weights} do not fit the graph as it is now "
                           "(changed since training?); train again, or clear the trained weights") from None
    return compiled


