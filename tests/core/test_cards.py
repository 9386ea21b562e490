"""Model cards kept in project files: a project opens and validates without loading its
pretrained models, a changed or missing model file is reported, a bad card is refused."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import pytest

from app.core.analysis.validate import analyze
from app.core.document.fileformat import ProjectError, load, loads, save
from app.core.document.project import Project, changed_models
from app.core.editing.builder import GraphBuilder
from tests.conftest import MODELS, ROOT


def cnn_project(folder) -> Project:
    """x → a copy of digits_cnn in `folder` → y, with its card read."""
    shutil.copy(MODELS / "digits_cnn.keras", folder / "cnn.keras")
    b = GraphBuilder()
    b.add("x", "Input", shape=[8, 8, 1])
    b.add("cnn", "ModelFile", path="cnn.keras")
    b.add("y", "Output")
    b.chain("x", "cnn", "y")
    project = Project(b.graph, path=folder / "p.graft")
    assert analyze(project.graph, project.context).ok  # loads the model once: its card is known
    save(project, folder / "p.graft")
    return project


def test_saving_keeps_the_card_of_each_model_once_with_the_nodes_using_it(tmp_path):
    project = cnn_project(tmp_path)
    document = json.loads((tmp_path / "p.graft").read_text())
    (record,) = document["cards"]
    assert record["key"]["source"] == "cnn.keras" and len(record["key"]["sha256"]) == 64
    assert record["nodes"] == [project.graph.node_by_name("cnn").id]
    assert record["card"]["params"] == 5130 and record["card"]["inputs"][0]["shape"] == [None, 8, 8, 1]


OPEN_WITHOUT_KERAS = textwrap.dedent("""
    import json, sys
    from app.core.document.fileformat import load
    from app.core.analysis.validate import analyze
    project = load(sys.argv[1])
    analysis = analyze(project.graph, project.context)
    cnn = project.graph.node_by_name("cnn").id
    print(json.dumps({"ok": analysis.ok, "shape": list(analysis.output_spec(cnn).shape),
                      "keras": "keras" in sys.modules, "tensorflow": "tensorflow" in sys.modules}))
""")


def test_a_saved_project_validates_without_loading_its_models(tmp_path):
    """The point of keeping cards: opening draws and checks the graph before TensorFlow loads."""
    cnn_project(tmp_path)
    result = subprocess.run([sys.executable, "-c", OPEN_WITHOUT_KERAS, str(tmp_path / "p.graft")],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert json.loads(result.stdout) == {"ok": True, "shape": [None, 10], "keras": False, "tensorflow": False}


def test_a_changed_model_file_is_reported_on_open(tmp_path):
    cnn_project(tmp_path)
    shutil.copy(MODELS / "digits_refiner.keras", tmp_path / "cnn.keras")  # another model, same name
    project = load(tmp_path / "p.graft")
    assert changed_models(project) == [
        "'cnn': its model file cnn.keras changed since the project was saved; its shapes were read again"]
    analysis = analyze(project.graph, project.context)
    assert "expects (None, 10) but receives (None, 8, 8, 1)" in analysis.errors[0].message


def test_a_missing_model_file_is_reported_on_open(tmp_path):
    cnn_project(tmp_path)
    (tmp_path / "cnn.keras").unlink()
    project = load(tmp_path / "p.graft")
    assert changed_models(project) == [
        "'cnn': its model file cnn.keras is missing; fix the path or import the model again"]
    assert "model file not found" in analyze(project.graph, project.context).errors[0].message


@pytest.mark.parametrize("change, place, message", [
    (lambda r: r["card"]["layers"][0].update(params=-1), "cards[0].card.layers[0].params",
     "expected an integer >= 0"),
    (lambda r: r["card"].update(inputs="x"), "cards[0].card.inputs", "expected a list"),
    (lambda r: r["card"]["outputs"][0].update(shape=[None, "ten"]), "cards[0].card.outputs[0].shape",
     "expected dimensions"),
    (lambda r: r["card"].update(colour="red"), "cards[0].card.colour", "unknown field"),
    (lambda r: r.update(nodes=["nope"]), "cards[0].nodes[0]", "no node with id"),
    (lambda r: r.update(key=[]), "cards[0].key", "expected an object"),
], ids=["negative_params", "inputs_not_a_list", "bad_dimension", "unknown_field", "unknown_node", "bad_key"])
def test_a_malformed_card_is_refused_naming_its_place(tmp_path, change, place, message):
    cnn_project(tmp_path)
    document = json.loads((tmp_path / "p.graft").read_text())
    change(document["cards"][0])
    with pytest.raises(ProjectError) as error:
        loads(json.dumps(document))
    assert error.value.where == place and message in error.value.message
