"""docs/project-format.md stays true to the code.

- The generated "Node reference" section equals what docs/gen_node_reference.py renders
  from the registry now, so a node type or parameter cannot change without the doc.
- The complete example (the first ```json block) loads, and is in canonical form.
- The error messages the doc quotes are the ones loading really produces.

Fast and Keras-free: the node catalog and the project module import no TensorFlow."""

from __future__ import annotations

import copy
import difflib
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.document.fileformat import ProjectError, loads
from app.core.nodes import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "project-format.md"
GENERATOR = ROOT / "docs" / "gen_node_reference.py"
REGENERATE = f"run `.venv/bin/python {GENERATOR.relative_to(ROOT)}` and commit the result"


def _load_generator():
    spec = importlib.util.spec_from_file_location("gen_node_reference", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


@pytest.fixture(scope="module")
def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def committed_section(doc_text) -> str:
    return gen.split(doc_text)[1]


@pytest.fixture(scope="module")
def example(doc_text) -> str:
    match = re.search(r"^```json\n(.*?)^```", doc_text, re.S | re.M)
    assert match, f"{DOC.name} has no ```json fenced block (the complete example)"
    return match.group(1)


# -- the generated node reference ------------------------------------------------------

def test_markers_appear_once_in_order(doc_text):
    assert doc_text.count(gen.START) == 1 and doc_text.count(gen.END) == 1
    assert doc_text.index(gen.START) < doc_text.index(gen.END)


def test_every_node_type_is_documented(committed_section):
    headings = set(re.findall(r"^#### `([^`]+)`", committed_section, re.M))
    missing = sorted(set(REGISTRY) - headings)
    stale = sorted(headings - set(REGISTRY))
    assert not missing, f"node type(s) {missing} are not in {DOC.name}; {REGENERATE}"
    assert not stale, f"{DOC.name} documents node type(s) {stale} that no longer exist; {REGENERATE}"


def test_node_reference_matches_the_registry(committed_section):
    expected = gen.render()
    if committed_section != expected:
        diff = "".join(list(difflib.unified_diff(
            committed_section.splitlines(keepends=True), expected.splitlines(keepends=True),
            "committed", "generated now", n=1))[:60])
        pytest.fail(f"the node reference in {DOC.name} is out of date; {REGENERATE}.\n{diff}")


def test_generator_rewrites_only_its_section(tmp_path, doc_text):
    stale = doc_text.replace(gen.split(doc_text)[1], "\nstale\n")
    copy_of_doc = tmp_path / "project-format.md"
    copy_of_doc.write_text(stale, encoding="utf-8")
    assert gen.update(copy_of_doc) is True
    assert copy_of_doc.read_text(encoding="utf-8") == doc_text.replace(
        gen.split(doc_text)[1], gen.render())
    assert gen.update(copy_of_doc) is False


def test_every_parameter_kind_is_described():
    from app.core.graph.params import KINDS

    assert set(KINDS) <= set(gen.KIND_TEXT), "describe the new parameter kind in KIND_TEXT"


def test_check_mode_passes():
    assert gen.main(["--check"]) == 0, f"the node reference is out of date; {REGENERATE}"


def test_doc_generation_stays_keras_free():
    """Rendering must not load Keras (e.g. by asking a pretrained node for its ports).
    In a fresh interpreter, since other tests in this session may have imported Keras."""
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('g', {str(GENERATOR)!r})\n"
        "g = importlib.util.module_from_spec(spec); spec.loader.exec_module(g); g.render()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"rendering imported {result.stdout.strip()}"


# -- the complete example ----------------------------------------------------------------

def test_example_loads(example):
    project = loads(example)
    assert len(project.graph.nodes) >= 2 and project.graph.edges


def test_example_is_canonical(example):
    """What the doc shows is exactly what Graft would save (every parameter, key order)."""
    document = json.loads(example)
    saved = loads(example).to_dict()
    assert saved == document, (
        f"the example in {DOC.name} is not what Graft would save; update it to match "
        f"`dumps(loads(example))`")
    assert list(saved) == list(document)
    for written, node in zip(document["nodes"], saved["nodes"]):
        assert list(written) == list(node) and list(written["params"]) == list(node["params"])


# -- quoted error messages ---------------------------------------------------------------

def _set(path, value):
    def change(document):
        *parents, last = path
        target = document
        for key in parents:
            target = target[key]
        target[last] = value
    return change


# (change to the example, the message the doc quotes)
ERRORS = [
    (_set(["nodes", 3, "params", "units"], "abc"),
     'nodes[3].params.units: expected an integer >= 1 and <= 1048576, got "abc"'),
    (_set(["nodes", 3, "params", "units"], 0),
     "nodes[3].params.units: expected an integer >= 1 and <= 1048576, got 0"),
    (_set(["nodes", 3, "params", "unit"], 3),
     "nodes[3].params.unit: unknown parameter (this node takes: activation, units, use_bias)"),
    (_set(["nodes", 3, "name"], "my head"),
     'nodes[3].name: invalid node name "my head": use up to 100 letters, digits and underscores, '
     "not starting with a digit"),
    (_set(["nodes", 3, "name"], "fused"),
     'nodes[3].name: duplicate node name "fused"; node names must be unique'),
    (_set(["nodes", 3, "id"], "n3"), 'nodes[3].id: duplicate node id "n3"'),
    (_set(["nodes", 3, "position"], [720]),
     "nodes[3].position: expected [x, y] numbers, got [720]"),
    (_set(["nodes", 3, "colour"], "red"),
     "nodes[3].colour: unknown field (expected: id, name, params, position, type)"),
    (_set(["nodes", 1, "params", "path"], ""), "nodes[1].params.path: choose a model file"),
    (_set(["edges", 3, "to", "node"], "n9"), 'edges[3].to.node: no node with id "n9"'),
    (_set(["edges", 2, "to", "port"], "in0"),
     "edges[2].to: input fused.in0 already receives encoder.out; an input takes one edge"),
    (_set(["edges", 0, "to"], "n2.in"),
     'edges[0].to: expected {"node": ..., "port": ...}, got "n2.in"'),
    (_set(["format"], "graft"),
     'format: expected "graft-project", got "graft" — this is not a Graft project file'),
    (_set(["format_version"], "1"),
     'format_version: expected a whole number >= 0, got "1"'),
    (_set(["format_version"], 4),
     "format_version 4: written by a newer Graft (this one reads up to 3); "
     "update Graft to open it"),
    (_set(["format_version"], 0),
     "format_version 0 is not supported (oldest readable: 1)"),
    (_set(["version"], 1),
     "version: unknown field (expected: cards, description, edges, format, format_version, name, "
     "nodes, training)"),
    (_set(["training", "phases", 0, "epochs"], 0),
     "training.phases[0].epochs: expected an integer >= 1 and <= 100000, got 0"),
]


def test_every_training_field_is_documented(doc_text):
    from app.core.document.training_setup import DATA, PHASE, SETTINGS

    section = doc_text.split("## Training", 1)[1].split("\n## ", 1)[0]
    for param in (*SETTINGS, *DATA, *PHASE):
        assert f"| `{param.name}` |" in section, f"training field {param.name!r} is not documented"


@pytest.mark.parametrize("change, message", ERRORS)
def test_quoted_error_messages_are_real(example, doc_text, change, message):
    document = json.loads(example)
    change(document)
    with pytest.raises(ProjectError) as raised:
        loads(json.dumps(document))
    _same_message(str(raised.value), message)
    assert f"`{message}`" in doc_text, f"{DOC.name} should quote the real message: {message}"


def _same_message(actual: str, quoted: str) -> None:
    assert actual == quoted, (
        f"{DOC.name} quotes an error message that loading no longer produces:\n"
        f"  quoted: {quoted}\n  actual: {actual}\n"
        "update the doc's error table and this test's ERRORS")


@pytest.mark.parametrize("text, message", [
    ('{\n  "format": "graft-project",\n  "format_version": 1,\n}\n',
     "line 4 column 1: not valid JSON (Expecting property name enclosed in double quotes)"),
    ("[]", "expected a JSON object at the top level, got []"),
])
def test_quoted_syntax_errors_are_real(doc_text, text, message):
    with pytest.raises(ProjectError) as raised:
        loads(text)
    _same_message(str(raised.value), message)
    assert f"`{message}`" in doc_text


def test_quoted_cross_parameter_message(doc_text):
    document = {"format": "graft-project", "format_version": 1, "nodes": [
        {"id": "n1", "type": "Application", "name": "backbone",
         "params": {"input_shape": [20, 20, 3]}}]}
    with pytest.raises(ProjectError) as raised:
        loads(json.dumps(document))
    message = ("nodes[0].params.input_shape: MobileNetV2 needs images of at least 32×32, "
               "got [20, 20, 3]")
    _same_message(str(raised.value), message)
    assert raised.value.where == "nodes[0].params.input_shape"
    assert f"`{message}`" in doc_text


def test_quoted_choice_message(example, doc_text):
    document = json.loads(example)
    document["nodes"][3]["params"]["activation"] = "ReLU"
    with pytest.raises(ProjectError) as raised:
        loads(json.dumps(document))
    start, end = 'nodes[3].params.activation: expected one of "linear", "relu", ', ', got "ReLU"'
    assert str(raised.value).startswith(start) and str(raised.value).endswith(end)
    assert f"`{start}…{end}`" in doc_text


def test_quoted_unknown_type_message(example, doc_text):
    document = copy.deepcopy(json.loads(example))
    document["nodes"][3]["type"] = "Dens"
    with pytest.raises(ProjectError) as raised:
        loads(json.dumps(document))
    shown = ('nodes[3].type: unknown node type "Dens" (did you mean "Dense"?); every type is listed '
             'in the node reference of docs/project-format.md')
    assert str(raised.value) == shown and f"`{shown}`" in doc_text
