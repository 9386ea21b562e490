"""The data checks in the editor (issue 17): Suggest maps the field that fits, the Problems
panel lists the data's errors and warnings before Start, naming the Output and the field,
clicking one selects its node, Start refuses on an error, and the list follows edits of the
mapping and of the graph."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from app.core.document.fileformat import save
from app.core.document.project import Project
from app.core.document.training_setup import config_from_dict
from app.core.editing.builder import GraphBuilder
from app.core.editing.commands import SetParams
from app.gui.document import Document

N = 60
FEATURES = np.random.default_rng(0).random((N, 4))
DIGITS = np.arange(N) % 10


def digits_window(make_window, folder, mapping, **arrays):
    """Input 'pixels' → Dense(10) → Output 'digit' (10 classes) on data.npz, saved and opened."""
    np.savez(folder / "data.npz", **arrays)
    b = GraphBuilder()
    b.add("pixels", "Input", 0, 0, shape=[4])
    b.add("dense", "Dense", 250, 0, units=10)
    b.add("digit", "Output", 500, 0, loss="sparse_categorical_crossentropy")
    b.chain("pixels", "dense", "digit")
    training = config_from_dict({"data": {"source": "npz", "path": str(folder / "data.npz"),
                                          "mapping": mapping}})
    save(Project(b.graph, "digits", training=training), folder / "digits.graft")
    window = make_window(Document.open(folder / "digits.graft"))
    window.document.wait_until_analysed()
    window.document.data_checks.wait()
    return window


def data_rows(window) -> list:
    """The Problems panel's data problems, as (severity, message)."""
    return [(p.severity, p.message) for p in window.problems.problems if p.code.startswith("data")]


def test_suggest_maps_the_0_to_9_labels_not_the_0_1_array_left_over(make_window, tmp_path):
    window = digits_window(make_window, tmp_path, {}, features=FEATURES, a=np.arange(N) % 2,
                           b=DIGITS.astype(np.float64))
    setup = window.training.setup
    setup.mapping.suggest_button.click()
    assert window.document.training.data["mapping"] == {"pixels": "features", "digit": "b"}
    assert setup.mapping.combos["digit"].currentData() == "b"
    window.document.data_checks.wait()
    assert data_rows(window) == []


def test_a_data_error_is_listed_before_start_and_start_is_refused(make_window, qtbot, tmp_path):
    calls = []
    window = digits_window(make_window, tmp_path, {"pixels": "features", "digit": "labels"},
                           features=FEATURES, labels=DIGITS + 3, good=DIGITS)
    panel = window.training
    panel.train_function = lambda project, **run: calls.append(run)
    [(severity, message)] = data_rows(window)
    assert severity == "error"
    assert message.startswith("Output 'digit' has 10 classes (it receives (None, 10)), but array 'labels' in "
                              "data.npz holds labels up to 12")
    assert "✖ 1 error" in window.validation_label.text()
    assert not panel.start() and calls == []
    assert "the data does not fit the graph (see Problems): Output 'digit' has 10 classes" in \
        panel.banner.text.text()
    assert "Output 'digit' has 10 classes" in panel.start_action.toolTip()
    mapping_checks = [w.text() for w in panel.setup.mapping.checks.findChildren(type(panel.banner.text))
                      if w.text()]
    assert any("array 'labels'" in text for text in mapping_checks)  # under the mapping too

    problems = window.problems
    item = next(problems.topLevelItem(i) for i in range(problems.topLevelItemCount())
                if "array 'labels'" in problems.topLevelItem(i).text(0))
    at = problems.visualItemRect(item).center()
    qtbot.mouseClick(problems.viewport(), Qt.MouseButton.LeftButton, pos=at)
    assert window.scene.selected_node_ids() == [window.document.graph.node_by_name("digit").id]

    combo = panel.setup.mapping.combos["digit"]  # the setup changes: the error goes
    combo.setCurrentIndex(combo.findData("good"))
    combo.activated.emit(combo.currentIndex())
    window.document.data_checks.wait()
    assert data_rows(window) == [] and panel.refusal() is None

    window.document.undo_stack.undo()  # back to the bad labels; then the graph changes to fit them
    window.document.data_checks.wait()
    assert [severity for severity, _ in data_rows(window)] == ["error"]
    dense = window.document.graph.node_by_name("dense")
    window.document.push(SetParams(dense.id, {"units": 13}))
    window.document.data_checks.wait()
    assert data_rows(window) == [] and panel.refusal() is None


def test_a_data_warning_is_listed_and_start_goes_ahead(make_window, tmp_path):
    window = digits_window(make_window, tmp_path, {"pixels": "features", "digit": "labels"},
                           features=FEATURES, labels=np.arange(N) % 2)
    [(severity, message)] = data_rows(window)
    assert severity == "warning"
    assert "Output 'digit' has 10 classes, but its labels, array 'labels' in data.npz, hold only 2" in message
    assert window.training.refusal() is None
