"""Shape inference and validation.

`Analyzer` follows a graph's events and keeps, per node, the specs arriving at its inputs,
the specs it produces, its parameter count and its problems. After an edit only the edited
nodes and those downstream whose inputs actually changed are recomputed; the structural
checks (cycles, reachability) run with networkx only when edges or nodes come or go."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.core.analysis.cost import Cost, node_cost, total_cost
from app.core.analysis.fixes import Fix, suggest
from app.core.analysis.memory import too_big
from app.core.graph.bulk import collector_paused
from app.core.graph.graph import Graph, GraphEvent, Node
from app.core.graph.params import options, printable
from app.core.graph.specs import TensorSpec, format_shape
from app.core.nodes import Context, ShapeError, node_type
from app.core.nodes.base import INPUT, OUTPUT, PRETRAINED

ERROR, WARNING, INFO = "error", "warning", "info"
_SEVERITY_ORDER = {ERROR: 0, WARNING: 1, INFO: 2}
CYCLE_NAMES_SHOWN = 5  # of the nodes of a cycle, named in its problem; a cycle of 100,000 nodes is counted


@dataclass(frozen=True)
class Problem:
    severity: str
    code: str
    message: str
    node_id: str | None = None
    edge_id: str | None = None
    fix: Fix | None = None

    def __str__(self) -> str:
        text = f"{self.severity}: {self.message}"
        return f"{text}\n    fix: {self.fix.label}" if self.fix else text


@dataclass
class NodeAnalysis:
    inputs: dict[str, TensorSpec] = field(default_factory=dict)
    outputs: dict[str, TensorSpec] | None = None  # None: could not be inferred
    param_count: int | None = None
    trainable_count: int | None = None
    problems: list[Problem] = field(default_factory=list)
    cost: Cost | None = None  # None: its shapes could not be inferred (cost.py)


@dataclass
class Analysis:
    nodes: dict[str, NodeAnalysis]
    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def ok(self) -> bool:
        return not self.errors

    def param_totals(self) -> tuple[int, int]:
        """(total, trainable) parameters over the nodes whose counts are known."""
        results = self.nodes.values()
        return (sum(r.param_count or 0 for r in results),
                sum(r.trainable_count or 0 for r in results))

    def cost_totals(self) -> Cost:
        """The nodes' costs summed; `partial` when some node's is unknown."""
        results = self.nodes.values()
        total = total_cost(r.cost for r in results if r.cost is not None)
        return Cost(total.macs, total.param_bytes, total.activation_bytes,
                    total.partial or any(r.cost is None for r in results))

    def output_spec(self, node_id: str, port: str = "out") -> TensorSpec | None:
        outputs = self.nodes[node_id].outputs
        return outputs.get(port) if outputs else None


class Analyzer:
    def __init__(self, graph: Graph, ctx: Context | None = None):
        self.graph = graph
        self.ctx = ctx or Context()
        self._results: dict[str, NodeAnalysis] = {}
        self._dirty: set[str] = {n.id for n in graph.nodes}
        self._order: list[str] = []  # topological order of the nodes outside cycles
        self._order_stale = True
        self._cyclic: set[str] = set()
        self._cycle_problems: list[Problem] = []
        self._reach_problems: list[Problem] = []
        self._reach_stale = True  # walk the graph again for the nodes that feed an Output
        self._feeding: set[str] = set()  # the nodes upstream of an Output, and the Outputs
        self._outputs: set[str] = set()
        self._reach_listed = False  # the reach problems follow `_feeding` as it is
        self._unsure: set[str] = set()  # sources of removed edges: do they still feed an Output?
        self._pretrained: list[str] | None = None  # their ids in graph order; None: to be listed again
        graph.subscribe(self._on_event)

    def close(self) -> None:
        self.graph.unsubscribe(self._on_event)

    def _on_event(self, event: GraphEvent) -> None:
        """Mark what an edit makes stale. The topological order is kept when the edit
        cannot break it (a new node, a removed edge, an edge that points forward)."""
        kind = event.kind
        if kind == "node_moved":
            return
        if kind == "node_changed":
            # Successors too: their messages name this node; so may structural problems.
            self._dirty.add(event.node_id)
            self._dirty.update(e.target for e in self.graph.out_edges(event.node_id))
            if any(p.node_id == event.node_id for p in self._reach_problems):
                self._reach_listed = False  # their messages name it
            if event.node_id in self._cyclic:
                self._order_stale = True
            return
        self._follow_reach(event)
        if self._cycle_problems:
            self._order_stale = True  # a cycle may be broken
        if kind in ("node_added", "node_removed"):
            self._pretrained = None
        if kind == "node_added":
            self._dirty.add(event.node_id)
            if not self._order_stale:
                self._order.append(event.node_id)
        elif kind == "node_removed":
            self._results.pop(event.node_id, None)
            self._dirty.discard(event.node_id)
            if not self._order_stale:
                self._order.remove(event.node_id)
        elif kind in ("edge_added", "edge_removed"):
            edge = event.edge
            self._dirty.add(edge.target)
            if kind == "edge_added" and not self._order_stale and (
                    self._order.index(edge.source) > self._order.index(edge.target)):
                self._order_stale = True  # points backwards: re-sort (or a new cycle)

    def _follow_reach(self, event: GraphEvent) -> None:
        """Keep the nodes that feed an Output up to date through a structural edit, so an edit
        of a big graph does not walk all of it. An Output or an edge into a feeding node adds
        to them; a removed edge may take away, which `_settle_reach` checks once the edit's
        events are all in: in a graph without cycles, the set is exact when every such edge's
        source still feeds a member of it; otherwise the graph is walked again."""
        self._reach_listed = False
        if self._reach_stale:
            return
        kind, feeding = event.kind, self._feeding
        if kind == "node_added":
            if node_type(self.graph.node(event.node_id).type).category == OUTPUT:
                feeding.add(event.node_id)
                self._outputs.add(event.node_id)
        elif kind == "node_removed":  # its connections were removed before it
            feeding.discard(event.node_id)
            self._outputs.discard(event.node_id)
        elif kind == "edge_added":
            if event.edge.target in feeding and event.edge.source not in feeding:
                pending = [event.edge.source]
                feeding.add(event.edge.source)
                while pending:
                    for edge in self.graph.in_edges(pending.pop()):
                        if edge.source not in feeding:
                            feeding.add(edge.source)
                            pending.append(edge.source)
        elif kind == "edge_removed":
            self._unsure.add(event.edge.source)

    def _settle_reach(self) -> None:
        """After an edit's events (see `_follow_reach`): walk again unless every source of a
        removed edge that counts as feeding still feeds a member of the set."""
        feeding, graph = self._feeding, self.graph
        unsure, self._unsure = self._unsure, set()
        if self._reach_stale or not unsure:
            return
        if self._cycle_problems or any(
                node_id in feeding and node_id not in self._outputs
                and not any(e.target in feeding for e in graph.out_edges(node_id))
                for node_id in unsure if graph.has_node(node_id)):
            self._reach_stale = True

    def invalidate(self) -> None:
        """Forget everything (e.g. after a model file changed on disk)."""
        self._dirty = {n.id for n in self.graph.nodes}
        self._order_stale = self._reach_stale = True
        self._reach_listed = False
        self._pretrained = None

    def _pretrained_nodes(self) -> list[Node]:
        """The pretrained nodes, which the checks across nodes look at: listed again only when
        nodes come or go, so an edit of a big graph does not look up every node's type."""
        if self._pretrained is None:
            self._pretrained = [n.id for n in self.graph.nodes if node_type(n.type).category == PRETRAINED]
        return [self.graph.node(node_id) for node_id in self._pretrained]

    # -- analysis --------------------------------------------------------------
    def analyze(self) -> Analysis:
        with collector_paused():
            return self._analyze()

    def _analyze(self) -> Analysis:
        if self._order_stale:
            self._sort()
        self._settle_reach()
        if self._reach_stale:
            self._walk_reach()
        if not self._reach_listed:
            self._list_reach_problems()
        dirty = self._dirty
        for node_id in self._order:
            if node_id not in dirty:
                continue
            previous = self._results.get(node_id)
            result = self._analyze_node(self.graph.node(node_id))
            self._results[node_id] = result
            if previous is None or previous.outputs != result.outputs:
                dirty.update(e.target for e in self.graph.out_edges(node_id))
        self._dirty = set()
        problems = self._cycle_problems + self._reach_problems
        for node_id in self._order:
            problems.extend(self._results[node_id].problems)
        problems += self._duplicate_layer_names() + self._weight_sharing()
        problems.sort(key=lambda p: _SEVERITY_ORDER[p.severity])
        return Analysis(dict(self._results), problems)

    def _sort(self) -> None:
        """Topological order; on a cycle, name its nodes and order the rest."""
        graph = self.graph
        self._cycle_problems = []
        self._dirty |= {n for n in self._cyclic if graph.has_node(n)}  # may be free now
        self._cyclic = set()
        self._order = graph.topological_order()
        if self._order is None:
            import networkx as nx

            topo = graph.topology
            cyclic: set[str] = set()
            for component in nx.strongly_connected_components(topo):
                if len(component) > 1 or any(topo.has_edge(n, n) for n in component):
                    cyclic |= component
                    names = sorted(graph.node(n).name for n in component)
                    first = graph.node_by_name(names[0]).id
                    names = ", ".join(names[:CYCLE_NAMES_SHOWN]) + (
                        f", … ({len(names):,} nodes)" if len(names) > CYCLE_NAMES_SHOWN else "")
                    self._cycle_problems.append(Problem(
                        ERROR, "cycle", f"cycle through {names}: data cannot flow in a loop; "
                        "remove one of its connections", node_id=first))
            for node_id in cyclic:
                self._results[node_id] = NodeAnalysis()
            self._dirty -= cyclic
            self._cyclic = cyclic
            self._order = list(nx.topological_sort(
                nx.DiGraph(topo.subgraph(n for n in topo if n not in cyclic))))
        self._dirty |= set(self._order) - self._results.keys()
        self._order_stale = False

    def _walk_reach(self) -> None:
        """Every node upstream of some Output, walked from the Outputs."""
        graph = self.graph
        self._outputs = {n.id for n in graph.nodes if node_type(n.type).category == OUTPUT}
        self._feeding = graph.upstream(self._outputs)
        self._reach_stale = False

    def _list_reach_problems(self) -> None:
        """No Output at all, nodes that reach no Output, and unused Inputs."""
        graph, feeding, outputs = self.graph, self._feeding, self._outputs
        problems: list[Problem] = []
        if not outputs:
            problems.append(Problem(ERROR, "no_output",
                                    "the graph has no Output node; add one to mark what the "
                                    "model returns"))
        for node in graph.nodes:
            if node.id in feeding:
                continue
            if node_type(node.type).category == INPUT and not graph.out_edges(node.id):
                problems.append(Problem(WARNING, "unused_input",
                                        f"Input {node.name!r} is not connected to anything",
                                        node_id=node.id))
            elif outputs:
                problems.append(Problem(WARNING, "unreachable",
                                        f"{node.name!r} reaches no Output, so it is left out "
                                        "of the compiled model", node_id=node.id))
        self._reach_problems = problems
        self._reach_listed = True

    def _analyze_node(self, node: Node) -> NodeAnalysis:
        kind = node_type(node.type)
        graph = self.graph
        result = NodeAnalysis()
        in_edges = graph.in_edges(node.id)
        connected = {e.target_port for e in in_edges}
        ports = kind.input_ports(node, connected, self.ctx)
        port_names = {p.name for p in ports}
        blocked = False
        for edge in in_edges:
            if edge.target_port not in port_names:
                result.problems.append(Problem(
                    ERROR, "unknown_port", f"{node.name!r} has no input "
                    f"{printable(edge.target_port, 40)!r} (edge {graph.describe_edge(edge)}); reconnect "
                    f"it to one of: {options(sorted(port_names), edge.target_port) or 'none'}",
                    node.id, edge.id))
                blocked = True
                continue
            upstream = self._results.get(edge.source)
            spec = upstream.outputs.get(edge.source_port) if upstream and upstream.outputs else None
            if spec is None:
                if upstream is not None and upstream.outputs is not None:
                    result.problems.append(Problem(
                        ERROR, "unknown_port",
                        f"{graph.node(edge.source).name!r} has no output "
                        f"{printable(edge.source_port, 40)!r} "
                        f"(edge {graph.describe_edge(edge)})", node.id, edge.id))
                blocked = True  # upstream failed: its own problem says why
                continue
            result.inputs[edge.target_port] = spec
        for port in ports:
            if port.required and port.name not in connected:
                result.problems.append(Problem(
                    ERROR, "unconnected_input",
                    f"input {node.name}.{port.name} is not connected; connect a tensor to it",
                    node.id))
                blocked = True
        if blocked:
            return result
        try:
            inferred = kind.infer(node, result.inputs, self.ctx)
        except ShapeError as error:
            result.problems.append(self._shape_problem(node, error, result.inputs))
            return result
        result.outputs = inferred.outputs
        result.param_count = inferred.param_count
        result.trainable_count = inferred.trainable
        card = kind.try_card(node, self.ctx) if kind.category == PRETRAINED else None
        result.cost = node_cost(node, kind, result.inputs, result.outputs, result.param_count, card)
        if big := too_big(node.name, result.inputs, result.outputs, result.param_count, self.ctx.batch_size):
            result.problems.append(Problem(ERROR, "too_big", big, node.id))
        return result

    def _shape_problem(self, node: Node, error: ShapeError, inputs) -> Problem:
        """A ShapeError as a Problem: on the edge at fault when there is one, with a fix."""
        edge = self.graph.edge_into(node.id, error.port) if error.port else None
        if edge is None:
            code = "invalid_node" if error.code == "shape_mismatch" else error.code
            return Problem(ERROR, code, f"{node.name!r}: {error}", node.id)
        got = inputs.get(error.port)
        fix = suggest(edge.id, got, error.expected) if got and error.expected else None
        message = f"edge {self.graph.describe_edge(edge)}: {error}"
        if error.expected is not None and got is not None and \
                format_shape(got.shape) not in message:
            message += f" (receives {format_shape(got.shape)})"
        return Problem(ERROR, error.code, message, node.id, edge.id, fix)

    def _duplicate_layer_names(self) -> list[Problem]:
        """Embedded models that share inner layer names: fine, because compile nests each
        as a sub-model named after its node; reported so nobody is surprised."""
        seen: dict[str, str] = {}
        problems = []
        for node in self._pretrained_nodes():
            kind = node_type(node.type)
            if node.id not in self._results or node.params["share_weights_with"]:
                continue
            card = kind.try_card(node, self.ctx) if self._results[node.id].outputs else None
            if card is None:
                continue
            names = {layer.name for layer in card.layers}
            clashes = sorted({seen[n] for n in names if n in seen})
            for other in clashes:
                shared = sorted(n for n in names if seen.get(n) == other)
                listed = ", ".join(shared[:3]) + (", …" if len(shared) > 3 else "")
                problems.append(Problem(
                    INFO, "duplicate_layer_names",
                    f"{node.name!r} and {other!r} both contain layers named {listed}; compile "
                    "nests each as a sub-model named after its node, so both work", node.id))
            for n in names:
                seen.setdefault(n, node.name)
        return problems

    def _weight_sharing(self) -> list[Problem]:
        """A node that shares weights names another node of the same model, which owns them."""
        problems = []
        for node in self._pretrained_nodes():
            kind = node_type(node.type)
            owner_name = node.params["share_weights_with"]
            if not owner_name:
                continue
            owner = self.graph.node_by_name(owner_name)
            if owner is None or owner.id == node.id:
                reason = f"there is no other node named {printable(owner_name, 40)!r}"
            elif owner.type != node.type or kind.card_key(owner, self.ctx) != kind.card_key(node, self.ctx):
                reason = f"{owner_name!r} is a different model"
            elif owner.params["share_weights_with"]:
                reason = (f"{owner_name!r} uses the weights of {owner.params['share_weights_with']!r}; "
                          "name that node instead")
            elif not set(node.params["taps"]) <= set(owner.params["taps"]):
                reason = f"its taps must be among those of {owner_name!r}"
            else:
                continue
            problems.append(Problem(ERROR, "invalid_node", f"{node.name!r} cannot share weights: {reason}; "
                                    "name a node of the same model, or leave share_weights_with empty",
                                    node.id))
        return problems


def analyze(graph: Graph, ctx: Context | None = None) -> Analysis:
    """One-off analysis (the CLI's path); editors keep an Analyzer alive instead."""
    analyzer = Analyzer(graph, ctx)
    try:
        return analyzer.analyze()
    finally:
        analyzer.close()
