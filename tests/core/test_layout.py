"""Auto-layout: edges run left to right, nothing overlaps, and it is one undoable step."""

import json

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.analysis.validate import analyze
from app.core.document.fileformat import load
from app.core.document.project import Project
from app.core.editing.builder import GraphBuilder
from app.core.editing.clipboard import copy_text, paste_command
from app.core.editing.commands import CommandStack, apply_fix
from app.core.editing.layout import auto_layout, layout_command, open_project
from app.core.editing.placement import CLEARANCE, free_position, node_rect, overlap
from app.core.nodes.appearance import NODE_WIDTH, node_height
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
    left, top = top_left(first) if first else (0.0, 0.0)  # moved back: equal up to float rounding
    assert auto_layout(graph) == {node_id: pytest.approx((x - left, y - top), abs=1e-6)
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
    positions = auto_layout(b.graph, column_gap=100.0, row_gap=150.0)
    assert [positions[b.ids[n]] for n in ("x", "a", "b", "c")] == [
        (0.0, 150.0), (100.0, 0.0), (100.0, 150.0), (100.0, 300.0)]


def test_a_tall_card_pushes_the_next_one_in_its_column_down():
    """A merge with many inputs is taller than the row gap: the node under it keeps clear."""
    b = GraphBuilder()
    for name in ("a", "b", "c", "d", "e"):
        b.add(name, "Input", shape=[4])
    b.add("joined", "Concatenate")
    for i, name in enumerate("abcde"):
        b.wire(name, "joined", f"in{i}")
    b.add("above", "Dense")  # fed from the top input, so placed above the merge
    b.wire("a", "above")
    b.add("below", "Dense")  # and this one under it
    b.wire("e", "below")
    b.add("y", "Output")
    b.wire("joined", "y")
    graph = b.graph
    for node in graph.nodes:
        graph.move(node.id, auto_layout(graph)[node.id])
    assert node_rect(graph, graph.node_by_name("joined"))[3] > 150  # taller than a row
    assert overlapping_pairs(graph) == []


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


# --- Placement: nothing lands on a node (issue 17, findings 3 and 4) ---------------------------

def overlapping_pairs(graph) -> list[tuple[str, str]]:
    """The names of every two nodes whose cards cover a common point."""
    rects = [(node.name, node_rect(graph, node)) for node in graph.nodes]
    return [(a, b) for i, (a, ra) in enumerate(rects) for b, rb in rects[i + 1:] if overlap(ra, rb)]


def laid_out_chain():
    """x (Input) → d (Dense) → y (Output), one column apart."""
    b = GraphBuilder()
    b.add("x", "Input", 0, 0, shape=[4])
    b.add("d", "Dense", 320, 0, units=3)
    b.add("y", "Output", 640, 0)
    b.chain("x", "d", "y")
    return b


def test_a_free_spot_is_where_asked_and_otherwise_the_nearest_one_clear_of_every_node():
    b = laid_out_chain()
    size = (NODE_WIDTH, node_height(2))
    assert free_position(b.graph, (0.0, 400.0), size) == (0.0, 400.0)
    place = free_position(b.graph, (10.0, 5.0), size)
    new = (*place, *size)
    assert not any(overlap(new, node_rect(b.graph, node)) for node in b.graph.nodes)
    assert place == (10.0, node_height(1) + CLEARANCE)  # just below the Input: the nearest gap


@settings(max_examples=60, deadline=None)
@given(graph=graphs(), near=st.tuples(st.floats(-2000, 2000), st.floats(-2000, 2000)))
def test_the_free_spot_never_covers_a_node(graph, near):
    size = (NODE_WIDTH, node_height(3))
    new = (*free_position(graph, near, size), *size)
    assert not any(overlap(new, node_rect(graph, node)) for node in graph.nodes)


def broken_with_flatten_fix():
    """broken.graft and its fix "Insert Flatten" on pixels → mlp."""
    project = load(EXAMPLES / "broken.graft")
    fix = next(p.fix for p in analyze(project.graph, project.context).problems
               if p.fix and p.fix.label == "Insert Flatten")
    return project, fix


def test_a_fix_makes_room_for_its_adapter_and_undo_puts_everything_back():
    """Finding 3: the adapter was put halfway between its neighbours, on top of both."""
    project, fix = broken_with_flatten_fix()
    graph = project.graph
    before = positions_of(graph)
    assert overlapping_pairs(graph) == []
    stack = CommandStack(project)
    stack.push(apply_fix(graph, fix))
    flatten = next(node for node in graph.nodes if node.type == "Flatten")
    pixels, mlp = graph.node_by_name("pixels"), graph.node_by_name("mlp")
    assert overlapping_pairs(graph) == []
    assert pixels.position[0] < flatten.position[0] < mlp.position[0]  # still left to right
    assert mlp.position[0] > before[mlp.id][0]  # the downstream moved over
    stack.undo()
    assert positions_of(graph) == before
    stack.redo()
    assert overlapping_pairs(graph) == []


def without_positions(source, target, keep=()):
    """`source`'s project file written again without `position`, except for the named nodes."""
    document = json.loads(source.read_text(encoding="utf-8"))
    for node in document["nodes"]:
        if node["name"] not in keep:
            del node["position"]
    target.write_text(json.dumps(document), encoding="utf-8")
    return target


def test_a_project_without_positions_opens_laid_out(tmp_path):
    """Finding 4: it opened as one pile at (0, 0)."""
    path = without_positions(EXAMPLES / "broken.graft", tmp_path / "generated.graft")
    assert len(overlapping_pairs(load(path).graph)) > 10  # what the file alone gives
    project = open_project(path)
    assert overlapping_pairs(project.graph) == [] and project.unplaced == []
    check_layout(project.graph, positions_of(project.graph))


def test_nodes_with_a_position_keep_it_and_the_others_go_clear_of_them(tmp_path):
    path = without_positions(EXAMPLES / "parallel.graft", tmp_path / "some.graft", keep={"cnn", "head"})
    kept = {node.name: node.position for node in load(EXAMPLES / "parallel.graft").graph.nodes}
    graph = open_project(path).graph
    assert {name: graph.node_by_name(name).position for name in ("cnn", "head")} == {
        "cnn": kept["cnn"], "head": kept["head"]}
    assert overlapping_pairs(graph) == []


def test_a_paste_lands_beside_what_it_would_cover():
    b = laid_out_chain()
    text = copy_text(b.graph, [node.id for node in b.graph.nodes])
    CommandStack(b.project).push(paste_command(b.graph, text, at=(0.0, 0.0)))
    assert len(b.graph.nodes) == 6 and overlapping_pairs(b.graph) == []


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.graft")))
def test_no_shipped_example_has_a_card_over_another(example):
    """With the taller cards, broken.graft had `fused` over `orphan` until it was laid out again."""
    assert overlapping_pairs(load(EXAMPLES / example).graph) == []
