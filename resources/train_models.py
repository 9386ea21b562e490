"""Train the bundled models on the bundled data, reproducibly, and write a model card for each.

    .venv/bin/python resources/train_models.py [--out DIR]

Writes DIR/<name>.keras and DIR/<name>.card.json (DIR defaults to resources/models/) for:

- digits_cnn      8×8×1 digit image → 10 class probabilities (layers conv1, conv2, pool, probs);
- digits_refiner  digits_cnn's 10 probabilities → 10 refined probabilities (for cascades);
- digits_encoder  8×8×1 digit image → 32 features: digits_cnn's convolutions and a features
                  layer trained as the trunk of a new classifier, saved alone;
- digits_mlp      64 flattened pixels → 10 class probabilities;
- wine_mlp        13 raw wine measurements → 3 cultivar probabilities; a Normalization layer
                  adapted on the training split is inside the model.

Everything is fixed so that a rerun trains the same weights: one stratified train/validation
split per data set (numpy's default_rng, seed 0), keras.utils.set_random_seed before each
model, TensorFlow's op determinism, and the CPU only. The examples, the editor's tests and
the GUI rely on the models' names, input/output signatures and layer names, so those stay.
Each card states its data, split, training settings and the validation accuracy measured
here; tests/core/test_bundled_models.py retrains and checks those numbers."""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402 (after the log level is set)
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402

RESOURCES = Path(__file__).resolve().parent
DATA = RESOURCES / "data"
MODELS = RESOURCES / "models"
SEED = 0
VALIDATION_FRACTION = 0.2
DIGITS = {"file": "resources/data/digits.npz",
          "dataset": "UCI Optical Recognition of Handwritten Digits (1,797 images, 10 classes)",
          "licence": "CC BY 4.0"}
WINE = {"file": "resources/data/wine.csv", "dataset": "UCI Wine (178 rows, 13 features, 3 classes)",
        "licence": "CC BY 4.0"}


def stratified_split(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation indices: VALIDATION_FRACTION of each class held out, seeded."""
    rng = np.random.default_rng(SEED)
    held_out = [rng.permutation(np.flatnonzero(labels == label))[:round(np.sum(labels == label)
                                                                         * VALIDATION_FRACTION)]
                for label in np.unique(labels)]
    validation = np.sort(np.concatenate(held_out))
    return np.setdiff1d(np.arange(len(labels)), validation), validation


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    with np.load(DATA / "digits.npz") as data:
        return data["images"], data["labels"]


def load_wine() -> tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(DATA / "wine.csv", delimiter=",", skiprows=1, dtype=np.float32)
    return table[:, :-1], table[:, -1].astype(np.int64)


def fit(model, x, y, train, *, epochs: int, batch_size: int, learning_rate: float) -> dict:
    """Adam with a cosine-decayed learning rate; returns the card's training section."""
    steps = epochs * math.ceil(len(train) / batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    # One call per epoch: the small models would otherwise spend most of their time in overhead.
    model.compile(keras.optimizers.Adam(schedule), "sparse_categorical_crossentropy",
                  steps_per_execution=math.ceil(len(train) / batch_size))
    model.fit(x[train], y[train], epochs=epochs, batch_size=batch_size, verbose=0)
    return {"epochs": epochs, "batch_size": batch_size,
            "optimizer": f"Adam, learning rate {learning_rate} with cosine decay to 0 over {steps} steps",
            "loss": "sparse_categorical_crossentropy", "seed": SEED}


def accuracy(model, x, y, validation, measured: str) -> dict:
    predicted = model.predict(x[validation], verbose=0).argmax(axis=-1)
    correct = int(np.sum(predicted == y[validation]))
    return {"metric": "accuracy", "on": "validation split", "of": measured,
            "value": round(correct / len(validation), 4), "correct": correct, "total": len(validation)}


def split_card(train, validation) -> dict:
    return {"method": f"stratified: {VALIDATION_FRACTION:.0%} of each class held out for validation, "
                      "numpy default_rng", "seed": SEED, "train": len(train), "validation": len(validation)}


def conv_trunk(pixels):
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(pixels)
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(x)
    return layers.GlobalAveragePooling2D(name="pool")(x)


def train_digits_cnn(x, y, train, validation):
    keras.utils.set_random_seed(SEED)
    pixels = keras.Input((8, 8, 1), name="pixels")
    model = keras.Model(pixels, layers.Dense(10, activation="softmax", name="probs")(conv_trunk(pixels)),
                        name="digits_cnn")
    training = fit(model, x, y, train, epochs=50, batch_size=64, learning_rate=0.01)
    card = {"summary": "Classifies 8×8 digit images (values 0..1) as 0–9.", "data": DIGITS,
            "split": split_card(train, validation), "training": training,
            "evaluation": accuracy(model, x, y, validation, "this model")}
    return model, card


def train_digits_refiner(x, y, train, validation, cnn):
    """Trained on what digits_cnn outputs for the training split, so a cascade has sensible
    weights; the validation split stays unseen by both."""
    keras.utils.set_random_seed(SEED)
    probs = cnn.predict(x, verbose=0)
    inputs = keras.Input((10,), name="probs")
    hidden = layers.Dense(32, activation="relu", name="hidden")(inputs)
    model = keras.Model(inputs, layers.Dense(10, activation="softmax", name="refined")(hidden),
                        name="digits_refiner")
    training = fit(model, probs, y, train, epochs=30, batch_size=64, learning_rate=0.01)
    training["inputs"] = "digits_cnn's output probabilities for the training split's images"
    card = {"summary": "Maps digits_cnn's class probabilities to refined class probabilities.",
            "data": DIGITS, "split": split_card(train, validation), "training": training,
            "evaluation": accuracy(model, probs, y, validation, "digits_cnn → digits_refiner")}
    return model, card


def train_digits_encoder(x, y, train, validation, cnn):
    """digits_cnn's trained convolutions, frozen, under a features layer trained as the hidden
    layer of a new Dense(10) classifier (whose head is then dropped): 32 features that
    separate the digits linearly, ready for new heads."""
    keras.utils.set_random_seed(SEED)
    pooled = keras.Model(cnn.inputs, cnn.get_layer("pool").output).predict(x, verbose=0)
    inputs = keras.Input((32,), name="pooled")
    features = layers.Dense(32, activation="relu", name="features")
    classifier = keras.Model(inputs, layers.Dense(10, activation="softmax", name="digit")(features(inputs)))
    training = fit(classifier, pooled, y, train, epochs=50, batch_size=64, learning_rate=0.01)
    training["trunk"] = "conv1 and conv2 are digits_cnn's trained layers, kept frozen; features is trained"
    pixels = keras.Input((8, 8, 1), name="pixels")
    encoder = keras.Model(pixels, features(conv_trunk(pixels)), name="digits_encoder")
    for name in ("conv1", "conv2"):
        encoder.get_layer(name).set_weights(cnn.get_layer(name).get_weights())
    card = {"summary": "Turns an 8×8 digit image into 32 features for new heads (transfer learning).",
            "data": DIGITS, "split": split_card(train, validation), "training": training,
            "evaluation": accuracy(classifier, pooled, y, validation,
                                   "the classifier it was trained in: this encoder + a Dense(10, "
                                   "softmax) head, which is not saved")}
    return encoder, card


def train_digits_mlp(x, y, train, validation):
    keras.utils.set_random_seed(SEED)
    flat = x.reshape(len(x), 64)
    inputs = keras.Input((64,), name="flat_pixels")
    hidden = layers.Dense(32, activation="relu", name="hidden")(inputs)
    model = keras.Model(inputs, layers.Dense(10, activation="softmax", name="probs")(hidden),
                        name="digits_mlp")
    training = fit(model, flat, y, train, epochs=40, batch_size=64, learning_rate=0.01)
    card = {"summary": "Classifies flattened 8×8 digit images (64 values 0..1) as 0–9.", "data": DIGITS,
            "split": split_card(train, validation), "training": training,
            "evaluation": accuracy(model, flat, y, validation, "this model")}
    return model, card


def train_wine_mlp(x, y, train, validation):
    """Takes the raw measurements: the standardisation, adapted on the training split only,
    is the model's first layer."""
    keras.utils.set_random_seed(SEED)
    normalize = layers.Normalization(name="normalize")
    normalize.adapt(x[train])
    inputs = keras.Input((13,), name="measurements")
    hidden = layers.Dense(16, activation="relu", name="hidden")(normalize(inputs))
    model = keras.Model(inputs, layers.Dense(3, activation="softmax", name="probs")(hidden),
                        name="wine_mlp")
    training = fit(model, x, y, train, epochs=60, batch_size=16, learning_rate=0.01)
    card = {"summary": "Classifies a wine's 13 chemical measurements (raw units, the columns of "
                       "wine.csv) as one of 3 cultivars.", "data": WINE,
            "split": split_card(train, validation), "training": training,
            "evaluation": accuracy(model, x, y, validation, "this model")}
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
    digits, wine = load_digits(), load_wine()
    digits_split, wine_split = stratified_split(digits[1]), stratified_split(wine[1])

    def run(train, *args):
        started = time.perf_counter()
        model, card = train(*args)
        save(model, card, out)
        print(f"{model.name:<15} {card['evaluation']['value']:7.2%}  {model.count_params():6,} parameters"
              f"  {time.perf_counter() - started:5.1f} s", flush=True)
        return model

    cnn = run(train_digits_cnn, *digits, *digits_split)
    run(train_digits_refiner, *digits, *digits_split, cnn)
    run(train_digits_encoder, *digits, *digits_split, cnn)
    run(train_digits_mlp, *digits, *digits_split)
    run(train_wine_mlp, *wine, *wine_split)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=MODELS, help="folder for the models and cards")
    train_all(parser.parse_args().out)


if __name__ == "__main__":
    main()
