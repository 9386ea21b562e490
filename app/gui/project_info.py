"""File ▸ Project Info: the project's name and description, which exports, reports and run
records carry. Accepting pushes one SetInfo command, so the change undoes like any edit."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLineEdit, QPlainTextEdit

from app.core.editing.commands import SetInfo
from app.core.graph.graph import MAX_NAME

NAME_HINT = "The project's name, as exports and reports show it; it cannot be empty."


class ProjectInfoDialog(QDialog):
    def __init__(self, document, parent=None):
        super().__init__(parent)
        self.document = document
        self.setWindowTitle("Project Info")
        project = document.project
        self.name = QLineEdit(project.name)
        self.name.setMaxLength(MAX_NAME)
        self.name.setToolTip(NAME_HINT)
        self.name.setMinimumWidth(360)
        self.description = QPlainTextEdit(project.description)
        self.description.setPlaceholderText("What this composition is for, where its data comes from…")
        self.description.setTabChangesFocus(True)
        choices = QDialogButtonBox.StandardButton
        buttons = QDialogButtonBox(choices.Ok | choices.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.name.textChanged.connect(lambda text: self.ok_button.setEnabled(bool(text.strip())))
        form = QFormLayout(self)
        form.addRow("&Name:", self.name)
        form.addRow("&Description:", self.description)
        form.addRow(buttons)
        self.name.selectAll()

    def accept(self) -> None:
        name, description = self.name.text().strip(), self.description.toPlainText().strip()
        project = self.document.project
        if name and (name, description) != (project.name, project.description):
            self.document.push(SetInfo(name, description))
        super().accept()
