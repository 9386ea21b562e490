"""What a node needs of the machine's memory, estimated before anything is built, and
TensorFlow's own out-of-memory and out-of-range failures told in words.

The validator asks `too_big` about every node: a node whose weights, or whose output for one
batch, would not fit in this machine's memory is an error before compile, because Keras
would otherwise fail in the middle of a build or a fit with TensorFlow's raw text. The
estimate is a lower bound (unknown dimensions count as 1), so it never refuses a graph that
fits. Nothing here imports TensorFlow."""

from __future__ import annotations

import math
import os
from functools import lru_cache

from app.core.graph.graph import Graph
from app.core.graph.params import INT, INTS, JSON, SHAPE
from app.core.graph.specs import TensorSpec
from app.core.nodes import node_type
from app.core.nodes.keras_layer import config_integers

BYTES = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8, "int8": 1, "uint8": 1,
         "int16": 2, "uint16": 2, "int32": 4, "int64": 8, "bool": 1}
WEIGHT_BYTES = 4  # weights are float32 (mixed precision keeps them so)


@lru_cache(maxsize=1)
def machine_memory() -> int | None:
    """This machine's physical memory in bytes, or None where the system does not say (then
    nothing is refused for its size)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX, or the name is unknown here
        return _windows_memory()
    return total if total > 0 else None


def _windows_memory() -> int | None:
    try:
        import ctypes

        class Status(ctypes.Structure):
            _fields_ = [("length", ctypes.c_ulong), ("load", ctypes.c_ulong),
                        ("total", ctypes.c_ulonglong), ("available", ctypes.c_ulonglong),
                        ("total_page", ctypes.c_ulonglong), ("available_page", ctypes.c_ulonglong),
                        ("total_virtual", ctypes.c_ulonglong),
                        ("available_virtual", ctypes.c_ulonglong),
                        ("available_extended", ctypes.c_ulonglong)]

        status = Status()
        status.length = ctypes.sizeof(Status)
        if ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):
            return int(status.total)
    except (AttributeError, OSError):
        pass
    return None


def human(size: float) -> str:
    """Bytes as system monitors show memory: `11.2 TB`, `512.0 MB` (units of 1024)."""
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB", "EB"):
        if size < 1024 or unit == "EB":
            break
        size /= 1024
    if unit == "bytes":
        return f"{int(size)} bytes"
    return f"{size:,.1f} {unit}" if size < 1e6 else f"{size:.3g} {unit}"


def output_bytes(spec: TensorSpec, batch: int) -> int:
    """Memory of one batch of this tensor; unknown dimensions count as 1 (a lower bound)."""
    dims = spec.shape[1:]
    count = math.prod(dims) if None not in dims else math.prod(d for d in dims if d is not None)
    return count * max(batch, 1) * BYTES.get(spec.dtype, 4)


def too_big(name: str, inputs: dict[str, TensorSpec], outputs: dict[str, TensorSpec],
            param_count: int | None, batch: int = 1) -> str | None:
    """Why node `name` cannot fit in this machine's memory, as one line, or None when it can.
    An output is only blamed on the node that makes it too big: when an input already is,
    the node upstream says so. Called for every node on every validation, so it is cheap."""
    limit = machine_memory()
    if limit is None:
        return None
    if param_count and param_count * WEIGHT_BYTES > limit:
        return (f"{name!r} has {param_count:,} weights ({human(param_count * WEIGHT_BYTES)} as "
                f"float32), more than this machine's {human(limit)} of memory; make it smaller "
                "(fewer units, filters or classes)")
    for spec in outputs.values():
        size = output_bytes(spec, batch)
        if size <= limit:
            continue
        if any(output_bytes(given, batch) > limit for given in inputs.values()):
            return None
        dims = "×".join("?" if d is None else f"{d:,}" for d in spec.shape[1:])
        per = "per sample" if batch <= 1 else f"for a batch of {batch:,}"
        return (f"{name!r} outputs {dims} {spec.dtype} values = {human(size)} {per}, more "
                f"than this machine's {human(limit)} of memory; make it smaller (a smaller "
                "size or fewer channels, or a smaller batch)")
    return None


# -- TensorFlow's failures, told plainly --------------------------------------------------

def is_out_of_memory(error: BaseException) -> bool:
    """TensorFlow's ResourceExhaustedError (`OOM when allocating …`) or Python's MemoryError,
    recognised without importing TensorFlow."""
    if isinstance(error, MemoryError):
        return True
    names = {cls.__name__ for cls in type(error).__mro__}
    return "ResourceExhaustedError" in names or "OOM when allocating" in str(error)


def is_out_of_range(error: BaseException) -> bool:
    """A size too large for TensorFlow's integers (`Can't convert Python sequence with
    out-of-range integer`, or Python's OverflowError on the way there)."""
    return isinstance(error, OverflowError) or "out-of-range integer" in str(error)


def readable_failure(error: BaseException, graph: Graph, doing: str = "training") -> str | None:
    """TensorFlow's out-of-memory or out-of-range failure while `doing` as one line saying what
    to change, then the notes a run added (what it kept); None for any other error, whose own
    text is then the message."""
    notes = "".join(f"; {note}" for note in getattr(error, "__notes__", ()))
    if is_out_of_memory(error):
        return (f"{doing} ran out of memory: this model needs more than the machine (or its "
                "GPU) has, mostly for the batch size and the image or layer sizes; lower "
                f"the batch size, resize the images smaller or use fewer units or filters{notes}")
    if is_out_of_range(error):
        largest = largest_number(graph)
        named = f"; the largest is {largest[0]} = {largest[1]:,}" if largest else ""
        return (f"{doing} failed: a size is too large for TensorFlow's integers{named}; make "
                f"the sizes in the graph smaller{notes}")
    return None


def largest_number(graph: Graph) -> tuple[str, int] | None:
    """The node parameter holding the largest integer (`resize.height`, 1000000), where a size
    too large for TensorFlow most likely comes from; a Keras layer's config counts too."""
    found: list[tuple[int, str]] = []
    for node in graph.nodes:
        for param in node_type(node.type).params:
            value = node.params.get(param.name)
            if param.kind == INT and value is not None:
                found.append((abs(value), f"{node.name}.{param.name}"))
            elif param.kind in (SHAPE, INTS):
                found += [(abs(v), f"{node.name}.{param.name}") for v in value if v is not None]
            elif param.kind == JSON:
                found += [(abs(v), f"{node.name}.{param.name}.{key}")
                          for key, v in config_integers(value)]
    if not found:
        return None
    value, where = max(found)
    return where, value
