"""Issue 19: where people see what the model will cost: the node card's multiply-adds, the
inspector's Cost section, and the status bar's totals with the training memory estimate, in the
warning colour when it is more than this machine has."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel

from app.core.analysis import cost
from tests.gui.test_node_cards import assert_nothing_cut, item_named, texts
from tests.gui.test_training import example_copy, open_window


def inspector_texts(window) -> list[str]:
    return [label.text() for label in window.inspector.findChildren(QLabel) if label.isVisibleTo(window)]


def test_the_card_the_inspector_and_the_status_bar_show_the_cost(make_window, tmp_path):
    window = open_window(make_window, example_copy("transfer", tmp_path))
    backbone = item_named(window, "backbone")
    assert "305 K MACs" in texts(backbone)  # digits_encoder's convolutions and Dense
    assert_nothing_cut(backbone)
    assert not any("MACs" in text for text in texts(item_named(window, "dropout")))  # none to show

    window.scene.select([backbone.node_id])
    shown = inspector_texts(window)
    assert {"Cost", "multiply-adds", "305 K per sample", "22.9 KB", "12.2 KB per sample"} <= set(shown)

    window.training.setup.phases.table.selectRow(0)  # 'head': the frozen backbone keeps nothing
    status = window.cost_label
    assert status.text().startswith("305 K MACs per sample · training ≈ ")
    assert "training memory at batch 64" in status.toolTip()
    assert status.property("role") != "warning"


def test_the_status_bar_warns_when_training_would_not_fit_this_machine(make_window, tmp_path, monkeypatch):
    window = open_window(make_window, example_copy("transfer", tmp_path))
    monkeypatch.setattr(cost, "machine_memory", lambda: 40_000)  # 39.1 KB: training takes 31 KB at batch 64
    document = window.document
    settings = {**document.training.settings, "batch_size": 512}
    document.set_training(document.training.replaced(settings=settings), "Batch size 512")
    status = window.cost_label
    assert status.text().startswith("⚠ ") and "more than this machine's 39.1 KB" in status.text()
    assert status.property("role") == "warning"
    document.undo_stack.undo()  # back to 64
    assert "training memory at batch 64" in status.toolTip() and status.property("role") != "warning"
