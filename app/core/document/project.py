"""The project: the one document Graft edits. It holds the graph, the training setup, the
model cards, a name and a description; commands (`app.core.editing`) are the only way they
change, and each change is announced: graph edits by the graph's events, the rest by the
project's own (`DocumentEvent`).

`path` is where its file is; `folder` is what relative paths in it are relative to (see
`paths.py`). The file format is in `fileformat.py`."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from app.core.cards.card import ModelCard, cached_card, card_to_dict
from app.core.cards.loading import shown
from app.core.document.migrations import CURRENT_VERSION
from app.core.document.training_setup import TrainingConfig
from app.core.graph.graph import Graph
from app.core.nodes import REGISTRY, Context
from app.core.nodes.base import PRETRAINED

FORMAT = "graft-project"
SUFFIX = ".graft"
TRAINING, INFO = "training", "info"  # the kinds of DocumentEvent


@dataclass(frozen=True)
class DocumentEvent:
    """What of the project changed besides its graph: TRAINING (the setup was replaced) or INFO
    (name or description)."""

    kind: str


@dataclass
class CardRecord:
    """A pretrained model's card as a project file keeps it: opening the project draws the
    graph without loading the model. `key` names the model (a file by name and sha256);
    `nodes` are the ids of the nodes that used it when the project was saved."""

    key: dict
    nodes: list[str]
    card: ModelCard


@dataclass
class Project:
    graph: Graph = field(default_factory=Graph)
    name: str = "Untitled"
    description: str = ""
    path: Path | None = None
    cards: list[CardRecord] = field(default_factory=list)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    folder: Path | None = None  # what relative paths in memory are relative to (see paths.py)
    # Ids of the nodes its file gave no position; opening lays them out (editing/layout.py).
    unplaced: list[str] = field(default_factory=list, repr=False, compare=False)
    listeners: list[Callable[[DocumentEvent], None]] = field(default_factory=list, repr=False,
                                                            compare=False)

    def __post_init__(self):
        if self.folder is None:  # a new project: its file's folder if it has one, or here
            self.folder = self.path.parent if self.path else Path.cwd()

    @property
    def context(self) -> Context:
        return Context(self.folder, self.training.settings["batch_size"])

    def subscribe(self, listener: Callable[[DocumentEvent], None]) -> None:
        self.listeners.append(listener)

    def unsubscribe(self, listener: Callable[[DocumentEvent], None]) -> None:
        self.listeners.remove(listener)

    def set_training(self, config: TrainingConfig) -> None:
        """Commands call this; it announces the change."""
        self.training = config
        self._emit(TRAINING)

    def set_info(self, name: str, description: str) -> None:
        self.name, self.description = name, description
        self._emit(INFO)

    def _emit(self, kind: str) -> None:
        event = DocumentEvent(kind)
        for listener in list(self.listeners):
            listener(event)

    def to_dict(self) -> dict:
        """The document as JSON data, paths as they are in memory; `fileformat.save` rebases them
        for the file's folder and writes the cards known now."""
        return {
            "format": FORMAT,
            "format_version": CURRENT_VERSION,
            "name": self.name,
            "description": self.description,
            "nodes": [
                {"id": n.id, "type": n.type, "name": n.name,
                 "position": [round(n.position[0], 2), round(n.position[1], 2)],
                 "params": copy.deepcopy(n.params)}
                for n in self.graph.nodes
            ],
            "edges": [
                {"id": e.id, "from": {"node": e.source, "port": e.source_port},
                 "to": {"node": e.target, "port": e.target_port}}
                for e in self.graph.edges
            ],
            "cards": [{"key": copy.deepcopy(r.key), "nodes": list(r.nodes), "card": card_to_dict(r.card)}
                      for r in self.cards],
            "training": self.training.to_dict(),
        }


def known_cards(project: Project) -> list[CardRecord]:
    """The cards of the project's pretrained models that are in memory now (nothing loads); a
    model that cannot be read here (its file is elsewhere) keeps the card the project had."""
    records: dict[str, CardRecord] = {}
    before = {node_id: record for record in project.cards for node_id in record.nodes}
    ctx = project.context
    for node in project.graph.nodes:
        kind = REGISTRY[node.type]
        if kind.category != PRETRAINED:
            continue
        key = kind.card_key(node, ctx)
        card = cached_card(key)
        if card is None and node.id in before:
            key, card = before[node.id].key, before[node.id].card
        if card is not None:
            text = json.dumps(key, sort_keys=True)
            records.setdefault(text, CardRecord(key, [], card)).nodes.append(node.id)
    return list(records.values())


def changed_models(project: Project) -> list[str]:
    """Model files that differ from when the project was saved (or are gone), as messages."""
    messages = []
    ctx = project.context
    for record in project.cards:
        for node_id in record.nodes:
            if not project.graph.has_node(node_id) or "sha256" not in record.key:
                continue
            node = project.graph.node(node_id)
            now = REGISTRY[node.type].card_key(node, ctx)
            if "unreadable" in now:
                messages.append(f"{node.name!r}: {now['unreadable']}")
            elif now.get("sha256") is None:
                messages.append(f"{node.name!r}: its model file {shown(Path(now['source']))} is "
                                "missing; fix the path or import the model again")
            elif now != record.key:
                messages.append(f"{node.name!r}: its model file {shown(Path(now['source']))} changed "
                                "since the project was saved; its shapes were read again")
    return messages
