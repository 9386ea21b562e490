"""Compile a valid graph into one ordinary `keras.Model` through the functional API.

Pretrained models stay nested sub-models named after their nodes, every other node
becomes one Keras layer named after it, and Output nodes become the model's named
outputs. The result saves and loads with plain Keras — no Graft code inside."""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from app.core.analysis.memory import readable_failure
from app.core.analysis.validate import Analysis, Problem, analyze
from app.core.graph.graph import Graph
from app.core.nodes import Context, ShapeError, node_type
from app.core.nodes.base import INPUT, OUTPUT, PRETRAINED


class CompileError(Exception):
    """The graph has errors (listed in `problems`), or Keras refused a node."""

    def __init__(self, message: str, problems: list[Problem] | None = None):
        super().__init__(message)
        self.problems = problems or []


@dataclass
class CompiledGraph:
    model: object  # keras.Model
    losses: dict[str, str] = field(default_factory=dict)
    loss_weights: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, list[str]] = field(default_factory=dict)
    node_layers: dict[str, object] = field(default_factory=dict)  # node id → its Keras layer

    def param_counts(self) -> dict[str, tuple[int, int]]:
        """(total, trainable) parameters per node id."""
        counts = {}
        for node_id, layer in self.node_layers.items():
            trainable = sum(int(w.numpy().size) for w in layer.trainable_weights)
            counts[node_id] = (int(layer.count_params()), trainable)
        return counts


def compile_graph(graph: Graph, ctx: Context | None = None,
                  analysis: Analysis | None = None) -> CompiledGraph:
    """Build the Keras model for `graph`; raises CompileError naming what is wrong."""
    ctx = ctx or Context()
    analysis = analysis or analyze(graph, ctx)
    if not analysis.ok:
        listing = "\n".join(f"  - {p.message}" for p in analysis.errors)
        raise CompileError(f"the graph has {len(analysis.errors)} error(s):\n{listing}",
                           analysis.errors)
    import keras

    outputs = [n for n in graph.nodes if node_type(n.type).category == OUTPUT]
    needed = graph.upstream(node.id for node in outputs)
    tensors: dict[tuple[str, str], object] = {}
    inputs, result = {}, CompiledGraph(model=None)
    shared: dict[str, object] = {}  # owner node id → its Keras model
    for node_id in (n for n in nx.topological_sort(graph.topology) if n in needed):
        node = graph.node(node_id)
        kind = node_type(node.type)
        node_inputs = {e.target_port: tensors[(e.source, e.source_port)]
                       for e in graph.in_edges(node_id)}
        try:
            produced = build_node(graph, node, node_inputs, ctx, shared)
        except ShapeError as error:
            raise CompileError(f"{node.name!r}: {error}") from None
        except Exception as error:  # Keras's message is the useful part, unless memory ran out
            raise CompileError(readable_failure(error, graph, f"building {node.name!r} ({node.type})")
                               or f"{node.name!r} ({node.type}) could not be built: {error}") from error
        for port, tensor in produced.items():
            tensors[(node_id, port)] = tensor
        if kind.category == INPUT:
            inputs[node_id] = produced["out"]
        if kind.category == OUTPUT:
            p = node.params
            if p["loss"] != "none":
                result.losses[node.name] = p["loss"]
                result.loss_weights[node.name] = p["loss_weight"]
            result.metrics[node.name] = list(p["metrics"])
    ordered_inputs = [inputs[n.id] for n in graph.nodes if n.id in inputs]
    output_tensors = [tensors[(n.id, "out")] for n in outputs]
    model = keras.Model(
        inputs=ordered_inputs[0] if len(ordered_inputs) == 1 else ordered_inputs,
        outputs=output_tensors[0] if len(output_tensors) == 1 else output_tensors,
        name="graft_model",
    )
    names = {layer.name: layer for layer in model.layers}
    result.node_layers = {n.id: names[n.name] for n in graph.nodes
                          if n.name in names and node_type(n.type).category not in (INPUT, OUTPUT)}
    result.model = model
    return result


def build_node(graph: Graph, node, inputs: dict, ctx: Context, shared: dict[str, object]) -> dict:
    """One node applied to Keras tensors by input port; its output tensors by port. A pretrained
    model is made once per owner (the node whose weights it uses) and kept in `shared` by the
    owner's id, so nodes sharing its weights apply the same model."""
    kind = node_type(node.type)
    if kind.category == PRETRAINED:
        owner = graph.node_by_name(node.params["share_weights_with"]) or node
        if owner.id not in shared:
            shared[owner.id] = kind.make_model(owner, ctx)
        return kind.apply(shared[owner.id], inputs, owner.params["taps"])
    return kind.build(node, inputs, ctx)
