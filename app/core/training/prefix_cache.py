"""Frozen-prefix caching: in a phase whose trainable nodes sit after a frozen, deterministic
prefix, that prefix gives each sample the same tensors every epoch. They are computed once per
phase (the caching pass) for the training and validation samples, and the phase trains a view
of the model from the cut (the prefix's tensors that feed the rest) to its Outputs on them. The
view shares every layer with the full model, so the run saves the full model's weights.

A batch finds its cached rows by a fingerprint of its samples' inputs, so the run's own data
pipeline (its shuffling and seed included) feeds the phase as before, and the loss history is
the uncached one's within float rounding. Caching stays off, with the reason, where it would
change results: a random layer (dropout, noise, augmentation; inside a pretrained model too)
before the trainable nodes, batch normalisation in training mode, or nothing frozen with
weights before them; and where it would not pay: a prefix computed faster than its rows are
looked up. The run record (run.json, "prefix_cache") says per phase which."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np

from app.core.nodes import node_type
from app.core.nodes.base import INPUT, OUTPUT

MEMORY_LIMIT = 1 << 30  # bytes of cached tensors kept in memory; beyond, .npy files in the run folder
CACHE_FOLDER = "prefix-cache"  # in the run folder, while a phase trains on a cache on disk
OFF = "cache_frozen_prefix is off"
# Multiply-adds per sample below which a prefix is computed faster than its cached rows are found
# (about 1 ms a batch of 32 on a 2-core CPU): the cascade recipe's Dense 64-32-10 (6,500) trained
# its second phase in 1.25 s cached against 0.79 s not; the digit encoder (305,000) gains.
CHEAPEST_PREFIX = 100_000
RANDOM, TRAINS, STATE = "random", "trains", "state"  # how a node changes from epoch to epoch


@dataclass
class Plan:
    """What a phase would cache: the nodes at the cut, the Inputs it is computed from, and
    why it is not cached (None: it is)."""

    cut: list[str]
    inputs: list[str]
    reason: str | None


def plan(graph, model, outputs) -> Plan:
    """The frozen prefix of the phase training `outputs` (Output names) on the compiled `model`,
    with its freezing for the phase applied: each node that changes from epoch to epoch (it
    trains, is random, or is fed by one that does) is in the rest; the cut is every other node
    that feeds one of them."""
    ids = {n.name: n.id for n in graph.nodes}
    needed = graph.upstream(ids[name] for name in outputs)
    order = [n for n in nx.topological_sort(graph.topology) if n in needed]
    changing, random, trains, weighted = {}, [], [], set()
    for node_id in order:
        node = graph.node(node_id)
        category = node_type(node.type).category
        fed = any(changing[e.source] for e in graph.in_edges(node_id))
        change, layer = None, None
        if category == OUTPUT:
            change = (OUTPUT, "")
        elif category != INPUT:
            layer = _layer(model, node)
            change = _changes(layer, node.name)
        changing[node_id] = fed or change is not None
        if change and not fed and change[0] == RANDOM:
            random.append(change[1])
        elif change and not fed and change[0] == TRAINS:
            trains.append(change[1])
        if layer is not None and layer.weights and not changing[node_id]:
            weighted.add(node_id)
    cut = [n for n in order if not changing[n] and any(changing.get(t, False) for t in graph.topology[n])]
    names = [graph.node(n).name for n in cut]
    inputs = sorted(graph.node(n).name for n in graph.upstream(cut)
                    if node_type(graph.node(n).type).category == INPUT)
    if not weighted & graph.upstream(cut):
        if random:
            return Plan(names, inputs, f"{random[0]} before the trainable nodes")
        return Plan(names, inputs, "no frozen prefix" + (f": {trains[0]}" if trains else ""))
    for name in names:
        tensor = _output(model, name)
        if tensor is None:
            return Plan(names, inputs, f"{name!r} gives several tensors; the cut needs one per node")
        if None in tuple(tensor.shape)[1:]:
            return Plan(names, inputs, f"{name!r} has no fixed shape per sample")
    return Plan(names, inputs, None)


def too_cheap(graph, analysis, cut: list[str]) -> str | None:
    """Why the prefix that ends at the nodes named `cut` is not worth caching, or None."""
    from app.core.analysis.cost import macs_text, nodes_macs

    ids = {n.name: n.id for n in graph.nodes}
    macs = nodes_macs(analysis, graph.upstream(ids[name] for name in cut))
    if macs is not None and macs < CHEAPEST_PREFIX:
        return f"the prefix is cheaper to compute than to look up ({macs_text(macs)} multiply-adds a sample)"
    return None


def _layer(model, node):
    """The node's Keras layer; a node sharing a pretrained model's weights uses its owner's."""
    for name in (node.name, node.params.get("share_weights_with")):
        if name:
            try:
                return model.get_layer(name)
            except ValueError:
                continue
    return None


def _changes(layer, name: str) -> tuple[str, str] | None:
    """Why a node's output can differ from epoch to epoch for one sample, as (RANDOM, TRAINS
    or STATE, in words), or None."""
    import keras

    if layer is None:
        return STATE, f"{name!r} has no layer of its own"
    for inner in _all_layers(layer):
        where = repr(inner.name) if inner is layer else f"{inner.name!r} in {name!r}"
        if any(isinstance(value, keras.random.SeedGenerator) for value in vars(inner).values()):
            kind = type(inner).__name__
            noise = "Dropout" in kind or "Noise" in kind
            return RANDOM, f"{kind} {where}" if noise else f"augmentation {where}"
    if layer.trainable_weights:
        return TRAINS, f"{name!r} trains in this phase"
    for inner in _all_layers(layer):
        if isinstance(inner, keras.layers.BatchNormalization) and inner.trainable:
            return RANDOM, f"batch normalisation {inner.name!r} in training mode"
    return None


def _all_layers(layer):
    yield layer
    for inner in getattr(layer, "layers", ()):
        yield from _all_layers(inner)


def _output(model, name: str):
    """The one tensor the node's layer gives in `model`, or None (several outputs, or called
    more than once). A nested model's own `output` is its inner graph's, so the tensor comes
    from the layer's one call (Keras has no public name for it)."""
    import keras

    try:
        calls = getattr(model.get_layer(name), "_inbound_nodes", [])
    except ValueError:  # a node sharing another's model has no layer of its own
        return None
    tensors = calls[0].output_tensors if len(calls) == 1 else []
    return tensors[0] if len(tensors) == 1 and isinstance(tensors[0], keras.KerasTensor) else None


def fingerprint(inputs: dict, names: list[str]):
    """One int64 per sample of a batch, from the bytes of its `names` inputs."""
    import tensorflow as tf

    parts = [tf.fingerprint(inputs[name]) for name in names]
    combined = parts[0] if len(parts) == 1 else tf.fingerprint(tf.concat(parts, axis=1))
    return tf.bitcast(combined, tf.int64)


class PrefixCache:
    """The cut's tensors for every training and validation sample, kept in memory or in .npy
    files, found by the fingerprint of each sample's inputs; `view` trains from them."""

    def __init__(self, plan: Plan, arrays: list[np.ndarray], folder: Path | None, keys: np.ndarray):
        self.names, self.inputs, self.arrays, self.folder = plan.cut, plan.inputs, arrays, folder
        self.view, self.outputs = None, []  # keras.Model: from the cut to these Outputs
        self.order = np.argsort(keys, kind="stable")
        self.keys = keys[self.order]

    def clashes(self) -> bool:
        """Whether two samples share a fingerprint but not their cut (a collision, which
        would feed one sample another's tensors)."""
        for at in np.flatnonzero(self.keys[1:] == self.keys[:-1]):
            one, other = self.order[at], self.order[at + 1]
            if not all(np.allclose(a[one], a[other], rtol=1e-5, atol=1e-6, equal_nan=True)
                       for a in self.arrays):
                return True
        return False

    def rows(self, keys: np.ndarray) -> list[np.ndarray]:
        """The cut's tensors of the samples with these fingerprints."""
        at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        if not np.array_equal(self.keys[at], keys):
            raise RuntimeError("a batch holds a sample the frozen-prefix cache did not compute; set the "
                               "training setting cache_frozen_prefix off and report this")
        found = self.order[at]
        return [np.asarray(array[found]) for array in self.arrays]

    def feed(self, dataset):
        """`dataset` (batches of inputs and targets) with the inputs replaced by the cut's
        cached tensors, in the order of the view's inputs; None stays None."""
        if dataset is None:
            return None
        import tensorflow as tf

        dtypes = [tf.as_dtype(array.dtype) for array in self.arrays]

        def swap(inputs, *rest):
            found = tf.numpy_function(self.rows, [fingerprint(inputs, self.inputs)], dtypes, stateful=False)
            for tensor, array in zip(found, self.arrays):
                tensor.set_shape((None, *array.shape[1:]))
            return (tuple(found), *rest)

        return dataset.map(swap, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    def predict(self, inputs: dict, batch_size: int) -> dict:
        """The view's predictions for `inputs` (arrays by Input name), from their cached cut."""
        keys = fingerprint({name: inputs[name] for name in self.inputs}, self.inputs).numpy()
        return self.view.predict(self.rows(keys), verbose=0, batch_size=batch_size)

    def close(self) -> None:
        """Let go of the tensors; a cache on disk is deleted."""
        self.arrays = []
        _remove(self.folder)


def cache_phase(plan: Plan, model, outputs, datasets, count: int, run_folder: Path):
    """The caching pass: the prefix of `plan` on every sample of `datasets` (`count` in all, in
    any order), with the view that trains from the cut to `outputs`. Returns (cache, note), the
    cache None where it cannot be used; `note` is what run.json says of the phase."""
    import keras

    began = time.monotonic()
    cut = [_output(model, name) for name in plan.cut]
    prefix = keras.Model({t.name: t for t in model.inputs if t.name in plan.inputs}, cut)
    keys, filled = np.empty(count, np.int64), [[], None]
    try:
        row = _fill(prefix, plan.inputs, datasets, keys, filled, run_folder)
    except OSError as error:
        _remove(filled[1])
        return None, {"used": False, "reason": f"no room for the cache in {run_folder}: "
                                              f"{error.strerror or error}"}
    cache = PrefixCache(plan, *filled, keys[:row])
    if row != count or cache.clashes():
        cache.close()
        reason = "two samples share a fingerprint" if row == count else \
            f"the data did not give the {count} samples it counted"
        return None, {"used": False, "reason": reason}
    cache.outputs = list(outputs)
    cache.view = keras.Model(cut, {name: model.get_layer(name).output for name in outputs})
    note = {"used": True, "cut": plan.cut, "samples": count,
            "bytes": int(sum(array.nbytes for array in cache.arrays)),
            "stored": "disk" if cache.folder else "memory", "seconds": round(time.monotonic() - began, 3)}
    return cache, note


def _fill(prefix, names: list[str], datasets, keys: np.ndarray, filled: list, run_folder: Path) -> int:
    """The prefix's tensors for each sample of `datasets`, row by row, with each row's key in
    `keys`; `filled` gets the arrays and their folder (None: in memory) once the first batch
    tells their shapes. Returns the number of samples (len(keys) + 1 for more than fit)."""
    import tensorflow as tf

    compute, row = None, 0
    for dataset in datasets:
        for inputs, *_ in dataset:
            inputs = {name: inputs[name] for name in names}
            if compute is None:  # traced once for every batch size
                specs = {name: tf.TensorSpec((None, *t.shape[1:]), t.dtype) for name, t in inputs.items()}
                compute = tf.function(lambda x: prefix(x, training=False), input_signature=[specs])
            found = [np.asarray(tensor) for tensor in tf.nest.flatten(compute(inputs))]
            size = len(found[0])
            if row + size > len(keys):
                return len(keys) + 1
            if not filled[0]:
                filled[:] = _allocate(found, len(keys), run_folder)
            keys[row:row + size] = fingerprint(inputs, names).numpy()
            for array, tensor in zip(filled[0], found):
                array[row:row + size] = tensor
            row += size
    return row


def _allocate(found: list, count: int, run_folder: Path):
    """Room for `count` samples of each cut tensor (`found`: the first batch's): in memory, or
    memory-mapped .npy files in the run folder when they would take more than MEMORY_LIMIT."""
    shapes = [(count, *np.shape(tensor)[1:]) for tensor in found]
    dtypes = [np.asarray(tensor).dtype for tensor in found]
    total = sum(int(np.prod(shape)) * dtype.itemsize for shape, dtype in zip(shapes, dtypes))
    if total <= MEMORY_LIMIT:
        return [np.empty(shape, dtype) for shape, dtype in zip(shapes, dtypes)], None
    folder = Path(run_folder) / CACHE_FOLDER
    folder.mkdir(exist_ok=True)
    return [np.lib.format.open_memmap(folder / f"cut{i}.npy", mode="w+", dtype=dtype, shape=shape)
            for i, (shape, dtype) in enumerate(zip(shapes, dtypes))], folder


def _remove(folder: Path | None) -> None:
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)  # a file still mapped stays till the run ends
