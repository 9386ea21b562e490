"""Project files as a user meets them: examples open and save unchanged, any graph survives
a save/load, a broken file gives one ProjectError that says where and how to fix it, old
files are upgraded, a crash mid-save never costs the previous file, and opening a file
never runs code. Nothing here needs TensorFlow or Keras."""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import app.core.document.atomic as atomic_module
import app.core.document.project as project_module
from app.core.document import migrations
from app.core.document.atomic import atomic_write_text
from app.core.document.fileformat import ProjectError, dumps, file_document, from_dict, load, loads, save
from app.core.document.project import Project
from app.core.document.training_setup import TrainingConfig
from app.core.graph.graph import Edge, Graph, Node
from app.core.graph.params import PATH
from app.core.nodes import REGISTRY
from tests.core.strategies import json_values, mutated_documents, projects

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "resources" / "examples").glob("*.graft"))
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_examples_are_present():
    assert len(EXAMPLES) >= 5, "resources/examples/*.graft went missing"


# -- helpers ----------------------------------------------------------------------------
def small_document() -> dict:
    """image (Input) → head (Dense) → label (Output), as a fresh plain document."""
    return {
        "format": "graft-project",
        "format_version": migrations.CURRENT_VERSION,
        "name": "Small",
        "description": "Three nodes in a row.",
        "nodes": [
            {"id": "n1", "type": "Input", "name": "image", "position": [0.0, 0.0],
             "params": {"shape": [4], "dtype": "float32"}},
            {"id": "n2", "type": "Dense", "name": "head", "position": [240.0, 0.0],
             "params": {"units": 3, "activation": "softmax", "use_bias": True}},
            {"id": "n3", "type": "Output", "name": "label", "position": [480.0, 0.0],
             "params": {"loss": "sparse_categorical_crossentropy", "loss_weight": 1.0,
                        "metrics": ["accuracy"]}},
        ],
        "edges": [
            {"id": "e1", "from": {"node": "n1", "port": "out"}, "to": {"node": "n2", "port": "in"}},
            {"id": "e2", "from": {"node": "n2", "port": "out"}, "to": {"node": "n3", "port": "in"}},
        ],
        "cards": [],
        "training": TrainingConfig().to_dict(),
    }


def refused(document_or_text) -> ProjectError:
    """Load and return the ProjectError; fail on success or on any other exception type."""
    text = document_or_text if isinstance(document_or_text, str) else json.dumps(document_or_text)
    with pytest.raises(Exception) as info:
        loads(text)
    error = info.value
    assert type(error) is ProjectError, f"{type(error).__name__} instead of ProjectError: {error}"
    return error


def path_params(project: Project) -> list[tuple[str, str, str]]:
    """(node id, parameter, value) for every non-empty model-file path."""
    return [(n.id, p.name, n.params[p.name]) for n in project.graph.nodes
            for p in REGISTRY[n.type].params if p.kind == PATH and n.params.get(p.name)]


def resolved(project: Project) -> dict:
    """project.to_dict() with model-file paths made absolute from the project's folder."""
    data = project.to_dict()
    by_id = {n["id"]: n for n in data["nodes"]}
    for node_id, name, value in path_params(project):
        by_id[node_id]["params"][name] = str(project.context.resolve(value).resolve())
    return data


def strip(data: dict) -> list[dict]:
    """The nodes of a to_dict() without their model-file paths."""
    def is_path(type_name, name):
        return any(p.name == name and p.kind == PATH for p in REGISTRY[type_name].params)

    return [{**n, "params": {k: v for k, v in n["params"].items() if not is_path(n["type"], k)}}
            for n in data["nodes"]]


def leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


# -- 1. round trip of the shipped examples ------------------------------------------------
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_round_trips_through_another_folder(example, tmp_path):
    original = load(example)
    before = original.to_dict()
    before_resolved = resolved(original)
    target = tmp_path / "copies" / "deeper" / example.name
    target.parent.mkdir(parents=True)

    save(original, target)
    reloaded = load(target)

    assert reloaded.path == target
    saved_text = target.read_text(encoding="utf-8")
    assert saved_text == dumps(reloaded)
    assert original.to_dict() == before  # saving never changes the project in memory
    assert resolved(original) == before_resolved
    # Apart from model-file paths (rewritten for the new folder), nothing changed...
    assert strip(reloaded.to_dict()) == strip(before)
    assert {k: v for k, v in reloaded.to_dict().items() if k != "nodes"} == \
        {k: v for k, v in before.items() if k != "nodes"}
    # ...and the rewritten paths still name the very same model files.
    assert resolved(reloaded) == before_resolved
    for _, _, value in path_params(reloaded):
        assert reloaded.context.resolve(value).is_file(), value


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_is_unchanged_by_open_and_save(example, tmp_path):
    """Opening a shipped example and saving it beside itself gives the same bytes (no diff)."""
    project = load(example)
    assert dumps(project) == example.read_text(encoding="utf-8")
    twin = tmp_path / example.name
    project.path, project.folder = twin, tmp_path  # as if it lived here already: no path rewriting
    save(project, twin)
    assert twin.read_bytes() == example.read_bytes()


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_saving_twice_gives_identical_bytes(example, tmp_path):
    project = load(example)
    first, second = tmp_path / "first.graft", tmp_path / "second.graft"
    save(project, first)
    save(project, second)
    save(load(second), second)  # and a reload in between changes nothing
    assert first.read_bytes() == second.read_bytes()
    text = first.read_text(encoding="utf-8")
    assert text.endswith("}\n") and "\r" not in text
    assert json.loads(text) == file_document(project, first)  # the paths as seen from its folder


def test_saved_model_paths_follow_the_project_and_stay_absolute_when_absolute(tmp_path):
    model = tmp_path / "models" / "m.keras"
    model.parent.mkdir()
    model.write_bytes(b"not really a model")
    elsewhere = tmp_path / "elsewhere" / "x.keras"
    document = small_document()
    document["nodes"].append({"id": "n4", "type": "ModelFile", "name": "relative",
                              "params": {"path": "../models/m.keras"}})
    document["nodes"].append({"id": "n5", "type": "ModelFile", "name": "absolute",
                              "params": {"path": str(elsewhere)}})
    source = tmp_path / "projects" / "a.graft"
    source.parent.mkdir()
    source.write_text(json.dumps(document), encoding="utf-8")

    for target in (tmp_path / "b.graft", tmp_path / "x" / "y" / "z" / "c.graft"):
        target.parent.mkdir(parents=True, exist_ok=True)
        project = load(source)
        save(project, target)
        copy_ = load(target)
        params = {n.name: n.params["path"] for n in copy_.graph.nodes if n.type == "ModelFile"}
        assert copy_.context.resolve(params["relative"]).resolve() == model.resolve()
        assert not Path(params["relative"]).is_absolute()  # still portable with its folder
        assert params["absolute"] == str(elsewhere)


# -- 2. any graph survives a round trip ---------------------------------------------------
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(projects())
def test_random_graph_round_trips(project):
    text = dumps(project)
    again = loads(text)
    assert again.to_dict() == project.to_dict()
    assert dumps(again) == text  # stable: a second save changes nothing
    assert [n.id for n in again.graph.nodes] == [n.id for n in project.graph.nodes]
    assert [e.id for e in again.graph.edges] == [e.id for e in project.graph.edges]


@settings(max_examples=20, deadline=None)
@given(projects(max_nodes=6))
def test_random_graph_round_trips_through_a_file(project):
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "random.graft"
        save(project, target)
        assert load(target).to_dict() == project.to_dict()
        assert os.listdir(folder) == ["random.graft"]


# -- 3. malformed files: one ProjectError naming the place and the fix -----------------------
def test_invalid_json_names_line_and_column():
    text = '{\n  "format": "graft-project",\n  "nodes": [,]\n}'
    error = refused(text)
    assert error.where == "line 3 column 13"
    assert str(error) == "line 3 column 13: not valid JSON (Expecting value)"


@pytest.mark.parametrize("text", ["", "   ", '{"format": ', "{'format': 'graft-project'}",
                                  "{\"a\": 1,}", "nul", "\ufeff"],
                         ids=["empty", "blank", "cut", "single-quotes", "trailing-comma",
                              "bad-literal", "only-bom"])
def test_not_json_at_all(text):
    error = refused(text)
    assert error.where.startswith("line ") and " column " in error.where
    assert "not valid JSON" in str(error)


def test_file_with_a_byte_order_mark_opens(tmp_path):
    """Editors on Windows like to prefix UTF-8 files with a BOM."""
    text = json.dumps(small_document())
    target = tmp_path / "bom.graft"
    target.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert load(target).to_dict() == small_document()
    assert loads("\ufeff" + text).to_dict() == small_document()


def test_duplicate_keys_are_refused_not_silently_dropped():
    """Python keeps the last of two equal keys; a hand-merged file must not lose data quietly."""
    text = json.dumps(small_document()).replace('"units": 3', '"units": 3, "units": 30')
    error = refused(text)
    assert '"units"' in str(error)


@pytest.mark.parametrize("text, where", [
    (json.dumps(small_document()).replace('"position": [0.0, 0.0]', '"position": [NaN, 0.0]'),
     "nodes[0].position[0]"),
    (json.dumps(small_document()).replace('"units": 3', '"units": 3, "units": 30'),
     "nodes[1].params"),
], ids=["nan", "duplicate-key"])
def test_refusals_inside_the_json_parser_name_the_place(text, where):
    assert refused(text).where == where


def test_truncated_save_is_reported_not_crashed():
    text = dumps(from_dict(small_document()))
    for cut in range(0, len(text) - 2, 7):
        error = refused(text[:cut])
        assert "not valid JSON" in str(error)


@pytest.mark.parametrize("text", ["[]", '"graft"', "null", "42", "true"])
def test_top_level_must_be_an_object(text):
    error = refused(text)
    assert str(error) == f"expected a JSON object at the top level, got {text}"


@pytest.mark.parametrize("value", ["graft", "GRAFT-PROJECT", None, 1, ["graft-project"]])
def test_wrong_format_says_it_is_not_a_graft_file(value):
    document = small_document()
    document["format"] = value
    error = refused(document)
    assert error.where == "format"
    assert 'expected "graft-project"' in str(error)
    assert "not a Graft project file" in str(error)


def test_missing_format():
    document = small_document()
    del document["format"]
    assert refused(document).where == "format"


@pytest.mark.parametrize("value", ["1", 1.5, True, -1, None, [1]])
def test_format_version_must_be_a_whole_number(value):
    document = small_document()
    document["format_version"] = value
    error = refused(document)
    assert error.where == "format_version"
    assert "expected a whole number" in str(error)


def test_file_from_a_newer_graft_says_to_update():
    document = small_document()
    document["format_version"] = migrations.CURRENT_VERSION + 1
    error = refused(document)
    assert f"format_version {migrations.CURRENT_VERSION + 1}" in str(error)
    assert "newer Graft" in str(error)
    assert "update Graft" in str(error)


def test_bad_param_message_is_exactly_as_documented():
    document = small_document()
    document["nodes"][1]["params"]["units"] = "abc"
    assert str(refused(document)) == \
        'nodes[1].params.units: expected an integer >= 1 and <= 1048576, got "abc"'


@pytest.mark.parametrize("value, expected", [
    ("abc", 'expected an integer >= 1 and <= 1048576, got "abc"'),
    (0, "expected an integer >= 1 and <= 1048576, got 0"),
    (2.5, "expected an integer >= 1 and <= 1048576, got 2.5"),
    (True, "expected an integer >= 1 and <= 1048576, got true"),
    (None, "expected an integer >= 1 and <= 1048576, got null"),
])
def test_bad_param_names_node_param_and_what_is_expected(value, expected):
    document = small_document()
    document["nodes"][1]["params"]["units"] = value
    error = refused(document)
    assert error.where == "nodes[1].params.units"
    assert str(error) == f"nodes[1].params.units: {expected}"


def test_bad_param_in_a_file_names_the_file(tmp_path):
    document = small_document()
    document["nodes"][1]["params"]["units"] = "abc"
    target = tmp_path / "bad.graft"
    target.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ProjectError) as info:
        load(target)
    assert str(info.value) == \
        f'{target}: nodes[1].params.units: expected an integer >= 1 and <= 1048576, got "abc"'
    assert info.value.file == target
    assert info.value.where == "nodes[1].params.units"


def test_unknown_param_lists_the_known_ones():
    document = small_document()
    document["nodes"][1]["params"]["unit"] = 3
    error = refused(document)
    assert str(error) == ("nodes[1].params.unit: unknown parameter "
                          "(this node takes: activation, units, use_bias)")


def _set(path, value):
    def mutate(document):
        target = document
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return mutate


def _delete(path):
    def mutate(document):
        target = document
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return mutate


def _append_edge(source, target, port, edge_id="e9"):
    def mutate(document):
        document["edges"].append({"id": edge_id, "from": {"node": source, "port": "out"},
                                  "to": {"node": target, "port": port}})
    return mutate


MALFORMED = {
    # name: (mutation, where, words the message must contain)
    "unknown-node-type": (_set(["nodes", 1, "type"], "Dense2"), "nodes[1].type",
                          ['unknown node type "Dense2"', 'did you mean "Dense"', "node reference"]),
    "node-type-not-string": (_set(["nodes", 1, "type"], 7), "nodes[1].type",
                             ["expected a non-empty string, got 7"]),
    "duplicate-node-id": (_set(["nodes", 2, "id"], "n1"), "nodes[2].id",
                          ['duplicate node id "n1"']),
    "duplicate-name": (_set(["nodes", 2, "name"], "image"), "nodes[2].name",
                       ['duplicate node name "image"', "must be unique"]),
    "invalid-name-digit": (_set(["nodes", 0, "name"], "1st"), "nodes[0].name",
                           ["invalid node name", "1st", "letters, digits and underscores"]),
    "invalid-name-dash": (_set(["nodes", 0, "name"], "my-image"), "nodes[0].name",
                          ["invalid node name", "my-image"]),
    "invalid-name-space": (_set(["nodes", 0, "name"], "my image"), "nodes[0].name",
                           ["invalid node name"]),
    "empty-name": (_set(["nodes", 0, "name"], ""), "nodes[0].name", ["non-empty string"]),
    "missing-name": (_delete(["nodes", 0, "name"]), "nodes[0].name", ["missing"]),
    "missing-id": (_delete(["nodes", 0, "id"]), "nodes[0].id", ["missing"]),
    "edge-to-missing-node": (_set(["edges", 1, "to", "node"], "n9"), "edges[1].to.node",
                             ['no node with id "n9"']),
    "edge-from-missing-node": (_set(["edges", 0, "from", "node"], "n0"), "edges[0].from.node",
                               ['no node with id "n0"']),
    "two-edges-into-one-port": (_append_edge("n1", "n3", "in"), "edges[2].to",
                                ["label.in", "head"]),
    "duplicate-edge-id": (_append_edge("n1", "n3", "in1", edge_id="e1"), "edges[2].id",
                          ['duplicate edge id "e1"']),
    "edge-not-object": (_set(["edges", 0], "n1->n2"), "edges[0]",
                        ['expected an object, got "n1->n2"']),
    "edge-end-not-object": (_set(["edges", 0, "to"], "n2.in"), "edges[0].to",
                            ['expected {"node": ..., "port": ...}', '"n2.in"']),
    "edge-end-missing-port": (_delete(["edges", 0, "to", "port"]), "edges[0].to.port",
                              ["missing"]),
    "edge-end-extra-field": (_set(["edges", 0, "to", "slot"], 0), "edges[0].to.slot",
                             ["unknown field", "node, port"]),
    "edges-not-list": (_set(["edges"], {}), "edges", ["expected a list, got {}"]),
    "nodes-not-list": (_set(["nodes"], "n1"), "nodes", ['expected a list, got "n1"']),
    "node-not-object": (_set(["nodes", 1], ["Dense"]), "nodes[1]",
                        ['expected an object, got ["Dense"]']),
    "unknown-top-level-field": (_set(["author"], "me"), "author",
                                ["unknown field (expected: cards, description, edges, format, "
                                 "format_version, name, nodes, training)"]),
    "unknown-node-field": (_set(["nodes", 0, "colour"], "red"), "nodes[0].colour",
                           ["unknown field", "params", "position"]),
    "position-string": (_set(["nodes", 0, "position"], "here"), "nodes[0].position",
                        ['expected [x, y] numbers, got "here"']),
    "position-one-number": (_set(["nodes", 0, "position"], [1]), "nodes[0].position",
                            ["expected [x, y] numbers, got [1]"]),
    "position-three-numbers": (_set(["nodes", 0, "position"], [1, 2, 3]), "nodes[0].position",
                               ["expected [x, y] numbers"]),
    "position-bool": (_set(["nodes", 0, "position"], [True, 0]), "nodes[0].position",
                      ["expected [x, y] numbers, got [true, 0]"]),
    "position-text-number": (_set(["nodes", 0, "position"], ["1", 2]), "nodes[0].position",
                             ["expected [x, y] numbers"]),
    "position-object": (_set(["nodes", 0, "position"], {"x": 1, "y": 2}), "nodes[0].position",
                        ["expected [x, y] numbers"]),
    "params-not-object": (_set(["nodes", 1, "params"], [3]), "nodes[1].params",
                          ["expected an object of parameters, got [3]"]),
    "project-name-not-string": (_set(["name"], 3), "name", ["expected a string, got 3"]),
    "description-not-string": (_set(["description"], None), "description",
                               ["expected a string, got null"]),
    "bad-choice": (_set(["nodes", 1, "params", "activation"], "ReLU"),
                   "nodes[1].params.activation", ['got "ReLU"', '"relu"']),
    "bad-shape": (_set(["nodes", 0, "params", "shape"], [0]), "nodes[0].params.shape",
                  ["positive integers", "got [0]"]),
    "bad-metric": (_set(["nodes", 2, "params", "metrics"], ["accurasy"]),
                   "nodes[2].params.metrics", ['"accuracy"', 'got ["accurasy"]']),
    "bad-reshape": (_set(["nodes", 1], {"id": "n2", "type": "Reshape", "name": "head",
                                        "params": {"target_shape": [-1, -1]}}),
                    "nodes[1].params.target_shape", ["at most one -1"]),
}


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_malformed_document_gives_one_clear_error(case):
    mutate, where, words = MALFORMED[case]
    document = small_document()
    mutate(document)
    error = refused(document)
    assert error.where == where
    assert str(error).startswith(f"{where}: ")
    for word in words:
        assert word in str(error)


def test_the_unmodified_small_document_loads():
    project = loads(json.dumps(small_document()))
    assert [n.name for n in project.graph.nodes] == ["image", "head", "label"]
    assert project.to_dict() == small_document()


def test_missing_optional_fields_take_defaults():
    project = from_dict({"format": "graft-project", "format_version": migrations.CURRENT_VERSION,
                         "nodes": [{"id": "a", "type": "Dense", "name": "d"}]})
    assert project.name == "Untitled" and project.description == ""
    node = project.graph.node("a")
    assert node.position == (0.0, 0.0)
    assert node.params == REGISTRY["Dense"].default_params()


def test_unreadable_files_give_a_project_error(tmp_path):
    with pytest.raises(ProjectError, match="file not found"):
        load(tmp_path / "nowhere.graft")
    with pytest.raises(ProjectError, match="cannot read the file"):
        load(tmp_path)  # a folder
    latin1 = tmp_path / "latin1.graft"
    latin1.write_bytes('{"format": "graft-project", "name": "Caf\u00e9"}'.encode("latin-1"))
    with pytest.raises(ProjectError, match="cannot read the file"):
        load(latin1)


FUZZ_SOURCES = [json.loads(p.read_text(encoding="utf-8")) for p in EXAMPLES] + [small_document()]


@FUZZ
@given(data=st.data())
def test_fuzzed_example_loads_or_gives_project_error(data):
    """Random edits of a valid file (values replaced by random JSON or by other parts of the
    file, entries removed or duplicated, unknown keys added) never crash the loader."""
    document = data.draw(st.sampled_from(FUZZ_SOURCES), label="source")
    mutated = data.draw(mutated_documents(document), label="mutated")
    try:
        project = loads(json.dumps(mutated))
    except ProjectError as error:
        assert str(error)
    else:
        assert isinstance(project, Project)


@FUZZ
@given(st.one_of(json_values(allow_nonfinite=True), st.text(max_size=200)))
def test_garbage_loads_or_gives_project_error(value):
    text = value if isinstance(value, str) else json.dumps(value)
    try:
        project = loads(text)
    except ProjectError as error:
        assert str(error)
    else:
        assert isinstance(project, Project)


def test_deeply_nested_json_gives_project_error():
    refused("[" * 100_000 + "]" * 100_000)


def test_integer_with_too_many_digits_gives_project_error():
    document = small_document()
    text = json.dumps(document).replace('"units": 3', '"units": ' + "9" * 5000)
    error = refused(text)
    assert "digits" in str(error)


@pytest.mark.parametrize("path", [["nodes", 0, "position", 0], ["nodes", 2, "params", "loss_weight"]],
                         ids=["position", "float-param"])
def test_huge_integer_gives_project_error(path):
    document = small_document()
    _set(path, 10**400)(document)
    refused(document)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("where", ["position", "config"])
def test_non_finite_numbers_are_refused(literal, where):
    document = small_document()
    document["nodes"].append({"id": "n4", "type": "KerasLayer", "name": "layer",
                              "params": {"class_name": "Dense", "config": {"units": "PLACE"}}})
    if where == "position":
        document["nodes"][0]["position"] = ["PLACE", 0]
    text = json.dumps(document)
    text = text.replace('"PLACE"', literal, 1) if where == "position" else \
        text.replace('{"units": "PLACE"}', '{"units": 2, "scale": ' + literal + "}")
    # Python's json reads NaN/Infinity, but they are not JSON: saved back, other tools could
    # not read the file, and a node at NaN has no place on the canvas.
    error = refused(text)
    assert literal in str(error)


# -- 4. migrations ----------------------------------------------------------------------
def old_layout_document() -> dict:
    """A made-up version-0 layout: nodes keyed by id, flat x/y, edges as 4-item lists."""
    return {
        "format": "graft-project",
        "format_version": 0,
        "title": "From long ago",
        "nodes": {
            "a": {"kind": "Input", "label": "pixels", "x": 10, "y": 20,
                  "settings": {"shape": [8, 8, 1], "dtype": "float32"}},
            "b": {"kind": "Flatten", "label": "flat", "x": 250, "y": 20, "settings": {}},
            "c": {"kind": "Dense", "label": "head", "x": 500.5, "y": 20,
                  "settings": {"units": 10}},
        },
        "links": [["a", "out", "b", "in"], ["b", "out", "c", "in"]],
    }


def upgrade_0_to_1(document: dict) -> dict:
    nodes = [{"id": node_id, "type": node["kind"], "name": node["label"],
              "position": [node["x"], node["y"]], "params": node["settings"]}
             for node_id, node in document["nodes"].items()]
    edges = [{"id": f"e{i}", "from": {"node": s, "port": sp}, "to": {"node": t, "port": tp}}
             for i, (s, sp, t, tp) in enumerate(document["links"], 1)]
    return {"format": document["format"], "format_version": document["format_version"],
            "name": document["title"], "description": "", "nodes": nodes, "edges": edges}


def test_project_module_shares_the_current_version():
    # The loader stamps files with the version it imported by name; keep both in step.
    assert project_module.CURRENT_VERSION == migrations.CURRENT_VERSION


@pytest.fixture
def version_one_is_current(monkeypatch):
    """Pretend the current format is 1 with a migration from the made-up version 0."""
    monkeypatch.setattr(migrations, "CURRENT_VERSION", 1)
    monkeypatch.setattr(project_module, "CURRENT_VERSION", 1)
    monkeypatch.setitem(migrations.MIGRATIONS, 0, upgrade_0_to_1)


def test_old_file_is_upgraded_on_load(version_one_is_current, tmp_path):
    old = tmp_path / "old.graft"
    old.write_text(json.dumps(old_layout_document()), encoding="utf-8")

    project = load(old)

    assert project.name == "From long ago"
    assert [(n.id, n.type, n.name, n.position) for n in project.graph.nodes] == [
        ("a", "Input", "pixels", (10.0, 20.0)),
        ("b", "Flatten", "flat", (250.0, 20.0)),
        ("c", "Dense", "head", (500.5, 20.0)),
    ]
    assert project.graph.node("c").params == {"units": 10, "activation": "linear",
                                              "use_bias": True}
    assert [project.graph.describe_edge(e) for e in project.graph.edges] == [
        "pixels.out → flat.in", "flat.out → head.in"]
    # Saving writes the current layout and version; it then loads without migrating.
    save(project, old)
    saved = json.loads(old.read_text(encoding="utf-8"))
    assert saved["format_version"] == 1
    assert "links" not in saved and isinstance(saved["nodes"], list)
    assert load(old).to_dict() == project.to_dict()


def test_migrations_chain_up_to_the_current_version(monkeypatch, tmp_path):
    """A future format 4 (nothing changes but the version): 0 → 1 → 2 → 3 → 4 in one load."""
    calls = []

    def upgrade_3_to_4(document):
        calls.append(document["format_version"])
        return document

    monkeypatch.setattr(migrations, "CURRENT_VERSION", 4)
    monkeypatch.setattr(project_module, "CURRENT_VERSION", 4)
    monkeypatch.setitem(migrations.MIGRATIONS, 0, upgrade_0_to_1)
    monkeypatch.setitem(migrations.MIGRATIONS, 3, upgrade_3_to_4)

    project = from_dict(old_layout_document())
    assert calls == [3]
    assert project.to_dict()["format_version"] == 4
    assert [n.name for n in project.graph.nodes] == ["pixels", "flat", "head"]

    # Today's files (version 3) take only the last step; version 4 files take none.
    for example in EXAMPLES:
        current = load(example)
        assert json.loads(dumps(current))["format_version"] == 4
    assert len(calls) == 1 + len(EXAMPLES)
    target = tmp_path / "v4.graft"
    save(project, target)
    assert load(target).to_dict() == project.to_dict()
    assert len(calls) == 1 + len(EXAMPLES)

    error = refused({**small_document(), "format_version": 5})
    assert "update Graft" in str(error) and "reads up to 4" in str(error)


def test_a_version_2_file_gains_the_default_training_setup():
    document = {key: value for key, value in small_document().items() if key != "training"}
    project = from_dict({**document, "format_version": 2})
    assert project.training == TrainingConfig() and project.to_dict() == small_document()


def test_a_version_1_file_gains_an_empty_cards_section():
    document = {key: value for key, value in small_document().items() if key not in ("cards", "training")}
    project = from_dict({**document, "format_version": 1})
    assert project.cards == [] and project.to_dict() == small_document()


def test_original_document_is_not_changed_by_migration(version_one_is_current):
    document = old_layout_document()
    snapshot = copy.deepcopy(document)
    from_dict(document)
    assert document == snapshot


def test_version_without_a_migration_is_refused_clearly(monkeypatch):
    monkeypatch.setattr(migrations, "CURRENT_VERSION", 1)
    monkeypatch.setattr(project_module, "CURRENT_VERSION", 1)
    monkeypatch.setattr(migrations, "MIGRATIONS", {})
    error = refused(old_layout_document())
    assert "format_version 0 is not supported" in str(error)


def test_version_older_than_the_oldest_migration_names_the_oldest(monkeypatch):
    monkeypatch.setattr(migrations, "CURRENT_VERSION", 2)
    monkeypatch.setattr(project_module, "CURRENT_VERSION", 2)
    monkeypatch.setattr(migrations, "MIGRATIONS", {1: lambda d: d})
    error = refused(old_layout_document())
    assert "format_version 0 is not supported (oldest readable: 1)" in str(error)


def test_migration_that_produces_a_bad_document_gives_project_error(monkeypatch):
    monkeypatch.setattr(migrations, "CURRENT_VERSION", 1)
    monkeypatch.setattr(project_module, "CURRENT_VERSION", 1)
    monkeypatch.setitem(migrations.MIGRATIONS, 0, lambda d: {**upgrade_0_to_1(d), "nodes": "oops"})
    assert refused(old_layout_document()).where == "nodes"


# -- 5. atomic save ---------------------------------------------------------------------
@pytest.fixture
def saved(tmp_path):
    """A project saved once at tmp/project.graft, then edited in memory."""
    target = tmp_path / "project.graft"
    project = from_dict(small_document())
    save(project, target)
    old_bytes = target.read_bytes()
    project.graph.node("n2").params["units"] = 99
    project.name = "Edited"
    return project, target, old_bytes


class Crash(Exception):
    pass


@pytest.mark.parametrize("exception", [OSError("disk on fire"), KeyboardInterrupt()],
                         ids=["oserror", "interrupt"])
def test_crash_at_rename_keeps_the_old_file(saved, monkeypatch, exception):
    project, target, old_bytes = saved

    def failing_replace(src, dst):
        raise exception

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(type(exception)):
        save(project, target)
    monkeypatch.undo()
    assert target.read_bytes() == old_bytes
    assert leftovers(target.parent, {target.name}) == []


def test_crash_mid_write_keeps_the_old_file(saved, monkeypatch):
    """fsync fails after part of the new text reached the temp file (disk full)."""
    project, target, old_bytes = saved

    def failing_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        save(project, target)
    monkeypatch.undo()
    assert target.read_bytes() == old_bytes
    assert loads(target.read_text(encoding="utf-8")).name == "Small"
    assert leftovers(target.parent, {target.name}) == []


def test_crash_while_writing_text_keeps_the_old_file(saved, monkeypatch):
    project, target, old_bytes = saved
    real_open = open

    class HalfWriter:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()
            return False

        def write(self, text):
            self.handle.write(text[: len(text) // 2])
            raise Crash("power cut")

        def __getattr__(self, name):
            return getattr(self.handle, name)

    real_fdopen = os.fdopen
    # Whichever way the new text is written (open() or os.fdopen() on a temp file), the
    # write stops halfway.
    monkeypatch.setattr(atomic_module, "open", lambda *a, **k: HalfWriter(real_open(*a, **k)),
                        raising=False)
    monkeypatch.setattr(os, "fdopen", lambda *a, **k: HalfWriter(real_fdopen(*a, **k)))
    with pytest.raises(Crash):
        save(project, target)
    monkeypatch.undo()
    assert target.read_bytes() == old_bytes
    assert leftovers(target.parent, {target.name}) == []


def test_failed_first_save_creates_no_file(tmp_path, monkeypatch):
    def failing_replace(src, dst):
        raise OSError("nope")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        save(from_dict(small_document()), tmp_path / "new.graft")
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_target_is_only_ever_renamed_onto_complete_and_synced(saved, monkeypatch):
    """At the moment of the rename the old file is still whole and the new text is complete
    and flushed to disk; the target itself is never opened for writing."""
    project, target, old_bytes = saved
    expected = dumps(project)
    events = []
    real_replace, real_fsync, real_open = os.replace, os.fsync, open

    def spy_open(file, mode="r", *args, **kwargs):
        events.append(("open", Path(file), mode))
        return real_open(file, mode, *args, **kwargs)

    def spy_fsync(fd):
        events.append(("fsync", fd))
        return real_fsync(fd)

    def spy_replace(src, dst):
        assert Path(dst) == target
        assert Path(src).parent == target.parent  # same folder: the rename is atomic
        assert Path(src).read_text(encoding="utf-8") == expected
        assert target.read_bytes() == old_bytes
        events.append(("replace", Path(src), Path(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(atomic_module, "open", spy_open, raising=False)
    monkeypatch.setattr(os, "fsync", spy_fsync)
    monkeypatch.setattr(os, "replace", spy_replace)
    save(project, target)
    monkeypatch.undo()

    kinds = [e[0] for e in events]
    assert "replace" in kinds
    assert "fsync" in kinds[: kinds.index("replace")]
    assert not [e for e in events if e[0] == "open" and e[1] == target and "r" not in e[2]]
    assert target.read_text(encoding="utf-8") == expected
    assert leftovers(target.parent, {target.name}) == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions and symlinks")
def test_save_through_a_symlink_updates_the_target_and_keeps_the_link(saved):
    project, target, _ = saved
    link = target.parent / "link.graft"
    link.symlink_to(target)
    save(project, link)
    assert link.is_symlink()
    assert target.read_text(encoding="utf-8") == dumps(project)
    assert leftovers(target.parent, {target.name, link.name}) == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_save_keeps_the_file_permissions(saved):
    project, target, _ = saved
    target.chmod(0o640)
    save(project, target)
    assert target.stat().st_mode & 0o7777 == 0o640


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_new_file_gets_the_usual_permissions(tmp_path):
    """A new project is readable like any file the user creates (not a private temp file)."""
    mask = os.umask(0o022)
    os.umask(mask)
    target = tmp_path / "new.graft"
    save(from_dict(small_document()), target)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


def test_atomic_write_text_replaces_whole_content(tmp_path):
    target = tmp_path / "f.txt"
    atomic_write_text(target, "a much longer first version\n" * 50)
    atomic_write_text(target, "short\n")
    assert target.read_text(encoding="utf-8") == "short\n"
    assert leftovers(tmp_path, {"f.txt"}) == []


def test_failed_save_as_leaves_model_paths_working(tmp_path):
    model = tmp_path / "models" / "m.keras"
    model.parent.mkdir()
    model.write_bytes(b"model")
    source = tmp_path / "work" / "a.graft"
    source.parent.mkdir()
    document = small_document()
    document["nodes"].append({"id": "n4", "type": "ModelFile", "name": "model",
                              "params": {"path": "../models/m.keras"}})
    source.write_text(json.dumps(document), encoding="utf-8")
    project = load(source)

    with pytest.raises(OSError):
        save(project, tmp_path / "missing" / "deep" / "folder" / "b.graft")

    assert project.path == source
    node = project.graph.node("n4")
    assert project.context.resolve(node.params["path"]).resolve() == model.resolve()


def test_save_as_keeps_home_relative_model_paths(tmp_path, monkeypatch):
    home = tmp_path / "home"
    model = home / "models" / "m.keras"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"model")
    monkeypatch.setenv("HOME", str(home))
    source = tmp_path / "a" / "p.graft"
    source.parent.mkdir()
    document = small_document()
    document["nodes"].append({"id": "n4", "type": "ModelFile", "name": "model",
                              "params": {"path": "~/models/m.keras"}})
    source.write_text(json.dumps(document), encoding="utf-8")
    project = load(source)
    assert project.context.resolve("~/models/m.keras") == model

    target = tmp_path / "b" / "p.graft"
    target.parent.mkdir()
    save(project, target)
    copy_ = load(target)
    assert copy_.context.resolve(copy_.graph.node("n4").params["path"]).resolve() == model.resolve()


def test_a_string_that_could_never_be_saved_is_refused_on_open():
    """A lone surrogate escape is valid JSON but not UTF-8: refuse it on open, with the fix,
    rather than open a project that can never be saved."""
    text = json.dumps(small_document()).replace('"Three nodes in a row."', '"bad \\ud800 half"')
    assert "unpaired surrogate" in str(refused(text))


# -- 6. no code runs on load ------------------------------------------------------------
@pytest.mark.parametrize("node_index", [0, 1, 2])
@pytest.mark.parametrize("payload", [
    {"__class__": "os.system"},
    {"__reduce__": ["os.system", ["echo hacked"]]},
    {"py/object": "subprocess.Popen"},
    {"!!python/object/apply:os.system": ["echo hacked"]},
], ids=["__class__", "__reduce__", "py/object", "yaml-tag"])
def test_unknown_params_that_look_like_code_are_refused(node_index, payload):
    document = small_document()
    document["nodes"][node_index]["params"].update(payload)
    error = refused(document)
    (key,) = payload
    assert error.where == f"nodes[{node_index}].params.{key}"
    assert "unknown parameter" in str(error)


def test_params_that_are_code_objects_are_refused():
    document = small_document()
    document["nodes"][1]["params"] = {"__class__": "app.core.nodes.adapters.Dense",
                                      "units": 3}
    assert "unknown parameter" in str(refused(document))
    document["nodes"][1]["params"] = "__import__('os').system('echo hacked')"
    assert "expected an object of parameters" in str(refused(document))


@pytest.mark.parametrize("field, where", [("__class__", "__class__"),
                                          ("__init__", "__init__")])
def test_unknown_fields_that_look_like_code_are_refused(field, where):
    document = small_document()
    document[field] = "os.system"
    assert refused(document).where == where
    document = small_document()
    document["nodes"][0][field] = "os.system"
    assert refused(document).where == f"nodes[0].{field}"


def keras_layer_document(class_name: str, config: dict | None = None) -> dict:
    document = small_document()
    document["nodes"].append({"id": "n4", "type": "KerasLayer", "name": "custom",
                              "params": {"class_name": class_name,
                                         "config": config if config is not None else {}}})
    return document


@pytest.mark.parametrize("class_name, reason", [
    ("Lambda", "runs Python code"),
    ("TFSMLayer", "loads a SavedModel"),
    ("InputLayer", "use an Input node"),
])
def test_keras_layers_that_run_code_or_load_files_are_refused(class_name, reason):
    error = refused(keras_layer_document(class_name, {"function": "lambda x: x"}))
    assert error.where == "nodes[3].params.class_name"
    assert f"{class_name} is not allowed" in str(error)
    assert reason in str(error)


@pytest.mark.parametrize("class_name", [
    "os.system", "__import__('os').system", "keras.layers.Lambda", "Lambda ", "",
    "eval(1)", "a b",
])
def test_keras_layer_class_name_must_be_a_plain_name(class_name):
    error = refused(keras_layer_document(class_name))
    assert error.where == "nodes[3].params.class_name"
    assert "expected a keras.layers class name" in str(error)


def test_code_in_strings_and_configs_stays_inert_data(tmp_path, monkeypatch):
    """Strings that would do something if evaluated are kept as text; nothing runs."""
    canary = tmp_path / "canary"
    command = f"__import__('os').system('touch {canary}')"
    config = {"activation": {"module": "builtins", "class_name": "exec",
                             "config": {"source": command}, "registered_name": None},
              "__class__": "os.system", "function": {"class_name": "__lambda__",
                                                     "config": {"code": command}}}
    document = keras_layer_document("Dense", config)
    document["description"] = command
    document["name"] = "{{ " + command + " }}"
    monkeypatch.chdir(tmp_path)

    project = loads(json.dumps(document))

    assert not canary.exists()
    assert project.description == command
    node = project.graph.node("n4")
    assert node.params["config"] == config
    assert type(node.params["config"]) is dict
    assert loads(dumps(project)).to_dict() == project.to_dict()
    assert not canary.exists()


def test_loading_and_saving_never_imports_keras_or_tensorflow(tmp_path):
    """Opening a project must not wait for TensorFlow (and no Keras object is built)."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from app.core.document.fileformat import load, save\n"
        f"for example in {[str(p) for p in EXAMPLES]!r}:\n"
        f"    save(load(example), Path({str(tmp_path)!r}) / Path(example).name)\n"
        "loaded = sorted(m for m in ('keras', 'tensorflow') if m in sys.modules)\n"
        "print(loaded)\n"
        "sys.exit(1 if loaded else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


# -- strategies self-check ----------------------------------------------------------------
def test_strategies_cover_every_file_free_node_type():
    from tests.core.strategies import FILE_FREE_TYPES

    assert "Application" not in FILE_FREE_TYPES and "ModelFile" not in FILE_FREE_TYPES
    for expected in ("Input", "Output", "Dense", "Concatenate", "AttentionFusion", "KerasLayer"):
        assert expected in FILE_FREE_TYPES


def test_graph_model_used_by_strategies_matches_the_file_format():
    graph = Graph()
    graph.add_node(Node("x", "Input", "x", REGISTRY["Input"].default_params(), (1.234, -5.678)))
    graph.add_node(Node("y", "Dense", "y", REGISTRY["Dense"].default_params()))
    graph.add_edge(Edge("e", "x", "out", "y", "in"))
    data = Project(graph=graph).to_dict()
    assert data["nodes"][0]["position"] == [1.23, -5.68]  # positions are kept to 1/100 px
    assert math.isclose(loads(json.dumps(data)).graph.node("x").position[0], 1.23)
