"""A training run on the calling thread: its folder, its phases, and what it does after each
epoch and at its end. Build, compile and fit all happen on that thread because Keras keeps
its state (dtype policy, name scopes) per thread.

Each phase trains a functional view of the compiled model whose outputs are only the
Outputs that carry a loss in that phase; it shares every weight with the full model, whose
weights are what the run saves. What the run folder holds is in `store.py`."""

from __future__ import annotations

import contextlib
import io
import math
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np

from app.core.analysis.validate import analyze
from app.core.build.compile import CompileError, compile_graph
from app.core.document.atomic import atomic_write_bytes
from app.core.document.paths import stored_path
from app.core.document.training_setup import ConfigError, Phase, TrainingConfig, problems
from app.core.nodes import node_type
from app.core.nodes.base import OUTPUT, PRETRAINED
from app.core.nodes.io import CLASSIFIER_LOSSES
from app.core.nodes.pretrained import apply_freezing, freezing_params, phase_freezes
from app.core.training.events import (
    DIVERGED,
    FAILED,
    FINISHED,
    STOPPED,
    Diverged,
    EpochEnded,
    Evaluated,
    PhaseStarted,
    RunEnded,
    RunStarted,
    StopRequested,
)
from app.core.training.record import RUNNING, data_fingerprint, machine_info, start_record, update_record
from app.core.training.store import (
    BEST_WEIGHTS,
    LAST_WEIGHTS,
    OPTIMIZER_FILE,
    latest_run,
    read_history,
    read_state,
    recorded_setup,
    runs_dir,
    save_weights,
    weights_bytes,
    write_history,
    write_state,
)

PREVIEW_SAMPLES = 8
# Weights go to disk at most this often within a phase, and always at its end and when a
# run stops: writing them holds the GIL for tens of milliseconds, which a small model
# would otherwise pay every epoch (and the editor's event loop with it).
CHECKPOINT_SECONDS = 30.0


class RunError(Exception):
    """A run that cannot start, with a message saying what to change."""


class Run:
    """One run of the `fit` path: where its files go, its phases, and what happens after each
    epoch; `DistributedRun` overrides how a phase trains."""

    def __init__(self, project, sink, control, only_phase, epochs, out_dir, resume):
        if project.path is None and out_dir is None:
            raise RunError("save the project first: a run keeps its weights and history beside it")
        self.project, self.sink, self.control = project, sink, control
        self.out_dir, self.resume = out_dir, resume
        self.history: list[dict] = []
        self.start = (0, 0)  # phase index, epoch within it
        if resume:  # everything from the run's own files, nothing from the current setup
            self.folder, self.config, self.phases = self._stopped_run(only_phase, epochs)
        else:
            self.config = project.training
            self.phases = self.config.run_phases(only_phase, epochs)
        self.settings = self.config.settings
        self.resume_at = self.start  # where a stop now would go on from
        self.best_weights, self.best_unsaved = None, False  # this phase's best epoch
        self.optimizer, self.phase_index = None, 0  # the phase's, for checkpoints
        self.phase_loss_weights: dict[str, float] = {}  # by Output, for a divergence's message
        self.saved_at = time.monotonic()
        self.record: dict | None = None  # run.json as last written (record.py)
        self.ending: str | None = None  # the status `_end` is writing, for the record
        self.cache = None  # the phase's frozen-prefix cache (prefix_cache.py), or None

    def run(self) -> RunEnded:
        project, ctx = self.project, self.project.context
        analysis = self.analysis = analyze(project.graph, ctx)
        if not analysis.ok:
            listing = "\n".join(f"  - {p.message}" for p in analysis.errors)
            raise RunError(f"the graph has {len(analysis.errors)} error(s); fix them first:\n{listing}")
        messages = problems(self.config, project.graph, self.phases)
        messages += self._loss_problems()
        if messages:
            raise RunError("the training setup does not fit the graph:\n" +
                           "\n".join(f"  - {m}" for m in messages))
        if not self.resume:
            self.folder = self._new_folder()
        import keras

        from app.core.training.sources import DataError

        keras.utils.set_random_seed(self.settings["seed"])
        was_deterministic = _set_op_determinism(self.settings.get("deterministic", False))
        policy = keras.config.dtype_policy()
        if self.settings["mixed_precision"]:
            keras.config.set_dtype_policy("mixed_float16")
        try:
            try:
                self.compiled = compile_graph(project.graph, ctx, analysis)
            except CompileError as error:
                raise RunError(str(error)) from None
            self.model = self.compiled.model
            try:
                self.data = self._prepare()
            except DataError as error:
                raise RunError(f"data: {error}") from None
            if self.resume:
                self.model.load_weights(self.folder / LAST_WEIGHTS)
            self._start_record()
            self.sink(RunStarted(str(self.folder), [p.name for p in self.phases], self._outputs(),
                                 self.data.train_count, self.data.validation_count,
                                 str(self.folder) if self.resume else None))
            try:
                return self._train_phases()
            except Exception:
                self._record_failure()
                raise
            finally:
                self._close_cache()
        finally:
            keras.config.set_dtype_policy(policy)
            _set_op_determinism(was_deterministic)

    def _prepare(self, shuffle: bool | None = None):
        """The run's data (data.py), its training samples shuffled as the setup says unless
        `shuffle` says otherwise."""
        from app.core.training.data import prepare

        data = self.config.data if shuffle is None else self.config.data | {"shuffle": shuffle}
        return prepare(data, self.project.graph, self.analysis, self.project.context.base_dir,
                       batch_size=self.settings["batch_size"], seed=self.settings["seed"],
                       losses=self._all_losses())

    # -- the run record ----------------------------------------------------------------------

    def _strategy(self) -> tuple[str, int]:
        """How the run spreads over devices, and over how many replicas."""
        return "default", 1

    def _start_record(self) -> None:
        """run.json as the run starts: what produces it (record.py)."""
        self.began = time.monotonic()
        data = data_fingerprint(self.config.data, self.project.context.base_dir, self.data.train_count,
                                self.data.validation_count)
        document = self.project.to_dict()
        if self.resume:  # the setup the run trains with is the one it recorded, not today's
            document["training"] = document["training"] | {
                "settings": self.settings, "phases": [p.to_dict() for p in self.phases]}
        self.record = start_record(self.folder, document=document, seed=self.settings["seed"],
                                   settings=self.settings, phases=[p.to_dict() for p in self.phases],
                                   data=data, machine=machine_info(*self._strategy()),
                                   project_path=self.project.path, project_folder=self.project.folder)
        self.prior_duration = (self.record.get("duration_s") or 0.0) if self.resume else 0.0

    def _update_record(self, status: str, ended: bool) -> None:
        if self.record is not None:
            self.record = update_record(self.folder, self.record, status=status, history=self.history,
                                        ended=ended,
                                        duration_s=self.prior_duration + time.monotonic() - self.began)

    def _record_failure(self) -> None:
        """The run failed after it started: the record says so, if it can still be written."""
        with contextlib.suppress(OSError):  # the failure to report is the one that ended the run
            self._update_record(FAILED, ended=True)

    # -- setup -------------------------------------------------------------------------------

    def _outputs(self) -> list[str]:
        return [n.name for n in self.project.graph.nodes if node_type(n.type).category == OUTPUT]

    def _output_losses(self) -> dict[str, tuple[str, float]]:
        """Each Output's own loss and weight (those with loss "none" train nothing)."""
        graph = self.project.graph
        return {n.name: (n.params["loss"], n.params["loss_weight"]) for n in graph.nodes
                if node_type(n.type).category == OUTPUT and n.params["loss"] != "none"}

    def _phase_losses(self, phase: Phase) -> dict[str, float]:
        own = self._output_losses()
        if phase.losses is None:
            return {name: weight for name, (_, weight) in own.items()}
        return {name: float(weight) for name, weight in phase.losses.items() if weight > 0}

    def _all_losses(self) -> dict[str, str]:
        own = self._output_losses()
        names = {name for phase in self.phases for name in self._phase_losses(phase)}
        return {name: own[name][0] for name in sorted(names)}

    def _loss_problems(self) -> list[str]:
        own = self._output_losses()
        messages = []
        for phase in self.phases:
            for name in phase.losses or {}:
                if name not in own and any(n.name == name for n in self.project.graph.nodes):
                    messages.append(f"phase {phase.name!r}: Output {name!r} has loss none; "
                                    "choose its loss in the inspector")
            if not self._phase_losses(phase):
                messages.append(f"phase {phase.name!r} trains nothing: no Output carries a loss; "
                                "choose a loss on an Output")
        return messages

    def _stopped_run(self, only_phase, epochs) -> tuple[Path, TrainingConfig, list[Phase]]:
        """The stopped run to go on with: its folder, and the setup and phases it recorded."""
        folder = Path(self.out_dir) if self.out_dir else latest_run(self.project, STOPPED, trials=False)
        state = read_state(folder) if folder else None
        if not state or state.get("status") != STOPPED:
            raise RunError("there is no stopped run to resume")
        try:
            config, phases = recorded_setup(state, folder)
        except ConfigError as error:
            raise RunError(f"cannot resume: {error}") from None
        if (only_phase, epochs) != (None, None) and config.run_phases(only_phase, epochs) != phases:
            names = ", ".join(f"{p.name!r} ({p.epochs} epochs)" for p in phases)
            raise RunError(f"the stopped run trains {names}; resume it without another phase or "
                           "number of epochs, or start a new run")
        self.history = read_history(folder)
        self.start = (state["phase"], state["epoch"])
        return folder, config, phases

    def _new_folder(self) -> Path:
        if self.out_dir:
            folder = Path(self.out_dir)
            folder.mkdir(parents=True, exist_ok=True)
            return folder
        base = runs_dir(self.project)
        base.mkdir(exist_ok=True)
        taken = [int(p.name[4:]) for p in base.glob("run-*") if p.name[4:].isdigit()]
        number = max(taken, default=0) + 1
        while True:  # mkdir claims a number atomically: another process's run takes the next one
            folder = base / f"run-{number:03d}"
            try:
                folder.mkdir()
                return folder
            except FileExistsError:
                number += 1

    # -- phases ------------------------------------------------------------------------------

    def _train_phases(self) -> RunEnded:
        first_phase, first_epoch = self.start
        self.global_epoch = sum(p.epochs for p in self.phases[:first_phase]) + first_epoch
        self.global_step = self.global_epoch * self.data.steps_per_epoch
        self.total_steps = sum(p.epochs for p in self.phases) * self.data.steps_per_epoch
        for index in range(first_phase, len(self.phases)):
            epoch = first_epoch if index == first_phase else 0
            try:
                self._train_phase(index, epoch)
            except StopRequested:
                return self._end(STOPPED, "training stopped; resume it to go on from the epoch "
                                 "it stopped in")
            except Diverged as error:
                return self._end(DIVERGED, str(error))
            except OSError:
                raise  # a file of the run could not be written: writing more would not help
            except Exception as error:
                self._keep_after_failure(error)
                raise  # the runner reports it
        self._evaluate()
        return self._end(FINISHED, f"training finished: {self._summary()}")

    def _keep_after_failure(self, error: Exception) -> None:
        """A phase failed (a layer, TensorFlow, a bug): the weights of its last finished epoch
        are saved as a stopped run's, so the epochs trained so far are kept and a resume goes
        on from there; a note on `error` says so (or why they could not be kept)."""
        if self.resume_at == self.start:
            return  # no epoch finished in this run: its folder holds what it held before
        try:
            self.model.set_weights(self.good_weights)
            self._checkpoint(STOPPED)
        except Exception as also:  # noqa: BLE001 - the failure to report is the first one
            error.add_note(f"the weights trained so far could not be kept: {type(also).__name__}: {also}")
            return
        phase, epoch = self.resume_at
        then = (f"go on from epoch {epoch + 1} of phase {self.phases[phase].name!r}"
                if phase < len(self.phases) else "finish it")
        kept = stored_path(self.folder / LAST_WEIGHTS, self.project.folder)
        error.add_note(f"the weights of the last finished epoch were kept in {kept}; resume the run "
                       f"to {then}")

    def _train_phase(self, index: int, first_epoch: int) -> None:
        import keras

        phase = self.phases[index]
        self._apply_freezing(phase)
        losses = self.phase_loss_weights = self._phase_losses(phase)
        own = self._output_losses()
        metrics = {n.name: list(n.params["metrics"]) for n in self.project.graph.nodes if n.name in losses}
        view = self._view(losses)
        train, validation = targets(self.data.train, losses), targets(self.data.validation, losses)
        cache = self._cached_prefix(phase, losses)
        if cache is not None:
            view, train, validation = cache.view, cache.feed(train), cache.feed(validation)
        optimizer = self._phase_optimizer(phase)
        view.compile(optimizer=optimizer, loss={name: own[name][0] for name in losses},
                     loss_weights=losses, metrics=metrics, jit_compile=self.settings["xla"],
                     steps_per_execution=self._steps_per_execution(phase, losses))
        self._start_phase(index, first_epoch, view, optimizer)
        from app.core.training.callbacks import Progress, TensorBoardLog

        callbacks = [Progress(self, index, phase)]
        if self.settings["early_stopping"]:
            callbacks.append(keras.callbacks.EarlyStopping(
                monitor=self._monitor(), patience=self.settings["early_stopping"]))
        if self.settings["tensorboard"]:
            callbacks.append(TensorBoardLog(self.folder / "tensorboard" / phase.name,
                                            self.data.steps_per_epoch))
        self.control.checkpoint()
        with warnings.catch_warnings():  # PhaseStarted.warning says it in Graft's words
            warnings.filterwarnings("ignore", "The model does not have any trainable weights")
            view.fit(train, validation_data=validation, epochs=phase.epochs,
                     initial_epoch=first_epoch, shuffle=False, verbose=0, callbacks=callbacks)
        self._end_phase()

    def _cached_prefix(self, phase: Phase, losses):
        """The phase's frozen prefix computed once, when it has one and the setting is on
        (prefix_cache.py), or None; run.json says per phase whether, and why not. The cache is
        kept till the next phase or the run's end: the evaluation after the last phase predicts
        through it."""
        from app.core.training.prefix_cache import OFF, cache_phase, plan, too_cheap

        self._close_cache()
        cache, note = None, {"used": False, "reason": OFF}
        if self.settings["cache_frozen_prefix"]:
            found = plan(self.project.graph, self.model, losses)
            if found.reason is None:
                found.reason = too_cheap(self.project.graph, self.analysis, found.cut)
            note = {"used": False, "reason": found.reason}
            if found.reason is None:
                samples = self._prepare(shuffle=False)  # its own pipeline: the run's keeps its shuffling
                cache, note = cache_phase(found, self.model, losses, [samples.train, samples.validation],
                                          samples.train_count + samples.validation_count, self.folder)
        if self.record is not None:
            self.record.setdefault("prefix_cache", {})[phase.name] = note
        self.cache = cache
        return cache

    def _steps_per_execution(self, phase: Phase, losses) -> int:
        """The phase's steps per call into TensorFlow: the setting, or when it is auto what
        the nodes the phase computes cost (steps.py); run.json records it per phase."""
        from app.core.training.steps import steps_per_execution

        cut = self.cache.names if self.cache is not None else None
        steps = steps_per_execution(self.settings["steps_per_execution"], self.analysis, self.project.graph,
                                    losses, cut, self.settings["batch_size"])
        self._record_steps(phase, steps)
        return steps

    def _record_steps(self, phase: Phase, steps: int) -> None:
        if self.record is not None:
            self.record.setdefault("steps_per_execution", {})[phase.name] = steps

    def _close_cache(self) -> None:
        if self.cache is not None:
            self.cache.close()
            self.cache = None

    def _predict(self, outputs, inputs) -> dict:
        """The model's predictions of `outputs` for `inputs`: through the last phase's cache of its
        frozen prefix when it gives them all (that prefix has not changed since)."""
        batch_size = self.settings["batch_size"]
        if self.cache is not None and set(outputs) <= set(self.cache.outputs):
            return self.cache.predict(inputs, batch_size)
        return self._view(outputs).predict(inputs, verbose=0, batch_size=batch_size)

    def _phase_optimizer(self, phase: Phase):
        """A fresh optimizer for `phase`: its learning rate and schedule, and its groups."""
        from app.core.training.optim import learning_rate, make_optimizer

        schedule = learning_rate(self.settings["schedule"], self._phase_rate(phase),
                                 self.data.steps_per_epoch, phase.epochs)
        return make_optimizer(self.settings["optimizer"], schedule, self._rate_groups(phase))

    def _phase_rate(self, phase: Phase) -> float:
        return phase.learning_rate if phase.learning_rate is not None else self.settings["learning_rate"]

    def _start_phase(self, index: int, first_epoch: int, view, optimizer) -> None:
        """Announce the phase, put back a resumed phase's optimizer state, and start keeping
        its good and best weights."""
        phase, model = self.phases[index], self.model
        trainable = sum(int(math.prod(w.shape)) for w in model.trainable_weights)
        frozen = sum(int(math.prod(w.shape)) for w in model.non_trainable_weights)
        self.sink(PhaseStarted(index, phase.name, phase.epochs, self.data.steps_per_epoch,
                               float(self._phase_rate(phase)), trainable, frozen))
        self.optimizer, self.phase_index = optimizer, index
        if self.resume and (index, first_epoch) == self.start:
            self._restore_optimizer(view)
        self.good_weights = model.get_weights()
        self.best, self.best_weights, self.best_unsaved = math.inf, None, False

    def _end_phase(self) -> None:
        """Early stopping keeps the phase's best weights; a checkpoint saves them."""
        if self.settings["early_stopping"] and self.best_weights is not None:
            self.model.set_weights(self.best_weights)
            self.good_weights = self.best_weights
        self._checkpoint()

    def _restore_optimizer(self, view) -> None:
        """Put back the optimizer state saved with the last weights, when it was saved in this
        phase and still fits (same kind, same trainable variables); otherwise, or when the
        file is damaged, the phase goes on with a fresh optimizer, as a new one would."""
        path = self.folder / OPTIMIZER_FILE
        try:
            with np.load(path) as saved:
                if int(saved["phase"]) != self.start[0]:
                    return
                values = [saved[f"v{i}"] for i in range(len(saved.files) - 1)]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            return  # none, or cut short by a crash mid-checkpoint
        if not self.optimizer.built:
            self.optimizer.build(view.trainable_variables)
        variables = self.optimizer.variables
        if [tuple(v.shape) for v in variables] == [value.shape for value in values]:
            for variable, value in zip(variables, values):
                variable.assign(value)

    def _view(self, outputs) -> object:
        """The model with only `outputs`, inputs and outputs keyed by node name; it shares
        every weight with the full model."""
        import keras

        return keras.Model({t.name: t for t in self.model.inputs},
                           {name: self.model.get_layer(name).output for name in outputs})

    def _monitor(self) -> str:
        wanted = self.settings["monitor"]
        return wanted if self.data.validation is not None else "loss"

    def _apply_freezing(self, phase: Phase) -> None:
        """Each node's own freezing, overridden by the phase's; then the rest of the model
        (Keras's layers for adapters, heads and merges) follows the phase too."""
        graph = self.project.graph
        for node_id, layer in self.compiled.node_layers.items():
            node = graph.node(node_id)
            spec = phase.trainable.get(node.name)
            if node_type(node.type).category == PRETRAINED:
                params = dict(node.params)
                if spec is not None:
                    params.update(freezing_params(spec))
                apply_freezing(layer, params)
            elif spec is not None:
                layer.trainable = not phase_freezes(spec)

    def _rate_groups(self, phase: Phase) -> list[tuple[float, list]]:
        graph = self.project.graph
        layers = {graph.node(i).name: layer for i, layer in self.compiled.node_layers.items()}
        return [(float(m), list(layers[name].trainable_weights))
                for name, m in phase.lr_multipliers.items() if m != 1]

    # -- after each epoch and at the end -------------------------------------------------------

    def epoch_done(self, index: int, epoch: int, logs: dict) -> None:
        """Keep the epoch's weights (as the best too, when they are) and its row of the history,
        save a checkpoint when the last one is CHECKPOINT_SECONDS old; send the numbers."""
        weights = self.model.get_weights()
        if not all(np.isfinite(w).all() for w in weights if np.issubdtype(w.dtype, np.floating)):
            from app.core.training.optim import current_learning_rate

            raise Diverged.in_weights(self.phases[index].name, epoch, current_learning_rate(self.optimizer),
                                      self.phase_loss_weights)
        self.global_epoch += 1
        self.good_weights = weights
        value = logs.get(self._monitor(), logs.get("loss", math.inf))
        best = value < self.best
        if best:
            self.best, self.best_weights, self.best_unsaved = value, self.good_weights, True
        row = {"phase": self.phases[index].name, "epoch": epoch + 1, **logs}
        self.history.append(row)
        self.resume_at = (index, epoch + 1)
        if epoch + 1 >= self.phases[index].epochs:
            self.resume_at = (index + 1, 0)
        elif time.monotonic() - self.saved_at >= CHECKPOINT_SECONDS:
            self._checkpoint()  # the phase's end saves one anyway
        self.sink(EpochEnded(index, epoch, self.global_epoch, logs, best))

    def _checkpoint(self, status: str = STOPPED) -> None:
        """last.weights.h5 (the model as it is now), best.weights.h5 when a better epoch came
        since, and the state a crash now would resume from (`status`: how the run stands).
        Each file is made in memory and written whole: a full disk raises OSError naming the
        file, with the previous checkpoint intact (h5py writing to it would truncate it)."""
        save_weights(self.model, self.folder / LAST_WEIGHTS)
        if self.optimizer is not None and self.optimizer.built:
            state = io.BytesIO()
            np.savez(state, phase=self.phase_index,
                     **{f"v{i}": np.asarray(v) for i, v in enumerate(self.optimizer.variables)})
            atomic_write_bytes(self.folder / OPTIMIZER_FILE, state.getvalue())
        if self.best_unsaved:
            now = self.model.get_weights()
            self.model.set_weights(self.best_weights)
            try:
                best = weights_bytes(self.model)
            finally:
                self.model.set_weights(now)
            atomic_write_bytes(self.folder / BEST_WEIGHTS, best)
            self.best_unsaved = False
        self._write_state(status, *self.resume_at)
        self.saved_at = time.monotonic()

    def _end(self, status: str, message: str) -> RunEnded:
        weights, self.ending = None, status
        if status == DIVERGED:
            self.model.set_weights(self.good_weights)
        if status in (DIVERGED, STOPPED):  # nothing trained so far is lost
            self._checkpoint(status)
        else:
            self._write_state(status, *self.resume_at)
        best = self.folder / BEST_WEIGHTS
        if status == FINISHED and best.is_file():
            weights = best
        elif (self.folder / LAST_WEIGHTS).is_file():
            weights = self.folder / LAST_WEIGHTS
        relative = None
        if weights is not None:  # as the project names a file: relative to its folder when inside it
            relative = stored_path(weights, self.project.folder)
        return RunEnded(status, message, weights=relative)

    def _write_state(self, status: str, phase: int, epoch: int) -> None:
        """state.json and the history up to now, which a resume from this state goes on from
        (written with every checkpoint, not every epoch: a small model's epoch is 0.1 s)."""
        write_history(self.folder, self.history)
        write_state(self.folder, status, phase, epoch, self.config, self.phases, self.project.folder)
        self._update_record(self.ending or RUNNING, ended=self.ending is not None)

    def _summary(self) -> str:
        if not self.history:
            return "no epochs"
        last = self.history[-1]
        shown = [f"{k} {v:.4g}" for k, v in last.items() if isinstance(v, float)
                 and (k.startswith("val_") or self.data.validation is None)]
        return ", ".join(shown[:4]) or f"loss {last.get('loss', math.nan):.4g}"

    def _evaluate(self) -> None:
        """Validation metrics, confusion matrices and a preview, with the weights kept."""
        import numpy as np

        if self.data.validation_arrays is None:
            return
        best = self.folder / BEST_WEIGHTS
        if best.is_file():
            self.model.load_weights(best)
        inputs, targets = self.data.validation_arrays
        predictions = self._predict(targets, inputs)
        own = self._output_losses()
        metrics, confusion, class_names, preview = {}, {}, {}, []
        for name, target in targets.items():
            predicted = np.asarray(predictions[name])
            loss = own.get(name, ("none",))[0]
            if loss not in CLASSIFIER_LOSSES:
                metrics[f"{name} mean absolute error"] = float(np.mean(np.abs(
                    predicted.reshape(len(predicted), -1) - np.asarray(target).reshape(len(target), -1))))
                continue
            classes = predicted.shape[-1]
            truth = np.asarray(target)
            truth = truth.argmax(-1) if loss == "categorical_crossentropy" else truth.reshape(-1)
            guess = predicted.argmax(-1)
            matrix = np.zeros((classes, classes), dtype=int)
            np.add.at(matrix, (truth.astype(int), guess), 1)
            confusion[name] = matrix.tolist()
            names = self.data.class_names.get(name) or [str(i) for i in range(classes)]
            class_names[name] = names
            metrics[f"{name} accuracy"] = float(np.mean(truth == guess))
            for i in range(min(PREVIEW_SAMPLES, len(guess))):
                preview.append({"output": name, "true": names[int(truth[i])],
                                "predicted": names[int(guess[i])],
                                "confidence": float(predicted[i, guess[i]])})
        self.sink(Evaluated(metrics, confusion, class_names, preview))


def _set_op_determinism(on: bool) -> bool:
    """TensorFlow's op determinism on or off (it is the process's, so a run puts it back as
    it found it); returns what it was."""
    from tensorflow.python.framework import config  # the public API can only switch it on

    was = config.is_op_determinism_enabled()
    if on and not was:
        config.enable_op_determinism()
    elif was and not on:
        config.disable_op_determinism()
    return was


def targets(dataset, outputs):
    """`dataset` with only the targets of `outputs` (a phase trains some Outputs only);
    as it is when it has just those, so a common phase adds no step to the pipeline."""
    if dataset is None or set(dataset.element_spec[1]) == set(outputs):
        return dataset
    return dataset.map(lambda x, y: (x, {name: y[name] for name in outputs}))
