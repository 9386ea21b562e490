"""Each node's output on the sample, computed incrementally with eager Keras.

A node's output is cached under its signature: its type, its parameters, the signatures of
what feeds it and the sample. After an edit only the nodes whose signature changed (the edited
node and those downstream) run again; undo brings back signatures seen before, whose outputs
are still cached. Each node is built once per type, parameters and input shapes, as a small
Keras model around the node's own layer (build/compile.py's `build_node`), with initial weights
seeded per node so that a rebuilt node previews the same. A pretrained model is built once and
reused while its parameters do not change; how it trains (its freezing) changes nothing here.

Keras keeps per-thread state: every call of one Previewer must come from one thread."""

from __future__ import annotations

import hashlib
import json
import zlib
from collections import OrderedDict
from collections.abc import Callable

import networkx as nx
import numpy as np

from app.core.analysis.memory import readable_failure
from app.core.analysis.validate import ERROR, Analysis
from app.core.build.compile import build_node
from app.core.graph.graph import Graph, Node
from app.core.graph.specs import format_shape, shapes_compatible
from app.core.nodes import Context, node_type
from app.core.nodes.base import INPUT, OUTPUT, PRETRAINED
from app.core.preview.sample import Sample
from app.core.preview.summary import PROBABILITIES, NodePreview, kind_of, summarize

FREEZING_PARAMS = ("trainable", "trainable_last_n")  # how a pretrained model trains: not what it outputs
STALE_BYTES = 256 * 2**20  # outputs kept for signatures no longer in the graph (for undo)
STALE_BUILDS = 32  # node models kept for parameters no longer in the graph
STALE_MODELS = 2  # pretrained models kept for parameters no longer in the graph (large)
MESSAGE_CHARS = 300


class PreviewCancelled(Exception):
    """`update` stopped because `cancelled()` said so; what it computed so far stays cached."""


class Previewer:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.computed: tuple[str, ...] = ()  # node ids computed by the last update
        self.errors: dict[str, str] = {}  # node id → why it has no preview
        self._sample: Sample | None = None
        self._sample_id = 0
        self._outputs: OrderedDict[str, dict[str, np.ndarray]] = OrderedDict()  # signature → batch by port
        self._previews: dict[tuple, NodePreview] = {}
        self._builds: OrderedDict[str, object] = OrderedDict()  # build key → the node's keras.Model
        self._models: OrderedDict[str, object] = OrderedDict()  # pretrained key → its keras.Model

    def set_sample(self, sample: Sample) -> None:
        """Compute on this sample from the next update on (every node is then computed again)."""
        self._sample = sample
        self._sample_id += 1

    def update(self, graph: Graph, analysis: Analysis,
               cancelled: Callable[[], bool] = lambda: False) -> dict[str, NodePreview]:
        """Every node's preview (node id → NodePreview) for the nodes that can be computed, the
        others with their reason in `errors`; nothing without a sample. Raises PreviewCancelled
        when cancelled() is True between nodes."""
        self.computed, self.errors = (), {}
        if self._sample is None:
            return {}
        computed: list[str] = []
        signatures: dict[str, str] = {}
        shown: dict[str, tuple[str, str]] = {}  # node id → (port shown, kind)
        previews: dict[str, NodePreview] = {}
        try:
            for node_id in self._order(graph, analysis):
                if cancelled():
                    raise PreviewCancelled()
                node = graph.node(node_id)
                reason = self._blocked(graph, node, analysis, signatures)
                if reason:
                    self.errors[node_id] = reason
                    continue
                signature = self._signature(graph, node, signatures)
                outputs = self._outputs.get(signature)
                if outputs is None:
                    inputs = {e.target_port: self._outputs[signatures[e.source]][e.source_port]
                              for e in graph.in_edges(node_id)}
                    try:
                        outputs = self._compute(graph, node, inputs)
                    except Exception as error:  # a user's graph: any failure is the node's, in words
                        self.errors[node_id] = self._reason(graph, node, error)
                        continue
                    self._outputs[signature] = outputs
                    computed.append(node_id)
                self._outputs.move_to_end(signature)
                signatures[node_id] = signature
                previews[node_id] = self._preview(graph, node, signature, outputs, shown)
        finally:
            self.computed = tuple(computed)
            self._forget_stale(set(signatures.values()), graph)
        return previews

    # -- what to compute ------------------------------------------------------------------------

    def _order(self, graph: Graph, analysis: Analysis) -> list[str]:
        """Topological order of the nodes whose shapes are known; the rest have their reason."""
        known = []
        for node in graph.nodes:
            result = analysis.nodes.get(node.id)
            if result is not None and result.outputs is not None:
                known.append(node.id)
                continue
            errors = [p.message for p in (result.problems if result else []) if p.severity == ERROR]
            self.errors[node.id] = errors[0] if errors else "its output shape is unknown; fix what feeds it"
        return list(nx.topological_sort(graph.topology.subgraph(known)))

    def _blocked(self, graph: Graph, node: Node, analysis: Analysis, signatures: dict) -> str | None:
        for edge in graph.in_edges(node.id):
            if edge.source not in signatures:
                return f"needs {graph.node(edge.source).name!r}, which has no preview"
        if node_type(node.type).category == INPUT:
            return self._sample_problem(node, analysis)
        return None

    def _sample_problem(self, node: Node, analysis: Analysis) -> str | None:
        batch = self._sample.arrays.get(node.name)
        if batch is None:
            return (f"the sample ({self._sample.source}) has nothing for Input {node.name!r}; map it in the "
                    "training data, or pick sample files that feed it")
        spec = analysis.output_spec(node.id)
        if not shapes_compatible(batch.shape[1:], spec.features):
            return (f"the sample's {node.name!r} has samples of shape {format_shape(batch.shape[1:])}, but "
                    f"the Input takes {format_shape(spec.features)}; pick a sample that fits or change the "
                    "Input's shape")
        return None

    def _signature(self, graph: Graph, node: Node, signatures: dict) -> str:
        """What the node's output depends on, as one hash."""
        kind = node_type(node.type)
        parts: dict = {"type": node.type, "sample": self._sample_id,
                       "inputs": sorted((e.target_port, signatures[e.source], e.source_port)
                                        for e in graph.in_edges(node.id))}
        if kind.category == INPUT:
            parts |= {"name": node.name, "params": node.params}  # its sample is found by its name
        elif kind.category == PRETRAINED:
            parts["model"] = self._model_key(graph, node)
        else:
            parts |= {"id": node.id, "params": node.params}  # its initial weights are seeded by its id
        return digest(parts)

    def _model_key(self, graph: Graph, node: Node) -> str:
        """What a pretrained node's model depends on: the model (its card's key) and the owner's
        parameters but its freezing."""
        owner = graph.node_by_name(node.params["share_weights_with"]) or node
        kind = node_type(owner.type)
        params = {k: v for k, v in owner.params.items() if k not in FREEZING_PARAMS}
        return digest({"type": owner.type, "params": params, "card": kind.card_key(owner, self.ctx)})

    # -- computing ------------------------------------------------------------------------------

    def _compute(self, graph: Graph, node: Node, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The node's outputs for the whole batch, by port."""
        import keras

        if node_type(node.type).category == INPUT:
            return {"out": np.asarray(self._sample.arrays[node.name], dtype=node.params["dtype"])}
        ports = sorted(inputs)
        model, out_ports = self._built(graph, node, {p: inputs[p] for p in ports})
        results = model([inputs[p] for p in ports])
        results = results if isinstance(results, (list, tuple)) else [results]  # Keras unwraps one output
        return {port: keras.ops.convert_to_numpy(result) for port, result in zip(out_ports, results)}

    def _built(self, graph: Graph, node: Node, inputs: dict[str, np.ndarray]) -> tuple[object, list[str]]:
        """The node as a Keras model from its inputs (in port order) to its outputs, and its output
        ports; built once per type, parameters and input shapes."""
        import keras

        pretrained = node_type(node.type).category == PRETRAINED
        model_key = self._model_key(graph, node) if pretrained else None
        key = digest({"type": node.type, "id": node.id, "params": node.params, "model": model_key,
                      "inputs": [(p, a.shape[1:], a.dtype.name) for p, a in inputs.items()]})
        if key not in self._builds:
            symbolic = {p: keras.Input(batch_shape=(None, *a.shape[1:]), dtype=a.dtype.name)
                        for p, a in inputs.items()}
            shared = {}
            if pretrained:
                owner = graph.node_by_name(node.params["share_weights_with"]) or node
                if model_key in self._models:
                    shared[owner.id] = self._models[model_key]
            produced = build_node(graph, node, symbolic, self.ctx, shared)
            if pretrained:
                self._models[model_key] = shared[owner.id]
            ports = list(produced)
            model = keras.Model(list(symbolic.values()), [produced[p] for p in ports])
            if not pretrained:
                seed_weights(model, node.id)
            self._builds[key] = (model, ports)
        if model_key is not None:
            self._models.move_to_end(model_key)
        self._builds.move_to_end(key)
        return self._builds[key]

    def _reason(self, graph: Graph, node: Node, error: Exception) -> str:
        doing = f"previewing {node.name!r}"
        text = readable_failure(error, graph, doing) or f"{node.name!r} ({node.type}) failed: {error}"
        line = " ".join(text.split())
        return line if len(line) <= MESSAGE_CHARS else line[:MESSAGE_CHARS - 1] + "…"

    # -- previews -------------------------------------------------------------------------------

    def _preview(self, graph: Graph, node: Node, signature: str, outputs: dict, shown: dict) -> NodePreview:
        port = "out" if "out" in outputs else next(iter(outputs))
        edges = graph.in_edges(node.id)
        fed = next((e for e in edges if shown.get(e.source, ("", ""))[0] == e.source_port), None)
        batch = outputs[port]
        kind = kind_of(node.type, self._own_params(graph, node), tuple(batch.shape[1:]),
                       shown[fed.source][1] if fed else None, batch)
        shown[node.id] = (port, kind)
        labels = self._class_names(graph, node) if kind == PROBABILITIES else None
        key = (signature, port, kind, tuple(labels or ()))
        if key not in self._previews:
            self._previews[key] = summarize(node.id, port, batch, kind, labels)
        return self._previews[key]

    @staticmethod
    def _own_params(graph: Graph, node: Node) -> dict:
        """The parameters that say what the node is: a pretrained node sharing weights is its owner."""
        if node_type(node.type).category == PRETRAINED:
            return (graph.node_by_name(node.params["share_weights_with"]) or node).params
        return node.params

    def _class_names(self, graph: Graph, node: Node) -> list[str] | None:
        """The data's class names for a classifier Output, or for a node that feeds one directly."""
        names = self._sample.class_names
        if node_type(node.type).category == OUTPUT:
            return names.get(node.name)
        fed = (graph.node(e.target) for e in graph.out_edges(node.id))
        return next((names[n.name] for n in fed if n.name in names), None)

    def _forget_stale(self, current: set[str], graph: Graph) -> None:
        """Keep what the graph uses now, and a bounded part of the rest (for undo)."""
        stale = [s for s in self._outputs if s not in current]  # least recently used first
        stale_bytes = sum(nbytes(self._outputs[s]) for s in stale)
        for signature in stale:
            if stale_bytes <= STALE_BYTES:
                break
            stale_bytes -= nbytes(self._outputs.pop(signature))
        self._previews = {k: v for k, v in self._previews.items() if k[0] in self._outputs}
        trim(self._builds, STALE_BUILDS + len(graph.nodes))
        in_use = {self._model_key(graph, n) for n in graph.nodes if node_type(n.type).category == PRETRAINED}
        trim(self._models, STALE_MODELS + len(in_use), keep=in_use)


def trim(cache: OrderedDict, size: int, keep: set = frozenset()) -> None:
    """Drop the least recently used entries (but those in `keep`) until `size` remain."""
    for key in [k for k in cache if k not in keep][:max(len(cache) - size, 0)]:
        del cache[key]


def digest(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def nbytes(outputs: dict[str, np.ndarray]) -> int:
    return sum(a.nbytes for a in outputs.values())


def seed_weights(model, node_id: str) -> None:
    """Deterministic initial weights for a node that is not a pretrained model, so a rebuilt node
    previews the same: each trainable weight that is not constant (a kernel, not a bias or a
    scale) drawn again, Glorot-uniform as Keras's layers start by default, seeded by the node's id
    and the weight's path. Fixed weights (a preprocessing kernel) stay as they are."""
    for variable in model.trainable_weights:
        values = np.asarray(variable.numpy())
        if values.size < 2 or values.min() == values.max():
            continue
        shape = values.shape
        if len(shape) >= 2:
            receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
            limit = float(np.sqrt(6 / (shape[-2] * receptive + shape[-1] * receptive)))
        else:
            limit = 0.05
        within = variable.path.split("/", 1)[-1]  # the layer is named after the node: renames keep weights
        rng = np.random.default_rng(zlib.crc32(f"{node_id}/{within}".encode()))
        variable.assign(rng.uniform(-limit, limit, shape).astype(values.dtype))
