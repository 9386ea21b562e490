"""Compile: the graph becomes a plain keras.Model equal to the one a user would write by hand."""

import subprocess
import sys

import keras
import numpy as np
import pytest

from app.core.analysis.validate import analyze
from app.core.build.compile import CompileError, compile_graph
from app.core.document.fileformat import load
from app.core.editing.builder import GraphBuilder
from app.core.nodes import Context
from tests.conftest import EXAMPLES, MODELS
from tests.core.strategies import twin_cnn_graph


def load_model(name):
    return keras.saving.load_model(MODELS / f"{name}.keras", compile=False)


def hand_cascade():
    pixels = keras.Input((8, 8, 1), name="pixels")
    a, b = load_model("digits_cnn"), load_model("digits_refiner")
    a.trainable = False
    b.trainable = True
    probs = a(pixels)
    return keras.Model(pixels, [probs, b(probs)])


def hand_parallel():
    pixels = keras.Input((8, 8, 1), name="pixels")
    cnn, encoder = load_model("digits_cnn"), load_model("digits_encoder")
    cnn.trainable = encoder.trainable = False
    fused = keras.layers.Concatenate()([cnn(pixels), encoder(pixels)])
    return keras.Model(pixels, keras.layers.Dense(10, activation="softmax")(fused))


def hand_shared_base():
    pixels = keras.Input((8, 8, 1), name="pixels")
    trunk = load_model("digits_encoder")
    for layer in trunk.layers[:-1]:
        layer.trainable = False
    features = trunk(pixels)
    return keras.Model(pixels, [keras.layers.Dense(10, activation="softmax")(features),
                                keras.layers.Dense(1, activation="sigmoid")(features)])


def hand_transfer():
    image = keras.Input((8, 8, 1), name="image")
    base = load_model("digits_encoder")
    base.trainable = False
    x = keras.layers.Dropout(0.2)(base(image))
    return keras.Model(image, keras.layers.Dense(10, activation="softmax")(x))


def trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.parametrize("name, by_hand, outputs", [
    ("cascade", hand_cascade, ["digit_a", "digit"]),
    ("parallel", hand_parallel, ["digit"]),
    ("shared_base", hand_shared_base, ["digit", "is_even"]),
    ("transfer", hand_transfer, ["label"]),
])
def test_example_compiles_to_the_model_written_by_hand(name, by_hand, outputs):
    project = load(EXAMPLES / f"{name}.graft")
    analysis = analyze(project.graph, project.context)
    assert analysis.ok, analysis.errors
    compiled = compile_graph(project.graph, project.context, analysis)
    model, expected = compiled.model, by_hand()
    assert model.count_params() == expected.count_params()
    assert trainable_count(model) == trainable_count(expected)
    shapes = [tuple(t.shape) for t in model.outputs]
    assert shapes == [tuple(t.shape) for t in expected.outputs]
    assert model.output_names == outputs
    # What validation promised is what Keras built.
    for node in project.graph.nodes:
        result = analysis.nodes[node.id]
        if node.id in compiled.node_layers:
            assert compiled.param_counts()[node.id] == (result.param_count, result.trainable_count), \
                node.name


def test_losses_weights_and_metrics_come_from_the_outputs():
    project = load(EXAMPLES / "shared_base.graft")
    compiled = compile_graph(project.graph, project.context)
    assert compiled.losses == {"digit": "sparse_categorical_crossentropy",
                               "is_even": "binary_crossentropy"}
    assert compiled.loss_weights == {"digit": 1.0, "is_even": 0.5}
    assert compiled.metrics == {"digit": ["accuracy"], "is_even": ["binary_accuracy"]}
    model = compiled.model
    model.compile("adam", loss=compiled.losses, loss_weights=compiled.loss_weights,
                  metrics=compiled.metrics)
    x = np.random.default_rng(0).random((16, 8, 8, 1), dtype="float32")
    y = {"digit": np.arange(16) % 10, "is_even": (np.arange(16) % 2 == 0).astype("float32")}
    history = model.fit(x, y, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_compiled_model_saves_and_loads_without_graft(tmp_path):
    project = load(EXAMPLES / "parallel.graft")
    model = compile_graph(project.graph, project.context).model
    path = tmp_path / "parallel.keras"
    model.save(path)
    x = np.random.default_rng(1).random((4, 8, 8, 1), dtype="float32")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", model.predict(x, verbose=0))
    script = (
        "import sys, numpy as np, keras\n"
        f"m = keras.saving.load_model({str(path)!r})\n"
        f"x = np.load({str(tmp_path / 'x.npy')!r}); y = np.load({str(tmp_path / 'y.npy')!r})\n"
        "assert np.allclose(m.predict(x, verbose=0), y, atol=1e-6)\n"
        "assert not any(k == 'app' or k.startswith('app.') for k in sys.modules)\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    assert done.stdout.strip().endswith("ok"), done.stderr[-2000:]


def test_two_copies_of_one_pretrained_model_compile(tmp_path):
    b = twin_cnn_graph(trainable="trainable")
    model = compile_graph(b.graph, Context(MODELS)).model
    assert {"first", "second"} <= {layer.name for layer in model.layers}
    assert trainable_count(model) == load_model("digits_cnn").count_params()
    model.save(tmp_path / "twins.keras")
    assert keras.saving.load_model(tmp_path / "twins.keras").count_params() == model.count_params()


def test_last_n_freezing_trains_only_the_last_layers():
    b = GraphBuilder()
    b.add("x", "Input", shape=[8, 8, 1])
    b.add("cnn", "ModelFile", path="digits_cnn.keras", trainable="last_n", trainable_last_n=2)
    b.add("y", "Output")
    b.chain("x", "cnn", "y")
    analysis = analyze(b.graph, Context(MODELS))
    compiled = compile_graph(b.graph, Context(MODELS), analysis)
    inner = compiled.model.get_layer("cnn")
    assert [layer.name for layer in inner.layers if layer.trainable] == ["pool", "probs"]
    assert compiled.param_counts()[b.ids["cnn"]] == (5130, 32 * 10 + 10)
    assert analysis.param_totals() == (5130, 32 * 10 + 10)  # what the status bar shows


def test_a_tap_returns_the_inner_layer_activations():
    b = GraphBuilder()
    b.add("x", "Input", shape=[8, 8, 1])
    b.add("cnn", "ModelFile", path="digits_cnn.keras", taps=["conv2"])
    b.add("probs", "Output")
    b.add("features", "Output")
    b.chain("x", "cnn", "probs")
    b.wire("cnn", "features", source_port="tap:conv2")
    analysis = analyze(b.graph, Context(MODELS))
    assert str(analysis.output_spec(b.ids["cnn"], "tap:conv2")) == "(None, 8, 8, 32)"
    model = compile_graph(b.graph, Context(MODELS), analysis).model
    x = np.random.default_rng(2).random((3, 8, 8, 1), dtype="float32")
    probs, features = model.predict(x, verbose=0)
    original = load_model("digits_cnn")
    probe = keras.Model(original.inputs, original.get_layer("conv2").output)
    np.testing.assert_allclose(features, probe.predict(x, verbose=0), atol=1e-6)
    np.testing.assert_allclose(probs, original.predict(x, verbose=0), atol=1e-6)


def test_every_adapter_and_merge_matches_its_inferred_shape_and_parameters():
    """The pure-Python shape rules agree with what Keras builds."""
    b = GraphBuilder()
    b.add("img", "Input", shape=[16, 16, 3])
    b.add("seq", "Input", shape=[5, 12])
    b.add("ids", "Input", shape=[5], dtype="int32")
    chain = [
        ("resize", "Resizing", {"height": 8, "width": 8}),
        ("scale", "Rescaling", {}),
        ("proj", "ChannelProjection", {"filters": 6}),
        ("bn", "BatchNormalization", {}),
        ("perm", "Permute", {"dims": [2, 1, 3]}),
        ("gmp", "GlobalMaxPooling2D", {}),
        ("ln", "LayerNormalization", {}),
        ("act", "Activation", {"activation": "gelu"}),
        ("drop", "Dropout", {"rate": 0.1}),
        ("dense", "Dense", {"units": 12}),
        ("reshape", "Reshape", {"target_shape": [1, -1]}),
    ]
    for name, kind, params in chain:
        b.add(name, kind, **params)
    b.chain("img", *[c[0] for c in chain])
    b.add("embed", "Embedding", input_dim=20, output_dim=12)
    b.add("attn", "AttentionFusion", num_heads=2, key_dim=4)
    b.add("dot_attn", "AttentionFusion", mode="dot_product")
    b.wire("ids", "embed")
    b.wire("reshape", "attn", "query")
    b.wire("embed", "attn", "value")
    b.wire("seq", "dot_attn", "query")
    b.wire("embed", "dot_attn", "value")
    b.add("gap", "GlobalAveragePooling1D")
    b.add("flat", "Flatten")
    b.add("gmp1", "GlobalMaxPooling1D")
    b.chain("dot_attn", "gap")
    b.chain("attn", "flat")
    b.wire("seq", "gmp1")
    merges = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"]
    for i, kind in enumerate(merges):
        b.add(f"m{i}", kind)
        b.wire("gap", f"m{i}", "in0")
        b.wire("flat", f"m{i}", "in1")
    b.add("cat", "Concatenate")
    for i in range(len(merges)):
        b.wire(f"m{i}", "cat", f"in{i}")
    b.wire("gmp1", "cat", f"in{len(merges)}")
    b.add("dot", "Dot", normalize=True)
    b.wire("gap", "dot", "in0")
    b.wire("flat", "dot", "in1")
    b.add("cast", "Cast", dtype="float16")
    b.add("layer", "KerasLayer", class_name="Dense", config={"units": 3})
    b.add("y", "Output")
    b.add("sim", "Output")
    b.chain("cat", "layer", "y")
    b.chain("dot", "cast", "sim")

    analysis = analyze(b.graph)
    assert analysis.ok, analysis.problems
    compiled = compile_graph(b.graph, analysis=analysis)
    model = compiled.model
    for node in b.graph.nodes:
        if node.type in ("Input", "Output", "Cast"):
            continue
        layer = model.get_layer(node.name)
        inferred = analysis.output_spec(node.id)
        assert tuple(layer.output.shape) == inferred.shape, node.name
        result = analysis.nodes[node.id]
        assert compiled.param_counts()[node.id] == (result.param_count, result.trainable_count), \
            node.name
    assert [tuple(t.shape) for t in model.outputs] == [(None, 3), (None, 1)]
    assert str(model.outputs[1].dtype) == "float16"


def test_compiling_a_graph_with_errors_lists_them():
    b = GraphBuilder()
    b.add("x", "Input", shape=[4])
    b.add("d", "Dense", units=2)
    b.wire("x", "d")
    with pytest.raises(CompileError, match="no Output node") as caught:
        compile_graph(b.graph)
    assert caught.value.problems[0].code == "no_output"


def test_a_keras_layer_node_with_a_bad_config_is_a_clear_problem():
    b = GraphBuilder()
    b.add("x", "Input", shape=[4])
    b.add("layer", "KerasLayer", class_name="Dense", config={"unitz": 3})
    b.add("misspelt", "KerasLayer", class_name="Dense3D", config={})
    b.add("y", "Output")
    b.add("z", "Output")
    b.chain("x", "layer", "y")
    b.wire("x", "misspelt")
    b.wire("misspelt", "z")
    messages = {p.node_id: p.message for p in analyze(b.graph).problems}
    assert "unitz" in messages[b.ids["layer"]]
    assert "no layer class 'Dense3D'" in messages[b.ids["misspelt"]]


def test_lambda_is_refused_as_a_keras_layer():
    from app.core.graph.params import ParamError

    b = GraphBuilder()
    with pytest.raises(ParamError, match="Lambda is not allowed"):
        b.add("evil", "KerasLayer", class_name="Lambda", config={})


def test_an_application_loads_a_local_weights_file(tmp_path):
    source = keras.applications.MobileNetV2(include_top=False, weights=None,
                                            input_shape=(32, 32, 3))
    source.save_weights(tmp_path / "mnv2.weights.h5")
    b = GraphBuilder()
    b.add("image", "Input", shape=[32, 32, 3])
    b.add("backbone", "Application", architecture="MobileNetV2", input_shape=[32, 32, 3],
          weights="file", weights_file="mnv2.weights.h5")
    b.add("pool", "GlobalAveragePooling2D")
    b.add("features", "Output")
    b.chain("image", "backbone", "pool", "features")
    model = compile_graph(b.graph, Context(tmp_path)).model
    loaded = model.get_layer("backbone")
    for mine, theirs in zip(loaded.weights, source.weights):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())


def test_an_application_with_impossible_settings_is_refused_with_the_fix():
    from app.core.graph.params import ParamError

    b = GraphBuilder()
    with pytest.raises(ParamError, match="classes: the imagenet top classifier has 1000 classes"):
        b.add("backbone", "Application", architecture="MobileNetV2", include_top=True,
              weights="imagenet", classes=10)
    with pytest.raises(ParamError, match="input_shape: MobileNetV2 with its imagenet top needs "
                                         "224×224 images"):
        b.add("backbone", "Application", architecture="MobileNetV2", include_top=True,
              weights="imagenet", input_shape=[96, 96, 3])


def test_imagenet_weights_offline_give_the_clear_message(monkeypatch):
    """Tests never download: a failing fetch stands in for a machine without network."""
    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/…: no network")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    monkeypatch.setattr("keras.src.applications.mobilenet_v2.file_utils.get_file", offline)
    b = GraphBuilder()
    b.add("image", "Input", shape=[96, 96, 3])
    b.add("backbone", "Application", architecture="MobileNetV2", input_shape=[96, 96, 3],
          weights="imagenet")
    b.add("pool", "GlobalAveragePooling2D")
    b.add("features", "Output")
    b.chain("image", "backbone", "pool", "features")
    with pytest.raises(CompileError, match="not in the Keras cache and could not be downloaded"
                                           r".*use weights none or a local weights file"):
        compile_graph(b.graph)
