"""What the model will cost, per node, before anything is built or trained.

For each node: multiply-adds per sample (the papers' convention, see cards/arithmetic.py:
convolutions, dense and attention products and recurrent cells; biases, normalisation,
activations, pooling and merges count 0), the memory of its parameters (float32, 4 bytes
each: mixed precision keeps float32 weights) and the memory of the tensors it produces for
one sample (a pretrained model: every layer's output). A pretrained model's multiply-adds
come from its card, which counts them for the input size the card was made for; a card made
for a varying size (None in its shapes), a layer with weights whose arithmetic is unknown and
a card from an older project file (until the model is next built) give an unknown cost (None).

`training_memory` adds up what training takes for a batch: weights, gradients and optimizer
slots of what trains, and the activations kept for the backward pass. Nothing here imports
TensorFlow, and a node's cost is a few multiplications, so validation stays fast."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from app.core.analysis.memory import BYTES, WEIGHT_BYTES, human, machine_memory
from app.core.cards.arithmetic import attention_macs, layer_macs
from app.core.cards.card import ModelCard
from app.core.graph.graph import Graph, Node
from app.core.graph.specs import TensorSpec
from app.core.nodes.base import OUTPUT, PRETRAINED, NodeType

# Optimizer slots per trained weight: Adam and AdamW keep two moments, RMSprop one average,
# SGD its momentum (Graft's SGD uses momentum 0.9; see training/optim.py).
OPTIMIZER_SLOTS = {"adam": 2, "adamw": 2, "rmsprop": 1, "sgd": 1}


class Cost(NamedTuple):  # a tuple: made for every node on every validation, it must be cheap
    """A node's cost, or a sum of them; None: unknown. `partial`: a sum that left out
    nodes whose cost is unknown."""

    macs: int | None = 0  # multiply-adds per sample
    param_bytes: int | None = 0
    activation_bytes: int | None = 0  # per sample
    partial: bool = False


def node_cost(node: Node, kind: NodeType, inputs: dict[str, TensorSpec], outputs: dict[str, TensorSpec],
              param_count: int | None, card: ModelCard | None) -> Cost:
    """The cost of `node` given its inferred specs and parameter count (`card`: a pretrained
    node's model card)."""
    params = None if param_count is None else param_count * WEIGHT_BYTES
    if kind.category == PRETRAINED:
        if card is None:
            return Cost(None, params, None)
        macs = [layer.macs for layer in card.layers] if card.costed else [None]
        produced = [layer.output for layer in card.layers if layer.class_name != "InputLayer"]
        return Cost(None if None in macs else sum(macs), params, _bytes(s for s in produced if s))
    if kind.category == OUTPUT:
        return Cost(0, params, 0)  # it returns what reaches it
    return Cost(_node_macs(node, inputs, outputs), params, _bytes(outputs.values()))


_MULTIPLYING = frozenset({"Dense", "ChannelProjection", "Dot", "KerasLayer", "AttentionFusion"})


def _node_macs(node: Node, inputs: dict[str, TensorSpec], outputs: dict[str, TensorSpec]) -> int | None:
    """Graft's own node types by the Keras layer each builds; the rest do no multiply-adds."""
    if node.type not in _MULTIPLYING:
        return 0
    p = node.params
    out = outputs.get("out")
    shape = out.shape if out else None
    if node.type == "Dense":
        return layer_macs("Dense", {}, [inputs["in"].shape], shape, True)
    if node.type == "ChannelProjection":
        return layer_macs("Conv2D", {"kernel_size": 1}, [inputs["in"].shape], shape, True)
    if node.type == "Dot":
        return layer_macs("Dot", {"axes": p["axes"]}, [inputs[port].shape for port in sorted(inputs)],
                          shape, False)
    if node.type == "KerasLayer":
        ports = sorted(inputs, key=lambda port: int(port[2:] or 0))  # in, or in0, in1, … in10
        return layer_macs(p["class_name"], p["config"], [inputs[port].shape for port in ports], shape,
                          True)
    query, value = inputs["query"].shape, inputs["value"].shape  # AttentionFusion
    key = inputs["key"].shape if "key" in inputs else value
    if p["mode"] == "dot_product":
        return layer_macs("Attention", {}, [query, value, key], shape, False)
    return attention_macs(query, key, value, p["num_heads"], p["key_dim"], p["key_dim"])


def _bytes(specs: Iterable[TensorSpec]) -> int | None:
    """Bytes of one sample of each tensor, summed; None when a size is unknown."""
    total = 0
    for spec in specs:
        count = BYTES.get(spec.dtype, 4)
        for dim in spec.shape[1:]:
            if dim is None:
                return None
            count *= dim
        total += count
    return total


def total_cost(costs: Iterable[Cost]) -> Cost:
    """The sum over nodes; an unknown part is left out and marks the sum `partial`."""
    macs = params = activations = 0
    partial = False
    for cost in costs:
        for value in (cost.macs, cost.param_bytes, cost.activation_bytes):
            partial |= value is None
        macs += cost.macs or 0
        params += cost.param_bytes or 0
        activations += cost.activation_bytes or 0
    return Cost(macs, params, activations, partial)


def nodes_macs(analysis, node_ids: Iterable[str]) -> int | None:
    """Multiply-adds per sample of these nodes of `analysis`, summed; None when one is unknown."""
    total = 0
    for node_id in node_ids:
        result = analysis.nodes.get(node_id)
        if result is None or result.cost is None or result.cost.macs is None:
            return None
        total += result.cost.macs
    return total


# -- training memory --------------------------------------------------------------------------

@dataclass(frozen=True)
class TrainingMemory:
    """Bytes that training a batch takes, by what they hold; `partial`: some node's size is
    unknown and left out, so the estimate is low."""

    weights: int
    gradients: int
    optimizer: int
    activations: int
    batch_size: int
    partial: bool = False

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.activations

    @property
    def machine(self) -> int | None:
        return machine_memory()

    @property
    def exceeds_machine(self) -> bool:
        return self.machine is not None and self.total > self.machine


def training_memory(analysis, graph: Graph, trainable: Mapping[str, int],
                    settings: Mapping) -> TrainingMemory:
    """Training memory with the training setup's `settings` (its optimizer, batch_size and
    mixed_precision), where `trainable` gives the parameters each node trains in the phase
    (freezing.trainable_by_node).

    All weights are held as float32; each trained one has a gradient and the optimizer's slots
    (float32 too). Activations are kept for the backward pass by the nodes it goes through: a
    node that trains and every node after it; a frozen base before them only runs forward and
    keeps nothing. Under mixed precision activations are float16: half the bytes."""
    trains = {node_id for node_id, count in trainable.items() if count}
    owners = {graph.node(node_id).name for node_id in trains}  # their twins train the same weights
    trains |= {node.id for node in graph.nodes if node.params.get("share_weights_with") in owners}
    kept = set(trains)
    pending = list(trains)
    while pending:
        for edge in graph.out_edges(pending.pop()):
            if edge.target not in kept:
                kept.add(edge.target)
                pending.append(edge.target)
    total_params, _ = analysis.param_totals()
    learning = sum(trainable.values()) * WEIGHT_BYTES
    costs = [analysis.nodes[node_id].cost for node_id in kept if node_id in analysis.nodes]
    kept_cost = total_cost(cost for cost in costs if cost is not None)
    batch_size = settings["batch_size"]
    activations = kept_cost.activation_bytes * batch_size
    if settings.get("mixed_precision"):
        activations //= 2
    return TrainingMemory(
        weights=total_params * WEIGHT_BYTES, gradients=learning,
        optimizer=learning * OPTIMIZER_SLOTS.get(settings["optimizer"], 2), activations=activations,
        batch_size=batch_size, partial=kept_cost.partial or None in costs)


def training_memory_text(estimate: TrainingMemory) -> str:
    """One line: the estimate, what it is made of, and whether it fits this machine."""
    parts = ", ".join(f"{what} {human(size)}" for what, size in (
        ("weights", estimate.weights), ("gradients", estimate.gradients),
        ("optimizer", estimate.optimizer), ("activations", estimate.activations)))
    text = (f"training memory at batch {estimate.batch_size:,}: "
            f"{'at least ' if estimate.partial else 'about '}{human(estimate.total)} ({parts})")
    if estimate.exceeds_machine:
        text += (f"; more than this machine's {human(estimate.machine)}: lower the batch size, "
                 "freeze more nodes or use a smaller input size")
    return text


# -- as people read them ----------------------------------------------------------------------

def cost_texts(cost: Cost | None) -> tuple[str, str, str]:
    """Multiply-adds, parameter memory and activation memory as `graft summary` and the
    inspector show them: "301 M", "13.6 MB", "107.3 MB" ("?" when unknown)."""
    if cost is None:
        return "?", "?", "?"
    return (macs_text(cost.macs), "?" if cost.param_bytes is None else human(cost.param_bytes),
            "?" if cost.activation_bytes is None else human(cost.activation_bytes))


def macs_text(count: int | None) -> str:
    """Multiply-adds the way papers quote them: 900, 12 K, 301 M, 3.9 G ("?" when unknown)."""
    if count is None:
        return "?"
    if count < 1000:
        return f"{count}"
    value = float(count)
    for unit in ("K", "M", "G", "T", "P"):
        value /= 1000
        if round(value) < 1000 or unit == "P":
            break
    return f"{value:.1f} {unit}" if value < 9.95 else f"{value:.0f} {unit}"
