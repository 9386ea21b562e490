"""The other names Keras accepts for losses and metrics ("mse", "acc", MeanSquaredError…): Graft
reads each as the one name it uses, and Keras agrees that the two mean the same."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras.src.trainers.compile_utils import get_metric

from app.core.graph.params import ParamError
from app.core.nodes import node_type
from app.core.nodes.io import LOSS_ALIASES, LOSSES, METRIC_ALIASES, METRICS

OUTPUT = node_type("Output")


def loss_function(name: str):
    """What Keras computes for a loss name: its function, whether it gives a function or a class."""
    loss = keras.losses.get(name)
    return getattr(loss, "fn", loss)


def metric_kind(name: str):
    """What Keras computes for a metric name, as Model.compile resolves it (where "acc" and
    "accuracy" pick the accuracy that fits the labels)."""
    labels, predictions = np.zeros((2, 1), "float32"), np.zeros((2, 3), "float32")
    metric = get_metric(name, labels, predictions)
    return type(metric), getattr(metric, "_fn", None)


@pytest.mark.parametrize("alias", sorted(LOSS_ALIASES))
def test_each_loss_alias_is_what_keras_makes_of_it(alias):
    assert loss_function(alias) is loss_function(LOSS_ALIASES[alias])


@pytest.mark.parametrize("alias", sorted(METRIC_ALIASES))
def test_each_metric_alias_is_what_keras_makes_of_it(alias):
    assert metric_kind(alias) == metric_kind(METRIC_ALIASES[alias])


def test_keras_knows_every_loss_and_metric_graft_offers():
    for name in LOSSES[1:]:  # "none" is Graft's: no loss
        assert callable(loss_function(name)), name
    for name in METRICS:
        assert metric_kind(name), name


def test_an_output_reads_keras_names_as_the_names_graft_uses():
    params = OUTPUT.check_params({"loss": "mse", "metrics": ["acc", "mae", "MeanAbsoluteError"]})
    assert params["loss"] == "mean_squared_error"
    assert params["metrics"] == ["accuracy", "mean_absolute_error"]  # the same metric once
    assert OUTPUT.check_params({"loss": "KLDivergence"})["loss"] == "kl_divergence"


def test_a_name_keras_does_not_know_is_still_refused():
    with pytest.raises(ParamError, match='got "mse2"'):
        OUTPUT.check_params({"loss": "mse2"})
    with pytest.raises(ParamError, match="a list drawn from"):
        OUTPUT.check_params({"metrics": ["acc", "accuracy_score"]})
