"""Importing your own models: .keras, legacy .h5 (or .hdf5) and SavedModel folders compose, validate,
compile and predict like the original; files that would run code, or cannot be read, are
refused with a message that names the file and what to do."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from app.core.analysis.validate import analyze
from app.core.build.compile import CompileError, compile_graph
from app.core.editing.builder import GraphBuilder
from app.core.nodes import Context

BATCH = np.random.default_rng(0).random((4, 8, 8, 1), dtype="float32")


def tiny_model():
    pixels = keras.Input((8, 8, 1), name="pixels")
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(pixels)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(pixels, keras.layers.Dense(16, name="features")(x))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """One tiny model, saved each way Graft imports."""
    folder = tmp_path_factory.mktemp("models")
    model = tiny_model()
    model.save(folder / "tiny.keras")
    model.save(folder / "tiny.h5")
    model.save(folder / "tiny.hdf5")  # legacy HDF5 by its other name
    model.export(folder / "tiny_savedmodel", verbose=False)
    return folder, model


def imported(path: str, **params) -> GraphBuilder:
    """Input → ModelFile → Dense adapter → Output."""
    b = GraphBuilder()
    b.add("pixels", "Input", shape=[8, 8, 1])
    b.add("mine", "ModelFile", path=path, **params)
    b.add("adapter", "Dense", units=3)
    b.add("y", "Output")
    b.chain("pixels", "mine", "adapter", "y")
    return b


def node_problem(b: GraphBuilder, folder, name: str = "mine") -> str:
    """The one problem of a node that cannot load; the graph is as it was."""
    before = [(n.id, n.type, dict(n.params)) for n in b.graph.nodes]
    analysis = analyze(b.graph, Context(folder))
    [problem] = [p for p in analysis.errors if p.node_id == b.ids[name]]
    assert problem.code == "invalid_node"
    assert [(n.id, n.type, dict(n.params)) for n in b.graph.nodes] == before
    with pytest.raises(CompileError):
        compile_graph(b.graph, Context(folder))
    return problem.message


@pytest.mark.parametrize("path", ["tiny.keras", "tiny.h5", "tiny.hdf5", "tiny_savedmodel"])
def test_an_imported_model_composes_compiles_and_predicts_like_the_original(saved, path):
    folder, original = saved
    b = imported(path)
    analysis = analyze(b.graph, Context(folder))
    assert analysis.ok, analysis.problems
    assert str(analysis.output_spec(b.ids["mine"])) == "(None, 16)"
    assert str(analysis.output_spec(b.ids["adapter"])) == "(None, 3)"
    compiled = compile_graph(b.graph, Context(folder), analysis)
    predicted = compiled.model.predict(BATCH, verbose=0)
    assert predicted.shape == (4, 3)
    mine = compiled.model.get_layer("mine")
    np.testing.assert_allclose(mine.predict(BATCH, verbose=0), original.predict(BATCH, verbose=0),
                               atol=1e-5)
    adapter = compiled.model.get_layer("adapter")
    np.testing.assert_allclose(predicted, adapter(mine(BATCH)).numpy(), atol=1e-5)
    promised = analysis.nodes[b.ids["mine"]]
    assert compiled.param_counts()[b.ids["mine"]] == (original.count_params(), 0)
    assert (promised.param_count, promised.trainable_count) == (original.count_params(), 0)


def test_a_savedmodel_is_inference_only(saved):
    folder, _ = saved
    for mode in ("trainable", "last_n"):
        message = node_problem(imported("tiny_savedmodel", trainable=mode), folder)
        assert message == "'mine': a SavedModel is inference-only; set trainable to frozen"


def test_savedmodel_outputs_come_in_name_order_numbers_as_numbers(tmp_path):
    """model.export names outputs output_0, output_1, …: output_10 comes after output_9, and
    each is the port of its name."""
    pixels = keras.Input((4,))
    keras.Model(pixels, [keras.layers.Dense(i + 1)(pixels) for i in range(11)]).export(
        tmp_path / "many", verbose=False)
    b = GraphBuilder()
    b.add("x", "Input", shape=[4])
    b.add("many", "ModelFile", path="many")
    b.add("y", "Output")
    b.chain("x", "many")
    b.wire("many", "y", source_port="output_10")
    analysis = analyze(b.graph, Context(tmp_path))
    assert analysis.ok, analysis.problems
    assert list(analysis.nodes[b.ids["many"]].outputs) == [f"output_{i}" for i in range(11)]
    sizes = [analysis.output_spec(b.ids["many"], f"output_{i}").shape[1] for i in range(11)]
    assert sizes == list(range(1, 12))


def canary_lambda(canary):
    """A Lambda whose code writes `canary` when it runs (also while the model is built)."""
    code = eval(f"lambda x: (open({str(canary)!r}, 'w').write('ran'), x)[1]")  # noqa: S307
    pixels = keras.Input((4,))
    return keras.Model(pixels, keras.layers.Dense(2)(keras.layers.Lambda(code, name="evil")(pixels)))


@pytest.mark.parametrize("name", ["evil.keras", "evil.h5"])
def test_a_lambda_layer_is_refused_and_its_code_never_runs(tmp_path, name):
    canary = tmp_path / "canary.txt"
    canary_lambda(canary).save(tmp_path / name)
    canary.unlink()
    b = GraphBuilder()
    b.add("x", "Input", shape=[4])
    b.add("mine", "ModelFile", path=name)
    b.add("y", "Output")
    b.chain("x", "mine", "y")
    assert node_problem(b, tmp_path) == (
        f"'mine': model file {name} contains a Lambda layer 'evil' whose Python code would have "
        "to run; Graft refuses it — rebuild the model without Lambda layers, or export it as a "
        "SavedModel (model.export) and import that folder")
    assert not canary.exists()
    keras.saving.load_model(tmp_path / name, safe_mode=False)  # the file is really dangerous
    assert canary.exists()


@keras.saving.register_keras_serializable(package="GraftTest")
class Doubling(keras.layers.Layer):
    def call(self, x):
        return 2 * x


@pytest.mark.parametrize("name", ["custom.keras", "custom.h5"])
def test_a_custom_class_is_refused_by_name_even_when_this_process_knows_it(tmp_path, name):
    pixels = keras.Input((4,))
    keras.Model(pixels, Doubling(name="twice")(pixels)).save(tmp_path / name)
    b = GraphBuilder()
    b.add("x", "Input", shape=[4])
    b.add("mine", "ModelFile", path=name)
    b.add("y", "Output")
    b.chain("x", "mine", "y")
    message = node_problem(b, tmp_path)
    assert f"model file {name} needs the custom class" in message and "Doubling" in message
    assert "(in layer 'twice')" in message


def test_a_savedmodel_that_touches_files_is_refused(tmp_path):
    canary = tmp_path / "canary.txt"

    class Writer(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec((None, 4), tf.float32, name="x")])
        def serve(self, x):
            tf.io.write_file(str(canary), "ran")
            return {"y": 2 * x}

    writer = Writer()
    tf.saved_model.save(writer, str(tmp_path / "writer"), signatures={"serving_default": writer.serve})
    b = GraphBuilder()
    b.add("x", "Input", shape=[4])
    b.add("mine", "ModelFile", path="writer")
    b.add("y", "Output")
    b.chain("x", "mine", "y")
    message = node_problem(b, tmp_path)
    assert "SavedModel folder writer runs the TensorFlow operation WriteFile" in message
    assert not canary.exists()


def test_unreadable_files_give_the_clear_error(tmp_path, saved):
    folder, _ = saved
    (tmp_path / "corrupt.keras").write_bytes(b"PK\x03\x04 this is not a zip archive")
    h5 = (folder / "tiny.h5").read_bytes()
    (tmp_path / "truncated.h5").write_bytes(h5[: len(h5) // 2])
    (tmp_path / "notes.keras").write_text("not a model")
    (tmp_path / "notes.txt").write_text("not a model")
    (tmp_path / "empty_folder").mkdir()
    tiny_model().save_weights(tmp_path / "tiny.weights.h5")
    layer = keras.layers.Dense(2)
    layer.build((None, 4))
    keras.saving.save_model(layer, tmp_path / "layer.keras")
    a, b = keras.Input((8, 8, 1)), keras.Input((8, 8, 1))
    keras.Model([a, b], keras.layers.Add()([a, b])).export(tmp_path / "two_inputs", verbose=False)
    expected = {
        "corrupt.keras": "model file corrupt.keras is not a readable .keras archive (damaged, "
                         "truncated or another kind of file); save the model again or choose "
                         "another file",
        "truncated.h5": "model file truncated.h5 is not a readable HDF5 model file (damaged, "
                        "truncated or another kind of file); save the model again or choose "
                        "another file",
        "notes.keras": "model file notes.keras is not a readable .keras archive",
        "notes.txt": "model file notes.txt: Graft reads .keras, .h5, .hdf5 model files and SavedModel "
                     "folders; save the model with model.save('model.keras')",
        "tiny.weights.h5": "model file tiny.weights.h5 holds weights but no model; save the whole "
                           "model with model.save('model.keras')",
        "layer.keras": "model file layer.keras holds no built model (a layer, or a Sequential "
                       "model without an Input); save a model that has an Input",
        "two_inputs": "SavedModel folder two_inputs takes 2 inputs (",
        "empty_folder": "folder empty_folder is not a SavedModel (no saved_model.pb); choose a "
                        "SavedModel folder, a .keras or an .h5 file",
        "gone.keras": f"model file not found: {tmp_path / 'gone.keras'}; fix the path or import "
                      "it again",
    }
    for path, message in expected.items():
        assert message in node_problem(imported(path), tmp_path), path
