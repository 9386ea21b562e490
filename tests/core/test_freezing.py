"""What a node card says a node is and how it trains, and what a phase trains, computed without
building the model (app/core/analysis/freezing.py): it must agree with what a run trains."""

from __future__ import annotations

import pytest

from app.core.analysis.freezing import freezing_badge, trainable_params
from app.core.analysis.validate import analyze
from app.core.document.project import Project
from app.core.editing.builder import GraphBuilder
from app.core.editing.commands import new_node
from app.core.nodes import node_type
from app.core.nodes.appearance import count_text, params_text
from app.core.nodes.pretrained import FREEZING, FREEZING_LABELS, freezing_params, phase_spec
from app.core.training import events
from app.core.training.runner import train
from tests.conftest import MODELS
from tests.core.test_training import Recorder, example_copy

THREE_PHASES = [
    {"name": "head", "epochs": 1},
    {"name": "fine_tune", "epochs": 1, "trainable": {"backbone": 3}},
    {"name": "backbone_only", "epochs": 1, "trainable": {"backbone": "all", "head": "frozen"}},
]


def test_each_phase_trains_the_parameters_counted_without_building_the_model(tmp_path):
    project = example_copy("transfer", tmp_path, phases=THREE_PHASES)
    analysis = analyze(project.graph, project.context)
    counted = [trainable_params(project.graph, analysis, project.context, phase.trainable)
               for phase in project.training.phases]
    sink = Recorder()
    ended = train(project, sink=sink)
    assert ended.status == events.FINISHED, ended.message
    started = sink.of(events.PhaseStarted)
    assert counted == [p.trainable_params for p in started]
    assert len(set(counted)) == 3  # the head alone, the head and 3 layers, the backbone alone
    total, own = analysis.param_totals()
    assert {p.trainable_params + p.frozen_params for p in started} == {total}
    assert trainable_params(project.graph, analysis, project.context, None) == own == counted[0]


def test_a_cards_badge_follows_the_phase_then_the_nodes_own_setting():
    b = GraphBuilder()
    b.add("pixels", "Input", shape=[8, 8, 1])
    b.add("cnn", "ModelFile", path=str(MODELS / "digits_cnn.keras"), trainable="last_n", trainable_last_n=2)
    b.add("twin", "ModelFile", path=str(MODELS / "digits_cnn.keras"), share_weights_with="cnn")
    b.add("head", "Dense", units=3)
    b.add("y", "Output")
    b.chain("pixels", "cnn", "head", "y")
    b.wire("pixels", "twin")
    graph = b.graph
    analysis = analyze(graph, b.project.context)

    def badges(overrides):
        return {n.name: freezing_badge(graph, n, analysis.nodes.get(n.id), overrides) for n in graph.nodes}

    assert badges(None) == {"pixels": "", "cnn": "last 2", "twin": "last 2", "head": "trainable", "y": ""}
    assert badges({"cnn": "frozen", "head": "frozen"}) == {
        "pixels": "", "cnn": "frozen", "twin": "frozen", "head": "frozen", "y": ""}
    shown = badges({"cnn": "all", "head": 0})
    assert [shown[n] for n in ("cnn", "twin", "head")] == ["trainable", "trainable", "frozen"]
    assert badges({"cnn": 0})["cnn"] == "frozen"  # the last 0 layers
    assert badges({"twin": "all"})["twin"] == "last 2"  # a twin trains as the node it shares with


def test_one_vocabulary_for_a_nodes_freezing_and_a_phases():
    (mode,) = [p for p in FREEZING if p.name == "trainable"]
    assert mode.labels == FREEZING_LABELS == ("trainable", "frozen", "last N layers")
    for choice in mode.choices:
        assert freezing_params(phase_spec(choice, 4))["trainable"] == choice
    assert phase_spec("trainable") == "all"
    assert freezing_params(5) == {"trainable": "last_n", "trainable_last_n": 5}


def test_a_model_file_node_is_named_after_its_file():
    project = Project()
    graph = project.graph
    node = new_node(graph, "ModelFile", {"path": str(MODELS / "digits_cnn.keras")})
    assert node.name == "digits_cnn"
    assert new_node(graph, "ModelFile", {"path": "exports/my-model v2.h5"}).name == "my_model_v2"
    assert new_node(graph, "ModelFile", {"path": "saved/2024_model/"}).name == "n_2024_model"
    assert new_node(graph, "ModelFile", {"path": f"{'x' * 300}.keras"}).name == "x" * 50


@pytest.mark.parametrize("type_name, params, subtitle", [
    ("ModelFile", {"path": "../models/digits_cnn.keras"}, "digits_cnn.keras"),
    ("Application", {"architecture": "MobileNetV2", "weights": "imagenet"}, "MobileNetV2 · imagenet"),
    ("Application", {"architecture": "ResNet50"}, "ResNet50 · random weights"),
    ("Application", {"architecture": "ResNet50", "weights": "file", "weights_file": "w/r50.weights.h5"},
     "ResNet50 · r50.weights.h5"),
    ("KerasLayer", {"class_name": "Conv2D", "config": {"filters": 4, "kernel_size": 3}},
     "keras.layers.Conv2D"),
    ("Preprocess", {"architecture": "ResNet50"}, "ResNet50 preprocessing"),
    ("Dense", {"units": 3}, "Dense projection"),
    ("Input", {"shape": [3]}, "Input"),
])
def test_a_cards_subtitle_says_what_the_node_holds(type_name, params, subtitle):
    node = new_node(Project().graph, type_name, params)
    assert node_type(type_name).subtitle(node) == subtitle


@pytest.mark.parametrize("count, text", [
    (0, "no weights"), (None, "? params"), (330, "330 params"), (257_984, "257,984 params"),
    (999_999, "999,999 params"), (2_257_984, "2.26 M params"), (25_636_712, "25.6 M params"),
    (143_667_240, "144 M params"), (1_234_567_890, "1.23 B params"),
])
def test_a_parameter_count_is_exact_below_a_million_then_three_digits(count, text):
    assert params_text(count) == text
    if count:
        assert len(count_text(count)) <= 9
