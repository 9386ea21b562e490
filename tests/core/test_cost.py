"""Issue 19: what the model will cost, per node, before training: multiply-adds by each layer's
arithmetic (small cases worked by hand), parameter and activation memory, totals, the training
memory estimate, and Graft's counts for three Keras Applications against TensorFlow's profiler
and their papers."""

from __future__ import annotations

import json
import shutil

import pytest

from app.core.analysis import cost as cost_module
from app.core.analysis.cost import macs_text, training_memory, training_memory_text
from app.core.analysis.freezing import trainable_by_node
from app.core.analysis.validate import analyze
from app.core.cards.arithmetic import layer_macs
from app.core.document.fileformat import file_document, load, save
from app.core.document.project import Project
from app.core.editing.builder import GraphBuilder
from app.core.nodes import node_type
from app.core.nodes.base import Context
from tests.conftest import EXAMPLES, MODELS

ADAM_32 = {"optimizer": "adam", "batch_size": 32, "mixed_precision": False}


# -- each layer's arithmetic, by hand --------------------------------------------------------------

@pytest.mark.parametrize("class_name, config, inputs, output, macs", [
    # every output feature sums 16 products
    ("Dense", {"units": 8}, [(None, 16)], (None, 8), 16 * 8),
    # a Dense on a sequence projects each of its 5 steps
    ("Dense", {"units": 8}, [(None, 5, 16)], (None, 5, 8), 5 * 16 * 8),
    # 3×3 kernel over 4 channels for each of 6×6×8 outputs; stride 2 shows in the output's size
    ("Conv2D", {"filters": 8, "kernel_size": [3, 3]}, [(None, 12, 12, 4)], (None, 6, 6, 8),
     6 * 6 * 8 * 9 * 4),
    # groups of 2: each output sees half the channels
    ("Conv2D", {"filters": 8, "kernel_size": 3, "groups": 2}, [(None, 6, 6, 4)], (None, 6, 6, 8),
     6 * 6 * 8 * 9 * 2),
    ("Conv2D", {"filters": 8, "kernel_size": 1, "data_format": "channels_first"}, [(None, 4, 6, 6)],
     (None, 8, 6, 6), 8 * 36 * 4),
    ("Conv1D", {"filters": 4, "kernel_size": 5}, [(None, 20, 3)], (None, 16, 4), 16 * 4 * 5 * 3),
    ("Conv3D", {"filters": 2, "kernel_size": [2, 2, 2]}, [(None, 3, 3, 3, 1)], (None, 2, 2, 2, 2), 8 * 2 * 8),
    # one 3×3 kernel per channel (times the depth multiplier in the output's channels)
    ("DepthwiseConv2D", {"kernel_size": [3, 3], "depth_multiplier": 2}, [(None, 8, 8, 4)], (None, 8, 8, 8),
     64 * 8 * 9),
    # depthwise 3×3 on 4 channels, then 1×1 from 4 to 16 channels, at 8×8
    ("SeparableConv2D", {"filters": 16, "kernel_size": [3, 3]}, [(None, 8, 8, 4)], (None, 8, 8, 16),
     64 * 4 * 9 + 64 * 4 * 16),
    # every input value spreads over a 2×2 kernel of 3 filters
    ("Conv2DTranspose", {"filters": 3, "kernel_size": [2, 2]}, [(None, 4, 4, 5)], (None, 8, 8, 3),
     16 * 5 * 4 * 3),
    ("Dot", {"axes": -1}, [(None, 10), (None, 10)], (None, 1), 10),
    ("LSTM", {"units": 4}, [(None, 7, 3)], (None, 4), 7 * 4 * (3 + 4) * 4),
    # none of these multiply-accumulate by the papers' convention
    ("BatchNormalization", {}, [(None, 8, 8, 4)], (None, 8, 8, 4), 0),
    ("MaxPooling2D", {}, [(None, 8, 8, 4)], (None, 4, 4, 4), 0),
    ("Add", {}, [(None, 4), (None, 4)], (None, 4), 0),
    ("ReLU", {}, [(None, 4)], (None, 4), 0),
])
def test_each_layer_counts_its_multiply_adds(class_name, config, inputs, output, macs):
    assert layer_macs(class_name, config, inputs, output, weighted=class_name in (
        "Dense", "Conv2D", "Conv1D", "Conv3D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose",
        "LSTM", "BatchNormalization")) == macs


def test_multi_head_attention_counts_projections_scores_and_output():
    # query 4 steps × 6, value 5 steps × 6, 2 heads of 3: q, k, v projections, scores, weighted
    # values, output back to width 6
    expected = 4 * 6 * 6 + 5 * 6 * 6 + 5 * 6 * 6 + 2 * 4 * 5 * (3 + 3) + 4 * 6 * 6
    assert layer_macs("MultiHeadAttention", {"num_heads": 2, "key_dim": 3},
                      [(None, 4, 6), (None, 5, 6)], (None, 4, 6), weighted=True) == expected


def test_unknown_sizes_and_unknown_weighted_layers_give_an_unknown_count_not_a_guess():
    assert layer_macs("Dense", {}, [(None, None, 16)], (None, None, 8), True) is None
    assert layer_macs("EinsumDense", {}, [(None, 16)], (None, 8), weighted=True) is None
    assert layer_macs("Conv2D", {"filters": 8}, [(None, 4, 4, 2)], (None, 4, 4, 8), True) is None  # no kernel
    assert layer_macs("SomeCustomActivation", {}, [(None, 4)], (None, 4), weighted=False) == 0


def test_macs_read_as_papers_quote_them():
    assert [macs_text(n) for n in (None, 320, 305_088, 999_600, 300_774_272, 3_857_973_248)] == \
        ["?", "320", "305 K", "1.0 M", "301 M", "3.9 G"]


# -- per node, through the analysis -----------------------------------------------------------------

def small_cnn():
    b = GraphBuilder()
    b.add("image", "Input", 0, 0, shape=[8, 8, 3])
    b.add("project", "ChannelProjection", 1, 0, filters=4)
    b.add("pool", "GlobalAveragePooling2D", 2, 0)
    b.add("head", "Dense", 3, 0, units=10)
    b.add("label", "Output", 4, 0, loss="sparse_categorical_crossentropy")
    for a, z in (("image", "project"), ("project", "pool"), ("pool", "head"), ("head", "label")):
        b.wire(a, z)
    return b.graph


def test_each_node_costs_its_multiply_adds_weights_and_outputs():
    graph = small_cnn()
    analysis = analyze(graph)
    cost = {graph.node(i).name: result.cost for i, result in analysis.nodes.items()}
    assert cost["project"].macs == 8 * 8 * 4 * 3  # a 1×1 convolution from 3 to 4 channels
    assert cost["project"].param_bytes == (3 * 4 + 4) * 4  # float32 kernel and bias
    assert cost["project"].activation_bytes == 8 * 8 * 4 * 4
    assert (cost["head"].macs, cost["pool"].macs, cost["image"].macs) == (4 * 10, 0, 0)
    assert cost["image"].activation_bytes == 8 * 8 * 3 * 4  # the sample itself
    assert cost["label"].activation_bytes == 0  # it returns what reaches it
    total = analysis.cost_totals()
    assert total.macs == 8 * 8 * 4 * 3 + 40 and not total.partial


def test_a_node_whose_shapes_cannot_be_inferred_has_no_cost_and_makes_the_totals_partial():
    graph = small_cnn()
    image = graph.node_by_name("image")
    graph.set_params(image.id, {**image.params, "shape": [8]})  # the 1×1 convolution needs images
    analysis = analyze(graph)
    assert analysis.nodes[graph.node_by_name("project").id].cost is None
    assert analysis.cost_totals().partial


@pytest.mark.parametrize("example", ["transfer", "parallel", "cascade", "shared_base"])
def test_an_example_graphs_total_is_the_sum_of_its_nodes(example):
    project = load(EXAMPLES / f"{example}.graft")
    analysis = analyze(project.graph, project.context)
    costs = [result.cost for result in analysis.nodes.values()]
    total = analysis.cost_totals()
    assert not total.partial  # the examples' cards carry their layers' multiply-adds
    assert total.macs == sum(c.macs for c in costs) > 0
    assert total.param_bytes == sum(c.param_bytes for c in costs) == 4 * analysis.param_totals()[0]
    assert total.activation_bytes == sum(c.activation_bytes for c in costs)


def test_a_bundled_models_multiply_adds_are_its_layers_by_hand():
    project = load(EXAMPLES / "transfer.graft")
    analysis = analyze(project.graph, project.context)
    backbone = analysis.nodes[project.graph.node_by_name("backbone").id].cost
    # digits_encoder: 3×3 convolutions 1→16 and 16→32 channels at 8×8, pooling, Dense 32→32
    assert backbone.macs == 64 * 16 * 9 * 1 + 64 * 32 * 9 * 16 + 32 * 32


def test_a_card_from_an_older_project_file_gives_an_unknown_cost_until_the_model_is_built(tmp_path):
    from app.core.build.compile import compile_graph
    from app.core.cards.card import card_from_model, card_to_dict
    from app.core.cards.loading import load_model_file

    model_file = tmp_path / "older_refiner.keras"  # a name of its own: a card no other test cached
    shutil.copy(MODELS / "digits_refiner.keras", model_file)
    b = GraphBuilder()
    b.add("probs", "Input", 0, 0, shape=[10])
    b.add("refiner", "ModelFile", 1, 0, path=model_file.name)
    b.add("digit", "Output", 2, 0, loss="sparse_categorical_crossentropy")
    b.wire("probs", "refiner")
    b.wire("refiner", "digit")
    path = tmp_path / "older.graft"
    save(Project(b.graph, "older", path=path), path)
    project = load(path)
    refiner = project.graph.node_by_name("refiner")
    key = node_type(refiner.type).card_key(refiner, project.context)
    card = card_to_dict(card_from_model(load_model_file(model_file), model_file.name))
    del card["costed"]  # as Graft wrote cards before they counted multiply-adds
    for layer in card["layers"]:
        del layer["macs"]
    document = json.loads(path.read_text())
    document["cards"] = [{"key": key, "nodes": [refiner.id], "card": card}]
    path.write_text(json.dumps(document))

    project = load(path)
    analysis = analyze(project.graph, project.context)
    assert analysis.ok  # not an error: the cost is unknown
    cost = analysis.nodes[refiner.id].cost
    assert cost.macs is None and cost.param_bytes == 4 * 682
    assert analysis.cost_totals().partial

    compile_graph(project.graph, project.context, analysis)  # builds the model: its card learns them
    analysis = analyze(project.graph, project.context)
    assert analysis.nodes[refiner.id].cost.macs == 10 * 32 + 32 * 10  # Dense 10→32→10 (682 weights)
    assert file_document(project, path)["cards"][0]["card"]["costed"]  # saved with the project


# -- training memory ------------------------------------------------------------------------------------

def dense_graph(units: int = 3):
    b = GraphBuilder()
    b.add("features", "Input", 0, 0, shape=[4])
    b.add("hidden", "Dense", 1, 0, units=units)
    b.add("score", "Output", 2, 0, loss="mean_squared_error")
    b.wire("features", "hidden")
    b.wire("hidden", "score")
    return b.graph


def estimate(graph, settings, overrides=None):
    analysis = analyze(graph)
    by_node = trainable_by_node(graph, analysis, Context(), overrides)
    return training_memory(analysis, graph, by_node, settings)


def test_training_memory_adds_weights_gradients_optimizer_slots_and_kept_activations():
    graph = dense_graph()
    weights = (4 * 3 + 3) * 4
    memory = estimate(graph, ADAM_32)
    # the Input's batch is not kept for the backward pass: nothing before it trains
    assert (memory.weights, memory.gradients, memory.optimizer, memory.activations) == \
        (weights, weights, 2 * weights, 32 * 3 * 4)
    assert memory.total == 4 * weights + 384 and not memory.partial
    assert estimate(graph, {**ADAM_32, "optimizer": "rmsprop"}).optimizer == weights
    assert estimate(graph, {**ADAM_32, "optimizer": "sgd"}).optimizer == weights  # momentum 0.9
    assert estimate(graph, {**ADAM_32, "mixed_precision": True}).activations == 384 // 2  # float16
    assert estimate(graph, {**ADAM_32, "batch_size": 64}).activations == 2 * 384


def test_a_frozen_base_keeps_no_activations_and_learns_no_gradients():
    project = load(EXAMPLES / "transfer.graft")
    analysis = analyze(project.graph, project.context)
    graph, settings = project.graph, project.training.settings
    head, fine_tune = project.training.phases
    backbone = analysis.nodes[graph.node_by_name("backbone").id].cost
    frozen, tuned = (training_memory(analysis, graph, trainable_by_node(
        graph, analysis, project.context, phase.trainable), settings) for phase in (head, fine_tune))
    assert frozen.gradients == 330 * 4  # the head alone
    assert tuned.gradients > frozen.gradients
    dropout = analysis.nodes[graph.node_by_name("dropout").id].cost  # after the backbone: kept too
    assert tuned.activations - frozen.activations == \
        (backbone.activation_bytes + dropout.activation_bytes) * settings["batch_size"]


def test_training_memory_beyond_the_machines_says_so(monkeypatch):
    monkeypatch.setattr(cost_module, "machine_memory", lambda: 500)
    memory = estimate(dense_graph(), ADAM_32)  # 624 bytes
    assert memory.exceeds_machine
    assert "more than this machine's 500 bytes: lower the batch size" in training_memory_text(memory)
    monkeypatch.setattr(cost_module, "machine_memory", lambda: 10**12)
    assert not estimate(dense_graph(), ADAM_32).exceeds_machine


# -- graft summary ---------------------------------------------------------------------------------

def test_graft_summary_shows_each_nodes_cost_and_the_totals(capsys):
    from app.cli import main

    assert main(["summary", str(EXAMPLES / "transfer.graft")]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("node "))
    assert header.split()[-4:] == ["multiply-adds", "params", "memory", "activations"]
    backbone = next(line for line in out.splitlines() if line.startswith("backbone "))
    assert backbone.split()[-6:] == ["305", "K", "22.9", "KB", "12.2", "KB"]
    assert "total: 305 K multiply-adds per sample, 24.2 KB of parameters" in out
    assert "training memory at batch 64: about" in out and "phase 'fine_tune', the largest" in out


# -- against TensorFlow's profiler and the papers ------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("architecture, paper", [
    ("MobileNetV2", 300e6), ("ResNet50", 3.9e9), ("EfficientNetB0", 0.39e9)])
def test_multiply_adds_match_tensorflows_profiler_and_the_papers(architecture, paper):
    """Graft counts from the card (no TensorFlow at analysis time); the profiler counts the
    TensorFlow graph of the same model. The profiler's FLOPs count a multiply-add as 2 (a
    multiply and an add), so a convolution's or matrix product's FLOPs / 2 are its multiply-adds.
    It also counts element-wise ops (biases, batch norm, activations, residual adds) at 1 FLOP
    per value, which the papers and Graft's convention leave out: on its convolution and matrix
    product ops alone the two must agree exactly, and on all its FLOPs / 2 within 5 %."""
    import tensorflow as tf

    b = GraphBuilder()
    b.add("image", "Input", 0, 0, shape=[224, 224, 3])
    b.add("backbone", "Application", 1, 0, architecture=architecture, include_top=True,
          input_shape=[224, 224, 3])
    b.add("label", "Output", 2, 0, loss="sparse_categorical_crossentropy")
    b.wire("image", "backbone")
    b.wire("backbone", "label")
    analysis = analyze(b.graph)
    macs = analysis.nodes[b.graph.node_by_name("backbone").id].cost.macs

    from app.core.cards.applications import build_application

    model = build_application(architecture, weights=None, include_top=True, input_shape=[224, 224, 3],
                              pooling="none", classes=1000)
    graph = tf.function(lambda x: model(x, training=False)).get_concrete_function(
        tf.TensorSpec([1, 224, 224, 3], tf.float32)).graph
    builder = tf.compat.v1.profiler.ProfileOptionBuilder
    every_op = builder(builder.float_operation()).with_empty_output().build()
    products = {**every_op, "account_type_regexes": ["Conv2D", "DepthwiseConv2dNative", "MatMul"],
                "account_displayed_op_only": True}
    profiled_products = tf.compat.v1.profiler.profile(graph, cmd="op", options=products).total_float_ops
    profiled_all = tf.compat.v1.profiler.profile(graph, options=every_op).total_float_ops
    assert macs == profiled_products / 2
    assert macs == pytest.approx(profiled_all / 2, rel=0.05)
    assert macs == pytest.approx(paper, rel=0.10)
