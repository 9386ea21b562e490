"""Find (Ctrl+F): a small bar at the top of the canvas that completes node names as they are
typed; Enter selects the node and centres the view on it, Esc closes the bar."""

from __future__ import annotations

from PySide6.QtCore import QStringListModel, Qt, Signal
from PySide6.QtWidgets import QCompleter, QFrame, QHBoxLayout, QLabel, QLineEdit

WIDTH = 300
MARGIN = 12  # from the view's top-right corner


def find_node(names: dict[str, str], text: str) -> str | None:
    """The id of the node `text` names: exactly, then in any case, then the first (in graph
    order) whose name starts with it, then one that contains it. `names` maps name to id."""
    typed = text.strip()
    if not typed:
        return None
    if typed in names:
        return names[typed]
    lowered = typed.lower()
    for matches in (lambda name: name.lower() == lowered, lambda name: name.lower().startswith(lowered),
                    lambda name: lowered in name.lower()):
        found = next((node_id for name, node_id in names.items() if matches(name)), None)
        if found is not None:
            return found
    return None


class FindBar(QFrame):
    found = Signal(str)  # the id of the node to show
    closed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("findBar")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.edit = QLineEdit(placeholderText="Find node by name…", clearButtonEnabled=True)
        self.message = QLabel()
        self.message.setProperty("role", "dim")
        self.names_model = QStringListModel(self)
        self.completer = QCompleter(self.names_model, self)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.edit.setCompleter(self.completer)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.message)
        self._names: dict[str, str] = {}
        self.edit.returnPressed.connect(self.find)
        self.completer.activated.connect(self.find)
        self.edit.textEdited.connect(lambda _: self.message.clear())
        self.resize(WIDTH, self.sizeHint().height())
        self.hide()

    def open(self, names: dict[str, str]) -> None:
        """Show the bar over the names of the graph's nodes now (name → id, in graph order)."""
        self._names = names
        self.names_model.setStringList(list(names))
        self.message.clear()
        self.show()
        self.raise_()
        self.edit.setFocus()
        self.edit.selectAll()

    def find(self, *_) -> None:
        node_id = find_node(self._names, self.edit.text())
        if node_id is None:
            self.message.setText("no such node" if self.edit.text().strip() else "")
            return
        self.message.clear()
        self.found.emit(node_id)

    def close_bar(self) -> None:
        self.hide()
        self.closed.emit()

    def keyPressEvent(self, event):
        if event.key() == Qt.Key.Key_Escape:
            self.close_bar()
            event.accept()
            return
        super().keyPressEvent(event)
