"""The palette: every node a user can add, by section, searchable, draggable onto the canvas.
The same entries feed the quick-add box (Tab)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QMimeData, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QAbstractItemView, QLineEdit, QTreeView, QVBoxLayout, QWidget

from app.core.cards.applications import APPLICATIONS, Application
from app.core.nodes import REGISTRY
from app.core.nodes.base import ADAPTER, INPUT, LAYER, MERGE, OUTPUT, PRETRAINED
from app.gui.theme import category_icon, icon

MIME = "application/x-graft-node"
MODELS_DIR = Path(__file__).resolve().parents[3] / "resources" / "models"
SECTIONS = ((INPUT, "Inputs"), (PRETRAINED, "Pretrained"), (ADAPTER, "Adapters"),
            (MERGE, "Merges"), (LAYER, "Keras layers"), (OUTPUT, "Outputs"))

# Common keras.layers classes offered ready-made; any other is one config edit away.
KERAS_LAYERS = {
    "Conv2D": {"filters": 32, "kernel_size": 3, "padding": "same", "activation": "relu"},
    "MaxPooling2D": {"pool_size": 2},
    "Conv1D": {"filters": 32, "kernel_size": 3, "padding": "same", "activation": "relu"},
    "LSTM": {"units": 64},
    "GRU": {"units": 64},
    "SpatialDropout2D": {"rate": 0.1},
    "UpSampling2D": {"size": 2},
}


FILE, FOLDER = "file", "folder"  # what an import entry asks the user for


@dataclass(frozen=True)
class Entry:
    """One thing to add: a node type with preset parameters. An entry with `pick` asks for a
    model file or a SavedModel folder first; `group` nests it inside its section."""

    label: str
    category: str
    type_name: str
    params: dict = field(default_factory=dict, hash=False)
    help: str = ""
    pick: str = ""
    group: str = ""

    def to_json(self) -> str:
        return json.dumps({"label": self.label, "category": self.category, "type": self.type_name,
                           "params": self.params, "pick": self.pick})


# What most compositions are made of: among equal matches these come before the rest.
COMMON = {"Input", "Output", "Dense", "Flatten", "GlobalAveragePooling2D", "Dropout", "Concatenate",
          "Add", "Conv2D", "MaxPooling2D", "Resizing", "Rescaling", "Preprocess", "BatchNormalization"}
MAX_RECENT_CHOICES = 10


def _words(name: str) -> list[str]:
    """A name's words, camel case split too: GlobalAveragePooling2D → global, average, pooling, 2d."""
    return re.sub(r"([a-z])([A-Z])", r"\1 \2", name).lower().replace("_", " ").split()


def match_rank(entry: Entry, text: str) -> int | None:
    """How well `entry` fits what was typed, lower is better; None when a word is missing.
    A name that is exactly the text comes first ("dense" means Dense, not DenseNet121), then
    names that start with it, then a word of the name that does, then any match."""
    words = text.lower().split()
    names = (entry.type_name.lower(), entry.label.lower())
    if not all(w in f"{names[0]} {names[1]} {entry.category}".lower() for w in words):
        return None
    typed = " ".join(words)
    if typed in names:
        return 0
    if any(name.startswith(typed) for name in names):
        return 1
    if words and any(part.startswith(words[0]) for name in (entry.type_name, entry.label)
                     for part in _words(name)):
        return 2
    return 3


def intent_rank(entry: Entry, text: str, recent: list[str]) -> tuple | None:
    """What a user most likely means by `text`, lower first; None when it does not match.
    By how the name matches, then the user's recent choices (most recent first), then common
    layers before the others and pretrained architectures last (catalog order breaks ties)."""
    tier = match_rank(entry, text) if text.split() else 0
    if tier is None:
        return None
    kind = entry.params.get("class_name") or entry.type_name
    weight = 2 if entry.category == PRETRAINED else 0 if kind in COMMON else 1
    recency = recent.index(entry.label) if entry.label in recent else len(recent)
    return tier, recency, weight


class RecentChoices:
    """The entries this user added last, newest first, kept in the editor's settings so the
    palette and quick-add offer them first in every window and the next session."""

    KEY = "recent_nodes"

    def __init__(self, settings=None):
        self.settings = settings
        stored = settings.value(self.KEY, []) if settings is not None else []
        self.labels: list[str] = [stored] if isinstance(stored, str) else list(stored or [])

    def add(self, entry: Entry) -> None:
        self.labels = [entry.label, *(label for label in self.labels if label != entry.label)]
        del self.labels[MAX_RECENT_CHOICES:]
        if self.settings is not None:
            self.settings.setValue(self.KEY, self.labels)


def entries() -> list[Entry]:
    """Every palette entry, in section order."""
    found: list[Entry] = []
    for category, _ in SECTIONS:
        for kind in REGISTRY.values():
            if kind.category != category or kind.category == PRETRAINED:
                continue
            if kind.name == "KerasLayer":
                found += [Entry(name, LAYER, "KerasLayer", {"class_name": name, "config": config},
                                f"keras.layers.{name}; edit its config in the inspector.")
                          for name, config in KERAS_LAYERS.items()]
                found.append(Entry("Keras layer (any class)", LAYER, "KerasLayer", {}, kind.help))
                continue
            found.append(Entry(kind.title, category, kind.name, {}, kind.help))
        if category == PRETRAINED:
            found.append(Entry("Import model file…", PRETRAINED, "ModelFile", {},
                               "A .keras or .h5 (.hdf5) model of your own, loaded in safe mode.", pick=FILE))
            found.append(Entry("Import SavedModel folder…", PRETRAINED, "ModelFile", {},
                               "A TensorFlow SavedModel, used for inference only.", pick=FOLDER))
            found += [Entry(path.stem, PRETRAINED, "ModelFile", {"path": str(path)}, _bundled_help(path),
                            group="Bundled models")
                      for path in sorted(MODELS_DIR.glob("*.keras"))]
            found += [_application(app) for app in APPLICATIONS.values()]
    return found


def _bundled_help(path: Path) -> str:
    """What a bundled model does and how well, from the card beside it."""
    try:
        card = json.loads(path.with_suffix(".card.json").read_text(encoding="utf-8"))
        score = card["evaluation"]
        of = "" if score["of"] == "this model" else f" of {score['of']}"
        return (f"{card['summary']} {score['metric'].capitalize()}{of}: {score['value']:.1%} on the "
                f"{score['on']} ({card['data']['dataset']}).")
    except (OSError, ValueError, KeyError, TypeError):
        return f"The bundled model {path.name}."


def _application(app: Application) -> Entry:
    size = app.default_size
    params = {"architecture": app.name, "input_shape": [size, size, 3]}
    return Entry(app.name, PRETRAINED, "Application", params,
                 f"keras.applications.{app.name} at {size}×{size}; weights none, imagenet or a local file.",
                 group="Keras Applications")


def entry_mime(entry: Entry) -> QMimeData:
    mime = QMimeData()
    mime.setData(MIME, entry.to_json().encode())
    return mime


def entry_from_mime(mime: QMimeData) -> Entry | None:
    if not mime.hasFormat(MIME):
        return None
    try:
        data = json.loads(bytes(mime.data(MIME)).decode())
        return Entry(data["label"], data["category"], data["type"], data["params"], pick=data["pick"])
    except (ValueError, KeyError, TypeError):
        return None  # not ours after all


def _heading(title: str) -> QStandardItem:
    item = QStandardItem(title)
    item.setFlags(Qt.ItemFlag.ItemIsEnabled)
    return item


class _Model(QStandardItemModel):
    def mimeTypes(self):
        return [MIME]

    def mimeData(self, indexes):
        for index in indexes:
            entry = index.data(Qt.ItemDataRole.UserRole)
            if entry is not None:
                return entry_mime(entry)
        return None


class Palette(QWidget):
    activated = Signal(object)  # Entry: double-click or Enter adds it at the canvas centre

    def __init__(self, parent=None, recent: RecentChoices | None = None):
        super().__init__(parent)
        self.recent = recent or RecentChoices()
        self.search = QLineEdit(placeholderText="Search nodes…", clearButtonEnabled=True)
        self.search.addAction(icon("search"), QLineEdit.ActionPosition.LeadingPosition)
        self.model = _Model(self)
        for category, title in SECTIONS:
            section = _heading(title)
            section.setIcon(category_icon(category))
            groups: dict[str, QStandardItem] = {}
            for entry in entries():
                if entry.category != category:
                    continue
                parent = section
                if entry.group:
                    if entry.group not in groups:
                        groups[entry.group] = _heading(entry.group)
                        section.appendRow(groups[entry.group])
                    parent = groups[entry.group]
                item = QStandardItem(entry.label)
                item.setData(entry, Qt.ItemDataRole.UserRole)
                item.setToolTip(entry.help)
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                              | Qt.ItemFlag.ItemIsDragEnabled)
                parent.appendRow(item)
            self.model.appendRow(section)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setRecursiveFilteringEnabled(True)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.tree = QTreeView(headerHidden=True, uniformRowHeights=True)
        self.tree.setModel(self.proxy)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self._default_expansion()
        self.tree.activated.connect(self._activate)  # a double-click or Enter (not both: one node)
        self.search.textChanged.connect(self._filter)
        self.search.returnPressed.connect(self._activate_first)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)

    def _filter(self, text: str) -> None:
        self.proxy.setFilterFixedString(text.strip())
        if text.strip():
            self.tree.expandAll()  # every match in sight
        else:
            self.tree.collapseAll()
            self._default_expansion()

    def _default_expansion(self) -> None:
        """Sections open, and groups short enough to read at a glance; the 40 Keras
        Applications stay closed until searched or opened."""
        self.tree.expandToDepth(0)
        for row in range(self.proxy.rowCount()):
            section = self.proxy.index(row, 0)
            for child in range(self.proxy.rowCount(section)):
                group = self.proxy.index(child, 0, section)
                if 0 < self.proxy.rowCount(group) <= 8:
                    self.tree.expand(group)

    def _activate(self, index) -> None:
        entry = index.data(Qt.ItemDataRole.UserRole)
        if entry is not None:
            self.activated.emit(entry)

    def _activate_first(self) -> None:
        """Enter in the search box adds the best match (intent_rank), among those shown."""
        shown, pending = [], [self.proxy.index(row, 0) for row in range(self.proxy.rowCount())]
        while pending:
            index = pending.pop(0)
            if index.data(Qt.ItemDataRole.UserRole) is not None:
                shown.append(index)
            pending[:0] = [self.proxy.index(row, 0, index) for row in range(self.proxy.rowCount(index))]
        text, recent = self.search.text(), self.recent.labels
        ranked = [(rank, order, index) for order, index in enumerate(shown)
                  if (rank := intent_rank(index.data(Qt.ItemDataRole.UserRole), text, recent)) is not None]
        if ranked:
            self._activate(min(ranked, key=lambda row: row[:2])[2])

    def index_of(self, label: str):
        """The view index of the entry with this label (for keyboard and test navigation)."""
        matches = self.proxy.match(self.proxy.index(0, 0), Qt.ItemDataRole.DisplayRole, label, 1,
                                   Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive)
        return matches[0] if matches else None
