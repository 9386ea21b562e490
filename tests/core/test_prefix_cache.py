"""Frozen-prefix caching (issue 20): a phase after a frozen, deterministic prefix trains on its
outputs computed once, to the same loss history as without the cache; where caching would
change results (randomness before the trainable nodes, a prefix that trains) it is not used,
and run.json says so per phase."""

import json

import numpy as np
import pytest

from app.core.build.compile import compile_graph
from app.core.document.fileformat import load
from app.core.document.project import Project
from app.core.editing.builder import GraphBuilder
from app.core.training import prefix_cache
from app.core.training.events import FINISHED, Evaluated
from app.core.training.runner import train
from app.core.training.store import LAST_WEIGHTS, RECORD_FILE, read_history
from tests.conftest import EXAMPLES, MODELS
from tests.core.test_training import example_copy


def trained(project, out, **options):
    ended = train(project, out_dir=out, **options)
    assert ended.status == FINISHED, ended.message + ended.details
    return read_history(out), json.loads((out / RECORD_FILE).read_text())["prefix_cache"]


def losses(history):
    return np.array([[row["loss"], row["val_loss"]] for row in history])


@pytest.fixture(scope="module")
def transfer_runs(tmp_path_factory):
    """The transfer example (frozen digits encoder → Dropout → head; then its last 3 layers
    fine-tuned), two epochs a phase, with and without the cache; shuffling on, same seed."""
    folder = tmp_path_factory.mktemp("prefix")
    runs = {}
    for cached in (True, False):
        project = example_copy("transfer", folder, cache_frozen_prefix=cached)
        assert project.training.data["shuffle"]
        out = folder / f"cached-{cached}"
        runs[cached] = (*trained(project, out, epochs=2), out)
    return runs


def test_the_cached_phase_has_the_uncached_loss_history_and_weights(transfer_runs):
    (cached, note, out), (plain, off, plain_out) = transfer_runs[True], transfer_runs[False]
    assert [(r["phase"], r["epoch"]) for r in cached] == [(r["phase"], r["epoch"]) for r in plain]
    np.testing.assert_allclose(losses(cached), losses(plain), rtol=1e-5)
    head = note["head"]
    assert head["used"] and head["cut"] == ["backbone"] and head["stored"] == "memory"
    assert head["samples"] == 1797 and head["bytes"] == 1797 * 32 * 4  # train + validation, 32 floats each
    assert off["head"] == {"used": False, "reason": prefix_cache.OFF}
    project, trained_weights = load(EXAMPLES / "transfer.graft"), []
    for run in (out, plain_out):
        model = compile_graph(project.graph, project.context).model
        model.load_weights(run / LAST_WEIGHTS)  # the full model's, though the head trained alone
        trained_weights.append(model.get_weights())
    for one, other in zip(*trained_weights):
        np.testing.assert_allclose(one, other, rtol=1e-5, atol=1e-6)


def test_a_phase_that_unfreezes_the_prefix_is_not_cached(transfer_runs):
    _, note, _ = transfer_runs[True]
    assert note["fine_tune"] == {"used": False,
                                 "reason": "no frozen prefix: 'backbone' trains in this phase"}


def test_a_cache_too_big_for_memory_goes_to_disk_and_evaluates_as_without_it(tmp_path, monkeypatch):
    """The head phase alone: it is also the last, so the evaluation predicts through its cache."""
    monkeypatch.setattr(prefix_cache, "MEMORY_LIMIT", 0)
    runs = {}
    for cached in (True, False):
        events = []
        project = example_copy("transfer", tmp_path, cache_frozen_prefix=cached)
        history, note = trained(project, tmp_path / f"cached-{cached}", epochs=2, phase="head",
                                sink=events.append)
        runs[cached] = losses(history), note["head"], next(e for e in events if isinstance(e, Evaluated))
    (history, note, evaluated), (plain_history, off, plain_evaluated) = runs[True], runs[False]
    assert note["used"] and note["stored"] == "disk" and not off["used"]
    assert not (tmp_path / "cached-True" / prefix_cache.CACHE_FOLDER).exists()  # deleted after the run
    np.testing.assert_allclose(history, plain_history, rtol=1e-5)
    assert evaluated.confusion == plain_evaluated.confusion
    assert evaluated.metrics == pytest.approx(plain_evaluated.metrics, rel=1e-5)


def digits_graph(*before, backbone=str(MODELS / "digits_encoder.keras"), trainable="frozen"):
    """image → `before` (name, type, params) → backbone → head → label."""
    b = GraphBuilder()
    b.add("image", "Input", 0, 0, shape=[8, 8, 1])
    for x, (name, kind, params) in enumerate(before, 1):
        b.add(name, kind, x, 0, **params)
    b.add("backbone", "ModelFile", 8, 0, path=backbone, trainable=trainable)
    b.add("head", "Dense", 9, 0, units=10, activation="softmax")
    b.add("label", "Output", 10, 0, loss="sparse_categorical_crossentropy")
    b.chain("image", *(name for name, _, _ in before), "backbone", "head", "label")
    return b.graph


def test_a_dropout_before_the_trainable_nodes_turns_caching_off_and_the_record_says_so(tmp_path):
    project = Project(digits_graph(("drop", "Dropout", {"rate": 0.2})), "dropped")
    project.training = project.training.replaced(data=project.training.data | {
        "mapping": {"image": "images", "label": "labels"}})
    _, note = trained(project, tmp_path / "run", epochs=1)
    assert note == {"train": {"used": False, "reason": "Dropout 'drop' before the trainable nodes"}}


def plan_of(graph):
    return prefix_cache.plan(graph, compile_graph(graph).model, ["label"])


def test_a_trainable_pretrained_node_has_no_frozen_prefix():
    assert plan_of(digits_graph(trainable="trainable")).reason == \
        "no frozen prefix: 'backbone' trains in this phase"
    frozen = plan_of(digits_graph())
    assert (frozen.reason, frozen.cut, frozen.inputs) == (None, ["backbone"], ["image"])


@pytest.mark.parametrize("layer, said", [("Dropout", "Dropout 'inner' in 'backbone'"),
                                         ("RandomFlip", "augmentation 'inner' in 'backbone'")])
def test_randomness_inside_a_frozen_pretrained_model_turns_caching_off(tmp_path, layer, said):
    import keras

    pixels = keras.Input((8, 8, 1))
    random = keras.layers.Dropout(0.5, name="inner") if layer == "Dropout" else \
        keras.layers.RandomFlip(name="inner")
    features = keras.layers.Dense(4)(keras.layers.Flatten()(random(pixels)))
    keras.Model(pixels, features).save(tmp_path / "noisy.keras")
    assert plan_of(digits_graph(backbone=str(tmp_path / "noisy.keras"))).reason == \
        f"{said} before the trainable nodes"


def test_a_prefix_cheaper_than_looking_it_up_is_not_cached_and_the_record_says_so(tmp_path):
    b = GraphBuilder()
    b.add("image", "Input", 0, 0, shape=[8, 8, 1])
    b.add("flat", "Flatten", 1, 0)
    b.add("stage", "Dense", 2, 0, units=16, activation="relu")
    b.add("head", "Dense", 3, 0, units=10, activation="softmax")
    b.add("label", "Output", 4, 0, loss="sparse_categorical_crossentropy")
    b.chain("image", "flat", "stage", "head", "label")
    project = Project(b.graph, "cheap")
    project.training = project.training.replaced(
        data=project.training.data | {"mapping": {"image": "images", "label": "labels"}},
        phases=[{"name": "head", "epochs": 1, "trainable": {"stage": "frozen"}}])
    _, note = trained(project, tmp_path / "run")
    assert note == {"head": {"used": False, "reason": "the prefix is cheaper to compute than to look up "
                                                      "(1.0 K multiply-adds a sample)"}}
