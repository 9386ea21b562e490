"""Validation: every problem a user can make is found, named, and — for shapes — fixable."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.analysis.fixes import suggest
from app.core.analysis.validate import ERROR, INFO, WARNING, Analyzer, analyze
from app.core.editing.builder import GraphBuilder
from app.core.editing.commands import CommandStack, SetParams, apply_fix, connect
from app.core.graph.graph import Edge, Node
from app.core.graph.specs import TensorSpec, shapes_compatible
from app.core.nodes import REGISTRY, Context
from tests.core.strategies import graphs, input_port_names, twin_cnn_graph


def codes(analysis, severity=None):
    return sorted(p.code for p in analysis.problems if severity in (None, p.severity))


def only(analysis, code):
    found = [p for p in analysis.problems if p.code == code]
    assert len(found) == 1, analysis.problems
    return found[0]


def test_clean_chain_has_no_problems_and_infers_shapes():
    b = GraphBuilder()
    b.add("image", "Input", shape=[32, 32, 3])
    b.add("pool", "GlobalAveragePooling2D")
    b.add("head", "Dense", units=10)
    b.add("label", "Output")
    b.chain("image", "pool", "head", "label")
    analysis = analyze(b.graph)
    assert analysis.problems == []
    assert str(analysis.output_spec(b.ids["pool"])) == "(None, 3)"
    assert str(analysis.output_spec(b.ids["head"])) == "(None, 10)"
    assert analysis.nodes[b.ids["head"]].param_count == 3 * 10 + 10


def test_cycle_is_an_error_naming_its_nodes():
    b = GraphBuilder()
    b.add("x", "Input", shape=[4])
    b.add("a", "Add")
    b.add("b", "Dense", units=4)
    b.add("c", "Dense", units=4)
    b.add("y", "Output")
    b.wire("x", "a", "in0")
    b.chain("a", "b", "c")
    b.wire("c", "a", "in1")
    b.wire("c", "y")
    problem = only(analyze(b.graph), "cycle")
    assert problem.severity == ERROR
    assert "a, b, c" in problem.message


def test_unconnected_required_input():
    b = GraphBuilder()
    b.add("head", "Dense", units=3)
    b.add("y", "Output")
    b.wire("head", "y")
    problem = only(analyze(b.graph), "unconnected_input")
    assert "head.in" in problem.message and problem.node_id == b.ids["head"]


def test_no_output_is_an_error():
    b = GraphBuilder()
    b.add("x", "Input", shape=[4])
    b.add("d", "Dense", units=2)
    b.wire("x", "d")
    assert only(analyze(b.graph), "no_output").severity == ERROR


def test_dead_ends_and_unused_inputs_are_warnings():
    b = GraphBuilder()
    b.add("x", "Input", shape=[4])
    b.add("spare", "Input", shape=[4])
    b.add("d", "Dense", units=2)
    b.add("dead_end", "Dense", units=2)
    b.add("y", "Output")
    b.chain("x", "d", "y")
    b.wire("x", "dead_end")
    analysis = analyze(b.graph)
    assert analysis.ok
    assert codes(analysis, WARNING) == ["unreachable", "unused_input"]
    assert only(analysis, "unused_input").node_id == b.ids["spare"]
    assert only(analysis, "unreachable").node_id == b.ids["dead_end"]


@pytest.mark.parametrize("got, want, label", [
    ([7, 7, 1280], [1280], "Insert GlobalAveragePooling2D"),
    ([8, 8, 1], [64], "Insert Flatten"),
    ([128], [10], "Insert Dense(10)"),
    ([32, 32, 3], [96, 96, 3], "Insert Resizing(96, 96)"),
    ([12], [3, 4], "Insert Reshape((3, 4))"),
    ([7, 7, 1280], [10], "Insert GlobalAveragePooling2D → Dense(10)"),
    ([7, 7, 64], [7, 7, 3], "Insert ChannelProjection(3)"),
])
def test_shape_mismatch_names_edge_shapes_and_a_fix_that_works(tmp_path, got, want, label):
    """A model expecting `want` fed `got`: the message has both shapes; the fix makes them meet."""
    import keras

    inner = keras.Input(tuple(want))
    keras.Model(inner, keras.layers.Dense(2, name="out")(
        keras.layers.Flatten()(inner) if len(want) > 1 else inner)).save(tmp_path / "m.keras")
    b = GraphBuilder()
    b.add("x", "Input", shape=got)
    b.add("model", "ModelFile", path="m.keras")
    b.add("y", "Output")
    edge = b.wire("x", "model")
    b.wire("model", "y")
    ctx = Context(tmp_path)
    problem = only(analyze(b.graph, ctx), "shape_mismatch")
    assert problem.edge_id == edge
    assert "x.out → model.in" in problem.message
    assert str(TensorSpec((None, *got))) in problem.message
    assert str(TensorSpec((None, *want))) in problem.message
    assert problem.fix.label == label

    stack = CommandStack(b.project)
    stack.push(apply_fix(b.graph, problem.fix))
    assert analyze(b.graph, ctx).ok
    assert len(b.graph.nodes) == 3 + len(problem.fix.steps)
    stack.undo()
    assert not b.graph.has_edge(edge) or b.graph.edge(edge).target == b.ids["model"]
    assert only(analyze(b.graph, ctx), "shape_mismatch").edge_id == edge


def test_concatenate_needs_equal_dims_off_the_axis():
    b = GraphBuilder()
    b.add("a", "Input", shape=[7, 7, 32])
    b.add("v", "Input", shape=[16])
    b.add("cat", "Concatenate")
    b.add("y", "Output")
    b.wire("v", "cat", "in0")
    edge = b.wire("a", "cat", "in1")
    b.wire("cat", "y")
    problem = only(analyze(b.graph), "merge_mismatch")
    assert problem.edge_id == edge
    assert "(None, 16)" in problem.message and "(None, 7, 7, 32)" in problem.message
    assert problem.fix.label == "Insert GlobalAveragePooling2D"
    apply_fix(b.graph, problem.fix).do(b.project)
    analysis = analyze(b.graph)
    assert analysis.ok
    assert str(analysis.output_spec(b.ids["cat"])) == "(None, 48)"


def test_add_and_average_need_equal_shapes():
    for merge in ("Add", "Average"):
        b = GraphBuilder()
        b.add("a", "Input", shape=[10])
        b.add("c", "Input", shape=[12])
        b.add("m", merge)
        b.add("y", "Output")
        b.wire("a", "m", "in0")
        b.wire("c", "m", "in1")
        b.wire("m", "y")
        problem = only(analyze(b.graph), "merge_mismatch")
        assert "(None, 10)" in problem.message and "(None, 12)" in problem.message
        assert problem.fix.label == "Insert Dense(10)"


def test_merge_with_one_input_is_reported():
    b = GraphBuilder()
    b.add("a", "Input", shape=[10])
    b.add("m", "Concatenate")
    b.add("y", "Output")
    b.wire("a", "m", "in0")
    b.wire("m", "y")
    assert "at least 2 inputs" in only(analyze(b.graph), "unconnected_input").message


def test_floats_into_embedding_is_a_dtype_mismatch_with_a_cast_fix():
    b = GraphBuilder()
    b.add("tokens", "Input", shape=[12], dtype="float32")
    b.add("embed", "Embedding", input_dim=50, output_dim=8)
    b.add("y", "Output")
    b.chain("tokens", "embed", "y")
    problem = only(analyze(b.graph), "dtype_mismatch")
    assert "float32" in problem.message and problem.fix.label == "Insert Cast(int32)"
    apply_fix(b.graph, problem.fix).do(b.project)
    analysis = analyze(b.graph)
    assert analysis.ok and str(analysis.output_spec(b.ids["embed"])) == "(None, 12, 8)"


def test_rank_errors_on_adapters_name_the_need():
    b = GraphBuilder()
    b.add("v", "Input", shape=[16])
    b.add("pool", "GlobalAveragePooling2D")
    b.add("y", "Output")
    b.chain("v", "pool", "y")
    problem = only(analyze(b.graph), "shape_mismatch")
    assert "(batch, height, width, channels)" in problem.message and "(None, 16)" in problem.message


def test_edge_to_an_unknown_port_is_reported():
    b = GraphBuilder()
    b.add("x", "Input", shape=[4])
    b.add("d", "Dense", units=2)
    b.add("y", "Output")
    b.wire("x", "d", target_port="weights")
    b.wire("d", "y")
    assert "no input 'weights'" in only(analyze(b.graph), "unknown_port").message


def test_two_copies_of_one_model_are_reported_as_info_only(models_dir):
    b = twin_cnn_graph()
    analysis = analyze(b.graph, Context(models_dir))
    assert analysis.ok
    assert only(analysis, "duplicate_layer_names").severity == INFO


def test_missing_model_file_is_a_clear_node_error(tmp_path):
    b = GraphBuilder()
    b.add("x", "Input", shape=[4])
    b.add("model", "ModelFile", path="gone.keras")
    b.add("y", "Output")
    b.chain("x", "model", "y")
    problem = only(analyze(b.graph, Context(tmp_path)), "invalid_node")
    assert "model file not found" in problem.message and "gone.keras" in problem.message


def test_only_edited_nodes_and_changed_descendants_are_recomputed(monkeypatch):
    b = GraphBuilder()
    b.add("x", "Input", shape=[16])
    names = [f"d{i}" for i in range(6)]
    for name in names:
        b.add(name, "Dense", units=16)
    b.add("y", "Output")
    b.chain("x", *names, "y")
    analyzer = Analyzer(b.graph)
    analyzer.analyze()
    seen = []
    original = Analyzer._analyze_node
    monkeypatch.setattr(Analyzer, "_analyze_node",
                        lambda self, node: seen.append(node.name) or original(self, node))
    stack = CommandStack(b.project)
    stack.push(SetParams(b.ids["d3"], {"activation": "relu"}))  # same output shape
    analyzer.analyze()
    assert seen == ["d3", "d4"]  # d4's messages name d3, so it is re-checked too
    seen.clear()
    stack.push(SetParams(b.ids["d3"], {"units": 8}))  # d4 sees a new shape but still gives 16
    analysis = analyzer.analyze()
    assert seen == ["d3", "d4"]
    assert analysis.nodes[b.ids["d4"]].param_count == 8 * 16 + 16
    seen.clear()
    stack.push(SetParams(b.ids["d5"], {"units": 4}))  # a new shape reaches the Output
    assert str(analyzer.analyze().nodes[b.ids["y"]].inputs["in"]) == "(None, 4)"
    assert seen == ["d5", "y"]
    seen.clear()
    stack.push(connect(b.graph, b.ids["x"], "out", b.ids["d0"], "in"))  # rewire: structure
    analyzer.analyze()
    assert seen == ["d0"]
    analyzer.close()


def test_analyzer_result_matches_a_fresh_analysis_after_undo_and_redo():
    b = GraphBuilder()
    b.add("x", "Input", shape=[8, 8, 3])
    b.add("flat", "Flatten")
    b.add("y", "Output")
    b.chain("x", "flat", "y")
    analyzer = Analyzer(b.graph)
    stack = CommandStack(b.project)
    stack.push(SetParams(b.ids["x"], {"shape": [4, 4, 3]}))
    assert str(analyzer.analyze().output_spec(b.ids["flat"])) == "(None, 48)"
    stack.undo()
    assert str(analyzer.analyze().output_spec(b.ids["flat"])) == "(None, 192)"
    stack.redo()
    assert analyzer.analyze().nodes == analyze(b.graph).nodes


dims = st.one_of(st.none(), st.integers(1, 12))


@settings(max_examples=150, deadline=None)
@given(got=st.lists(st.integers(1, 12), min_size=1, max_size=3),
       want=st.lists(dims, min_size=1, max_size=3))
def test_every_suggested_fix_makes_the_shapes_meet(got, want):
    from app.core.analysis.fixes import apply_steps

    fix = suggest("e1", TensorSpec((None, *got)), TensorSpec((None, *want)))
    if fix is not None:
        result = apply_steps(fix.steps, TensorSpec((None, *got)))
        assert shapes_compatible(result.shape, (None, *want))


def test_breaking_a_cycle_brings_its_nodes_back():
    b = GraphBuilder()
    b.add("x", "Input", shape=[4])
    b.add("d1", "Dense", units=4)
    b.add("d2", "Dense", units=4)
    b.add("y", "Output")
    b.chain("x", "d1", "d2", "y")
    analyzer = Analyzer(b.graph)
    stack = CommandStack(b.project)
    assert analyzer.analyze().ok
    stack.push(connect(b.graph, b.ids["d2"], "out", b.ids["d1"], "in"))  # replaces x → d1
    analysis = analyzer.analyze()
    assert "cycle" in codes(analysis, ERROR) and analysis.output_spec(b.ids["d2"]) is None
    stack.undo()
    analysis = analyzer.analyze()
    assert analysis.ok and str(analysis.output_spec(b.ids["d2"])) == "(None, 4)"


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_incremental_analysis_always_equals_a_fresh_one(data):
    """Whatever the edits, the live analyzer agrees with analysing from scratch."""
    from app.core.graph.graph import GraphError
    from tests.core.strategies import edit, small_graph

    b = small_graph()
    analyzer = Analyzer(b.graph)
    stack = CommandStack(b.project)
    for _ in range(data.draw(st.integers(1, 20))):
        command = data.draw(edit(b.graph))
        if command is None:
            continue
        try:
            stack.push(command)
        except GraphError:
            continue
        if data.draw(st.booleans()):
            stack.undo()
        live, fresh = analyzer.analyze(), analyze(b.graph)
        assert live.nodes == fresh.nodes
        assert sorted(map(str, live.problems)) == sorted(map(str, fresh.problems))


REACH_CODES = ("no_output", "unused_input", "unreachable")


def reach_problems(analysis) -> list[tuple]:
    return sorted((p.code, p.node_id or "") for p in analysis.problems if p.code in REACH_CODES)


@settings(max_examples=60, deadline=None)
@given(graph=graphs(min_nodes=2), data=st.data())
def test_reachability_followed_through_edits_equals_a_fresh_walk(graph, data):
    """The analyzer keeps the nodes that feed an Output up to date through edge and node edits
    (walking the whole graph only where that is not certain): after every batch of edits it
    says what a fresh analysis says, cycles included."""
    analyzer = Analyzer(graph)
    analyzer.analyze()
    fresh_ids = iter(f"x{i}" for i in range(1000))
    for _ in range(data.draw(st.integers(1, 4))):
        for _ in range(data.draw(st.integers(1, 3))):
            edges, nodes = graph.edges, graph.nodes
            action = data.draw(st.sampled_from(["remove_edge", "add_edge", "add_output", "remove_node"]))
            if action == "remove_edge" and edges:
                graph.remove_edge(data.draw(st.sampled_from(edges)).id)
            elif action == "add_edge" and (targets := [n for n in nodes if input_port_names(n)]):
                target = data.draw(st.sampled_from(targets))
                port = data.draw(st.sampled_from(input_port_names(target)))
                sources = [n for n in nodes if n.id != target.id
                           and "out" in REGISTRY[n.type].output_ports(n, Context())]
                if sources and graph.edge_into(target.id, port) is None:
                    source = data.draw(st.sampled_from(sources))
                    graph.add_edge(Edge(next(fresh_ids), source.id, "out", target.id, port))
            elif action == "add_output":
                node_id = next(fresh_ids)
                graph.add_node(Node(node_id, "Output", f"out_{node_id}", REGISTRY["Output"].check_params({}),
                                    (0.0, 0.0)))
            elif action == "remove_node" and nodes:
                node = data.draw(st.sampled_from(nodes))
                for edge in graph.edges_of(node.id):
                    graph.remove_edge(edge.id)
                graph.remove_node(node.id)
        assert reach_problems(analyzer.analyze()) == reach_problems(analyze(graph))


def test_an_edge_removed_and_put_back_does_not_walk_the_graph_again(monkeypatch):
    b = GraphBuilder()
    b.add("x", "Input", shape=[4])
    b.add("a", "Dense", units=4)
    b.add("b", "Dense", units=4)
    b.add("y", "Output")
    b.chain("x", "a", "b", "y")
    graph = b.graph
    analyzer = Analyzer(graph)
    assert analyzer.analyze().ok
    walks = []
    walk = Analyzer._walk_reach
    monkeypatch.setattr(Analyzer, "_walk_reach", lambda self: (walks.append(1), walk(self)))
    edge = graph.edge_into(graph.node_by_name("b").id, "in")
    graph.remove_edge(edge.id)
    graph.add_edge(edge)
    assert analyzer.analyze().ok and walks == []  # 'a' still feeds 'b', which feeds 'y'
    graph.remove_edge(edge.id)
    problems = analyzer.analyze().problems
    assert walks == [1]  # 'a' may have lost its way to 'y': walked again, and it has
    assert any(p.code == "unreachable" and p.node_id == graph.node_by_name("a").id for p in problems)


@settings(max_examples=80, deadline=None)
@given(graph=graphs(min_nodes=1, max_edges=30), data=st.data())
def test_the_graphs_own_topological_order_is_networkxs_and_the_topology_follows_edits(graph, data):
    """Validation sorts without networkx (its import is a sixth of the editor's launch): the
    order is networkx's, or None on a cycle; the networkx topology built later follows edits."""
    import networkx as nx

    for _ in range(data.draw(st.integers(0, 3))):
        edges = graph.edges
        if edges and data.draw(st.booleans()):
            graph.remove_edge(data.draw(st.sampled_from(edges)).id)
        assert graph._topology is None
    order = graph.topological_order()
    try:
        assert order == list(nx.topological_sort(graph.topology))
    except nx.NetworkXUnfeasible:
        assert order is None
    for edge in graph.edges[: data.draw(st.integers(0, 3))]:
        graph.remove_edge(edge.id)
        assert sorted(graph.topology.edges) == sorted({(e.source, e.target) for e in graph.edges})


def test_validating_an_example_leaves_networkx_unimported():
    """The editor's first paint validates the project it opens; networkx is not needed for it."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from app.core.editing.layout import open_project\n"
            "from app.core.analysis.validate import Analyzer\n"
            "from resources.build_resources import EXAMPLES\n"
            "project = open_project(EXAMPLES / 'cascade.graft')\n"
            "assert Analyzer(project.graph, project.context).analyze().ok\n"
            "print('networkx' in sys.modules)\n")
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == "False"
