"""What a running training tells its watcher, and how the watcher steers it.

The runner calls `sink(event)` on its own thread with one of these plain records; the
GUI forwards them through a queued Qt signal, the CLI prints them. `RunControl` is the
only way back: thread-safe requests that the runner honours at the next step."""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass, field

from app.core.analysis.freezing import trains_nothing


@dataclass(frozen=True)
class RunStarted:
    run_dir: str
    phases: list[str]
    outputs: list[str]  # the model's Outputs, in order
    train_samples: int
    validation_samples: int
    resumed_from: str | None = None


@dataclass(frozen=True)
class PhaseStarted:
    index: int
    name: str
    epochs: int
    steps_per_epoch: int
    learning_rate: float
    trainable_params: int
    frozen_params: int

    @property
    def warning(self) -> str:
        """Why this phase will not change the model (a run still goes on), or ''."""
        return "" if self.trainable_params else trains_nothing(self.name)


@dataclass(frozen=True)
class BatchEnded:
    phase: int
    epoch: int  # 0-based within the phase
    step: int  # 1-based within the epoch
    steps: int
    global_step: int  # 1-based over the whole run
    loss: float  # this batch's loss, not the epoch's running mean
    output_losses: dict[str, float]  # per Output, for multi-output models
    learning_rate: float
    samples_per_second: float
    seconds_left: float | None  # for the whole run


@dataclass(frozen=True)
class EpochEnded:
    phase: int
    epoch: int
    global_epoch: int  # 1-based over the whole run
    logs: dict[str, float]  # Keras's names: loss, val_loss, digit_accuracy, val_digit_accuracy, …
    best: bool  # these weights are now the best ones


@dataclass(frozen=True)
class Evaluated:
    """After the run: metrics on the validation data, and for classifier Outputs a confusion
    matrix (rows: true class, columns: predicted) and a few predictions to show."""

    metrics: dict[str, float]
    confusion: dict[str, list[list[int]]] = field(default_factory=dict)
    class_names: dict[str, list[str]] = field(default_factory=dict)
    preview: list[dict] = field(default_factory=list)  # {"output", "true", "predicted", "confidence"}


@dataclass(frozen=True)
class RunEnded:
    status: str  # "finished", "stopped", "diverged" (NaN/Inf), "failed"
    message: str
    details: str = ""  # a traceback for "failed"
    weights: str | None = None  # the weights file the project now points at
    warning: str = ""  # what failed beside the run (logging it to MLflow); the run still ended as said


FINISHED, STOPPED, DIVERGED, FAILED = "finished", "stopped", "diverged", "failed"


def duration(seconds: float) -> str:
    """A time span (left, or taken) as a person reads it, to the nearest second: 0:42, 12:05,
    1:03:20; never negative, and "?" for an estimate that is not a number yet."""
    if not math.isfinite(seconds):
        return "?"
    minutes, seconds = divmod(max(0, round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class StopRequested(Exception):
    """Raised inside the fit loop to leave it at once (also from within validation)."""


LARGE_LOSS_WEIGHT = 1e3  # a loss weighted more than this is named when the loss diverges


class Diverged(Exception):
    """The loss became NaN or infinite; the message says where and what to change."""

    @classmethod
    def in_training(cls, loss: float, phase: str, epoch: int, step: int, rate: float,
                    loss_weights: dict[str, float] | None = None) -> Diverged:
        return cls(f"the loss became {'NaN' if math.isnan(loss) else 'infinite'} in phase {phase!r}, "
                   f"epoch {epoch + 1}, step {step}; training stopped and the last good weights (from "
                   f"before this epoch) were kept. {_advice(rate, loss_weights)}")

    @classmethod
    def in_weights(cls, phase: str, epoch: int, rate: float,
                   loss_weights: dict[str, float] | None = None) -> Diverged:
        """The epoch's last update made the weights NaN or infinite; its losses, computed before
        that update, were finite, and without validation data nothing else would tell."""
        return cls(f"the weights became NaN or infinite in phase {phase!r}, epoch {epoch + 1}, at its "
                   "last step; training stopped and the last good weights (from before this epoch) "
                   f"were kept. {_advice(rate, loss_weights)}")

    @classmethod
    def in_validation(cls, phase: str, epoch: int) -> Diverged:
        return cls(f"the validation loss became NaN or infinite in phase {phase!r}, epoch {epoch + 1}; "
                   "training stopped and the last good weights were kept")


def _advice(rate: float, loss_weights: dict[str, float] | None) -> str:
    """What to change after a divergence. `loss_weights`: the phase's weight of each Output's
    loss; a huge one is the likelier cause than the learning rate, and is named instead."""
    heaviest = max((loss_weights or {}).items(), key=lambda item: item[1], default=None)
    if heaviest is not None and heaviest[1] > LARGE_LOSS_WEIGHT:
        return (f"Lower the loss weight of {heaviest[0]!r} (it is {heaviest[1]:.3g}) or the learning "
                f"rate (it was {rate:.3g})")
    return f"Lower the learning rate (it was {rate:.3g}) or check the data for extreme values"


def failure_message(error: BaseException) -> str:
    """A failed run's message: the error in a few words, then its notes (what the run kept).
    TensorFlow's errors from a compiled step list Python frames and the graph around the
    failing op; those stay in the details (the traceback), the op's name is kept."""
    text = str(error)
    if "\n" in text:
        node = re.search(r"\{\{node ([^}]+)\}\}", text)
        kept = []
        for line in text.splitlines():
            line = line.rstrip()
            if (line and not line[0].isspace() and line not in kept
                    and not line.startswith(("Detected at node", "Traceback (most recent call last)"))):
                kept.append(line)
        text = " ".join(kept) + (f" (at node {node.group(1)})" if node else "")
    notes = "".join(f"; {note}" for note in getattr(error, "__notes__", ()))
    return f"training failed: {type(error).__name__}: {text}{notes}"


class RunControl:
    """Stop and pause requests from another thread; `checkpoint()` runs on the worker at
    every step and blocks there while paused."""

    def __init__(self):
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()  # a paused run wakes up to stop

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def checkpoint(self) -> None:
        """Raise StopRequested if a stop was asked for; wait here while paused."""
        while not self._running.wait(0.1):
            pass
        if self._stop.is_set():
            raise StopRequested
