"""The Keras Applications catalog against Keras itself: exactly the architectures
`keras.applications` has, each with its preprocessing module, and the cards Graft shows for
an Application node (parameters, trainable parameters, output shape) equal to those of the
model Keras builds directly."""

from __future__ import annotations

import inspect
import math

import keras
import pytest

from app.core.analysis.validate import analyze
from app.core.cards.applications import APPLICATIONS
from app.core.editing.builder import GraphBuilder


def keras_architectures() -> set[str]:
    """The model constructors keras.applications exports (its lowercase names are the
    helper modules: resnet, imagenet_utils, …)."""
    return {name for name, value in vars(keras.applications).items()
            if name[:1].isupper() and inspect.isfunction(value)}


def test_the_catalog_lists_exactly_the_architectures_of_keras_applications():
    assert len(keras_architectures()) >= 40  # the listing found Keras's constructors
    assert set(APPLICATIONS) == keras_architectures()


@pytest.mark.parametrize("name", sorted(APPLICATIONS))
def test_each_architecture_comes_with_its_keras_preprocessing_module(name):
    app = APPLICATIONS[name]
    constructor = getattr(keras.applications, name)
    assert constructor.__module__ == f"keras.src.applications.{app.module}"  # defined there
    module = getattr(keras.applications, app.module)  # and preprocessed by its public twin
    assert callable(module.preprocess_input) and callable(module.decode_predictions)
    assert 32 <= app.min_size < app.default_size


def node_analysis(architecture, input_shape, **params):
    """Graft's account of an Application node: image → backbone → Output."""
    b = GraphBuilder()
    b.add("image", "Input", shape=list(input_shape))
    b.add("backbone", "Application", architecture=architecture, input_shape=list(input_shape), **params)
    b.add("features", "Output")
    b.chain("image", "backbone", "features")
    analysis = analyze(b.graph)
    assert analysis.ok, [str(p) for p in analysis.errors]
    return analysis.nodes[b.graph.node_by_name("backbone").id]


CASES = [  # small ones, built without weights
    ("MobileNetV3Small", (32, 32, 3), dict(pooling="avg")),
    ("MobileNet", (64, 48, 3), dict(include_top=True, classes=7)),
    ("EfficientNetB0", (32, 32, 3), dict(pooling="max")),
    ("MobileNetV2", (40, 40, 3), dict()),
]


@pytest.mark.parametrize(("architecture", "input_shape", "params"), CASES, ids=[c[0] for c in CASES])
def test_an_application_nodes_card_agrees_with_the_model_keras_builds(architecture, input_shape, params):
    settings = {"include_top": False, "pooling": None, "classes": 1000, **params}
    built = getattr(keras.applications, architecture)(weights=None, input_shape=input_shape, **settings)
    weights = sum(math.prod(w.shape) for w in built.weights)
    trainable = sum(math.prod(w.shape) for w in built.trainable_weights)
    assert 0 < trainable < weights  # BatchNormalization's statistics never train

    frozen = node_analysis(architecture, input_shape, **params)
    assert frozen.outputs["out"].shape == tuple(built.output.shape)
    assert (frozen.param_count, frozen.trainable_count) == (weights, 0)
    tuned = node_analysis(architecture, input_shape, trainable="trainable", **params)
    assert (tuned.param_count, tuned.trainable_count) == (weights, trainable)
