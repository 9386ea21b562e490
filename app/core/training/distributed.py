"""Training beyond one device: `tf.distribute` strategies and the loop that runs under them.

`mirrored` spreads each batch over the local GPUs (MirroredStrategy); `multiworker` over
several machines (MultiWorkerMirroredStrategy), which learn their cluster and their own place
in it from the `TF_CONFIG` environment variable. Keras 3's `model.fit` fails under
MultiWorkerMirroredStrategy (keras-team/keras#20585: "Attempt to convert a value
(PerReplica…)"), so a `DistributedRun` trains with its own loop: `strategy.run` of a
GradientTape step over `strategy.experimental_distribute_dataset`, for both strategies, so
that one path is tested on one machine and used on many. It reports the same events and
writes the same run folder as the `fit` path of `runner.py`; only the chief (worker 0)
writes the run folder that the project points at."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

from app.core.training.events import (
    STOPPED,
    BatchEnded,
    Diverged,
    RunEnded,
    StopRequested,
)
from app.core.training.run import Run, RunError, targets

STRATEGIES = ("default", "mirrored", "multiworker")
TF_CONFIG = "TF_CONFIG"
TF_CONFIG_EXAMPLE = ('{"cluster": {"worker": ["machine-a:12345", "machine-b:12345"]}, '
                     '"task": {"type": "worker", "index": 0}}')
# Keras's loss classes by the names an Output offers; reduction=None gives per-sample losses,
# which the loop averages over the global batch itself.
LOSS_CLASSES = {
    "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy",
    "categorical_crossentropy": "CategoricalCrossentropy",
    "binary_crossentropy": "BinaryCrossentropy",
    "mean_squared_error": "MeanSquaredError",
    "mean_absolute_error": "MeanAbsoluteError",
    "huber": "Huber",
    "cosine_similarity": "CosineSimilarity",
    "kl_divergence": "KLDivergence",
}

log = logging.getLogger(__name__)


def read_tf_config(environ=None) -> dict:
    """TF_CONFIG checked, as a dict; raises RunError naming the variable with an example,
    because a worker started without it would otherwise wait for a cluster that never comes."""
    text = (os.environ if environ is None else environ).get(TF_CONFIG, "").strip()
    if not text:
        _bad_tf_config("is not set")
    try:
        config = json.loads(text)
    except ValueError as error:
        _bad_tf_config(f"is not valid JSON ({error})")
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict):
        _bad_tf_config('has no "cluster" object')
    cluster, task = config["cluster"], config.get("task")
    for role, addresses in cluster.items():
        if (role not in ("chief", "worker") or not isinstance(addresses, list) or not addresses
                or not all(isinstance(a, str) and a.rpartition(":")[2].isdigit() for a in addresses)):
            _bad_tf_config(f'cluster "{role}" must be a list of "host:port" addresses of workers '
                           '(only "worker" and one "chief" are allowed)')
    if "worker" not in cluster and "chief" not in cluster:
        _bad_tf_config('cluster lists no "worker" addresses')
    if not isinstance(task, dict) or task.get("type") not in cluster:
        _bad_tf_config(f'"task" must name this machine\'s place: {{"type": "worker", "index": N}} '
                       f"with type one of {sorted(cluster)}")
    index = task.get("index")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(cluster[task["type"]]):
        _bad_tf_config(f'task index must be a whole number from 0 to {len(cluster[task["type"]]) - 1} '
                       f'(this machine\'s position in the "{task["type"]}" list), got {index!r}')
    return config


def _bad_tf_config(problem: str):
    raise RunError(f"--strategy multiworker needs the {TF_CONFIG} environment variable, which tells each "
                   f"machine the cluster and its own place in it, but {TF_CONFIG} {problem}. Set it on "
                   f"every machine with the same cluster and that machine's own task index, for example:\n"
                   f"  export {TF_CONFIG}='{TF_CONFIG_EXAMPLE}'\n"
                   "(index 0 on machine-a, the chief that writes the results; index 1 on machine-b)")


def is_chief(tf_config: dict) -> bool:
    """The worker that writes results: the "chief" task if the cluster has one, else worker 0."""
    task = tf_config["task"]
    if "chief" in tf_config["cluster"]:
        return task["type"] == "chief"
    return task["index"] == 0


def make_strategy(name: str):
    """The tf.distribute strategy for `name` and whether this process is the chief; for
    multiworker it must be made before TensorFlow runs any op."""
    if name not in STRATEGIES:
        raise RunError(f"unknown strategy {name!r} (expected one of: {', '.join(STRATEGIES)})")
    config = read_tf_config() if name == "multiworker" else None
    import tensorflow as tf

    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        if not gpus:
            log.warning("no GPU found: MirroredStrategy runs with one replica on the CPU")
        strategy = tf.distribute.MirroredStrategy()
        log.info("mirrored strategy: %d replica(s) on %s", strategy.num_replicas_in_sync,
                 ", ".join(d.name for d in gpus) or "the CPU")
        return strategy, True
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    except (RuntimeError, ValueError) as error:
        raise RunError(f"cannot join the cluster of {TF_CONFIG}: {error}") from None
    task = config["task"]
    log.info("multiworker strategy: %s %d of a cluster of %d worker(s), %d replica(s) in all",
             task["type"], task["index"], sum(len(a) for a in config["cluster"].values()),
             strategy.num_replicas_in_sync)
    return strategy, is_chief(config)


class DistributedRun(Run):
    """A run under a tf.distribute strategy: the model is built in the strategy's scope and
    each phase trains through `strategy.run` instead of `fit`. Non-chief workers write their
    copy of the run to a folder of their own, so that workers sharing a disk never clobber
    the chief's files."""

    def __init__(self, project, sink, control, only_phase, epochs, out_dir, resume, strategy: str):
        super().__init__(project, sink, control, only_phase, epochs, out_dir, resume)
        if strategy not in STRATEGIES[1:]:
            raise RunError(f"unknown strategy {strategy!r} (expected one of: {', '.join(STRATEGIES)})")
        self.strategy_name = strategy
        if resume and strategy == "multiworker":
            raise RunError("--resume is not supported with --strategy multiworker; resume the chief's "
                           "stopped run on one machine (graft train PROJECT --resume --out RUN_FOLDER), "
                           "or start a new distributed run")
        self.scratch = None  # a non-chief's temporary run folder, removed at the end

    def run(self) -> RunEnded:
        self.strategy, self.chief = make_strategy(self.strategy_name)
        if self.settings["xla"]:
            log.warning("XLA: not used with --strategy %s", self.strategy_name)
        if self.settings["steps_per_execution"] > 1:
            log.warning("steps_per_execution: one step per call with --strategy %s", self.strategy_name)
        try:
            with self.strategy.scope():
                return super().run()
        finally:
            if self.scratch is not None:
                shutil.rmtree(self.scratch, ignore_errors=True)

    def _strategy(self) -> tuple[str, int]:
        return self.strategy_name, self.strategy.num_replicas_in_sync

    def _new_folder(self) -> Path:
        if self.chief:
            return super()._new_folder()
        index = self.strategy.cluster_resolver.task_id
        if self.out_dir:  # asked for: kept, beside the chief's files when they share the folder
            folder = Path(self.out_dir) / f"worker-{index}"
            folder.mkdir(parents=True, exist_ok=True)
            return folder
        self.scratch = Path(tempfile.mkdtemp(prefix=f"graft-worker-{index}-"))
        return self.scratch

    def _end(self, status: str, message: str) -> RunEnded:
        if status == STOPPED and self.strategy_name == "multiworker":
            message = ("training stopped; the chief's run folder keeps the weights so far, and "
                       "--resume --out RUN_FOLDER goes on from there on one machine")
        ended = super()._end(status, message)
        if self.chief:
            return ended
        index = self.strategy.cluster_resolver.task_id
        return RunEnded(ended.status, f"worker {index}: {ended.message}; the chief keeps the results "
                        "(this worker's copy: " + (str(self.folder) if self.scratch is None else "removed")
                        + ")", ended.details)

    # -- one phase through strategy.run ------------------------------------------------------

    def _train_phase(self, index: int, first_epoch: int) -> None:
        phase = self.phases[index]
        self._apply_freezing(phase)
        weights = self.phase_loss_weights = self._phase_losses(phase)
        own = self._output_losses()
        view = self._view(weights)
        optimizer = self._phase_optimizer(phase)
        if self.settings["mixed_precision"]:  # as Keras's compile does for mixed_float16
            import keras

            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        optimizer.build(view.trainable_variables)
        metrics = {n.name: list(n.params["metrics"]) for n in self.project.graph.nodes if n.name in weights}
        loop = _Loop(self, view, optimizer, weights, {name: own[name][0] for name in weights}, metrics)
        self._record_steps(phase, 1)  # its loop runs one step per call
        self._start_phase(index, first_epoch, view, optimizer)
        if self.settings["tensorboard"] and self.chief:  # the chief's folder has the run's logs
            from app.core.training.callbacks import SummaryLog

            loop.board = SummaryLog(self.folder / "tensorboard" / phase.name, view)
        try:
            self._train_epochs(index, first_epoch, loop)
        finally:
            if loop.board is not None:
                loop.board.close()
        self._end_phase()

    def _train_epochs(self, index: int, first_epoch: int, loop: _Loop) -> None:
        from app.core.training.optim import current_learning_rate

        phase = self.phases[index]
        patience, waited, best_monitored = self.settings["early_stopping"], 0, math.inf
        for epoch in range(first_epoch, phase.epochs):
            logs = loop.train_epoch(index, epoch)
            if self.data.validation is not None:
                logs.update({f"val_{key}": value for key, value in loop.validate().items()})
            if not all(math.isfinite(v) for k, v in logs.items() if k.endswith("loss")):
                raise Diverged.in_validation(phase.name, epoch)
            if loop.board is not None:
                loop.board.epoch_ended(epoch, logs, current_learning_rate(loop.optimizer))
            self.epoch_done(index, epoch, logs)
            monitored = logs.get(self._monitor(), math.inf)
            waited = 0 if monitored < best_monitored else waited + 1
            best_monitored = min(best_monitored, monitored)
            if patience and waited >= patience:
                break  # every worker sees the same reduced numbers, so all stop here together


class _Loop:
    """The compiled steps of one phase: a training step and a validation step, each one
    `strategy.run` whose numbers are summed over every replica of every worker, so that
    all workers see the same losses and take the same decisions (stop, NaN, best epoch)."""

    def __init__(self, run: DistributedRun, view, optimizer, loss_weights: dict, losses: dict, metrics: dict):
        import keras
        import tensorflow as tf

        self.run, self.view, self.optimizer = run, view, optimizer
        self.loss_scaling = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        self.strategy = run.strategy
        self.names = list(loss_weights)
        self.loss_weights = loss_weights
        self.losses = {name: getattr(keras.losses, LOSS_CLASSES[loss])(reduction=None)
                       for name, loss in losses.items()}
        specs = run.data.train.element_spec[1]
        self.metrics = {name: [_metric(m, specs[name], run.model.get_layer(name).output.shape)
                               for m in wanted] for name, wanted in metrics.items()}
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        self.train_data = self._distribute(run.data.train, options)
        self.validation_data = self._distribute(run.data.validation, options)
        self.train_step = tf.function(self._train_step, input_signature=[self.train_data.element_spec])
        self.validation_step = None
        if self.validation_data is not None:
            self.validation_step = tf.function(self._validation_step,
                                               input_signature=[self.validation_data.element_spec])
        self.agree = tf.function(self._agree, input_signature=[tf.TensorSpec([], tf.float32)])
        self.several_workers = run.strategy_name == "multiworker"
        self.samples_per_second = None
        self.rate, self.rate_read = math.nan, -math.inf
        self.board = None  # a SummaryLog when TensorBoard logs are on (the chief's only)

    def _distribute(self, dataset, options):
        if dataset is None:
            return None
        return self.strategy.experimental_distribute_dataset(
            targets(dataset, self.names).with_options(options))

    # -- inside tf.function ------------------------------------------------------------------

    def _sums(self, batch, training: bool):
        """Per replica: the loss to differentiate, and [weighted loss sum, each Output's loss
        sum, sample count] for reporting; losses are averaged over the global batch."""
        import tensorflow as tf

        inputs, targets = batch
        local = tf.shape(targets[self.names[0]])[0]
        context = tf.distribute.get_replica_context()
        global_count = context.all_reduce(tf.distribute.ReduceOp.SUM, local)
        predictions = self.view(inputs, training=training)
        total, parts = 0.0, []
        for name in self.names:
            per_sample = self.losses[name](targets[name], predictions[name])
            per_sample = tf.reshape(tf.cast(per_sample, tf.float32), [local, -1])
            per_sample = tf.reduce_mean(per_sample, axis=1)
            total += self.loss_weights[name] * tf.nn.compute_average_loss(
                per_sample, global_batch_size=global_count)
            parts.append(tf.reduce_sum(per_sample))
            for metric in self.metrics.get(name, ()):
                metric.update_state(targets[name], predictions[name])
        regularization = tf.constant(0.0)
        if self.view.losses:
            regularization = tf.add_n([tf.cast(x, tf.float32) for x in self.view.losses])
            total += tf.nn.scale_regularization_loss(regularization)
        count = tf.cast(local, tf.float32)
        weighted = sum(self.loss_weights[n] * p for n, p in zip(self.names, parts)) + regularization * count
        return total, tf.stack([weighted, *parts, count])

    def _train_step(self, batch):
        import tensorflow as tf

        def replica_step(batch):
            with tf.GradientTape() as tape:
                loss, numbers = self._sums(batch, training=True)
                scaled = self.optimizer.scale_loss(loss)  # × the loss scale under mixed precision
            variables = self.view.trainable_variables
            gradients = self._overflow_everywhere(tape.gradient(scaled, variables))
            self.optimizer.apply_gradients(zip(gradients, variables))
            return numbers

        return self._reduced(self.strategy.run(replica_step, args=(batch,)))

    def _overflow_everywhere(self, gradients):
        """Under loss scaling, gradients that overflowed float16 on any replica made not finite on
        every one, so that all skip the step together: Keras's LossScaleOptimizer decides from
        gradients that are not summed over the replicas yet (one replica's, or each its own)."""
        import tensorflow as tf

        dense = [i for i, g in enumerate(gradients) if isinstance(g, tf.Tensor)]
        if not self.loss_scaling or not dense:
            return gradients
        overflowed = tf.add_n([tf.reduce_sum(tf.cast(~tf.math.is_finite(gradients[i]), tf.float32))
                               for i in dense])
        overflowed = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, overflowed)
        first = gradients[dense[0]]  # one not finite gradient is enough for the optimizer to skip
        gradients = list(gradients)
        gradients[dense[0]] = first + tf.cast(tf.where(overflowed > 0, math.nan, 0.0), first.dtype)
        return gradients

    def _validation_step(self, batch):
        return self._reduced(self.strategy.run(lambda batch: self._sums(batch, training=False)[1],
                                               args=(batch,)))

    def _agree(self, stop):
        return self._reduced(self.strategy.run(lambda: stop))

    def _reduced(self, numbers):
        """Summed over every replica of every worker, so that all workers see the same."""
        import tensorflow as tf

        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, numbers, axis=None)

    # -- in Python, between steps --------------------------------------------------------------

    def _between_steps(self) -> None:
        """Hold while paused; raise StopRequested once a stop is asked for, on every worker
        together: one worker leaving alone would leave the others waiting in a collective, so
        with several workers they first agree (one small collective before each step)."""
        try:
            self.run.control.checkpoint()
            stop = False
        except StopRequested:
            stop = True
        if self.several_workers:
            stop = float(self.agree(float(stop)).numpy()) > 0
        if stop:
            raise StopRequested

    def train_epoch(self, index: int, epoch: int) -> dict:
        run, phase = self.run, self.run.phases[index]
        steps, sums = run.data.steps_per_epoch, None
        for metric in self._all_metrics():
            metric.reset_state()
        for step, batch in enumerate(self.train_data, start=1):
            self._between_steps()
            if self.board is not None:  # the rate this step trains with, numbered as TensorBoardLog does
                self.board.batch_started(epoch * steps + step, self.optimizer.learning_rate)
            started = time.perf_counter()
            numbers = self.train_step(batch).numpy()
            sums = numbers if sums is None else sums + numbers
            if self.board is not None:  # Keras's batch logs: the epoch's means so far
                self.board.batch_ended(epoch * steps + step, self._logs(sums))
            count = numbers[-1]
            loss = numbers[0] / count if count else math.nan
            run.global_step += 1
            if not math.isfinite(loss):
                raise Diverged.in_training(loss, phase.name, epoch, step, self._learning_rate(),
                                           run.phase_loss_weights)
            elapsed = time.perf_counter() - started
            speed = count / elapsed if elapsed > 0 else 0.0
            self.samples_per_second = (speed if self.samples_per_second is None
                                       else 0.9 * self.samples_per_second + 0.1 * speed)
            left = None
            if self.samples_per_second:
                samples_left = (run.total_steps - run.global_step) * run.settings["batch_size"]
                left = samples_left / self.samples_per_second
            outputs = ({name: float(numbers[1 + i] / count) for i, name in enumerate(self.names)}
                       if len(self.names) > 1 else {})
            run.sink(BatchEnded(index, epoch, min(step, steps), steps, run.global_step, float(loss), outputs,
                                self._learning_rate(), self.samples_per_second, left))
        return self._logs(sums)

    def validate(self) -> dict:
        sums = None
        for metric in self._all_metrics():
            metric.reset_state()
        for batch in self.validation_data:
            self._between_steps()
            numbers = self.validation_step(batch).numpy()
            sums = numbers if sums is None else sums + numbers
        return self._logs(sums)

    def _logs(self, sums) -> dict:
        """Keras's names: loss, then per Output `<name>_loss` and metrics `<name>_<metric>`
        when the phase trains several Outputs (the bare metric name for one)."""
        import numpy as np

        if sums is None:
            return {}
        count = sums[-1]
        logs = {"loss": float(sums[0] / count)}
        several = len(self.names) > 1
        for i, name in enumerate(self.names):
            if several:
                logs[f"{name}_loss"] = float(sums[1 + i] / count)
            for metric in self.metrics.get(name, ()):
                logs[f"{name}_{metric.name}" if several else metric.name] = float(np.asarray(metric.result()))
        return dict(sorted(logs.items()))  # in the order Keras's fit reports them

    def _all_metrics(self):
        return [metric for metrics in self.metrics.values() for metric in metrics]

    def _learning_rate(self) -> float:
        """The base learning rate, read at most 10 times a second: reading it waits for the device."""
        from app.core.training.optim import current_learning_rate

        now = time.perf_counter()
        if now - self.rate_read >= 0.1:
            self.rate, self.rate_read = current_learning_rate(self.optimizer), now
        return self.rate


def _metric(name: str, target_spec, output_shape):
    """A Keras metric the way `compile` makes one from its name ("accuracy" picks binary,
    sparse or categorical accuracy from the shapes)."""
    import keras

    if name != "accuracy":
        metric = keras.metrics.get(name)
    elif output_shape[-1] == 1:
        metric = keras.metrics.BinaryAccuracy(name=name)
    elif len(target_spec.shape) < len(output_shape) or target_spec.shape[-1] == 1:
        metric = keras.metrics.SparseCategoricalAccuracy(name=name)
    else:
        metric = keras.metrics.CategoricalAccuracy(name=name)
    if not isinstance(metric, keras.metrics.Metric):
        metric = keras.metrics.MeanMetricWrapper(metric, name=name)
    metric.name = name
    return metric
