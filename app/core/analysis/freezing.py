"""How each node trains in a phase, without building the model.

A phase freezes nodes by name (`Phase.trainable`: "frozen", "all" or N last layers); a node it
does not name keeps its own freezing. From that, the analysis' parameter counts and the model
cards' layers, this says what a node's card shows (trainable, frozen, last N) and how many
parameters a phase trains, the same rule a run applies (training/run.py)."""

from __future__ import annotations

from app.core.analysis.validate import WARNING, Analysis, NodeAnalysis, Problem
from app.core.graph.graph import Graph, Node
from app.core.nodes import Context, node_type
from app.core.nodes.base import PRETRAINED
from app.core.nodes.pretrained import freezing_params, freezing_word, phase_freezes, trainable_count


def pretrained_freezing(graph: Graph, node: Node, overrides: dict | None) -> dict:
    """A pretrained node's freezing params in a phase with these `overrides` (None: no phase);
    a node that shares another's weights trains as that node does."""
    owner_name = node.params["share_weights_with"]
    owner = graph.node_by_name(owner_name) if owner_name else None
    if owner is None or owner.type != node.type:
        owner = node
    params = dict(owner.params)
    spec = (overrides or {}).get(owner.name)
    if spec is not None:
        params.update(freezing_params(spec))
    return params


def freezing_badge(graph: Graph, node: Node, result: NodeAnalysis | None, overrides: dict | None) -> str:
    """How `node` trains in a phase with these `overrides` (None: with its own setting), as its
    card says it: "trainable", "frozen" or "last N"; "" for a node without weights."""
    if node_type(node.type).category == PRETRAINED:
        return freezing_word(pretrained_freezing(graph, node, overrides))
    if result is None or not result.param_count:
        return ""
    frozen = phase_freezes((overrides or {}).get(node.name)) or result.trainable_count == 0
    return "frozen" if frozen else "trainable"


def trainable_params(graph: Graph, analysis: Analysis, ctx: Context, overrides: dict | None) -> int | None:
    """Parameters that learn in a phase with these `overrides` (None: each node's own setting),
    from the analysis and the model cards; None while a model it refreezes has no card yet."""
    by_node = trainable_by_node(graph, analysis, ctx, overrides)
    return None if by_node is None else sum(by_node.values())


def trainable_by_node(graph: Graph, analysis: Analysis, ctx: Context,
                      overrides: dict | None) -> dict[str, int] | None:
    """trainable_params node by node (by id; nodes without weights left out), which the
    training memory estimate needs to know where backpropagation goes (cost.py)."""
    counts = {}
    for node in graph.nodes:
        result = analysis.nodes.get(node.id)
        if result is None or not result.param_count:
            continue  # a node sharing weights counts none: its owner counts them
        spec = (overrides or {}).get(node.name)
        kind = node_type(node.type)
        if spec is None:
            counts[node.id] = result.trainable_count or 0
        elif kind.category != PRETRAINED:
            counts[node.id] = 0 if phase_freezes(spec) else result.trainable_count or 0
        elif kind.has_card(node, ctx):
            freezing = pretrained_freezing(graph, node, overrides)
            counts[node.id] = trainable_count(kind.card(node, ctx), freezing)
        else:
            return None
    return counts


def trains_nothing(phase: str) -> str:
    """The warning for a phase whose every parameter is frozen: the run goes on, to no effect."""
    return (f"phase {phase!r} trains no parameter: every node with weights is frozen in it; "
            "set a node's freezing in the phase to trainable or last N layers for it to learn")


def phase_problems(graph: Graph, analysis: Analysis, ctx: Context, phases: list) -> list[Problem]:
    """A warning for each of the setup's phases that would train nothing, before Start. Without
    phases there is none: a graph of frozen models composed for export is no mistake, and a
    run of it still says so when it starts (PhaseStarted.warning)."""
    if not analysis.param_totals()[0]:
        return []  # nothing has weights: there is nothing to freeze or train
    return [Problem(WARNING, "phase_trains_nothing", trains_nothing(phase.name))
            for phase in phases if trainable_params(graph, analysis, ctx, phase.trainable or None) == 0]
