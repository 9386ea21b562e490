"""The Python script export as its users meet it: every example comes out as a script and a
weights file that rebuild the model without Graft and predict what the editor's model
predicts; the script reads like hand-written Keras (one named call per layer, pretrained
models rebuilt layer by layer or as their keras.applications constructor), keeps shared
weights shared, taps tapped and frozen layers frozen, and what cannot be exported is
refused with a message that says why and what to do."""

import ast
import importlib.util
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from app.core.build.compile import compile_graph
from app.core.document.fileformat import load
from app.core.document.project import Project
from app.core.editing.builder import GraphBuilder
from app.core.export.common import PYTHON, SAMPLE_BATCH, ExportError, sample_batch
from app.core.export.python import export_python
from app.core.export.python_script import ScriptWriter
from app.core.nodes import node_type
from app.core.nodes.base import PRETRAINED
from tests.conftest import EXAMPLES, MODELS
from tests.core.export_graphs import EXAMPLE_NAMES, in_app, served_savedmodel


def assert_close(got: dict, expected: dict) -> None:
    assert list(got) == list(expected)
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=0, atol=1e-5, err_msg=name)


def exported(project: Project, path, model=None):
    """Export, check the report, and return the script's module and its rebuilt model: the
    files as written, read back by path as a user's own code would."""
    model = model if model is not None else compile_graph(project.graph, project.context).model
    report = export_python(project, path, model=model)
    assert report.ok and report.format == PYTHON and report.max_abs_difference <= 1e-5, report.message
    assert report.message.startswith(f"Python script (with its weights {path.stem}.weights.h5) written to "
                                     f"{path}; reloaded with build_model() in a fresh Python, predictions "
                                     "match")
    assert path.with_name(f"{path.stem}.weights.h5").is_file()
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".graft-export-")]
    spec = importlib.util.spec_from_file_location(f"exported_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, module.build_model(), model


def round_trip(project: Project, path, model=None):
    module, rebuilt, model = exported(project, path, model)
    sample = sample_batch(model)
    assert_close(in_app(rebuilt, sample), in_app(model, sample))
    return path.read_text(encoding="utf-8"), rebuilt, model


def assert_readable(source: str, project: Project) -> None:
    """Plain Keras: every node that makes a layer has its named call, nothing imports Graft,
    and the bundled models are rebuilt from calls, not from serialised configs."""
    tree = ast.parse(source)
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported == {"sys", "pathlib", "keras", "numpy"}
    for node in project.graph.nodes:
        if not (node_type(node.type).category == PRETRAINED and node.params["share_weights_with"]):
            assert f'name="{node.name}"' in source, node.name
    assert "deserialize" not in source
    assert 'if __name__ == "__main__":' in source and "def build_model(weights=WEIGHTS):" in source


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_example_exports_to_a_script_that_predicts_what_the_editor_predicts(name, tmp_path):
    project = load(EXAMPLES / f"{name}.graft")
    source, _, _ = round_trip(project, tmp_path / f"{name}.py")
    assert_readable(source, project)
    assert source.startswith(f'"""{project.name}: a model composed in Graft')


def test_the_script_runs_from_the_command_line_in_a_python_without_graft(tmp_path):
    project = load(EXAMPLES / "shared_base.graft")
    model = compile_graph(project.graph, project.context).model
    export_python(project, tmp_path / "shared.py", model=model)
    np.save(tmp_path / "pixels.npy", sample_batch(model)[0])
    runner = ("import runpy, sys\n"
              "sys.modules['app'] = None  # Graft's package cannot be imported\n"
              "for sys.argv in (['shared.py'], ['shared.py', 'pixels.npy']):\n"
              "    runpy.run_path('shared.py', run_name='__main__')\n")
    env = {**os.environ, "PYTHONPATH": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-I", "-c", runner], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Total params" in done.stdout  # the summary
    assert f"digit: shape ({SAMPLE_BATCH}, 10)" in done.stdout
    assert f"is_even: shape ({SAMPLE_BATCH}, 1)" in done.stdout


def test_trained_weights_travel_with_the_script(tmp_path):
    """The editor's model after training differs from a fresh compile: the script carries its weights."""
    project = load(EXAMPLES / "transfer.graft")
    model = compile_graph(project.graph, project.context).model
    rng = np.random.default_rng(1)
    model.set_weights([w + rng.normal(0, 0.1, w.shape).astype(w.dtype) for w in model.get_weights()])
    module, rebuilt, _ = exported(project, tmp_path / "trained.py", model)
    sample = sample_batch(model)
    assert_close(in_app(rebuilt, sample), in_app(model, sample))
    fresh = in_app(module.build_model(weights=None), sample)["label"]
    assert np.max(np.abs(fresh - in_app(model, sample)["label"])) > 1e-3


def siamese() -> Project:
    """Two digits read by one encoder (shared weights), one of them also by a second copy."""
    b = GraphBuilder()
    b.add("left", "Input", shape=[8, 8, 1])
    b.add("right", "Input", shape=[8, 8, 1])
    path = str(MODELS / "digits_encoder.keras")
    b.add("left_enc", "ModelFile", path=path, trainable="last_n", trainable_last_n=2)
    b.add("right_enc", "ModelFile", path=path, share_weights_with="left_enc")
    b.add("copy_enc", "ModelFile", path=path, trainable="trainable")
    b.add("diff", "Subtract")
    b.add("score", "Dot", normalize=True)
    b.add("both", "Concatenate")
    b.add("same", "Dense", units=1, activation="sigmoid")
    b.add("match", "Output")
    b.wire("left", "left_enc")
    b.wire("right", "right_enc")
    b.wire("right", "copy_enc")
    b.wire("left_enc", "diff", "in0")
    b.wire("right_enc", "diff", "in1")
    b.wire("right_enc", "score", "in0")
    b.wire("copy_enc", "score", "in1")
    b.wire("diff", "both", "in0")
    b.wire("score", "both", "in1")
    b.chain("both", "same", "match")
    return Project(b.graph, "siamese")


def test_a_siamese_pair_shares_one_model_and_a_copy_has_its_own(tmp_path):
    project = siamese()
    source, rebuilt, model = round_trip(project, tmp_path / "siamese.py")
    assert source.count("def build_digits_encoder(name):") == 1  # one builder for the architecture
    assert 'left_enc_model = build_digits_encoder(name="left_enc")' in source
    assert 'copy_enc_model = build_digits_encoder(name="copy_enc")' in source
    assert "right_enc = left_enc_model(right)  # shares left_enc's model and weights" in source
    assert "for layer in left_enc_model.layers[:3]:  # only the last 2 layer(s) learn" in source
    assert rebuilt.count_params() == model.count_params()  # the pair's weights are counted once
    for name in ("left_enc", "copy_enc"):
        inner, original = rebuilt.get_layer(name), model.get_layer(name)
        assert [layer.trainable for layer in inner.layers] == [layer.trainable for layer in original.layers]
    assert_readable(source, project)


def test_taps_become_extra_outputs_of_the_nested_model(tmp_path):
    b = GraphBuilder()
    b.add("pixels", "Input", shape=[8, 8, 1])
    b.add("trunk", "ModelFile", path=str(MODELS / "digits_cnn.keras"), taps=["conv2", "pool"])
    b.add("tap_pool", "GlobalMaxPooling2D")
    b.add("fused", "Concatenate")
    b.add("head", "Dense", units=3)
    b.add("label", "Output")
    b.add("probs", "Output")
    b.wire("pixels", "trunk")
    b.wire("trunk", "tap_pool", source_port="tap:conv2")
    b.wire("tap_pool", "fused", "in0")
    b.wire("trunk", "fused", "in1", source_port="tap:pool")
    b.wire("trunk", "probs")
    b.chain("fused", "head", "label")
    project = Project(b.graph, "tapped")
    source, rebuilt, _ = round_trip(project, tmp_path / "tapped.py")
    assert 'trunk_base.get_layer("conv2").output, trunk_base.get_layer("pool").output]' in source
    assert "trunk_probs, trunk_conv2, trunk_pool = trunk_model(pixels)" in source
    assert "trunk_model.trainable = False  # frozen" in source
    assert len(rebuilt.get_layer("trunk").outputs) == 3 and not rebuilt.get_layer("trunk").trainable
    assert_readable(source, project)


def test_every_kind_of_node_is_written_as_a_keras_call(tmp_path):
    """Adapters, merges, the three preprocessing modes, attention, a Keras layer node, a cast to
    integer ids and two inputs, in one graph."""
    b = GraphBuilder()
    b.add("image", "Input", shape=[8, 8, 3])
    for name, architecture in (("caffe", "VGG16"), ("torch", "DenseNet121"), ("tf", "MobileNetV2"),
                               ("builtin", "EfficientNetB0")):
        b.add(name, "Preprocess", architecture=architecture)
    b.add("rescale", "Rescaling", scale=0.5, offset=0.1)
    b.add("resize", "Resizing", height=4, width=4)
    b.add("project", "ChannelProjection", filters=4, activation="relu")
    b.add("norm", "BatchNormalization")
    b.add("seq", "Reshape", target_shape=[16, 4])
    b.add("attend", "AttentionFusion", num_heads=2, key_dim=4)
    b.add("dot_attend", "AttentionFusion", mode="dot_product")
    b.add("swap", "Permute", dims=[2, 1])
    l2 = {"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.01}, "registered_name": None}
    b.add("conv", "KerasLayer", class_name="Conv1D", config={"filters": 3, "kernel_size": 2,
                                                             "kernel_regularizer": l2})
    b.add("conv_pool", "GlobalAveragePooling1D")
    b.add("seq_pool", "GlobalMaxPooling1D")
    b.add("flat", "Flatten")
    b.add("layer_norm", "LayerNormalization")
    b.add("squash", "Activation", activation="tanh")
    b.add("drop", "Dropout", rate=0.3)
    b.add("dense", "Dense", units=3)
    b.add("tokens", "Input", shape=[5])
    b.add("ids", "Cast", dtype="int32")
    b.add("embed", "Embedding", input_dim=3, output_dim=3)
    b.add("token_pool", "GlobalAveragePooling1D")
    merges = ("Add", "Multiply", "Average", "Maximum", "Minimum")
    for merge in merges:
        b.add(merge.lower(), merge)
    b.add("joined", "Concatenate")
    b.add("out", "Output")
    b.chain("image", "caffe", "torch", "tf", "builtin", "rescale", "resize", "project", "norm", "seq")
    b.wire("seq", "attend", "query")
    b.wire("seq", "attend", "value")
    b.wire("attend", "dot_attend", "query")
    b.wire("seq", "dot_attend", "value")
    b.wire("seq", "dot_attend", "key")
    b.chain("dot_attend", "swap", "conv", "conv_pool")
    b.wire("seq", "seq_pool")
    b.chain("seq", "flat", "layer_norm", "squash", "drop", "dense")
    b.chain("tokens", "ids", "embed", "token_pool")
    for merge in merges:
        b.wire("conv_pool", merge.lower(), "in0")
        b.wire("token_pool", merge.lower(), "in1")
    for port, name in enumerate([m.lower() for m in merges] + ["dense", "seq_pool"]):
        b.wire(name, "joined", f"in{port}")
    b.chain("joined", "out")
    project = Project(b.graph, "zoo")
    source, _, _ = round_trip(project, tmp_path / "zoo.py")
    assert "keras.initializers.Constant(value=[[0, 0, 1], [0, 1, 0], [1, 0, 0]])" in source
    # Keras names the operation, not Graft, numbering it after the casts made before in this process
    assert re.search(r' cast(_\d+)? = keras\.ops\.cast\(tokens, dtype="int32"\)', source)
    assert ('    conv = layers.Conv1D(\n        filters=3,\n        kernel_size=(2,),\n'
            '        kernel_regularizer=keras.regularizers.L2(l2=0.01),\n'
            '        name="conv",\n    )(swap)\n') in source
    assert "training=" not in source.split("def main(")[0]  # how the model is called decides
    assert 'layers.Dense(units=3, name="dense")(drop)' in source  # defaults left out
    assert "[add, multiply, average, maximum, minimum, dense, seq_pool]" in source
    assert "deserialize" not in source


def test_a_layer_that_a_call_does_not_rebuild_is_written_as_its_serialised_config(tmp_path, monkeypatch):
    """The fallback, forced here for the Dense layers: still plain Keras, still the same model."""
    rebuilds = ScriptWriter.rebuilds
    monkeypatch.setattr(ScriptWriter, "rebuilds",
                        lambda self, text, config: not text.startswith("layers.Dense(") and
                        rebuilds(self, text, config))
    project = load(EXAMPLES / "transfer.graft")
    source, _, _ = round_trip(project, tmp_path / "fallback.py")
    assert ('    head = layers.deserialize({\n        "module": "keras.layers",\n'
            '        "class_name": "Dense",\n        "config": {\n            "name": "head",\n') in source
    assert 'features = layers.deserialize(' in source  # inside the encoder's builder
    assert 'layers.Conv2D(filters=16, kernel_size=(3, 3), padding="same"' in source


def test_a_keras_applications_backbone_is_written_as_its_constructor(tmp_path):
    b = GraphBuilder()
    b.add("image", "Input", shape=[32, 32, 3])
    b.add("backbone", "Application", architecture="MobileNetV3Small", input_shape=[32, 32, 3],
          pooling="avg", trainable="last_n", trainable_last_n=5, taps=["expanded_conv_project_bn"])
    b.add("tap_pool", "GlobalAveragePooling2D")
    b.add("features", "Output")
    b.add("early", "Output")
    b.wire("image", "backbone")
    b.wire("backbone", "features")
    b.wire("backbone", "tap_pool", source_port="tap:expanded_conv_project_bn")
    b.chain("tap_pool", "early")
    project = Project(b.graph, "application")
    source, rebuilt, model = round_trip(project, tmp_path / "application.py")
    assert ("backbone_base = keras.applications.MobileNetV3Small(\n        include_top=False,\n"
            "        weights=None,\n        input_shape=(32, 32, 3),\n        pooling=\"avg\",\n") in source
    assert "def build_" not in source.replace("def build_model(", "")  # no layer-by-layer copy
    frozen = sum(not layer.trainable for layer in model.get_layer("backbone").layers)
    assert f"for layer in backbone_model.layers[:{frozen}]:  # only the last 5 layer(s) learn" in source
    assert [layer.trainable for layer in rebuilt.get_layer("backbone").layers] == \
        [layer.trainable for layer in model.get_layer("backbone").layers]


def test_every_bundled_model_is_rebuilt_layer_by_layer_without_serialised_configs(tmp_path):
    b = GraphBuilder()
    inputs = {"digits_cnn": [8, 8, 1], "digits_encoder": [8, 8, 1], "digits_mlp": [64],
              "digits_refiner": [10], "wine_mlp": [13]}
    for name, shape in inputs.items():
        b.add(f"{name}_in", "Input", shape=shape)
        b.add(name, "ModelFile", path=str(MODELS / f"{name}.keras"))
        b.add(f"{name}_out", "Output")
        b.chain(f"{name}_in", name, f"{name}_out")
    project = Project(b.graph, "bundled")
    source, _, _ = round_trip(project, tmp_path / "bundled.py")
    for name in inputs:
        assert f"def build_{name}(name):" in source
    assert 'layers.Conv2D(filters=16, kernel_size=(3, 3), padding="same", activation="relu", name="conv1")' \
        in source
    assert_readable(source, project)


def test_a_savedmodel_node_is_refused_naming_the_node_and_the_formats_that_work(tmp_path):
    with pytest.raises(ExportError) as refused:
        export_python(served_savedmodel(tmp_path), tmp_path / "served.py")
    assert str(refused.value) == (
        "node 'served' is a SavedModel, which runs TensorFlow's graph rather than Keras layers a script "
        "could rebuild; export as a SavedModel or ONNX instead")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["served"]


def test_a_graph_with_errors_is_refused_with_a_readable_message(tmp_path):
    with pytest.raises(ExportError, match=r"^the graph has 3 error\(s\), fix them before exporting: "):
        export_python(load(EXAMPLES / "broken.graft"), tmp_path / "broken.py")
    assert list(tmp_path.iterdir()) == []


def test_targets_that_exporting_would_destroy_are_refused_and_earlier_exports_are_replaced(tmp_path):
    project = load(EXAMPLES / "transfer.graft")
    (tmp_path / "folder.py").mkdir()
    with pytest.raises(ExportError, match="folder.py is a folder; choose another name for the .py file"):
        export_python(project, tmp_path / "folder.py")
    (tmp_path / "weights.weights.h5").mkdir()
    with pytest.raises(ExportError, match="weights.weights.h5 is a folder; choose another name for the .h5"):
        export_python(project, tmp_path / "weights.py")
    with pytest.raises(ExportError, match="model.txt: a Python script must end in .py; rename it"):
        export_python(project, tmp_path / "model.txt")
    with pytest.raises(ExportError, match="would import itself instead of keras when run"):
        export_python(project, tmp_path / "keras.py")
    with pytest.raises(ExportError, match="does not exist; create it"):
        export_python(project, tmp_path / "missing" / "model.py")

    (tmp_path / "model.py").write_text("an older export")
    (tmp_path / "model.weights.h5").write_text("older weights")
    assert export_python(project, tmp_path / "model.py").ok
    assert "def build_model(" in (tmp_path / "model.py").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "folder.py", "model.py", "model.weights.h5", "weights.weights.h5"]


def test_a_script_that_does_not_match_or_does_not_run_is_reported_and_keeps_the_earlier_files(
        tmp_path, monkeypatch):
    project = load(EXAMPLES / "transfer.graft")
    (tmp_path / "model.py").write_text("an earlier export")
    monkeypatch.setattr("app.core.export.common.TOLERANCE", -1.0)  # no difference is small enough
    report = export_python(project, tmp_path / "model.py")
    assert not report.ok and report.format == PYTHON
    assert report.message.startswith(
        f"Python script (with its weights model.weights.h5) not written to {tmp_path / 'model.py'}: "
        "reloaded with build_model() in a fresh Python, its predictions differ")
    monkeypatch.setattr("app.core.export.python.script_source",
                        lambda *args: "import app  # a script that needs Graft\n")
    report = export_python(project, tmp_path / "model.py")
    assert not report.ok and report.message.endswith("please report this.")
    assert "run in a fresh Python, it failed with ModuleNotFoundError: import of app halted" in report.message
    assert (tmp_path / "model.py").read_text() == "an earlier export"
    assert [p.name for p in tmp_path.iterdir()] == ["model.py"]
