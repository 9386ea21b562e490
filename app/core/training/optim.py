"""Optimizers for a training run: the configured kind, rate schedule and per-node rate multipliers.

A multiplier must change the step size, and Adam-like optimizers divide out any scale of
the gradient, so multiplying gradients would do nothing. A `GroupedOptimizer` therefore
runs one inner optimizer per multiplier, each with its own state and a rate of base ×
multiplier, behind the ordinary Keras optimizer interface that `model.fit` (and the
`LossScaleOptimizer` of mixed precision) drives."""

from __future__ import annotations

import math

import keras
from keras.optimizers.schedules import CosineDecay, ExponentialDecay

_KINDS = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "sgd": lambda learning_rate, name=None: keras.optimizers.SGD(learning_rate, momentum=0.9, name=name),
    "rmsprop": keras.optimizers.RMSprop,
}


def learning_rate(schedule: str, base: float, steps_per_epoch: int, epochs: int):
    """The rate for a phase: a float (constant) or a Keras schedule stepping once per batch."""
    base = float(base)
    if schedule == "constant":
        return base
    if schedule == "cosine":
        return CosineDecay(base, decay_steps=max(1, steps_per_epoch * epochs))
    if schedule == "exponential":
        return ExponentialDecay(base, decay_steps=max(1, steps_per_epoch), decay_rate=0.9)
    raise ValueError(f"unknown learning-rate schedule {schedule!r} "
                     "(expected constant, cosine or exponential)")


def make_optimizer(name: str, rate, groups: list[tuple[float, list]] | None = None):
    """Optimizer `name` at `rate` (a float or schedule); `groups` are (multiplier, variables)
    pairs, and variables in no group use multiplier 1. A plain Keras optimizer when no
    multiplier differs from 1, so the common case carries no extra machinery."""
    rate = _checked_rate(rate)
    if not any(multiplier != 1 for multiplier, _ in groups or ()):
        return _plain(name, rate)
    return GroupedOptimizer(name, rate, groups)


@keras.saving.register_keras_serializable(package="graft")
class GroupedOptimizer(keras.optimizers.Optimizer):
    """One inner optimizer per learning-rate multiplier, each with its own state.

    Its own `learning_rate` and `iterations` are the base rate and the step count; each
    inner optimizer reads its rate from them (× its multiplier) at every step, so setting
    the base rate or stepping a schedule moves all groups together. Groups are fixed when
    the optimizer is built: like any Keras optimizer, it serves the variables it was built
    with, so a model recompiled with other trainable variables needs a new optimizer."""

    def __init__(self, optimizer: str, learning_rate, groups=(), name=None):
        super().__init__(learning_rate=_checked_rate(learning_rate), name=name)
        self.kind = _checked_kind(optimizer)
        self._multiplier_of = {}
        for multiplier, variables in groups:
            if not (isinstance(multiplier, (int, float)) and math.isfinite(multiplier) and multiplier > 0):
                raise ValueError(f"learning-rate multiplier must be a number > 0, got {multiplier!r}")
            for variable in variables:
                if self._multiplier_of.setdefault(id(variable), multiplier) != multiplier:
                    where = getattr(variable, "path", variable.name)
                    raise ValueError(f"variable {where} is in groups with different multipliers")
        self._multipliers, self._optimizers, self._group_of = (), (), ()

    def build(self, variables):
        if self.built:  # as Keras's optimizers: a LossScaleOptimizer builds it again
            return
        multipliers = [self._multiplier_of.get(id(v), 1) for v in variables]
        self._multipliers = tuple(sorted(set(multipliers)))
        self._optimizers = tuple(_plain(self.kind, self._scaled_rate(m), name=f"{self.name}_x{m:g}")
                                 for m in self._multipliers)
        self._group_of = tuple(self._multipliers.index(m) for m in multipliers)
        for index, inner in enumerate(self._optimizers):
            inner.build([v for v, group in zip(variables, self._group_of) if group == index])
        super().build(variables)

    def _scaled_rate(self, multiplier):
        return lambda: self.learning_rate * multiplier

    def apply(self, grads, trainable_variables=None):
        """Hand each group's gradients to its own optimizer, then count the step."""
        if len(grads) == 0:
            return
        if trainable_variables is None:
            if not self.built:
                raise ValueError("build the optimizer before applying gradients without variables")
            trainable_variables = self._trainable_variables
        trainable_variables = list(trainable_variables)
        if not self.built:
            with keras.name_scope(self.name, caller=self):
                self.build(trainable_variables)
        self._check_variables_are_known(trainable_variables)
        split = [([], []) for _ in self._optimizers]
        for grad, variable in zip(grads, trainable_variables):
            if grad is not None:
                if self.loss_scale_factor is not None:
                    grad = grad / self.loss_scale_factor
                group_grads, group_variables = split[self._group_of[self._get_variable_index(variable)]]
                group_grads.append(grad)
                group_variables.append(variable)
        if not any(group_grads for group_grads, _ in split):
            raise ValueError("No gradients provided for any variable.")
        for inner, (group_grads, group_variables) in zip(self._optimizers, split):
            if group_grads:
                inner.apply(group_grads, group_variables)
        self._iterations.assign_add(1)

    @property
    def variables(self):
        return self._variables + [v for inner in self._optimizers for v in inner.variables]

    @property
    def optimizers(self) -> dict:
        """The inner optimizer of each multiplier (after build), for inspection."""
        return dict(zip(self._multipliers, self._optimizers))

    def get_config(self):
        """Kind and base rate only: groups hold live variables, so a reloaded model trains at one rate."""
        config = super().get_config()
        return {"name": config["name"], "optimizer": self.kind, "learning_rate": config["learning_rate"]}


def current_learning_rate(optimizer) -> float:
    """The base learning rate now (a schedule at the current step), for plotting per batch."""
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def _plain(kind: str, rate, name=None):
    return _KINDS[_checked_kind(kind)](learning_rate=rate, name=name)


def _checked_kind(kind: str) -> str:
    if kind not in _KINDS:
        raise ValueError(f"unknown optimizer {kind!r} (expected one of: {', '.join(_KINDS)})")
    return kind


def _checked_rate(rate):
    """Keras takes only a float or a schedule (callable); a rate of 1 from JSON is an int."""
    return rate if callable(rate) else float(rate)
