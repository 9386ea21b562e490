"""Parameter fields: one editor row per kind of `Param` (text, number, choice, bool, path,
JSON), each checking its value against the schema and showing a refusal right under it. The
inspector's node forms and the training setup's forms are made of these."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase, QKeyEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.core.cards.loading import MODEL_FILE_SUFFIXES
from app.core.document.paths import stored_path
from app.core.graph.params import (
    BOOL,
    CHOICE,
    FLOAT,
    INT,
    INTS,
    JSON,
    PATH,
    SHAPE,
    STRS,
    Param,
    ParamError,
)


def file_filter(files: tuple[str, ...]) -> str:
    """A file dialog's filter for a PATH parameter's `files`: `Keras models (*.keras *.h5)`."""
    description, *suffixes = files
    return f"{description} ({' '.join(f'*{suffix}' for suffix in suffixes)})"


# The model files Graft reads, as file dialogs (here and the window's Import) offer them.
MODEL_FILTER = file_filter(("Keras models", *MODEL_FILE_SUFFIXES))


def format_value(param: Param, value: Any) -> str:
    """A value as its field shows it: lists comma separated, unknown dims as `None`."""
    if value is None:
        return ""
    if param.kind in (SHAPE, INTS):
        return ", ".join("None" if dim is None else str(dim) for dim in value)
    if param.kind == STRS:
        return ", ".join(value)
    if param.kind == JSON:
        return json.dumps(value, indent=2)
    return str(value)


def parse_text(param: Param, text: str) -> Any:
    """The value a field's text stands for. Text that is no number stays a string, so the
    schema's check can say what it expected instead of the form guessing."""
    text = text.strip()
    if not text and param.optional:
        return None
    if param.kind in (INT, FLOAT):
        return _scalar(text)
    if param.kind in (SHAPE, INTS):
        return [_scalar(item) for item in _items(text)]
    if param.kind == STRS:
        return [item.strip("\"'") for item in _items(text)]
    if param.kind == JSON:
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise ParamError(f"invalid JSON: {error.msg} (line {error.lineno}, column {error.colno})",
                             param.name) from None
    return text


def _scalar(text: str) -> Any:
    if text in ("None", "none"):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _items(text: str) -> list[str]:
    """Comma-separated items; brackets around the list (pasted from a file or a shape) are fine."""
    if len(text) >= 2 and text[0] + text[-1] in ("[]", "()"):
        text = text[1:-1]
    return [item.strip() for item in text.split(",") if item.strip()]


def rich_help(text: str) -> str:
    """Help text as rich text: the `names` the core quotes in backticks set in code type."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def set_style_property(widget: QWidget, name: str, value: str) -> None:
    """Set a property the theme's style sheet selects on, and re-polish so it shows now."""
    if widget.property(name) == value:
        return
    widget.setProperty(name, value)
    widget.style().unpolish(widget)
    widget.style().polish(widget)


def label(text: str, role: str | None = None, wrap: bool = False, selectable: bool = False) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)  # messages quote user text, which may look like HTML
    if role:
        label.setProperty("role", role)
    label.setWordWrap(wrap)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class _LineEdit(QLineEdit):
    """A line edit that reports Escape, so the field can go back to the node's value."""

    escaped = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.escaped.emit()
            return
        super().keyPressEvent(event)


class _JsonEdit(QPlainTextEdit):
    """A JSON editor where Enter makes a new line, so applying is Ctrl+Enter (or the button)."""

    submitted = Signal()
    escaped = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key, ctrl = event.key(), event.modifiers() & Qt.KeyboardModifier.ControlModifier
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and ctrl:
            self.submitted.emit()
            return
        if key == Qt.Key.Key_Escape:
            self.escaped.emit()
            return
        super().keyPressEvent(event)


class Field(QWidget):
    """One parameter's row: its editor with the message of a refused value right under it.
    Public: the training setup's forms are made of these too."""

    committed = Signal()  # the user finished an edit; read() gives the new value
    reverted = Signal()  # the user pressed Escape; show the node's value again

    def __init__(self, param: Param, editor: QWidget, row: QWidget | None = None):
        super().__init__()
        self.param, self.editor = param, editor
        editor.setToolTip(param.help)
        self.error_label = label("", "error", wrap=True)
        self.error_label.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(row or editor)
        layout.addWidget(self.error_label)

    def set_error(self, message: str | None) -> None:
        self.error_label.setText(message or "")
        self.error_label.setVisible(bool(message))
        set_style_property(self.editor, "invalid", "true" if message else "false")

    @property
    def has_error(self) -> bool:
        return not self.error_label.isHidden()

    def show_value(self, value: Any) -> None:
        raise NotImplementedError

    def read(self) -> Any:
        """The value the user entered; ParamError where the text cannot even be parsed."""
        raise NotImplementedError

    def is_being_edited(self) -> bool:
        """Whether the user is typing here, so a refresh must leave the text alone."""
        return False


class TextField(Field):
    """int, float, str, shape, ints and strs: committed on Enter or when focus leaves."""

    def __init__(self, param: Param, row_extras: tuple[QWidget, ...] = ()):
        edit = _LineEdit()
        row = None
        if row_extras:
            row = QWidget()
            row_layout = QHBoxLayout(row)
            row_layout.setContentsMargins(0, 0, 0, 0)
            row_layout.setSpacing(4)
            row_layout.addWidget(edit, 1)
            for extra in row_extras:
                row_layout.addWidget(extra)
        super().__init__(param, edit, row)
        edit.editingFinished.connect(self._finish)
        edit.escaped.connect(self.reverted)

    def _finish(self) -> None:
        if self.editor.isModified():
            self.committed.emit()

    def show_value(self, value: Any) -> None:
        text = format_value(self.param, value)
        if self.editor.text() != text:
            self.editor.setText(text)
            self.editor.setCursorPosition(0)  # a long path shows its start, not a cut-off tail
        self.editor.setModified(False)

    def read(self) -> Any:
        return parse_text(self.param, self.editor.text())

    def is_being_edited(self) -> bool:
        return self.editor.hasFocus() and self.editor.isModified()


class PathField(TextField):
    """A file path with a "…" button; a file inside the project folder is stored relative to it.
    Public: the training setup sets its base_dir too."""

    def __init__(self, param: Param):
        browse = QPushButton("…")
        browse.setFixedWidth(browse.fontMetrics().horizontalAdvance("…") + 20)
        browse.setToolTip(f"Choose the file for {param.name}")
        super().__init__(param, (browse,))
        self.base_dir: Path | None = None
        browse.clicked.connect(self._browse)

    def _browse(self) -> None:
        base = self.base_dir or Path.cwd()
        current = self.editor.text().strip()
        start = (base / current).parent if current else base
        offered = [file_filter(self.param.files)] if self.param.files else []
        name_filter = ";;".join([*offered, "All files (*)"])
        chosen, _ = QFileDialog.getOpenFileName(self, f"Choose {self.param.name}", str(start), name_filter)
        if not chosen:
            return
        self.editor.setText(stored_path(Path(chosen), self.base_dir))
        self.editor.setModified(True)
        self.committed.emit()


class _BoolField(Field):
    def __init__(self, param: Param):
        checkbox = QCheckBox()
        checkbox.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)  # the box is all it is
        super().__init__(param, checkbox)
        self.editor.clicked.connect(self.committed)  # clicks only: setChecked() must not commit

    def show_value(self, value: Any) -> None:
        self.editor.setChecked(bool(value))

    def read(self) -> Any:
        return self.editor.isChecked()


class _ChoiceField(Field):
    def __init__(self, param: Param):
        combo = QComboBox()
        shown = param.labels or [c if isinstance(c, str) else json.dumps(c) for c in param.choices]
        combo.addItems(list(shown))
        # Long choices (loss names) must not widen a narrow panel.
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(6)
        super().__init__(param, combo)
        combo.activated.connect(self.committed)  # user choices only, not setCurrentIndex()

    def show_value(self, value: Any) -> None:
        index = next((i for i, c in enumerate(self.param.choices)
                      if c == value and type(c) is type(value)), -1)
        self.editor.setCurrentIndex(index)

    def read(self) -> Any:
        index = self.editor.currentIndex()
        return self.param.choices[index] if index >= 0 else None


class _JsonField(Field):
    """A JSON object in an editor of its own; Apply or Ctrl+Enter commits it."""

    def __init__(self, param: Param):
        edit = _JsonEdit()
        edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        edit.setTabChangesFocus(True)
        edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        edit.setFixedHeight(edit.fontMetrics().lineSpacing() * 8 + 2 * edit.frameWidth() + 8)
        apply_button = QPushButton("Apply")
        apply_button.setToolTip("Apply the JSON (Ctrl+Enter)")
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addStretch(1)
        buttons.addWidget(apply_button)
        row = QWidget()
        row_layout = QVBoxLayout(row)
        row_layout.setContentsMargins(0, 0, 0, 0)
        row_layout.setSpacing(4)
        row_layout.addWidget(edit)
        row_layout.addLayout(buttons)
        super().__init__(param, edit, row)
        edit.submitted.connect(self.committed)
        apply_button.clicked.connect(self.committed)
        edit.escaped.connect(self.reverted)

    def show_value(self, value: Any) -> None:
        text = format_value(self.param, value)
        if self.editor.toPlainText() != text:
            self.editor.setPlainText(text)
        self.editor.document().setModified(False)

    def read(self) -> Any:
        return parse_text(self.param, self.editor.toPlainText())

    def is_being_edited(self) -> bool:
        return self.editor.hasFocus() and self.editor.document().isModified()


_FIELD_CLASSES = {BOOL: _BoolField, CHOICE: _ChoiceField, PATH: PathField, JSON: _JsonField}


def make_field(param: Param) -> Field:
    return _FIELD_CLASSES.get(param.kind, TextField)(param)


def form_layout() -> QFormLayout:
    form = QFormLayout()
    form.setContentsMargins(0, 0, 0, 0)
    form.setHorizontalSpacing(10)
    form.setVerticalSpacing(6)
    form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
    return form
