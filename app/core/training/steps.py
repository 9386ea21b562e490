"""How many training steps a phase runs per call into TensorFlow when the setting is auto (0).

Each call costs a fixed overhead (Python, the callback, launching the step), which a small
model pays many times over its arithmetic: digits trains about twice as fast at 8 steps a call
as at 1. But progress, pause and stop act between calls, so a call must stay short. The phase's
step is costed from what Graft already knows, without building or timing anything: the
multiply-adds per sample of the nodes the phase computes (analysis/cost.py; a cached frozen
prefix is not computed), three times over for the backward pass, times the batch. As many
steps as fit in CALL_SECONDS at MACS_PER_SECOND (a modest CPU; a faster machine only makes the
calls shorter) run per call, at most MOST_STEPS. A node whose cost is unknown gives 1."""

from __future__ import annotations

from app.core.analysis.cost import nodes_macs

AUTO = 0  # the setting's value for "Graft picks it"
CALL_SECONDS = 0.1  # the longest a call should take: progress, pause and stop act between calls
MACS_PER_SECOND = 1e10  # multiply-adds a second assumed of the machine: a modest CPU
TRAINING_FACTOR = 3  # a training step: the forward pass and a backward pass of about twice its cost
MOST_STEPS = 16  # beyond this the overhead is already small (digits: 16 gains ~5 % over 8)


def steps_per_execution(setting: int, analysis, graph, outputs, computed_after: list[str] | None,
                        batch_size: int) -> int:
    """The steps per call for a phase training the Outputs named `outputs`: `setting` when it
    is not AUTO; otherwise from the cost of the nodes the phase computes (those feeding
    `outputs`, less the cached prefix that ends at the nodes named `computed_after`)."""
    if setting != AUTO:
        return setting
    macs = step_macs(analysis, graph, outputs, computed_after or [], batch_size)
    if macs is None:
        return 1
    fitting = int(CALL_SECONDS * MACS_PER_SECOND // max(macs, 1))
    return max(1, min(MOST_STEPS, fitting))


def step_macs(analysis, graph, outputs, cut: list[str], batch_size: int) -> int | None:
    """Multiply-adds of one training step of the nodes feeding `outputs` after the nodes named
    `cut` (and not those); None when one of them has an unknown cost."""
    ids = {n.name: n.id for n in graph.nodes}
    computed = graph.upstream(ids[name] for name in outputs) - graph.upstream(ids[name] for name in cut)
    macs = nodes_macs(analysis, computed)
    return None if macs is None else TRAINING_FACTOR * batch_size * macs
