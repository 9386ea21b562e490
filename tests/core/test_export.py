"""Export as its users meet it: every example comes out as a .keras file and a SavedModel that
load without Graft and predict what the editor's model predicts, the SavedModel speaks in the
graph's own Input and Output names, trained weights travel with the export, and what cannot be
exported is refused with a message that says why and what to do."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from app.core.build.compile import compile_graph
from app.core.document.fileformat import load, save
from app.core.document.project import Project
from app.core.document.training_setup import config_from_dict
from app.core.editing.builder import GraphBuilder
from app.core.export.common import CHECKING, KERAS, SAVEDMODEL, ExportError, predict, sample_batch
from app.core.export.keras_file import export_keras
from app.core.export.savedmodel import export_savedmodel
from app.core.nodes.base import INPUT, OUTPUT
from app.core.training import events
from app.core.training.runner import load_trained_model, train
from tests.conftest import EXAMPLES
from tests.core.export_graphs import EXAMPLE_NAMES, ids_and_features, in_app, names_of, served_savedmodel


def from_keras_file(path, sample) -> dict[str, np.ndarray]:
    return in_app(keras.saving.load_model(path, safe_mode=True), sample)


def from_savedmodel(path, model, sample) -> tuple[dict[str, np.ndarray], object]:
    signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    result = signature(**{t.name: tf.constant(x) for t, x in zip(model.inputs, sample)})
    return {name: np.asarray(value) for name, value in result.items()}, signature


def assert_close(got: dict, expected: dict) -> None:
    assert set(got) == set(expected)
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=0, atol=1e-5, err_msg=name)


def wine(folder, epochs=1) -> Project:
    """A small Dense regression on the bundled wine data, saved into `folder`."""
    b = GraphBuilder()
    b.add("features", "Input", 0, 0, shape=[12])
    b.add("hidden", "Dense", 1, 0, units=8, activation="relu")
    b.add("predict", "Dense", 2, 0, units=1)
    b.add("alcohol", "Output", 3, 0, loss="mean_squared_error")
    b.chain("features", "hidden", "predict", "alcohol")
    columns = ["malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols", "flavanoids",
               "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue",
               "od280_od315_of_diluted_wines", "proline"]
    training = config_from_dict({
        "data": {"source": "bundled", "path": "wine",
                 "mapping": {"features": columns, "alcohol": "alcohol"}},
        "settings": {"batch_size": 32, "epochs": epochs}})
    project = Project(b.graph, "wine", training=training)
    folder.mkdir(exist_ok=True)
    save(project, folder / "wine.graft")
    return project


def trained_wine(folder) -> Project:
    project = wine(folder)
    ended = train(project)
    assert ended.status == events.FINISHED, ended.message + ended.details
    project.training.weights = ended.weights
    return project


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_example_exports_to_files_that_predict_what_the_editor_predicts(name, tmp_path):
    project = load(EXAMPLES / f"{name}.graft")
    model = compile_graph(project.graph, project.context).model
    sample = sample_batch(model)
    expected = in_app(model, sample)

    report = export_keras(project, tmp_path / f"{name}.keras", model=model)
    assert report.ok and report.format == KERAS and report.max_abs_difference <= 1e-5, report.message
    assert report.message.startswith(f"Keras model file written to {tmp_path / name}.keras")
    assert_close(from_keras_file(tmp_path / f"{name}.keras", sample), expected)

    report = export_savedmodel(project, tmp_path / f"{name}_savedmodel", model=model)
    assert report.ok and report.format == SAVEDMODEL and report.max_abs_difference <= 1e-5, report.message
    assert "tf.saved_model.load, predictions match" in report.message
    got, signature = from_savedmodel(tmp_path / f"{name}_savedmodel", model, sample)
    assert_close(got, expected)
    assert set(signature.structured_input_signature[1]) == set(names_of(project.graph, INPUT))
    assert set(signature.structured_outputs) == set(names_of(project.graph, OUTPUT))


def test_a_keras_export_loads_in_a_python_that_never_imports_graft(tmp_path):
    project = load(EXAMPLES / "shared_base.graft")
    export_keras(project, tmp_path / "shared.keras")
    export_savedmodel(project, tmp_path / "shared_savedmodel")
    script = (
        "import sys, keras, numpy as np, tensorflow as tf\n"
        f"m = keras.saving.load_model({str(tmp_path / 'shared.keras')!r}, safe_mode=True)\n"
        f"s = tf.saved_model.load({str(tmp_path / 'shared_savedmodel')!r}).signatures['serving_default']\n"
        "x = np.zeros((2, 8, 8, 1), 'float32')\n"
        "print(m.output_names, sorted(s(pixels=tf.constant(x))), 'app' in sys.modules)\n")
    env = {**os.environ, "PYTHONPATH": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "['digit', 'is_even'] ['digit', 'is_even'] False"


def test_a_graph_with_several_inputs_and_integer_ids_exports_under_its_node_names(tmp_path):
    project = ids_and_features()
    model = compile_graph(project.graph).model
    sample = sample_batch(model)
    assert sample[0].dtype == np.int32 and sample[0].max() < 5
    report = export_savedmodel(project, tmp_path / "mixed", model=model)
    assert report.ok, report.message
    got, signature = from_savedmodel(tmp_path / "mixed", model, sample)
    assert set(signature.structured_input_signature[1]) == {"tokens", "extra"}
    assert signature.structured_input_signature[1]["tokens"].dtype == tf.int32
    assert_close(got, in_app(model, sample))


# Keras warns while it tries the no-longer-fitting weights at the end; the export refuses them
@pytest.mark.filterwarnings("ignore:Skipping nested container:UserWarning")
def test_a_trained_project_exports_its_trained_weights(tmp_path):
    """Fresh compiles differ (random initial weights); with trained weights each compile is the
    trained model, so the exports, made from their own compiles, match this one."""
    project = trained_wine(tmp_path / "wine")
    trained = load_trained_model(project).model
    sample = sample_batch(trained)
    expected = in_app(trained, sample)
    for _ in range(2):
        untrained = in_app(compile_graph(project.graph, project.context).model, sample)["alcohol"]
        assert np.max(np.abs(untrained - expected["alcohol"])) > 1e-3

    assert export_keras(project, tmp_path / "wine.keras").ok
    assert_close(from_keras_file(tmp_path / "wine.keras", sample), expected)
    assert export_savedmodel(project, tmp_path / "wine_savedmodel").ok
    assert_close(from_savedmodel(tmp_path / "wine_savedmodel", trained, sample)[0], expected)

    # the weights no longer fit once the graph has changed: refused, with the fix named
    hidden = project.graph.node_by_name("hidden")
    project.graph.set_params(hidden.id, {**hidden.params, "units": 5})
    with pytest.raises(ExportError) as refused:
        export_keras(project, tmp_path / "changed.keras")
    assert str(refused.value) == (
        f"cannot export the trained model: the trained weights {project.training.weights} do not fit "
        "the graph as it is now (changed since training?); train again, or clear the trained weights")
    assert not (tmp_path / "changed.keras").exists()


def test_a_savedmodel_node_exports_as_a_savedmodel_but_not_as_a_keras_file(tmp_path):
    """A .keras file would only point at the imported folder, and safe mode refuses to load it."""
    project = served_savedmodel(tmp_path)
    with pytest.raises(ExportError) as refused:
        export_keras(project, tmp_path / "served.keras")
    assert str(refused.value) == (
        "node 'served' is a SavedModel: a .keras file would only point at its folder, and Keras refuses "
        "to load that in safe mode; export as a SavedModel or ONNX instead")
    assert not (tmp_path / "served.keras").exists()
    assert export_savedmodel(project, tmp_path / "out").ok


def test_a_graph_with_errors_is_refused_with_a_readable_message(tmp_path):
    project = load(EXAMPLES / "broken.graft")
    for export, target in ((export_keras, tmp_path / "broken.keras"),
                           (export_savedmodel, tmp_path / "broken_savedmodel")):
        with pytest.raises(ExportError) as refused:
            export(project, target)
        message = str(refused.value)
        assert message.startswith("the graph has 3 error(s), fix them before exporting: ")
        assert "model 'mlp' expects (None, 64) but receives (None, 8, 8, 1)" in message
        assert not target.exists()


def test_targets_that_exporting_would_destroy_are_refused_and_earlier_exports_are_replaced(tmp_path):
    project = load(EXAMPLES / "transfer.graft")
    (tmp_path / "folder.keras").mkdir()
    with pytest.raises(ExportError, match="is a folder; choose another name for the .keras file"):
        export_keras(project, tmp_path / "folder.keras")
    with pytest.raises(ExportError, match="must end in .keras"):
        export_keras(project, tmp_path / "model.h5")
    with pytest.raises(ExportError, match="does not exist; create it"):
        export_keras(project, tmp_path / "missing" / "model.keras")
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="with other files in it; choose an empty or new folder"):
        export_savedmodel(project, notes)
    assert (notes / "keep.txt").read_text() == "mine"
    (tmp_path / "file").write_text("mine")
    with pytest.raises(ExportError, match="is a file; a SavedModel is a folder"):
        export_savedmodel(project, tmp_path / "file")

    (tmp_path / "model.keras").write_text("an older export")
    assert export_keras(project, tmp_path / "model.keras").ok
    assert export_savedmodel(project, tmp_path / "saved").ok
    assert export_savedmodel(project, tmp_path / "saved").ok  # exporting again replaces it
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".graft-export-")) == []



def test_an_export_that_does_not_match_is_reported_failed_and_keeps_the_earlier_file(tmp_path, monkeypatch):
    project = load(EXAMPLES / "transfer.graft")
    (tmp_path / "model.keras").write_text("an earlier export")
    monkeypatch.setattr("app.core.export.common.TOLERANCE", -1.0)  # no difference is small enough
    report = export_keras(project, tmp_path / "model.keras")
    assert not report.ok and report.format == KERAS
    assert report.message.startswith(f"Keras model file not written to {tmp_path / 'model.keras'}: reloaded "
                                     "with keras.saving.load_model (safe mode), its predictions differ")
    assert (tmp_path / "model.keras").read_text() == "an earlier export"
    report = export_savedmodel(project, tmp_path / "saved")
    assert not report.ok and "more than -1" in report.message and not (tmp_path / "saved").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]



@pytest.mark.parametrize(("export", "target", "predictions"), [
    (export_keras, "model.keras", 2),  # the in-app model's and the reloaded one's
    (export_savedmodel, "saved", 1),  # the reloaded SavedModel runs its signature instead
])
def test_every_prediction_of_the_check_comes_in_its_checking_stage(export, target, predictions, tmp_path,
                                                                      monkeypatch):
    """The progress shown, and the export benchmark, time the whole check from CHECKING on."""
    project = load(EXAMPLES / "transfer.graft")
    stages, predicted_in = [], []

    def predict_seen(model, sample):
        predicted_in.append(stages[-1])
        return predict(model, sample)

    monkeypatch.setattr(export.__module__ + ".predict", predict_seen)
    assert export(project, tmp_path / target, progress=stages.append).ok
    assert predicted_in == [CHECKING] * predictions
