"""The bundled data and models are what the scripts say: the cards' numbers are reproduced by
resources/train_models.py, and their facts match the model files and the data files. Each
bundled data set has a held-out part that no bundled model was trained on: the cards state
the accuracy on it, and the examples validate on it.

The trainer runs once, in a subprocess (about half a minute on two CPU cores), so that its
process-wide settings (TensorFlow's op determinism, no GPU) stay out of this one."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from app.core.document.fileformat import load
from app.core.training.sources import locate
from resources.fetch_data import HELD_OUT_FRACTION, held_out_split
from tests.conftest import EXAMPLES, MODELS, ROOT

DATA = ROOT / "resources" / "data"
# The least accuracy each card may state: what makes the model worth bundling.
FLOORS = {"digits_cnn": 0.95, "digits_refiner": 0.95, "digits_encoder": 0.95, "digits_mlp": 0.93,
          "wine_mlp": 0.90}
DIGITS_PER_CLASS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
WINES_PER_CLASS = [59, 71, 48]


def card(folder, name) -> dict:
    return json.loads((folder / f"{name}.card.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def retrained(tmp_path_factory):
    out = tmp_path_factory.mktemp("retrained")
    done = subprocess.run([sys.executable, str(ROOT / "resources" / "train_models.py"), "--out", str(out)],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def test_every_bundled_model_has_a_card_and_every_card_a_model():
    assert sorted(p.stem for p in MODELS.glob("*.keras")) == sorted(FLOORS)
    assert sorted(p.name.removesuffix(".card.json") for p in MODELS.glob("*.card.json")) == sorted(FLOORS)


@pytest.mark.slow
@pytest.mark.parametrize("name", FLOORS)
def test_retraining_reproduces_the_card(name, retrained):
    stated, measured = card(MODELS, name), card(retrained, name)
    assert abs(measured["evaluation"]["value"] - stated["evaluation"]["value"]) <= 0.01, \
        f"{name}: the card says {stated['evaluation']['value']:.2%}, retraining gives " \
        f"{measured['evaluation']['value']:.2%}"
    # The same recipe: data, split, settings, signature and size.
    ignore = ("evaluation", "versions")
    assert {k: v for k, v in measured.items() if k not in ignore} == \
        {k: v for k, v in stated.items() if k not in ignore}


@pytest.mark.parametrize("name", FLOORS)
def test_the_card_matches_the_model_file_loaded_in_safe_mode(name):
    stated = card(MODELS, name)
    model = keras.saving.load_model(MODELS / stated["file"], compile=False, safe_mode=True)
    assert model.name == stated["name"] == name
    assert model.count_params() == stated["parameters"]
    assert [model.layers[0].name, list(model.inputs[0].shape)] == \
        [stated["input"]["name"], stated["input"]["shape"]]
    assert [model.layers[-1].name, list(model.outputs[0].shape)] == \
        [stated["output"]["name"], stated["output"]["shape"]]
    evaluation = stated["evaluation"]
    assert evaluation["value"] == round(evaluation["correct"] / evaluation["total"], 4)
    assert evaluation["total"] == stated["split"]["held_out"]
    assert evaluation["value"] >= FLOORS[name]
    assert (ROOT / stated["data"]["file"]).is_file() and (ROOT / stated["data"]["held_out"]).is_file()


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.graft")), ids=lambda path: path.stem)
def test_every_example_composes_bundled_pretrained_models(example):
    project = load(example)
    used = {project.context.resolve(node.params["path"]).resolve() for node in project.graph.nodes
            if node.type == "ModelFile"}
    assert used and used <= {path.resolve() for path in MODELS.glob("*.keras")}


def digits(part: str = "digits") -> tuple[np.ndarray, np.ndarray]:
    with np.load(DATA / f"{part}.npz") as data:
        return data["images"], data["labels"]


def wine(part: str = "wine") -> tuple[np.ndarray, np.ndarray]:
    with (DATA / f"{part}.csv").open(newline="", encoding="ascii") as file:
        header, *rows = list(csv.reader(file))
    assert len(header) == 14 and header[-1] == "label"
    table = np.array(rows, dtype=np.float64)
    return table[:, :-1].astype(np.float32), table[:, -1].astype(np.int64)


def test_the_digits_files_have_the_documented_shapes():
    (images, labels), (held_images, held_labels) = digits(), digits("digits_holdout")
    for x, y, count in ((images, labels, 1438), (held_images, held_labels, 359)):
        assert x.shape == (count, 8, 8, 1) and x.dtype == np.float32
        assert x.min() == 0.0 and x.max() == 1.0
        assert y.shape == (count,) and np.issubdtype(y.dtype, np.integer)
    assert (np.bincount(labels) + np.bincount(held_labels)).tolist() == DIGITS_PER_CLASS


def test_the_wine_files_have_the_documented_shapes():
    (x, y), (held_x, held_y) = wine(), wine("wine_holdout")
    assert x.shape == (142, 13) and held_x.shape == (36, 13)
    assert (np.bincount(y) + np.bincount(held_y)).tolist() == WINES_PER_CLASS


@pytest.mark.parametrize("train, held_out", [(digits, "digits_holdout"), (wine, "wine_holdout")],
                         ids=["digits", "wine"])
def test_no_sample_of_the_held_out_part_occurs_in_the_part_the_models_train_on(train, held_out):
    (x, _), (held_x, held_y) = train(), train(held_out)
    seen = {row.tobytes() for row in x.reshape(len(x), -1)}
    assert not [i for i, row in enumerate(held_x.reshape(len(held_x), -1)) if row.tobytes() in seen]
    # A fixed share of each class, so that the held-out accuracy weighs every class alike.
    per_class = DIGITS_PER_CLASS if train is digits else WINES_PER_CLASS
    assert np.bincount(held_y).tolist() == [round(n * HELD_OUT_FRACTION) for n in per_class]


def test_the_held_out_split_is_reproducible_and_stratified():
    labels = np.random.default_rng(7).permutation(np.repeat(np.arange(10), DIGITS_PER_CLASS))
    train, held_out = held_out_split(labels)
    again = held_out_split(labels.copy())
    assert np.array_equal(train, again[0]) and np.array_equal(held_out, again[1])
    assert np.array_equal(np.sort(np.concatenate([train, held_out])), np.arange(len(labels)))
    assert np.bincount(labels[held_out]).tolist() == [round(n * HELD_OUT_FRACTION) for n in DIGITS_PER_CLASS]


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.graft")), ids=lambda path: path.stem)
def test_every_example_trains_on_the_train_part_and_validates_on_the_held_out_part(example):
    data = load(example).training.data
    assert (data["source"], data["path"], data["validation_path"]) == ("bundled", "digits", "digits_holdout")
    assert locate(data["source"], data["path"], example.parent)[1] == DATA / "digits.npz"
    assert locate(data["source"], data["validation_path"], example.parent)[1] == DATA / "digits_holdout.npz"


def load_model(name: str):
    return keras.saving.load_model(MODELS / f"{name}.keras", compile=False, safe_mode=True)


def held_out_accuracy(name: str) -> float:
    """What the model scores on the held-out part, measured here, independently of the trainer."""
    if name == "wine_mlp":
        x, y = wine("wine_holdout")
        return np.mean(load_model(name).predict(x, verbose=0).argmax(-1) == y)
    x, y = digits("digits_holdout")
    if name == "digits_encoder":  # the class of the training image with the nearest features
        encoder = load_model(name)
        train_x, train_y = digits()
        known, features = (encoder.predict(images, verbose=0).astype(np.float64) for images in (train_x, x))
        distances = (features ** 2).sum(1)[:, None] - 2 * features @ known.T + (known ** 2).sum(1)[None]
        return np.mean(train_y[distances.argmin(1)] == y)
    if name == "digits_mlp":
        x = x.reshape(len(x), 64)
    elif name == "digits_refiner":
        x = load_model("digits_cnn").predict(x, verbose=0)
    return np.mean(load_model(name).predict(x, verbose=0).argmax(-1) == y)


@pytest.mark.parametrize("name", FLOORS)
def test_each_card_states_the_accuracy_measured_on_the_held_out_part(name):
    evaluation = card(MODELS, name)["evaluation"]
    assert evaluation["on"] == "held-out part"
    measured = held_out_accuracy(name)
    assert abs(measured - evaluation["value"]) <= 0.005, \
        f"{name}: the card says {evaluation['value']:.2%}, the held-out part gives {measured:.2%}"
