"""One pretrained model applied to two inputs with shared weights (a siamese pair)."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.analysis.validate import analyze
from app.core.build.compile import compile_graph
from app.core.editing.builder import GraphBuilder
from app.core.nodes import Context
from tests.conftest import MODELS


def siamese(**second) -> GraphBuilder:
    """left, right → encoder_a / encoder_b (sharing a's weights) → Subtract → distance → y."""
    b = GraphBuilder()
    b.add("left", "Input", shape=[8, 8, 1])
    b.add("right", "Input", shape=[8, 8, 1])
    b.add("encoder_a", "ModelFile", path="digits_encoder.keras", trainable="trainable")
    b.add("encoder_b", "ModelFile", **{"path": "digits_encoder.keras", "share_weights_with": "encoder_a",
                                       **second})
    b.add("difference", "Subtract")
    b.add("distance", "Dense", units=1)
    b.add("y", "Output")
    b.chain("left", "encoder_a")
    b.chain("right", "encoder_b")
    b.wire("encoder_a", "difference", "in0")
    b.wire("encoder_b", "difference", "in1")
    b.chain("difference", "distance", "y")
    return b


def test_a_siamese_pair_uses_one_set_of_weights():
    b = siamese()
    analysis = analyze(b.graph, Context(MODELS))
    assert analysis.ok, analysis.problems
    compiled = compile_graph(b.graph, Context(MODELS), analysis)
    model = compiled.model
    encoder = model.get_layer("encoder_a")
    assert [layer.name for layer in model.layers].count("encoder_a") == 1
    assert "encoder_b" not in [layer.name for layer in model.layers]
    assert model.count_params() == encoder.count_params() + 32 + 1
    assert analysis.param_totals()[0] == model.count_params()  # the shared weights count once
    x = np.random.default_rng(0).random((3, 8, 8, 1)).astype("float32")
    assert np.allclose(model.predict([x, x], verbose=0), model.get_layer("distance").bias.numpy())


@pytest.mark.parametrize("second, reason", [
    ({"share_weights_with": "nobody"}, "there is no other node named 'nobody'"),
    ({"path": "digits_cnn.keras"}, "'encoder_a' is a different model"),
    ({"taps": ["pool"]}, "its taps must be among those of 'encoder_a'"),
])
def test_sharing_with_the_wrong_node_is_an_error_naming_why(second, reason):
    b = siamese(**second)
    (problem,) = [p for p in analyze(b.graph, Context(MODELS)).errors if "share" in p.message]
    assert problem.message == (f"'encoder_b' cannot share weights: {reason}; name a node of the same "
                               "model, or leave share_weights_with empty")


def test_an_analyzer_following_edits_sees_sharing_problems_of_nodes_that_come_and_go():
    """The checks across pretrained nodes list those nodes only when nodes come or go."""
    from app.core.analysis.validate import Analyzer
    from app.core.document.project import Project
    from app.core.editing.commands import AddNode, CommandStack, RemoveNodes, SetParams, new_node

    b = siamese()
    analyzer = Analyzer(b.graph, Context(MODELS))
    assert analyzer.analyze().ok
    stack = CommandStack(Project(b.graph))
    third = new_node(b.graph, "ModelFile", {"path": "digits_encoder.keras", "share_weights_with": "nobody"})
    stack.push(AddNode(third))
    assert any("there is no other node named 'nobody'" in p.message for p in analyzer.analyze().errors)
    stack.push(SetParams(third.id, {"share_weights_with": "encoder_a"}))
    assert not any("cannot share weights" in p.message for p in analyzer.analyze().errors)
    stack.push(RemoveNodes([b.graph.node_by_name("encoder_a").id]))
    assert any("encoder_b" in p.message and "cannot share weights" in p.message
               for p in analyzer.analyze().errors)
