"""Graphs and helpers that the export tests of several formats share."""

import keras
import numpy as np

from app.core.document.project import Project
from app.core.editing.builder import GraphBuilder
from app.core.export.common import predict
from app.core.graph.graph import Graph
from app.core.nodes import node_type
from tests.conftest import EXAMPLES

EXAMPLE_NAMES = sorted(p.stem for p in EXAMPLES.glob("*.graft") if p.stem != "broken")


def names_of(graph: Graph, category: str) -> list[str]:
    """The names of the graph's nodes of one category (Input, Output…), in graph order."""
    return [n.name for n in graph.nodes if node_type(n.type).category == category]


def in_app(model, sample) -> dict[str, np.ndarray]:
    """The in-app model's predictions, keyed by output (Output node) name."""
    return dict(zip(model.output_names, predict(model, sample)))


def ids_and_features() -> Project:
    """Two Inputs, one of integer ids through an Embedding, merged into one Output."""
    b = GraphBuilder()
    b.add("tokens", "Input", shape=[6], dtype="int32")
    b.add("embed", "Embedding", input_dim=5, output_dim=3)
    b.add("pool", "GlobalAveragePooling1D")
    b.add("extra", "Input", shape=[4])
    b.add("fused", "Concatenate")
    b.add("score", "Dense", units=2)
    b.add("label", "Output")
    b.chain("tokens", "embed", "pool")
    b.wire("pool", "fused", "in0")
    b.wire("extra", "fused", "in1")
    b.chain("fused", "score", "label")
    return Project(b.graph, "mixed")


def served_savedmodel(folder) -> Project:
    """A graph around a SavedModel node, whose folder is written into `folder` as "served"."""
    tiny = keras.Sequential([keras.Input(shape=(6,)), keras.layers.Dense(2)])
    tiny.export(str(folder / "served"), verbose=False)
    b = GraphBuilder()
    b.add("x", "Input", shape=[6])
    b.add("served", "ModelFile", path=str(folder / "served"))
    b.add("y", "Output")
    b.chain("x", "served", "y")
    return Project(b.graph, "served")
