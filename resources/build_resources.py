"""Rebuild the bundled models and the example projects, reproducibly.

    .venv/bin/python resources/build_resources.py      (or `make resources`)

First resources/train_models.py trains the bundled models on the bundled data
(resources/data/, written by resources/fetch_data.py) and writes each with its model card;
then the example projects are written through Graft's own builder, layout and project
format, each composing those pretrained models, trained on the bundled digits and validated
on their held-out part (digits_holdout), which no bundled model was trained on."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EXAMPLES = ROOT / "resources" / "examples"


def build_examples() -> None:
    from app.core.analysis.validate import analyze
    from app.core.document.fileformat import save
    from app.core.document.project import Project
    from app.core.document.training_setup import config_from_dict
    from app.core.editing.builder import GraphBuilder
    from app.core.editing.layout import auto_layout

    def example(file_name: str, title: str, description: str, build, training: dict | None = None) -> None:
        builder = GraphBuilder()
        build(builder.add, builder.wire)
        for node_id, position in auto_layout(builder.graph).items():
            builder.graph.move(node_id, position)
        project = Project(builder.graph, title, description, path=EXAMPLES / file_name,
                          training=config_from_dict(training))
        analyze(project.graph, project.context)  # reads each model's card, which save keeps
        save(project, EXAMPLES / file_name)
        print(f"wrote {EXAMPLES / file_name}")

    model = "../models/{}.keras".format

    def cascade(add, wire):
        add("pixels", "Input", 0, 0, shape=[8, 8, 1])
        add("classifier_a", "ModelFile", 240, 0, path=model("digits_cnn"))
        add("refiner_b", "ModelFile", 480, 0, path=model("digits_refiner"), trainable="trainable")
        add("digit_a", "Output", 480, 200, loss="sparse_categorical_crossentropy",
            metrics=["accuracy"])
        add("digit", "Output", 720, 0, loss="sparse_categorical_crossentropy",
            metrics=["accuracy"])
        wire("pixels", "classifier_a")
        wire("classifier_a", "refiner_b")
        wire("classifier_a", "digit_a")
        wire("refiner_b", "digit")

    def parallel(add, wire):
        add("pixels", "Input", 0, 100, shape=[8, 8, 1])
        add("cnn", "ModelFile", 240, 0, path=model("digits_cnn"))
        add("encoder", "ModelFile", 240, 200, path=model("digits_encoder"))
        add("fused", "Concatenate", 480, 100)
        add("head", "Dense", 720, 100, units=10, activation="softmax")
        add("digit", "Output", 960, 100, loss="sparse_categorical_crossentropy",
            metrics=["accuracy"])
        wire("pixels", "cnn")
        wire("pixels", "encoder")
        wire("cnn", "fused", "in0")
        wire("encoder", "fused", "in1")
        wire("fused", "head")
        wire("head", "digit")

    def shared_base(add, wire):
        add("pixels", "Input", 0, 100, shape=[8, 8, 1])
        add("trunk", "ModelFile", 240, 100, path=model("digits_encoder"), trainable="last_n",
            trainable_last_n=1)
        add("digit_head", "Dense", 480, 0, units=10, activation="softmax")
        add("parity_head", "Dense", 480, 200, units=1, activation="sigmoid")
        add("digit", "Output", 720, 0, loss="sparse_categorical_crossentropy", loss_weight=1.0,
            metrics=["accuracy"])
        add("is_even", "Output", 720, 200, loss="binary_crossentropy", loss_weight=0.5,
            metrics=["binary_accuracy"])
        wire("pixels", "trunk")
        wire("trunk", "digit_head")
        wire("trunk", "parity_head")
        wire("digit_head", "digit")
        wire("parity_head", "is_even")

    def transfer(add, wire):
        add("image", "Input", 0, 0, shape=[8, 8, 1])
        add("backbone", "ModelFile", 240, 0, path=model("digits_encoder"), trainable="frozen")
        add("dropout", "Dropout", 480, 0, rate=0.2)
        add("head", "Dense", 720, 0, units=10, activation="softmax")
        add("label", "Output", 960, 0, loss="sparse_categorical_crossentropy",
            metrics=["accuracy"])
        for a, b in (("image", "backbone"), ("backbone", "dropout"), ("dropout", "head"),
                     ("head", "label")):
            wire(a, b)

    def broken(add, wire):
        add("pixels", "Input", 0, 100, shape=[8, 8, 1])
        add("mlp", "ModelFile", 240, -100, path=model("digits_mlp"))
        add("mlp_digit", "Output", 480, -100, loss="sparse_categorical_crossentropy")
        add("encoder", "ModelFile", 240, 100, path=model("digits_encoder"))
        add("fused", "Concatenate", 480, 100)
        add("head", "Dense", 720, 100, units=10, activation="softmax")
        add("digit", "Output", 960, 100, loss="sparse_categorical_crossentropy")
        add("orphan", "Dense", 480, 250, units=8)
        add("tokens", "Input", 0, 400, shape=[12], dtype="float32")
        add("embed", "Embedding", 240, 400, input_dim=100, output_dim=16)
        add("topic_pool", "GlobalAveragePooling1D", 480, 400)
        add("topic", "Output", 720, 400, loss="sparse_categorical_crossentropy")
        add("extra", "Input", 0, 550, shape=[4])
        wire("pixels", "mlp")  # (None, 8, 8, 1) into a model expecting (None, 64)
        wire("mlp", "mlp_digit")
        wire("pixels", "encoder")
        wire("encoder", "fused", "in0")
        wire("pixels", "fused", "in1")  # a 4-D image concatenated with a vector
        wire("fused", "head")
        wire("head", "digit")
        wire("encoder", "orphan")  # leads nowhere
        wire("tokens", "embed")  # floats into an Embedding
        wire("embed", "topic_pool")
        wire("topic_pool", "topic")

    def digits(mapping: dict, phases: list, **settings) -> dict:
        """Trained on the bundled digits, validated on their held-out part, which none of the
        pretrained models saw: so the validation accuracy is honest."""
        return {"data": {"source": "bundled", "path": "digits", "validation_path": "digits_holdout",
                         "mapping": mapping},
                "settings": {"batch_size": 64, **settings}, "phases": phases}

    example("cascade.graft", "Cascade",
            "Classifier A (the pretrained digits_cnn) feeds its class probabilities to refinement "
            "classifier B (the pretrained digits_refiner). Staged training: A alone, then B on A's "
            "outputs with A frozen, then the whole cascade jointly at a lower learning rate.", cascade,
            digits({"pixels": "images", "digit_a": "labels", "digit": "labels"}, [
                {"name": "stage_a", "epochs": 3, "learning_rate": 1e-3,
                 "trainable": {"classifier_a": "all", "refiner_b": "frozen"}, "losses": {"digit_a": 1.0}},
                {"name": "stage_b", "epochs": 3, "learning_rate": 1e-3,
                 "trainable": {"classifier_a": "frozen", "refiner_b": "all"}, "losses": {"digit": 1.0}},
                {"name": "joint", "epochs": 3, "learning_rate": 1e-4,
                 "trainable": {"classifier_a": "all", "refiner_b": "all"},
                 "losses": {"digit_a": 0.5, "digit": 1.0}},
            ]))
    example("parallel.graft", "Parallel + merge",
            "The pretrained digits_cnn and digits_encoder read the same digits; their outputs are "
            "concatenated into a new Dense head.", parallel,
            digits({"pixels": "images", "digit": "labels"}, [], epochs=10, learning_rate=3e-3))
    example("shared_base.graft", "Shared base, two heads",
            "The pretrained digits_encoder as one trunk (last layer trainable) with a digit head and "
            "a parity head, trained with loss weights 1.0 and 0.5.", shared_base,
            digits({"pixels": "images", "digit": "labels", "is_even": "even"}, [],
                   epochs=10, learning_rate=3e-3))
    example("transfer.graft", "Transfer learning",
            "The pretrained digits_encoder, frozen, with dropout and a new 10-class Dense head: only "
            "the head's 330 weights train. Then its last 3 layers are fine-tuned at 1e-4 with a "
            "learning-rate multiplier of 0.5 on the backbone.", transfer,
            digits({"image": "images", "label": "labels"}, [
                {"name": "head", "epochs": 10, "learning_rate": 1e-2},
                {"name": "fine_tune", "epochs": 5, "learning_rate": 1e-4,
                 "trainable": {"backbone": 3}, "lr_multipliers": {"backbone": 0.5}},
            ]))
    example("broken.graft", "Broken on purpose",
            "Shows Graft's checks: a shape mismatch and a merge mismatch with one-click fixes, "
            "floats fed to an Embedding, a node that leads nowhere and an unused Input.", broken,
            digits({}, []))


if __name__ == "__main__":
    from resources.train_models import train_all

    train_all()
    build_examples()
