"""Issue 19, previews in the core: each node's output on the first validation batch of the bundled
digits, computed incrementally (only what an edit changes), following undo and redo, cancellable,
with a pretrained model built once; and what a preview shows (kind, picture, top 3, flags)."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.analysis.validate import analyze
from app.core.document.fileformat import load
from app.core.document.project import Project
from app.core.document.training_setup import config_from_dict
from app.core.editing.builder import GraphBuilder
from app.core.editing.commands import CommandStack, SetParams
from app.core.nodes.pretrained import ModelFile
from app.core.preview.engine import PreviewCancelled, Previewer
from app.core.preview.sample import Sample, SampleError, sample_from_files, validation_sample
from app.core.preview.summary import (
    CONSTANT,
    FEATURE_MAP,
    IMAGE,
    INF,
    NAN,
    PROBABILITIES,
    SEQUENCE,
    VECTOR,
    ZEROS,
    flag_text,
    kind_of,
    summarize,
)
from tests.conftest import EXAMPLES

DIGITS = {"source": "bundled", "path": "digits", "validation_path": "digits_holdout"}


def digits_project(*steps: tuple[str, str, dict]) -> Project:
    """Input `image` (8×8×1) → the steps → Output `digit` (a classifier), on the bundled digits."""
    b = GraphBuilder()
    b.add("image", "Input", 0, 0, shape=[8, 8, 1])
    for i, (name, type_name, params) in enumerate(steps):
        b.add(name, type_name, i + 1, 0, **params)
    b.add("digit", "Output", len(steps) + 1, 0, loss="sparse_categorical_crossentropy")
    b.chain("image", *(name for name, _, _ in steps), "digit")
    return Project(b.graph, "digits", training=config_from_dict(
        {"data": {**DIGITS, "mapping": {"image": "images", "digit": "labels"}}}))


def ids(project: Project) -> dict[str, str]:
    return {n.name: n.id for n in project.graph.nodes}


def previews_of(previewer: Previewer, project: Project) -> dict:
    return previewer.update(project.graph, analyze(project.graph, project.context))


@pytest.fixture(scope="module")
def cnn():
    """A small CNN on the digits, its first validation batch, and a previewer that has run once."""
    project = digits_project(
        ("conv", "KerasLayer", {"class_name": "Conv2D", "config": {
            "filters": 8, "kernel_size": 3, "padding": "same", "activation": "relu"}}),
        ("flat", "Flatten", {}),
        ("head", "Dense", {"units": 10, "activation": "softmax"}))
    sample = validation_sample(project)
    previewer = Previewer(project.context)
    previewer.set_sample(sample)
    return project, sample, previewer, previews_of(previewer, project)


def test_the_sample_is_the_first_validation_batch_with_the_class_names(cnn):
    _, sample, _, _ = cnn
    held_out = np.load(EXAMPLES.parent / "data" / "digits_holdout.npz")["images"]
    assert sample.source == "validation data: first 8 of digits_holdout"
    np.testing.assert_array_equal(sample.arrays["image"], held_out[:8])
    assert sample.class_names == {"digit": [str(i) for i in range(10)]}


def test_previews_of_an_image_a_feature_map_a_vector_and_a_classifier(cnn):
    project, sample, previewer, previews = cnn
    node = ids(project)
    assert previewer.errors == {} and set(previewer.computed) == set(node.values())

    image = previews[node["image"]]
    assert (image.kind, image.shape, image.channels) == (IMAGE, (8, 8, 1), 1)
    pixels = np.rint(sample.arrays["image"][0, ..., 0] * 255).astype(np.uint8)  # digits are 0…1
    assert image.picture.dtype == np.uint8 and image.picture.shape == (8, 8, 3)
    np.testing.assert_array_equal(image.picture[..., 1], pixels)

    conv = previews[node["conv"]]
    assert (conv.kind, conv.shape, conv.channels) == (FEATURE_MAP, (8, 8, 8), 8)
    assert conv.picture.shape == (3 * 9 - 1, 3 * 9 - 1, 3)  # 8 channels in a 3 × 3 grid, 1-pixel gaps
    assert conv.channel_picture(7).shape == (8, 8) and conv.line is None
    assert conv.stats.minimum >= 0 and conv.stats.zero_share > 0  # relu

    flat = previews[node["flat"]]
    assert (flat.kind, flat.shape, flat.picture) == (VECTOR, (512,), None)
    np.testing.assert_array_equal(flat.line, conv.sample.reshape(-1))

    for name in ("head", "digit"):  # the softmax and the classifier Output it feeds
        probabilities = previews[node[name]]
        assert probabilities.kind == PROBABILITIES and len(probabilities.top) == 3
        labels = [label for label, _ in probabilities.top]
        scores = [score for _, score in probabilities.top]
        assert set(labels) <= {str(i) for i in range(10)} and scores == sorted(scores, reverse=True)
        assert labels[0] == str(int(np.argmax(probabilities.sample)))
        assert probabilities.stats.nan_count == 0 and probabilities.flags == ()
        assert probabilities.stats.mean == pytest.approx(0.1, abs=1e-6)  # rows sum to 1 over 10 classes


def test_an_edit_recomputes_only_the_node_and_downstream_and_undo_redo_reuse_the_cache(cnn):
    project, _, previewer, before = cnn
    node = ids(project)
    stack = CommandStack(project)
    stack.push(SetParams(node["flat"], {}))  # no change: nothing to compute
    assert previews_of(previewer, project) and previewer.computed == ()

    stack.push(SetParams(node["head"], {"activation": "relu"}))
    edited = previews_of(previewer, project)
    assert set(previewer.computed) == {node["head"], node["digit"]}
    assert edited[node["head"]].kind == VECTOR and edited[node["conv"]] is before[node["conv"]]

    stack.undo()
    undone = previews_of(previewer, project)
    assert previewer.computed == ()
    for node_id, preview in before.items():
        np.testing.assert_array_equal(undone[node_id].sample, preview.sample)
    assert undone[node["digit"]].top == before[node["digit"]].top

    stack.redo()
    redone = previews_of(previewer, project)
    assert previewer.computed == ()
    np.testing.assert_array_equal(redone[node["head"]].sample, edited[node["head"]].sample)
    stack.undo()


def test_a_rebuilt_node_previews_the_same(cnn):
    """Initial weights are seeded per node: a fresh previewer computes the same values."""
    project, sample, _, before = cnn
    again = Previewer(project.context)
    again.set_sample(sample)
    for node_id, preview in previews_of(again, project).items():
        np.testing.assert_allclose(preview.sample, before[node_id].sample, rtol=1e-5, atol=1e-6)


def test_cancelled_stops_between_nodes_and_keeps_what_was_computed(cnn):
    project, sample, _, _ = cnn
    previewer = Previewer(project.context)
    previewer.set_sample(sample)
    asked = []

    def after_two_nodes():
        asked.append(1)
        return len(asked) > 2

    with pytest.raises(PreviewCancelled):
        previewer.update(project.graph, analyze(project.graph, project.context), after_two_nodes)
    node = ids(project)
    assert previewer.computed == (node["image"], node["conv"])
    with pytest.raises(PreviewCancelled):
        previewer.update(project.graph, analyze(project.graph, project.context), lambda: True)
    assert previewer.computed == ()
    previews_of(previewer, project)
    assert previewer.computed == (node["flat"], node["head"], node["digit"])


def test_nan_inf_zeros_are_flagged_and_a_failing_node_skips_its_downstream():
    scale_up = [(f"up{i}", "Rescaling", {"scale": 1e6}) for i in range(7)]  # 1/16 × 1e42 overflows
    project = digits_project(*scale_up, ("times_zero", "Rescaling", {"scale": 0.0}), ("flat", "Flatten", {}),
                             ("head", "Dense", {"units": 10, "activation": "softmax"}))
    node = ids(project)
    previewer = Previewer(project.context)
    previewer.set_sample(validation_sample(project, count=2))
    previews = previews_of(previewer, project)
    assert INF in previews[node["up6"]].flags and previews[node["up6"]].stats.inf_count > 0
    assert NAN in previews[node["times_zero"]].flags  # 0 × inf
    assert NAN in previews[node["digit"]].flags and previews[node["digit"]].stats.nan_count > 0
    assert flag_text(NAN) == "NaN in the output" and flag_text(ZEROS) == "all zeros"

    assert summarize("n", "out", np.zeros((2, 4)), VECTOR).flags == (ZEROS,)
    assert summarize("n", "out", np.full((2, 3), 0.5), VECTOR).flags == (CONSTANT,)

    previewer.set_sample(Sample({"image": np.zeros((2, 4), np.float32)}, "files: 2 samples from x.npz"))
    assert previews_of(previewer, project) == {}
    assert "has samples of shape (4,), but the Input takes (8, 8, 1)" in previewer.errors[node["image"]]
    assert previewer.errors[node["up0"]] == "needs 'image', which has no preview"
    assert set(previewer.errors) == set(node.values())


def test_a_pretrained_model_is_built_once_across_updates(monkeypatch):
    built = []
    make_model = ModelFile.make_model
    monkeypatch.setattr(ModelFile, "make_model", lambda self, node, ctx: built.append(node.name) or
                        make_model(self, node, ctx))
    project = load(EXAMPLES / "transfer.graft")
    node = ids(project)
    previewer = Previewer(project.context)
    previewer.set_sample(validation_sample(project, count=4))
    previews = previews_of(previewer, project)
    assert previewer.errors == {} and previews[node["backbone"]].kind == VECTOR
    assert [label for label, _ in previews[node["label"]].top][0] in {str(i) for i in range(10)}
    stack = CommandStack(project)
    stack.push(SetParams(node["head"], {"units": 12}))
    stack.push(SetParams(node["backbone"], {"trainable": "trainable"}))  # freezing: same outputs
    previews_of(previewer, project)
    assert node["backbone"] not in previewer.computed
    stack.push(SetParams(node["dropout"], {"rate": 0.3}))
    previews_of(previewer, project)
    assert set(previewer.computed) == {node["dropout"], node["head"], node["label"]}
    assert built == ["backbone"]


def test_kinds_from_the_shape_and_the_node():
    assert kind_of("Input", {}, (8, 8, 3), None) == IMAGE
    assert kind_of("Rescaling", {}, (8, 8, 1), IMAGE) == IMAGE
    assert kind_of("ChannelProjection", {}, (8, 8, 3), IMAGE) == FEATURE_MAP
    assert kind_of("Input", {}, (8, 8, 16), None) == FEATURE_MAP
    assert kind_of("KerasLayer", {"config": {"units": 4}}, (20, 4), SEQUENCE) == SEQUENCE
    assert kind_of("KerasLayer", {"config": {"activation": "softmax"}}, (4,), VECTOR) == PROBABILITIES
    assert kind_of("Application", {"include_top": True}, (1000,), IMAGE) == PROBABILITIES
    assert kind_of("Output", {"loss": "mean_squared_error"}, (3,), VECTOR) == VECTOR
    softmaxed = np.array([[0.7, 0.2, 0.1], [0.0, 0.5, 0.5]])  # a pretrained classifier's output
    assert kind_of("ModelFile", {}, (3,), IMAGE, softmaxed) == PROBABILITIES
    assert kind_of("ModelFile", {}, (3,), IMAGE, softmaxed * 2) == VECTOR
    assert kind_of("ModelFile", {}, (3,), IMAGE, softmaxed - 0.2) == VECTOR
    sequence = summarize("n", "out", np.arange(24, dtype=np.float32).reshape(2, 4, 3), SEQUENCE)
    np.testing.assert_array_equal(sequence.line, [1, 4, 7, 10])
    strongest = np.zeros((1, 2, 2, 20), np.float32)
    strongest[..., 5] = np.array([[0, 1], [2, 3]])
    mosaic = summarize("n", "out", strongest, FEATURE_MAP).picture
    assert mosaic.shape == (4 * 3 - 1, 4 * 3 - 1, 3)  # the 16 strongest of 20 channels, 4 × 4
    assert len({tuple(mosaic[r, c]) for r in (0, 1) for c in (0, 1)}) == 4  # channel 5 comes first
    unnamed = summarize("n", "out", np.eye(12, dtype=np.float32)[[7]], PROBABILITIES)
    assert unnamed.top[0] == ("class 7", 1.0)


def test_a_sample_from_files(tmp_path):
    from PIL import Image

    project = digits_project(("flat", "Flatten", {}), ("head", "Dense", {"units": 10}))
    np.savez(tmp_path / "few.npz", images=np.ones((3, 8, 8, 1), np.float32))
    sample = sample_from_files(project, [tmp_path / "few.npz"])
    assert sample.arrays["image"].shape == (3, 8, 8, 1) and "few.npz" in sample.source

    Image.fromarray(np.full((16, 16), 255, np.uint8)).save(tmp_path / "white.png")
    image = sample_from_files(project, [tmp_path / "white.png"]).arrays["image"]
    assert image.shape == (1, 8, 8, 1) and image.max() == 255  # resized to the Input, 0…255 pixels

    wine = GraphBuilder()
    wine.add("features", "Input", 0, 0, shape=[13])
    wine.add("cultivar", "Output", 1, 0)
    wine.wire("features", "cultivar")
    rows = sample_from_files(Project(wine.graph), [EXAMPLES.parent / "data" / "wine.csv"])
    assert rows.arrays["features"].shape == (8, 13)  # every numeric column but the label

    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(SampleError, match="notes.txt: previews read images"):
        sample_from_files(project, [tmp_path / "notes.txt"])
    np.savez(tmp_path / "wrong.npz", images=np.ones((3, 4), np.float32))
    with pytest.raises(SampleError, match="takes \\(8, 8, 1\\)"):
        sample_from_files(project, [tmp_path / "wrong.npz"])
