"""Preprocess: each architecture's preprocess_input as one plain Keras layer. Checked against
Keras's own functions, inside compiled models, and after a save and a safe-mode load without Graft."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from app.core.analysis.validate import analyze
from app.core.build.compile import compile_graph
from app.core.cards.applications import APPLICATIONS
from app.core.editing.builder import GraphBuilder
from app.core.editing.commands import apply_fix
from app.core.graph.graph import Node
from app.core.graph.specs import TensorSpec
from app.core.nodes import Context, ShapeError, node_type
from app.core.nodes.preprocess import BUILT_IN, CAFFE, MODES, TF, TORCH

PREPROCESS = node_type("Preprocess")
MODULES = sorted({app.module for app in APPLICATIONS.values()})
# The cheapest architecture of each mode (build time at 32×32), for the end-to-end graphs.
CHEAPEST = {TF: "MobileNet", TORCH: "DenseNet121", CAFFE: "VGG16", BUILT_IN: "MobileNetV3Small"}
LAYER_CLASS = {TF: "Rescaling", TORCH: "Normalization", CAFFE: "Conv2D", BUILT_IN: "Identity"}


def pixels(shape, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, shape).astype("float32")


def run(model, x):
    """An eager call: predict() would trace a graph, which costs seconds for DenseNet."""
    return keras.ops.convert_to_numpy(model(x))


def infer(spec, architecture="MobileNetV2"):
    node = Node("n", "Preprocess", "preprocess", {"architecture": architecture})
    return PREPROCESS.infer(node, {"in": spec}, Context())


def test_every_application_module_has_a_mode():
    assert sorted(MODES) == MODULES


@pytest.mark.parametrize("module", MODULES)
def test_the_layer_equals_keras_preprocess_input(module):
    architecture = next(name for name, app in APPLICATIONS.items() if app.module == module)
    node = Node("n", "Preprocess", "preprocess", {"architecture": architecture})
    image = keras.Input((5, 7, 3))
    model = keras.Model(image, PREPROCESS.build(node, {"in": image}, Context())["out"])
    x = pixels((4, 5, 7, 3))
    got = run(model, x)
    preprocess_input = getattr(keras.applications, module).preprocess_input
    # The NumPy path works in place: give it a copy.
    np.testing.assert_allclose(got, preprocess_input(x.copy()), atol=1e-4, rtol=0)
    np.testing.assert_allclose(got, keras.ops.convert_to_numpy(
        preprocess_input(keras.ops.convert_to_tensor(x))), atol=1e-4, rtol=0)
    layer = model.get_layer("preprocess")
    assert type(layer).__name__ == LAYER_CLASS[MODES[module]]
    inferred = PREPROCESS.infer(node, {"in": TensorSpec((None, 5, 7, 3))}, Context())
    assert inferred.outputs["out"] == TensorSpec(tuple(model.output.shape), str(model.output.dtype))
    trainable = sum(int(w.numpy().size) for w in layer.trainable_weights)
    assert (inferred.param_count, inferred.trainable) == (layer.count_params(), trainable)


@pytest.mark.parametrize("dtype", ["float16", "float64", "bfloat16"])
@pytest.mark.parametrize("mode", [TF, TORCH, CAFFE, BUILT_IN])
def test_any_float_input_comes_out_float32_as_keras_computes_it(mode, dtype):
    node = Node("n", "Preprocess", "preprocess", {"architecture": CHEAPEST[mode]})
    image = keras.Input((None, None, 3), dtype=dtype)
    out = PREPROCESS.build(node, {"in": image}, Context())["out"]
    assert infer(TensorSpec((None, None, None, 3), dtype), CHEAPEST[mode]).outputs["out"] == \
        TensorSpec(tuple(out.shape), str(out.dtype)) == TensorSpec((None, None, None, 3), "float32")


@pytest.mark.parametrize("shape", [(None, 224, 224), (None, 224, 224, 1), (None, 224, 224, 4),
                                   (None, 224, 224, None), (None, 150528)])
def test_anything_but_rgb_images_is_refused(shape):
    with pytest.raises(ShapeError, match=r"needs RGB images \(batch, height, width, 3\), got") as caught:
        infer(TensorSpec(shape))
    assert caught.value.port == "in" and caught.value.code == "shape_mismatch"


def test_integer_pixels_are_a_dtype_mismatch_with_a_fix_that_works():
    b = GraphBuilder()
    b.add("image", "Input", shape=[32, 32, 3], dtype="uint8")
    b.add("preprocess", "Preprocess")
    b.add("label", "Output")
    b.chain("image", "preprocess", "label")
    (problem,) = analyze(b.graph).problems
    assert problem.code == "dtype_mismatch"
    assert "needs float pixel values but receives uint8 values (None, 32, 32, 3)" in problem.message
    assert problem.fix.label == "Insert Cast(float32)"
    apply_fix(b.graph, problem.fix).do(b.project)
    assert analyze(b.graph).ok


def head_graph(architecture):
    """image → preprocess → backbone (32×32, avg-pooled) → head → label."""
    b = GraphBuilder()
    b.add("image", "Input", shape=[32, 32, 3])
    b.add("preprocess", "Preprocess", architecture=architecture)
    b.add("backbone", "Application", architecture=architecture, input_shape=[32, 32, 3],
          pooling="avg", weights="none")
    b.add("head", "Dense", units=4, activation="softmax")
    b.add("label", "Output")
    b.chain("image", "preprocess", "backbone", "head", "label")
    return b


def all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from all_layers(layer)


@pytest.mark.parametrize("mode", [TF, TORCH, CAFFE, BUILT_IN])
def test_a_preprocessed_application_compiles_to_preprocess_input_then_the_model(mode):
    architecture = CHEAPEST[mode]
    b = head_graph(architecture)
    analysis = analyze(b.graph)
    assert analysis.ok, analysis.problems
    compiled = compile_graph(b.graph, analysis=analysis)
    model = compiled.model
    x = pixels((3, 32, 32, 3), seed=1)
    preprocess_input = getattr(keras.applications, APPLICATIONS[architecture].module).preprocess_input
    by_hand = model.get_layer("head")(model.get_layer("backbone")(preprocess_input(x.copy())))
    np.testing.assert_allclose(run(model, x), keras.ops.convert_to_numpy(by_hand), atol=1e-5)
    for node in b.graph.nodes:
        if node.id in compiled.node_layers:
            inferred = analysis.nodes[node.id]
            assert compiled.param_counts()[node.id] == (inferred.param_count,
                                                        inferred.trainable_count), node.name
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    assert analysis.param_totals() == (model.count_params(), trainable)
    assert type(model.get_layer("preprocess")).__name__ == LAYER_CLASS[mode]
    assert not any(type(layer).__name__ == "Lambda" for layer in all_layers(model))


def test_a_compiled_model_with_every_mode_loads_in_plain_keras_safe_mode(tmp_path):
    """One model holds every mode's layer (and a backbone behind one of them): loading a
    DenseNet per mode would cost half a minute and test Keras rather than Graft."""
    b = head_graph(CHEAPEST[TF])
    for mode in (TORCH, CAFFE, BUILT_IN):
        name = CHEAPEST[mode].lower()
        b.add(f"preprocess_{name}", "Preprocess", architecture=CHEAPEST[mode])
        b.add(f"pixels_{name}", "Output")
        b.chain("image", f"preprocess_{name}", f"pixels_{name}")
    model = compile_graph(b.graph).model
    path = tmp_path / "every_mode.keras"
    model.save(path)
    x = pixels((2, 32, 32, 3), seed=2)
    np.save(tmp_path / "x.npy", x)
    expected = [keras.ops.convert_to_numpy(y) for y in model(x)]
    np.savez(tmp_path / "y.npz", *expected)
    script = (
        "import sys, numpy as np, keras\n"
        f"m = keras.saving.load_model({str(path)!r}, compile=False, safe_mode=True)\n"
        "x, y = np.load('x.npy'), np.load('y.npz')\n"
        "for got, want in zip(m(x), (y[f'arr_{i}'] for i in range(len(y.files))), strict=True):\n"
        "    np.testing.assert_allclose(keras.ops.convert_to_numpy(got), want, atol=1e-6)\n"
        "assert not any(k == 'app' or k.startswith('app.') for k in sys.modules)\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    assert done.stdout.strip().endswith("ok"), done.stderr[-2000:]
    assert '"Lambda"' not in json.dumps(model.get_config(), default=str)
