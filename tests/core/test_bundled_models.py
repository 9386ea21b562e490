"""The bundled data and models are what the scripts say: the cards' numbers are reproduced by
resources/train_models.py, and their facts match the model files and the data files.

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
    assert evaluation["total"] == stated["split"]["validation"]
    assert evaluation["value"] >= FLOORS[name]
    assert (ROOT / stated["data"]["file"]).is_file()


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.graft")), ids=lambda path: path.stem)
def test_every_example_composes_bundled_pretrained_models(example):
    project = load(example)
    used = {project.context.resolve(node.params["path"]).resolve() for node in project.graph.nodes
            if node.type == "ModelFile"}
    assert used and used <= {path.resolve() for path in MODELS.glob("*.keras")}


def test_the_digits_file_has_the_documented_shapes():
    with np.load(DATA / "digits.npz") as data:
        images, labels = data["images"], data["labels"]
    assert images.shape == (1797, 8, 8, 1) and images.dtype == np.float32
    assert images.min() == 0.0 and images.max() == 1.0
    assert labels.shape == (1797,) and np.issubdtype(labels.dtype, np.integer)
    assert np.bincount(labels).tolist() == DIGITS_PER_CLASS


def test_the_wine_file_has_the_documented_shapes():
    with (DATA / "wine.csv").open(newline="", encoding="ascii") as file:
        header, *rows = list(csv.reader(file))
    assert len(header) == 14 and header[-1] == "label"
    table = np.array(rows, dtype=np.float64)
    assert table.shape == (178, 14)
    assert np.bincount(table[:, -1].astype(int)).tolist() == WINES_PER_CLASS
