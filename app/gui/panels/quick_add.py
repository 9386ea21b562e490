"""Tab on the canvas: a search box at the cursor; type, pick with the arrows, Enter adds."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtWidgets import QFrame, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout

from app.gui.panels.palette import RecentChoices, entries, intent_rank
from app.gui.theme import category_icon

ENTRY, ORDER = Qt.ItemDataRole.UserRole, Qt.ItemDataRole.UserRole + 1


class QuickAdd(QFrame):
    chosen = Signal(object)  # Entry

    def __init__(self, parent=None, recent: RecentChoices | None = None):
        super().__init__(parent, Qt.WindowType.Popup)
        self.recent = recent or RecentChoices()
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.search = QLineEdit(placeholderText="Add node…")
        self.list = QListWidget()
        self.list.setUniformItemSizes(True)
        for order, entry in enumerate(entries()):
            item = QListWidgetItem(category_icon(entry.category), entry.label)
            item.setData(ENTRY, entry)
            item.setData(ORDER, order)  # its place in the catalog, shown when nothing is typed
            item.setToolTip(entry.help)
            self.list.addItem(item)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search)
        layout.addWidget(self.list)
        self.resize(280, 320)
        self.search.textChanged.connect(self._filter)
        self.search.returnPressed.connect(self._choose)
        self.list.itemActivated.connect(self._choose)
        self.search.installEventFilter(self)

    def popup(self, at: QPoint) -> None:
        self.search.clear()
        self._filter("")
        self.move(at)
        self.show()
        self.search.setFocus()

    def _filter(self, text: str) -> None:
        """Show the entries holding every word, what the user most likely means first (recent
        choices first when nothing is typed; catalog order among equals), and make the best
        the one Enter adds."""
        ranked = []
        for item in [self.list.takeItem(0) for _ in range(self.list.count())]:
            rank = intent_rank(item.data(ENTRY), text, self.recent.labels)
            ranked.append(((rank is None, rank or (), item.data(ORDER)), item, rank is None))
        ranked.sort(key=lambda row: row[0])
        for _, item, hidden in ranked:
            self.list.addItem(item)
            item.setHidden(hidden)
        shown = [item for _, item, hidden in ranked if not hidden]
        self.list.setCurrentItem(shown[0] if shown else None)

    def eventFilter(self, watched, event):
        """Up and Down in the search box move through the list."""
        if event.type() == event.Type.KeyPress and event.key() in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            step = 1 if event.key() == Qt.Key.Key_Down else -1
            row = self.list.currentRow() + step
            while 0 <= row < self.list.count() and self.list.item(row).isHidden():
                row += step
            if 0 <= row < self.list.count():
                self.list.setCurrentRow(row)
            return True
        return super().eventFilter(watched, event)

    def _choose(self, *_) -> None:
        item = self.list.currentItem()
        if item is not None and not item.isHidden():
            self.hide()
            self.chosen.emit(item.data(ENTRY))
