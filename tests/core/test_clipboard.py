"""Copy and paste through project JSON: fresh ids and names, internal edges only, one undo
step, strict parsing, and model paths rebased between project folders."""

import json

import pytest
from hypothesis import given, settings

from app.core.document.fileformat import ProjectError, load
from app.core.document.project import Project
from app.core.editing.builder import GraphBuilder
from app.core.editing.clipboard import copy_text, duplicate_command, paste_command
from app.core.editing.commands import CommandStack
from app.core.editing.placement import node_rect, overlap
from app.core.graph.graph import Graph, GraphError
from tests.conftest import EXAMPLES
from tests.core.strategies import graphs


def snapshot(graph):
    return Project(graph).to_dict()


def by_name(graph):
    """The graph without its ids: what a copy must reproduce."""
    names = {node.id: node.name for node in graph.nodes}
    nodes = [(n.name, n.type, n.params, (round(n.position[0], 2), round(n.position[1], 2)))
             for n in graph.nodes]
    edges = [(names[e.source], e.source_port, names[e.target], e.target_port) for e in graph.edges]
    return nodes, edges


def parallel():
    """pixels → cnn, encoder → fused → head → digit, from the bundled example."""
    graph = load(EXAMPLES / "parallel.graft").graph
    return graph, {node.name: node.id for node in graph.nodes}


def test_copy_then_paste_doubles_the_nodes_with_unique_names_and_internal_edges():
    graph, ids = parallel()
    text = copy_text(graph, [ids["fused"], ids["cnn"], ids["encoder"]])
    CommandStack(Project(graph)).push(paste_command(graph, text))
    names = [node.name for node in graph.nodes]
    assert len(names) == len(set(names)) == 9
    assert names[6:] == ["cnn_1", "encoder_1", "fused_1"]  # graph order, not selection order
    new = {node.name: node.id for node in graph.nodes}
    wires = {(e.source, e.target) for e in graph.edges}
    assert {(new["cnn_1"], new["fused_1"]), (new["encoder_1"], new["fused_1"])} <= wires
    assert len(graph.edges) == 6 + 2  # pixels → cnn and fused → head are not copied


def test_the_copied_text_is_a_project_document():
    graph, ids = parallel()
    document = json.loads(copy_text(graph, [ids["cnn"], ids["fused"]]))
    assert document["format"] == "graft-project"
    assert [node["name"] for node in document["nodes"]] == ["cnn", "fused"]
    assert [(e["from"]["node"], e["to"]["node"]) for e in document["edges"]] == [(ids["cnn"], ids["fused"])]


@settings(max_examples=40, deadline=None)
@given(graph=graphs())
def test_pasting_everything_into_an_empty_graph_reproduces_the_graph(graph):
    target = Graph()
    CommandStack(Project(target)).push(paste_command(target, copy_text(graph, [n.id for n in graph.nodes]),
                                            offset=(0.0, 0.0)))
    assert by_name(target) == by_name(graph)


def test_a_pasted_node_named_like_a_new_id_keeps_its_name():
    b = GraphBuilder()
    b.add("a", "Activation", 0, 0)
    b.add("n1", "Activation", 1, 0)  # the first pasted node gets the id n1
    target = Graph()
    text = copy_text(b.graph, [n.id for n in b.graph.nodes])
    CommandStack(Project(target)).push(paste_command(target, text))
    assert [node.name for node in target.nodes] == ["a", "n1"]


def test_paste_shifts_by_the_offset_and_exposes_the_new_ids():
    graph, ids = parallel()
    command = paste_command(graph, copy_text(graph, [ids["cnn"], ids["fused"]]), offset=(10.0, 1000.0))
    CommandStack(Project(graph)).push(command)
    assert command.text == "Paste 2 nodes"
    assert [graph.node(i).name for i in command.node_ids] == ["cnn_1", "fused_1"]
    for original, pasted in zip([ids["cnn"], ids["fused"]], command.node_ids):
        x, y = graph.node(original).position
        assert graph.node(pasted).position == (x + 10.0, y + 1000.0)  # free there: exactly shifted


def test_paste_at_puts_the_top_left_there():
    graph, ids = parallel()
    command = paste_command(graph, copy_text(graph, [ids["encoder"], ids["head"]]), at=(1000.0, 500.0))
    CommandStack(Project(graph)).push(command)
    positions = [graph.node(i).position for i in command.node_ids]
    assert min(x for x, _ in positions) == 1000.0 and min(y for _, y in positions) == 500.0
    originals = [graph.node(ids[name]).position for name in ("encoder", "head")]
    left, top = min(x for x, _ in originals), min(y for _, y in originals)
    assert positions == [(x - left + 1000.0, y - top + 500.0) for x, y in originals]  # same placement


def test_undo_removes_exactly_the_pasted_nodes_and_edges():
    graph, ids = parallel()
    before = snapshot(graph)
    stack = CommandStack(Project(graph))
    stack.push(paste_command(graph, copy_text(graph, ids.values())))
    pasted = snapshot(graph)
    assert len(pasted["nodes"]) == 12 and len(pasted["edges"]) == 12
    stack.undo()
    assert snapshot(graph) == before
    stack.redo()
    assert snapshot(graph) == pasted


def test_pasting_twice_gives_distinct_names_and_ids():
    graph, ids = parallel()
    text = copy_text(graph, [ids["head"]])
    stack = CommandStack(Project(graph))
    first = paste_command(graph, text)
    stack.push(first)
    second = paste_command(graph, text)
    stack.push(second)
    assert [graph.node(i).name for i in first.node_ids + second.node_ids] == ["head_1", "head_2"]
    assert len({node.id for node in graph.nodes}) == 8


def test_duplicate_is_a_paste_of_a_copy_in_one_step():
    graph, ids = parallel()
    command = duplicate_command(graph, [ids["cnn"], ids["fused"]])
    CommandStack(Project(graph)).push(command)
    assert command.text == "Duplicate 2 nodes"
    cnn = graph.node(command.node_ids[0])
    assert cnn.name == "cnn_1"
    rects = {node.id: node_rect(graph, node) for node in graph.nodes}
    for pasted in command.node_ids:  # beside the originals (40, 40 away would cover them)
        assert not any(overlap(rects[pasted], rect) for node_id, rect in rects.items() if node_id != pasted)
    assert graph.edge_into(command.node_ids[1], "in0").source == cnn.id


def test_copying_an_unknown_node_is_refused():
    graph, _ = parallel()
    with pytest.raises(GraphError, match="no node with id 'nope'"):
        copy_text(graph, ["nope"])


def with_first_node(text, **changes):
    document = json.loads(text)
    document["nodes"][0].update(changes)
    return json.dumps(document)


@pytest.mark.parametrize("make_text, message", [
    (lambda text: "not json", r"line 1 column 1: not valid JSON"),
    (lambda text: with_first_node(text, type="Teleporter"), r"nodes\[0\]\.type: unknown node type"),
    (lambda text: with_first_node(text, position=[float("nan"), 0.0]),
     r"nodes\[0\]\.position\[0\]: NaN is not a number JSON allows"),
    (lambda text: with_first_node(text, params={"path": "m.keras", "trainable": "sometimes"}),
     r"nodes\[0\]\.params\.trainable: expected one of"),
    (lambda text: json.dumps({"format": "graft-project", "format_version": 1,
                              "description": "Relative paths are relative to /a\u0000b",
                              "nodes": json.loads(text)["nodes"]}),
     r"description: names no usable folder"),
], ids=["not_json", "unknown_type", "nan", "bad_param", "null_byte_folder"])
def test_a_malformed_clipboard_is_refused_with_its_place_and_changes_nothing(make_text, message):
    graph, ids = parallel()
    text = copy_text(graph, [ids["cnn"], ids["head"]])
    before = snapshot(graph)
    with pytest.raises(ProjectError, match=message):
        paste_command(graph, make_text(text))
    assert snapshot(graph) == before


# -- model paths --------------------------------------------------------------------------

def model_file_graph():
    b = GraphBuilder()
    b.add("relative", "ModelFile", path="../models/digits_cnn.keras")
    b.add("absolute", "ModelFile", path="/data/models/digits_mlp.keras")
    return b.graph


def pasted_paths(text, base_dir):
    target = Graph()
    command = paste_command(target, text, base_dir=base_dir)
    CommandStack(Project(target)).push(command)
    return [target.node(i).params["path"] for i in command.node_ids]


def test_relative_model_paths_are_rebased_between_project_folders(tmp_path):
    graph = model_file_graph()
    source, elsewhere = tmp_path / "team" / "projects", tmp_path / "mine"
    text = copy_text(graph, [n.id for n in graph.nodes], base_dir=source)
    assert pasted_paths(text, elsewhere) == ["../team/models/digits_cnn.keras",
                                             "/data/models/digits_mlp.keras"]
    assert pasted_paths(text, source) == ["../models/digits_cnn.keras", "/data/models/digits_mlp.keras"]


def test_a_document_without_its_folder_note_is_taken_as_relative_to_the_paste(tmp_path):
    graph = model_file_graph()
    document = json.loads(copy_text(graph, [graph.nodes[0].id], base_dir=tmp_path / "a"))
    document["description"] = ""
    assert pasted_paths(json.dumps(document), tmp_path / "b") == ["../models/digits_cnn.keras"]
