"""The Keras callback through which a run reports progress and obeys its RunControl.

Imported only once training starts (it needs Keras)."""

from __future__ import annotations

import math
import time

import keras

from app.core.document.training_setup import Phase
from app.core.training.events import BatchEnded, Diverged
from app.core.training.optim import current_learning_rate


class Progress(keras.callbacks.Callback):
    """A Keras callback: honours stop and pause at every step (also in validation), turns
    Keras's running means back into each batch's own loss, and stops on NaN/Inf."""

    def __init__(self, run, index: int, phase: Phase):
        super().__init__()
        self.run, self.index, self.phase = run, index, phase
        self.batch_size = run.settings["batch_size"]
        self.samples = run.data.train_count
        self.rate = None
        self.learning_rate, self.rate_read = math.nan, -math.inf

    def current_rate(self) -> float:
        """The learning rate, read at most 10 times a second: reading it waits for the device."""
        now = time.perf_counter()
        if now - self.rate_read >= 0.1:
            self.learning_rate, self.rate_read = current_learning_rate(self.model.optimizer), now
        return self.learning_rate

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.previous_mean, self.previous_seen = epoch, {}, 0
        self.run.control.checkpoint()

    def on_train_batch_begin(self, batch, logs=None):
        self.run.control.checkpoint()  # once a step: a stop or pause acts before the next one
        self.started, self.first_step = time.perf_counter(), batch

    def on_train_batch_end(self, batch, logs=None):
        run = self.run
        batch = min(batch, run.data.steps_per_epoch - 1)  # an epoch's last execution may run short
        seen = min((batch + 1) * self.batch_size, self.samples)
        size = seen - self.previous_seen
        raw = {key: (value * seen - self.previous_mean.get(key, 0.0) * self.previous_seen) / size
               for key, value in logs.items() if key == "loss" or key.endswith("_loss")}
        self.previous_mean = {key: logs[key] for key in raw}
        self.previous_seen = seen
        run.global_step += batch - self.first_step + 1  # several with steps_per_execution
        loss = raw.get("loss", math.nan)
        if not math.isfinite(loss):
            raise Diverged.in_training(loss, self.phase.name, self.epoch, batch + 1, self.current_rate(),
                                       run.phase_loss_weights)
        elapsed = time.perf_counter() - self.started
        rate = size / elapsed if elapsed > 0 else 0.0
        self.rate = rate if self.rate is None else 0.9 * self.rate + 0.1 * rate
        left = (run.total_steps - run.global_step) * self.batch_size / self.rate if self.rate else None
        outputs = {key[:-5]: value for key, value in raw.items() if key != "loss"}
        run.sink(BatchEnded(self.index, self.epoch, batch + 1, run.data.steps_per_epoch,
                            run.global_step, loss, outputs, self.current_rate(), self.rate, left))

    def on_test_batch_begin(self, batch, logs=None):
        # Not at the batch's end: a callback with a batch-end hook makes Keras wait for each
        # validation step's numbers; without one it hands them to its thread pool, as in fit
        self.run.control.checkpoint()

    def on_epoch_end(self, epoch, logs=None):
        logs = {key: float(value) for key, value in (logs or {}).items()}
        if not all(math.isfinite(v) for k, v in logs.items() if k.endswith("loss")):
            raise Diverged.in_validation(self.phase.name, epoch)
        self.run.epoch_done(self.index, epoch, logs)
