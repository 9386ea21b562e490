"""The Keras callback through which a run reports progress and obeys its RunControl.

Imported only once training starts (it needs Keras)."""

from __future__ import annotations

import math
import time
from pathlib import Path

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


class TensorBoardLog(keras.callbacks.TensorBoard):
    """Keras's TensorBoard callback as a run wants it: scalars per batch and per epoch, the
    learning rate the optimizer really uses (a schedule's value; the base rate of a
    `GroupedOptimizer`, whose inner optimizers Keras's own callback cannot read), and the
    model's graph, which Keras 3 leaves out on TensorFlow 2.21 (it writes only the layer summary)."""

    def __init__(self, log_dir, steps_per_epoch: int):
        super().__init__(str(log_dir), update_freq="batch", write_graph=True)
        self.steps_per_epoch = steps_per_epoch

    # Batches are numbered by the optimizer's step (from 1, going on through epochs and a
    # resumed phase), not by Keras's count of calls, which with steps_per_execution is fewer

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        self.steps_before = epoch * self.steps_per_epoch

    def on_train_batch_begin(self, batch, logs=None):
        self._global_train_batch = self.steps_before + batch  # Keras adds one: this batch's number
        super().on_train_batch_begin(batch, logs)
        # Read before the step: the rate this batch trains with (a tensor: no wait for the device)
        with self._train_writer.as_default():
            self.summary.scalar("batch_learning_rate", self.model.optimizer.learning_rate,
                                step=self._global_train_batch)

    def on_train_batch_end(self, batch, logs=None):
        # The losses are at the execution's last step (an epoch's last execution may run short)
        self._global_train_batch = self.steps_before + min(batch, self.steps_per_epoch - 1) + 1
        super().on_train_batch_end(batch, logs)

    def _collect_learning_rate(self, logs):
        logs["learning_rate"] = current_learning_rate(self.model.optimizer)
        return logs

    def _write_keras_model_train_graph(self):
        with self._train_writer.as_default():
            self.summary.graph(forward_graph(self.model))


class SummaryLog:
    """The same TensorBoard logs as `TensorBoardLog`, written step by step for a loop of its
    own (distributed.py, which trains without `fit`): `<log_dir>/train` and `/validation`."""

    def __init__(self, log_dir: Path, model):
        import tensorflow as tf

        self.summary = tf.summary
        self.train = tf.summary.create_file_writer(str(log_dir / "train"))
        self.validation = tf.summary.create_file_writer(str(log_dir / "validation"))
        with self.train.as_default():
            tf.summary.graph(forward_graph(model))

    def batch_started(self, step: int, learning_rate) -> None:
        with self.train.as_default():
            self.summary.scalar("batch_learning_rate", learning_rate, step=step)

    def batch_ended(self, step: int, logs: dict) -> None:
        with self.train.as_default():
            for name, value in logs.items():
                self.summary.scalar(f"batch_{name}", value, step=step)

    def epoch_ended(self, epoch: int, logs: dict, learning_rate: float) -> None:
        for writer, prefix in ((self.train, ""), (self.validation, "val_")):
            with writer.as_default():
                for name, value in logs.items():
                    if name.startswith("val_") == bool(prefix):
                        self.summary.scalar(f"epoch_{name.removeprefix(prefix)}", value, step=epoch)
                if not prefix:
                    self.summary.scalar("epoch_learning_rate", learning_rate, step=epoch)

    def close(self) -> None:
        self.train.close()
        self.validation.close()


def forward_graph(model):
    """The model's forward pass as TensorFlow ops (TensorBoard's Graphs tab), traced once:
    Keras 3 writes only its layer summary."""
    import tensorflow as tf

    specs = keras.tree.map_structure(lambda tensor: tf.TensorSpec(tensor.shape, tensor.dtype), model.input)
    return tf.function(lambda inputs: model(inputs, training=False)).get_concrete_function(specs).graph
