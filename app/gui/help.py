"""Help for the first hour: Help ▸ Getting Started (the seven jobs Graft is for, each with the
shipped example that shows it), File ▸ Examples, Help ▸ Keyboard Shortcuts and Help ▸ About.

An example opens as an unsaved copy: its models and data are found where it ships, and Save
asks where to keep it, so the shipped file stays as it is."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QFont, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
)

from app.core.editing.layout import open_project
from app.gui.document import Document
from app.versions import versions

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "resources" / "examples"


@dataclass(frozen=True)
class Example:
    path: Path
    title: str  # the project's own name: "Parallel + merge"


@dataclass(frozen=True)
class Job:
    title: str
    what: str
    example: str  # the example's file name without .graft


# The seven jobs of docs/DESIGN.md, each with the example that shows it
JOBS = (
    Job("Cascade", "Model A's output feeds model B: a digit classifier's probabilities go to a "
        "second model that refines them.", "cascade"),
    Job("Parallel + merge", "Two models read the same input; their outputs are concatenated and a "
        "new Dense head reads both.", "parallel"),
    Job("Shared base, several heads", "One pretrained trunk, two task heads, two losses weighted "
        "1.0 and 0.5 (a multi-output model).", "shared_base"),
    Job("Transfer learning", "A frozen pretrained base and a new head; then its last layers "
        "fine-tuned at a lower learning rate, as a second phase.", "transfer"),
    Job("Intermediate-layer fusion", "Tap an inner layer, not only the output: select a model, Graph ▸ "
        "Show Layers (Ctrl+I), tick a layer, and wire its tap: port into the merge.", "parallel"),
    Job("Adapters between models", "Shapes that do not fit are errors with a one-click fix that "
        "inserts the adapter: Flatten, pooling, a Cast.", "broken"),
    Job("Staged vs joint training", "Train A alone, then B with A frozen, then both together at a "
        "lower learning rate: one phase each, in the Training dock's Setup.", "cascade"),
)

ADDING_NODES = ("Start from nothing with File ▸ New: drag models, adapters and layers from the Palette "
                "onto the canvas (or press Tab there and type a name), then drag from an output port "
                "to an input port to connect them.")


def examples(folder: Path = EXAMPLES_DIR) -> list[Example]:
    """The shipped examples, by their project's name: those the jobs show first, in the jobs'
    order, then the others by name."""
    found = [Example(path, _title(path)) for path in folder.glob("*.graft")]
    shown = list(dict.fromkeys(job.example for job in JOBS))
    return sorted(found, key=lambda e: (shown.index(e.path.stem) if e.path.stem in shown else len(shown),
                                        e.title.lower()))


def _title(path: Path) -> str:
    try:
        name = json.loads(path.read_text(encoding="utf-8")).get("name")
    except (OSError, ValueError, AttributeError):
        name = None
    return name if isinstance(name, str) and name.strip() else path.stem.replace("_", " ").capitalize()


def example_document(path: Path) -> Document:
    """An example as a new, unsaved project: paths in it are found beside the example, and the
    first Save asks where to keep it. Raises ProjectError like any project that cannot be read."""
    project = open_project(path)
    project.path = None  # its folder stays the example's, for the models and data it names
    return Document(project)


class GettingStarted(QDialog):
    """Help ▸ Getting Started: the seven jobs, each with a button that opens its example."""

    exampleChosen = Signal(object)  # Path of the example to open

    def __init__(self, parent=None, folder: Path = EXAMPLES_DIR):
        super().__init__(parent)
        self.setWindowTitle("Getting Started with Graft")
        layout = QVBoxLayout(self)
        layout.setSpacing(16)
        intro = QLabel("Graft composes pretrained Keras models into one model. These are the seven "
                       "things it is for; open an example, look at its graph, then train it from the "
                       "Train menu.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        grid = QGridLayout()
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(10)
        grid.setColumnStretch(1, 1)
        bold = QFont(self.font())
        bold.setBold(True)
        titles = {e.path.stem: e.title for e in examples(folder)}
        self.buttons: dict[str, QPushButton] = {}  # job title → its example's button
        for row, job in enumerate(JOBS):
            title = QLabel(f"{row + 1}. {job.title}")
            title.setFont(bold)
            what = QLabel(job.what)
            what.setWordWrap(True)
            path = folder / f"{job.example}.graft"
            button = QPushButton(f"Open “{titles.get(job.example, job.example)}”")
            button.setEnabled(path.is_file())
            button.setToolTip(str(path) if path.is_file() else f"{path} is not installed")
            button.clicked.connect(lambda _=False, p=path: self._choose(p))
            self.buttons[job.title] = button
            grid.addWidget(title, row, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(what, row, 1)
            grid.addWidget(button, row, 2, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(grid)
        start = QLabel(ADDING_NODES)
        start.setWordWrap(True)
        layout.addWidget(start)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout.addWidget(close)
        self.resize(860, layout.totalHeightForWidth(860))  # as tall as its wrapped lines at that width

    def _choose(self, path: Path) -> None:
        self.accept()
        self.exampleChosen.emit(path)


class About(QDialog):
    """Help ▸ About Graft: what it is and the versions it runs with (read without importing
    TensorFlow, which may not be loaded yet)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("About Graft")
        layout = QVBoxLayout(self)
        layout.setSpacing(12)
        heading = QLabel("<b>Graft</b> — a studio for composing pretrained Keras models")
        layout.addWidget(heading)
        form = QFormLayout()
        self.versions = versions()
        for name, version in self.versions.items():
            value = QLabel(version)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow(f"{name}:", value)
        layout.addLayout(form)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout.addWidget(close)

    def text(self) -> str:
        """The versions as lines, as a bug report would quote them."""
        return "\n".join(f"{name} {version}" for name, version in self.versions.items())


def shortcut_rows(actions: list[QAction]) -> list[tuple[str, str]]:
    """(action, its keys) for every action that has a key on this platform, once each."""
    rows = {}
    for action in actions:
        keys = [k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts()]
        keys = [key for key in keys if key]
        name = action.text().replace("&", "")
        if keys and name:
            rows.setdefault(name, ", ".join(keys))
    return list(rows.items())


GESTURES = (
    ("Quick-add a node", "Tab"), ("Pan", "middle-drag or Space-drag"), ("Zoom", "mouse wheel"),
    ("Connect", "drag from an output port to an input port"),
    ("Detach", "drag a connection off its input port"),
)


class Shortcuts(QDialog):
    """Help ▸ Keyboard Shortcuts: each action with its keys, then the mouse gestures."""

    def __init__(self, actions: list[QAction], parent=None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard Shortcuts")
        self.rows = shortcut_rows(actions) + list(GESTURES)
        table = QTreeWidget()
        table.setHeaderLabels(["Action", "Keys"])
        table.setRootIsDecorated(False)
        for name, keys in self.rows:
            QTreeWidgetItem(table, [name, keys])
        table.resizeColumnToContents(0)
        layout = QVBoxLayout(self)
        layout.addWidget(table)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout.addWidget(close)
        self.resize(520, 560)
