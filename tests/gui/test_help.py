"""Help for the first hour (issue 17): Getting Started, File ▸ Examples, About, the shortcuts
list, and an empty window that says what to do instead of reporting an error."""

from __future__ import annotations

import json
import re
import sys

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from app.core.document.fileformat import load
from tests.conftest import EXAMPLES, ROOT

SHIPPED = sorted(EXAMPLES.glob("*.graft"))


def menu_action(window, menu_title: str, text: str):
    """The action `text` of the menu bar's menu `menu_title` (or of one of its submenus)."""
    menu = next(a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == menu_title)
    for action in menu.actions():
        if action.text().replace("&", "") == text:
            return action
    raise AssertionError(f"{menu_title} ▸ {text} not found in {[a.text() for a in menu.actions()]}")


def seven_jobs() -> list[str]:
    """The job titles of DESIGN.md's "jobs the user hires it for" (its numbered bold items)."""
    design = (ROOT.parent / "shared" / "DESIGN.md")
    if not design.is_file():
        from app.gui.help import JOBS

        return [job.title for job in JOBS]
    section = design.read_text().split("## The jobs", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\d+\. \*\*(.+?)\*\*", section, re.MULTILINE)


def node_names(path) -> list[str]:
    return [node["name"] for node in json.loads(path.read_text())["nodes"]]


def test_getting_started_lists_the_seven_jobs_and_opens_the_example_of_each(window, qtbot):
    from app.gui.help import GettingStarted

    menu_action(window, "Help", "Getting Started").trigger()
    dialog = next(w for w in window.findChildren(GettingStarted) if w.isVisible())
    assert len(dialog.buttons) == 7
    design = [title.lower() for title in seven_jobs()]
    assert len(design) == 7
    for title, mine in zip(design, dialog.buttons):  # in DESIGN.md's order, by its names
        assert title.split()[0].rstrip(",") in mine.lower(), (title, mine)
    dialog.grab().save("/tmp/graft_getting_started.png")
    qtbot.mouseClick(dialog.buttons["Transfer learning"], Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    project = window.document.project
    assert project.name == "Transfer learning"
    assert [n.name for n in project.graph.nodes] == node_names(EXAMPLES / "transfer.graft")
    assert window.document.path is None and not window.document.modified  # a copy: Save asks where
    qtbot.waitUntil(lambda: window.document.analysis is not None, timeout=60000)
    assert window.document.analysis.ok  # its models are found beside the example


def test_file_examples_opens_each_shipped_example_by_its_title(window):
    shipped = {path: path.read_text() for path in SHIPPED}
    examples_menu = menu_action(window, "File", "Examples").menu()
    titles = [action.text() for action in examples_menu.actions()]
    assert sorted(titles) == sorted(load(path).name for path in SHIPPED)
    assert titles[0] == "Cascade"  # in the order of the jobs they show
    for path in SHIPPED:
        title = load(path).name
        next(a for a in examples_menu.actions() if a.text() == title).trigger()
        assert window.document.project.name == title
        assert [n.name for n in window.document.graph.nodes] == node_names(path)
        assert window.document.path is None
    assert {path: path.read_text() for path in SHIPPED} == shipped  # the shipped files untouched


def test_about_shows_the_versions_of_graft_tensorflow_keras_pyside6_and_python(window):
    from importlib.metadata import version

    from app.gui.help import About

    menu_action(window, "Help", "About Graft").trigger()
    dialog = next(w for w in window.findChildren(About) if w.isVisible())
    shown = [label.text() for label in dialog.findChildren(QLabel)]
    for name, installed in (("Graft", version("graft-studio")), ("TensorFlow", version("tensorflow")),
                            ("Keras", version("keras")), ("PySide6", version("PySide6-Essentials")),
                            ("Python", sys.version.split()[0])):
        assert f"{name}:" in shown and installed in shown, (name, shown)
        assert f"{name} {installed}" in dialog.text().splitlines()
    dialog.grab().save("/tmp/graft_about.png")


def test_the_shortcuts_list_gives_every_action_a_key_and_quit_ctrl_q(window):
    menu_action(window, "Help", "Keyboard Shortcuts").trigger()
    from app.gui.help import Shortcuts

    dialog = next(w for w in window.findChildren(Shortcuts) if w.isVisible())
    rows = dict(dialog.rows)
    assert all(keys.strip() for keys in rows.values()), [name for name, keys in dialog.rows if not keys]
    assert "Ctrl+Q" in rows["Quit"]
    assert rows["Save"].startswith("Ctrl+S")
    dialog.grab().save("/tmp/graft_shortcuts.png")


def test_an_empty_window_says_what_to_do_instead_of_reporting_an_error(window, qtbot):
    qtbot.waitUntil(lambda: window.document.analysis is not None)
    rows = [window.problems.topLevelItem(i).text(0) for i in range(window.problems.topLevelItemCount())]
    assert len(rows) == 1 and "no Output" not in rows[0]
    assert rows[0].startswith("Empty graph: add nodes from the Palette") and "File ▸ Examples" in rows[0]
    assert "error" not in window.validation_label.text()
    assert window.validation_label.text() == "Empty graph"
    # one node in, the analysis speaks again
    from app.core.editing.commands import AddNode, new_node

    window.document.push(AddNode(new_node(window.document.graph, "Input", {"shape": [4]}, (0, 0))))
    rows = [window.problems.topLevelItem(i).text(0) for i in range(window.problems.topLevelItemCount())]
    assert any("no Output node" in row for row in rows)
    assert window.validation_label.text().startswith("✖")
