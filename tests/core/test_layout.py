"""Auto-layout: edges run left to right, nothing overlaps, and it is one undoable step."""

import networkx as nx
import pytest
from hypothesis import given, settings

from app.core.document.fileformat import load
from app.core.document.project import Project
from app.core.editing.builder import GraphBuilder
from app.core.editing.commands import CommandStack
from app.core.editing.layout import auto_layout, layout_command
from tests.conftest import EXAMPLES
from tests.core.strategies import graphs, small_graph

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.graft"))


def positions_of(graph):
    return {node.id: node.position for node in graph.nodes}


def top_left(positions):
    return min(x for x, _ in positions.values()), min(y for _, y in positions.values())


def check_layout(graph, positions):
    """The layout's promises, for any graph: every node placed once, nothing shares a place,
    edges between different cycles (every edge, in an acyclic graph) run left to right,
    components do not interleave, and the old top-left stays put."""
    assert set(positions) == {node.id for node in graph.nodes}
    assert len(set(positions.values())) == len(positions)
    same_cycle = {node: i for i, group in enumerate(nx.strongly_connected_components(graph.topology))
                  for node in group}
    for edge in graph.edges:
        if same_cycle[edge.source] != same_cycle[edge.target]:
            assert positions[edge.source][0] < positions[edge.target][0], graph.describe_edge(edge)
    spans = sorted((min(positions[n][1] for n in component), max(positions[n][1] for n in component))
                   for component in nx.weakly_connected_components(graph.topology))
    for (_, upper_bottom), (lower_top, _) in zip(spans, spans[1:]):
        assert upper_bottom < lower_top
    if positions:
        assert top_left(positions) == top_left(positions_of(graph))


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda path: path.stem)
def test_examples_lay_out_left_to_right(path):
    graph = load(path).graph
    check_layout(graph, auto_layout(graph))


@settings(max_examples=80, deadline=None)
@given(graph=graphs())
def test_random_graphs_lay_out_left_to_right_even_with_cycles(graph):
    check_layout(graph, auto_layout(graph))


@settings(max_examples=30, deadline=None)
@given(graph=graphs())
def test_the_layout_is_deterministic_and_ignores_where_nodes_were(graph):
    first = auto_layout(graph)
    assert auto_layout(graph) == first
    for node in graph.nodes:
        graph.move(node.id, (0.0, 0.0))
    assert auto_layout(graph) == {node_id: (x - top_left(first)[0], y - top_left(first)[1])
                                  for node_id, (x, y) in first.items()}


def test_a_column_follows_its_predecessors_to_avoid_crossings():
    b = GraphBuilder()
    b.add("top", "Input", shape=[4])
    b.add("bottom", "Input", shape=[4])
    b.add("from_bottom", "Dense")  # added first, but fed from below
    b.add("from_top", "Dense")
    b.wire("bottom", "from_bottom")
    b.wire("top", "from_top")
    positions = auto_layout(b.graph)
    y = {name: positions[node_id][1] for name, node_id in b.ids.items()}
    assert y["top"] < y["bottom"] and y["from_top"] < y["from_bottom"]


def test_columns_are_centred_on_each_other():
    b = GraphBuilder()
    b.add("x", "Input", shape=[4])
    for name in ("a", "b", "c"):
        b.add(name, "Dense")
        b.wire("x", name)
    positions = auto_layout(b.graph, column_gap=100.0, row_gap=50.0)
    assert [positions[b.ids[n]] for n in ("x", "a", "b", "c")] == [
        (0.0, 50.0), (100.0, 0.0), (100.0, 50.0), (100.0, 100.0)]


def test_a_graph_with_a_cycle_still_lays_out():
    b = GraphBuilder()
    b.add("x", "Input", shape=[4])
    b.add("loop_add", "Add")
    b.add("loop_dense", "Dense", units=4)
    b.add("y", "Output")
    b.wire("x", "loop_add", "in0")
    b.wire("loop_add", "loop_dense")
    b.wire("loop_dense", "loop_add", "in1")
    b.wire("loop_dense", "y")
    assert not nx.is_directed_acyclic_graph(b.graph.topology)
    positions = auto_layout(b.graph)
    check_layout(b.graph, positions)
    x = {name: positions[node_id][0] for name, node_id in b.ids.items()}
    assert x["x"] < x["loop_add"] == x["loop_dense"] < x["y"]


def test_the_layout_is_one_undoable_step():
    graph = load(EXAMPLES / "broken.graft").graph
    for i, node in enumerate(graph.nodes):  # scrambled: the example itself is laid out
        graph.move(node.id, ((i * 37) % 200, (i * 53) % 300))
    before = positions_of(graph)
    stack = CommandStack(Project(graph))
    stack.push(layout_command(graph))
    assert stack.undo_text == "Auto-layout"
    laid_out = positions_of(graph)
    assert laid_out == auto_layout(graph) != before
    stack.undo()
    assert positions_of(graph) == before
    stack.redo()
    assert positions_of(graph) == laid_out


def test_no_command_when_nothing_would_move():
    b = small_graph()
    CommandStack(b.project).push(layout_command(b.graph))
    assert layout_command(b.graph) is None
