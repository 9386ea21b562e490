"""The node catalog: every node type by name, grouped by palette category."""

from __future__ import annotations

from app.core.nodes.adapters import ADAPTERS
from app.core.nodes.base import CATEGORIES, Context, Inferred, NodeType, Port, ShapeError
from app.core.nodes.io import IO
from app.core.nodes.keras_layer import KerasLayer
from app.core.nodes.merges import MERGES
from app.core.nodes.preprocess import Preprocess
from app.core.nodes.pretrained import PRETRAINED_TYPES

REGISTRY: dict[str, NodeType] = {}


def register(node_type: NodeType) -> NodeType:
    """Add a node type to the catalog (later steps and plug-ins register more)."""
    if node_type.name in REGISTRY:
        raise ValueError(f"node type {node_type.name!r} is already registered")
    REGISTRY[node_type.name] = node_type
    return node_type


def node_type(name: str) -> NodeType:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown node type {name!r}") from None


def by_category() -> dict[str, list[NodeType]]:
    """Node types in palette order."""
    groups: dict[str, list[NodeType]] = {c: [] for c in CATEGORIES}
    for t in REGISTRY.values():
        groups[t.category].append(t)
    return groups


for _cls in (*IO, *PRETRAINED_TYPES, *ADAPTERS, Preprocess, *MERGES, KerasLayer):
    register(_cls())

__all__ = ["REGISTRY", "Context", "Inferred", "NodeType", "Port", "ShapeError", "by_category",
           "node_type", "register"]
