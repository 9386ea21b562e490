"""The graph model and its commands: edits emit events and undo exactly."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.document.project import Project
from app.core.editing.commands import (
    AddNode,
    CommandStack,
    Connect,
    Macro,
    MoveNodes,
    RemoveNodes,
    Rename,
    SetParams,
    connect,
    new_node,
)
from app.core.graph.graph import Edge, Graph, GraphError
from app.core.graph.params import ParamError
from tests.core.strategies import edit, small_graph


def snapshot(graph):
    return Project(graph).to_dict()


def test_edits_emit_events_a_view_can_mirror():
    graph = Graph()
    events = []
    graph.subscribe(events.append)
    stack = CommandStack(Project(graph))
    node = new_node(graph, "Input", {"shape": [4]})
    stack.push(AddNode(node))
    dense = new_node(graph, "Dense")
    stack.push(AddNode(dense))
    stack.push(connect(graph, node.id, "out", dense.id, "in"))
    stack.push(MoveNodes({dense.id: (10, 20)}))
    stack.push(SetParams(dense.id, {"units": 5}))
    stack.undo()
    assert [e.kind for e in events] == [
        "node_added", "node_added", "edge_added", "node_moved", "node_changed", "node_changed"]
    assert events[2].edge.target == dense.id
    assert graph.node(dense.id).params["units"] == 64


def test_new_nodes_get_unique_names_and_ids():
    b = small_graph()
    extra = [new_node(b.graph, "Dense") for _ in range(2)]
    AddNode(extra[0]).do(b.project)
    assert extra[0].name == "dense" and extra[0].id not in {"n1", "n2", "n3"}
    assert new_node(b.graph, "Dense").name == "dense_1"


def test_remove_nodes_undo_restores_nodes_and_edges():
    b = small_graph()
    before = snapshot(b.graph)
    stack = CommandStack(b.project)
    stack.push(RemoveNodes([b.ids["d"]]))
    assert len(b.graph.nodes) == 2 and b.graph.edges == []
    assert stack.undo_text == "Delete 1 node"
    stack.undo()
    assert snapshot(b.graph) == before


def test_connecting_an_occupied_input_replaces_its_edge_and_undo_restores_it():
    b = small_graph()
    b.add("x2", "Input", shape=[4])
    old = b.graph.edge_into(b.ids["d"], "in")
    stack = CommandStack(b.project)
    stack.push(connect(b.graph, b.ids["x2"], "out", b.ids["d"], "in"))
    assert b.graph.edge_into(b.ids["d"], "in").source == b.ids["x2"]
    stack.undo()
    assert b.graph.edge_into(b.ids["d"], "in") == old


def test_a_bad_parameter_is_refused_before_anything_changes():
    b = small_graph()
    before = snapshot(b.graph)
    with pytest.raises(ParamError, match='units: expected an integer >= 1 and <= 1048576, got "abc"'):
        CommandStack(b.project).push(SetParams(b.ids["d"], {"units": "abc"}))
    assert snapshot(b.graph) == before


def test_names_must_be_valid_and_unique():
    b = small_graph()
    with pytest.raises(GraphError, match="taken"):
        Rename(b.ids["d"], "x").do(b.project)
    with pytest.raises(GraphError, match="invalid node name"):
        Rename(b.ids["d"], "my layer").do(b.project)


def test_a_failing_macro_leaves_the_graph_as_it_was():
    b = small_graph()
    before = snapshot(b.graph)
    bad = Macro("two steps", [MoveNodes({b.ids["d"]: (5, 5)}),
                              Connect(Edge("e99", b.ids["x"], "out", "nope", "in"))])
    with pytest.raises(GraphError):
        bad.do(b.project)
    assert snapshot(b.graph) == before


# -- random edit sequences undo exactly ----------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_random_edits_undo_to_the_original_and_redo_to_the_final(data):
    b = small_graph()
    stack = CommandStack(b.project)
    original = snapshot(b.graph)
    pushed = 0
    for _ in range(data.draw(st.integers(1, 25))):
        command = data.draw(edit(b.graph))
        if command is None:
            continue
        try:
            stack.push(command)
            pushed += 1
        except GraphError:
            continue  # refused edits (e.g. a taken name) change nothing
    final = snapshot(b.graph)
    for _ in range(pushed):
        assert stack.undo()
    assert snapshot(b.graph) == original
    for _ in range(pushed):
        assert stack.redo()
    assert snapshot(b.graph) == final
