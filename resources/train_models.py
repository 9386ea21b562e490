"""Train the bundled models on the bundled data, reproducibly, and write a model card for each.

    .venv/bin/python resources/train_models.py [--out DIR]

Writes DIR/<name>.keras and DIR/<name>.card.json (DIR defaults to resources/models/) for:

- digits_cnn      8×8×1 digit image → 10 class probabilities (layers conv1, conv2, pool, probs);
- digits_refiner  digits_cnn's 10 probabilities → 10 refined probabilities (for cascades);
- digits_encoder  8×8×1 digit image → 32 features: digits_cnn's convolutions and a features
                  layer trained as the trunk of a new classifier, saved alone;
- digits_mlp      64 flattened pixels → 10 class probabilities;
- wine_mlp        13 raw wine measurements → 3 cultivar probabilities; a Normalization layer
                  adapted on the training part is inside the model.

Every model trains on the training part of its data set only (digits.npz, wine.csv); the
held-out part (digits_holdout.npz, wine_holdout.csv, written by resources/fetch_data.py) is
what the cards' accuracy is measured on, and what the examples validate on. Everything is
fixed so that a rerun trains the same weights: keras.utils.set_random_seed before each model,
TensorFlow's op determinism, and the CPU only. The examples, the editor's tests and the GUI
rely on the models' names, input/output signatures and layer names, so those stay. Each card
states its data, training settings and the held-out accuracy measured here;
tests/core/test_bundled_models.py measures that accuracy again and retrains to check it."""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402 (after the log level is set)
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402

RESOURCES = Path(__file__).resolve().parent
sys.path.insert(0, str(RESOURCES.parent))
from resources.fetch_data import HELD_OUT_FRACTION  # noqa: E402
from resources.fetch_data import SEED as SPLIT_SEED  # noqa: E402

DATA = RESOURCES / "data"
MODELS = RESOURCES / "models"
SEED = 0
DIGITS = {"file": "resources/data/digits.npz", "held_out": "resources/data/digits_holdout.npz",
          "dataset": "UCI Optical Recognition of Handwritten Digits (1,797 images, 10 classes)",
          "licence": "CC BY 4.0"}
WINE = {"file": "resources/data/wine.csv", "held_out": "resources/data/wine_holdout.csv",
        "dataset": "UCI Wine (178 rows, 13 features, 3 classes)", "licence": "CC BY 4.0"}


class Part(NamedTuple):
    """One part of a data set: the samples and their class ids."""

    x: np.ndarray
    y: np.ndarray

    def map(self, transform) -> Part:
        return Part(transform(self.x), self.y)


def load_digits(name: str) -> Part:
    with np.load(DATA / f"{name}.npz") as data:
        return Part(data["images"], data["labels"])


def load_wine(name: str) -> Part:
    table = np.loadtxt(DATA / f"{name}.csv", delimiter=",", skiprows=1, dtype=np.float32)
    return Part(table[:, :-1], table[:, -1].astype(np.int64))


def fit(model, train: Part, *, epochs: int, batch_size: int, learning_rate: float) -> dict:
    """Adam with a cosine-decayed learning rate; returns the card's training section."""
    steps = epochs * math.ceil(len(train.y) / batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    # One call per epoch: the small models would otherwise spend most of their time in overhead.
    model.compile(keras.optimizers.Adam(schedule), "sparse_categorical_crossentropy",
                  steps_per_execution=math.ceil(len(train.y) / batch_size))
    model.fit(train.x, train.y, epochs=epochs, batch_size=batch_size, verbose=0)
    return {"epochs": epochs, "batch_size": batch_size,
            "optimizer": f"Adam, learning rate {learning_rate} with cosine decay to 0 over {steps} steps",
            "loss": "sparse_categorical_crossentropy", "seed": SEED}


def accuracy(predicted: np.ndarray, held_out: Part, measured: str) -> dict:
    """The card's evaluation: how many of the held-out samples get their class."""
    correct = int(np.sum(predicted == held_out.y))
    return {"metric": "accuracy", "on": "held-out part", "of": measured,
            "value": round(correct / len(held_out.y), 4), "correct": correct, "total": len(held_out.y)}


def classified(model, part: Part) -> np.ndarray:
    return model.predict(part.x, verbose=0).argmax(axis=-1)


def nearest_neighbour(known: Part, queries: np.ndarray) -> np.ndarray:
    """The class of each query's nearest known sample (Euclidean; ties to the first)."""
    known_x, queries = known.x.astype(np.float64), queries.astype(np.float64)
    distances = (queries ** 2).sum(1)[:, None] - 2 * queries @ known_x.T + (known_x ** 2).sum(1)[None]
    return known.y[distances.argmin(axis=1)]


def split_card(train: Part, held_out: Part) -> dict:
    return {"method": f"stratified: {HELD_OUT_FRACTION:.0%} of each class held out (resources/fetch_data.py, "
                      "numpy default_rng); no bundled model trains on the held-out part",
            "seed": SPLIT_SEED, "train": len(train.y), "held_out": len(held_out.y)}


def conv_trunk(pixels):
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(pixels)
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(x)
    return layers.GlobalAveragePooling2D(name="pool")(x)


def train_digits_cnn(train: Part, held_out: Part):
    keras.utils.set_random_seed(SEED)
    pixels = keras.Input((8, 8, 1), name="pixels")
    model = keras.Model(pixels, layers.Dense(10, activation="softmax", name="probs")(conv_trunk(pixels)),
                        name="digits_cnn")
    training = fit(model, train, epochs=50, batch_size=64, learning_rate=0.01)
    card = {"summary": "Classifies 8×8 digit images (values 0..1) as 0–9.", "data": DIGITS,
            "split": split_card(train, held_out), "training": training,
            "evaluation": accuracy(classified(model, held_out), held_out, "this model")}
    return model, card


def train_digits_refiner(train: Part, held_out: Part, cnn):
    """Trained on what digits_cnn outputs for the training part, so a cascade has sensible
    weights; the held-out part stays unseen by both."""
    keras.utils.set_random_seed(SEED)
    probabilities = functools.partial(cnn.predict, verbose=0)
    inputs = keras.Input((10,), name="probs")
    hidden = layers.Dense(32, activation="relu", name="hidden")(inputs)
    model = keras.Model(inputs, layers.Dense(10, activation="softmax", name="refined")(hidden),
                        name="digits_refiner")
    training = fit(model, train.map(probabilities), epochs=30, batch_size=64, learning_rate=0.01)
    training["inputs"] = "digits_cnn's output probabilities for the training part's images"
    card = {"summary": "Maps digits_cnn's class probabilities to refined class probabilities.",
            "data": DIGITS, "split": split_card(train, held_out), "training": training,
            "evaluation": accuracy(classified(model, held_out.map(probabilities)), held_out,
                                   "digits_cnn → digits_refiner")}
    return model, card


def train_digits_encoder(train: Part, held_out: Part, cnn):
    """digits_cnn's trained convolutions, frozen, under a features layer trained as the hidden
    layer of a new Dense(10) classifier (whose head is then dropped): 32 features that
    separate the digits, ready for new heads. Its card's accuracy needs nothing but the saved
    encoder and the data, so anyone can check it: each held-out image is given the class of
    the training image whose features are nearest."""
    keras.utils.set_random_seed(SEED)
    pooled = functools.partial(keras.Model(cnn.inputs, cnn.get_layer("pool").output).predict, verbose=0)
    inputs = keras.Input((32,), name="pooled")
    features = layers.Dense(32, activation="relu", name="features")
    classifier = keras.Model(inputs, layers.Dense(10, activation="softmax", name="digit")(features(inputs)))
    training = fit(classifier, train.map(pooled), epochs=50, batch_size=64, learning_rate=0.01)
    training["trunk"] = "conv1 and conv2 are digits_cnn's trained layers, kept frozen; features is trained"
    pixels = keras.Input((8, 8, 1), name="pixels")
    encoder = keras.Model(pixels, features(conv_trunk(pixels)), name="digits_encoder")
    for name in ("conv1", "conv2"):
        encoder.get_layer(name).set_weights(cnn.get_layer(name).get_weights())
    encode = functools.partial(encoder.predict, verbose=0)
    card = {"summary": "Turns an 8×8 digit image into 32 features for new heads (transfer learning).",
            "data": DIGITS, "split": split_card(train, held_out), "training": training,
            "evaluation": accuracy(nearest_neighbour(train.map(encode), encode(held_out.x)), held_out,
                                   "a nearest-neighbour classifier on its features (the training "
                                   "part's images as references)")}
    return encoder, card


def flatten(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), 64)


def train_digits_mlp(train: Part, held_out: Part):
    keras.utils.set_random_seed(SEED)
    inputs = keras.Input((64,), name="flat_pixels")
    hidden = layers.Dense(32, activation="relu", name="hidden")(inputs)
    model = keras.Model(inputs, layers.Dense(10, activation="softmax", name="probs")(hidden),
                        name="digits_mlp")
    training = fit(model, train.map(flatten), epochs=40, batch_size=64, learning_rate=0.01)
    card = {"summary": "Classifies flattened 8×8 digit images (64 values 0..1) as 0–9.", "data": DIGITS,
            "split": split_card(train, held_out), "training": training,
            "evaluation": accuracy(classified(model, held_out.map(flatten)), held_out, "this model")}
    return model, card


def train_wine_mlp(train: Part, held_out: Part):
    """Takes the raw measurements: the standardisation, adapted on the training part only,
    is the model's first layer."""
    keras.utils.set_random_seed(SEED)
    normalize = layers.Normalization(name="normalize")
    normalize.adapt(train.x)
    inputs = keras.Input((13,), name="measurements")
    hidden = layers.Dense(16, activation="relu", name="hidden")(normalize(inputs))
    model = keras.Model(inputs, layers.Dense(3, activation="softmax", name="probs")(hidden),
                        name="wine_mlp")
    training = fit(model, train, epochs=60, batch_size=16, learning_rate=0.01)
    card = {"summary": "Classifies a wine's 13 chemical measurements (raw units, the columns of "
                       "wine.csv) as one of 3 cultivars.", "data": WINE,
            "split": split_card(train, held_out), "training": training,
            "evaluation": accuracy(classified(model, held_out), held_out, "this model")}
    return model, card


def signature(layer_name: str, tensor) -> dict:
    return {"name": layer_name, "shape": list(tensor.shape), "dtype": str(tensor.dtype)}


def save(model, card: dict, out: Path) -> None:
    """The model without its optimizer, and its card with the facts read from the model."""
    # Uncompiled, so no optimizer is saved; one tensor in and out, so that calling it gives one.
    model = keras.Model(model.input, model.output, name=model.name)
    full = {"name": model.name, "file": f"{model.name}.keras", **card,
            "input": signature(model.layers[0].name, model.inputs[0]),
            "output": signature(model.layers[-1].name, model.outputs[0]),
            "parameters": model.count_params(),
            "versions": {"keras": keras.__version__, "tensorflow": tf.__version__,
                         "numpy": np.__version__}}
    write_keras(model, out / f"{model.name}.keras")
    (out / f"{model.name}.card.json").write_text(json.dumps(full, indent=2, ensure_ascii=False) + "\n",
                                                 encoding="utf-8")


def write_keras(model, path: Path) -> None:
    """model.save, made byte-reproducible so that a rebuild changes nothing (projects key model
    cards by SHA-256): no save date, fixed zip timestamps, and the config's shared-object ids
    (Python object ids, new each run) numbered in order of appearance instead."""
    with tempfile.TemporaryDirectory() as folder:
        saved = Path(folder) / path.name
        model.save(saved)
        with zipfile.ZipFile(saved) as source, zipfile.ZipFile(path, "w") as target:
            for item in source.infolist():
                data = source.read(item)
                if item.filename == "metadata.json":
                    metadata = json.loads(data)
                    del metadata["date_saved"]
                    data = json.dumps(metadata).encode()
                elif item.filename == "config.json":
                    data = json.dumps(_renumber_shared_objects(json.loads(data), {})).encode()
                target.writestr(zipfile.ZipInfo(item.filename, date_time=(1980, 1, 1, 0, 0, 0)), data)


def _renumber_shared_objects(value, ids: dict):
    if isinstance(value, dict):
        return {key: ids.setdefault(item, len(ids) + 1) if key == "shared_object_id"
                else _renumber_shared_objects(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [_renumber_shared_objects(item, ids) for item in value]
    return value


def train_all(out: Path = MODELS) -> None:
    """Train every bundled model into `out`, each with its card."""
    tf.config.set_visible_devices([], "GPU")  # GPU kernels may differ; the cards are CPU results
    tf.config.experimental.enable_op_determinism()
    out.mkdir(parents=True, exist_ok=True)
    digits = load_digits("digits"), load_digits("digits_holdout")
    wine = load_wine("wine"), load_wine("wine_holdout")

    def run(train, *args):
        started = time.perf_counter()
        model, card = train(*args)
        save(model, card, out)
        print(f"{model.name:<15} {card['evaluation']['value']:7.2%}  {model.count_params():6,} parameters"
              f"  {time.perf_counter() - started:5.1f} s", flush=True)
        return model

    cnn = run(train_digits_cnn, *digits)
    run(train_digits_refiner, *digits, cnn)
    run(train_digits_encoder, *digits, cnn)
    run(train_digits_mlp, *digits)
    run(train_wine_mlp, *wine)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=MODELS, help="folder for the models and cards")
    train_all(parser.parse_args().out)


if __name__ == "__main__":
    main()
