"""Issue 17, finding 13: there was no way to install Graft as a desktop app. `graft
--install-desktop` puts the launcher, the `.graft` MIME type and the icon in the user's XDG data
folder; the launcher runs the `graft` that installed it, and the desktop's caches are refreshed."""

from __future__ import annotations

import configparser
import os
import stat
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from app.cli import main
from app.core.document.project import SUFFIX
from app.desktop import PACKAGING, launcher_text

MIME_NS = {"mime": "http://www.freedesktop.org/standards/shared-mime-info"}


def desktop_entry(path: Path) -> configparser.SectionProxy:
    entry = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    entry.optionxform = str
    entry.read(path, encoding="utf-8")
    return entry["Desktop Entry"]


def fake_tool(folder: Path, name: str) -> Path:
    """A desktop cache tool that only notes how it was run."""
    tool = folder / name
    tool.write_text(f'#!/bin/sh\necho "$@" >> "{folder}/{name}.ran"\n')
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    return folder / f"{name}.ran"


@pytest.fixture
def xdg(tmp_path, monkeypatch) -> Path:
    data = tmp_path / "share"
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    return data


@pytest.mark.skipif(sys.platform == "win32", reason="XDG desktops")
def test_install_desktop_puts_launcher_mime_type_and_icon_in_the_xdg_data_folder(xdg, tmp_path, monkeypatch,
                                                                                capsys):
    tools = tmp_path / "tools"
    tools.mkdir()
    ran = {name: fake_tool(tools, name) for name in ("update-mime-database", "update-desktop-database")}
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")

    assert main(["--install-desktop"]) == 0

    launcher = xdg / "applications" / "graft.desktop"
    mime = xdg / "mime" / "packages" / "graft-project.xml"
    icon = xdg / "icons" / "hicolor" / "scalable" / "apps" / "graft.svg"
    told = capsys.readouterr().out.splitlines()
    assert told[:3] == [f"installed {path}" for path in (launcher, mime, icon)]
    entry = desktop_entry(launcher)
    graft = Path(sys.executable).parent / "graft"  # the pip entry point of the Python running the suite
    assert entry["Exec"] == f"{graft} %F" and entry["TryExec"] == str(graft)
    assert graft.is_file() and os.access(graft, os.X_OK)
    assert entry["Icon"] == "graft" and icon.read_bytes().startswith(b"<svg")
    mime_type = ET.parse(mime).getroot().find("mime:mime-type", MIME_NS)
    assert entry["MimeType"] == f"{mime_type.get('type')};" == "application/x-graft-project;"
    assert [glob.get("pattern") for glob in mime_type.findall("mime:glob", MIME_NS)] == [f"*{SUFFIX}"]
    assert ran["update-mime-database"].read_text().split() == [str(xdg / "mime")]
    assert ran["update-desktop-database"].read_text().split() == [str(xdg / "applications")]


def test_installing_again_replaces_the_files(xdg):
    assert main(["--install-desktop"]) == 0
    launcher = xdg / "applications" / "graft.desktop"
    launcher.write_text("stale")
    assert main(["--install-desktop"]) == 0
    assert desktop_entry(launcher)["Name"] == "Graft"


def test_a_graft_in_a_folder_with_spaces_is_quoted_in_exec():
    template = (PACKAGING / "graft.desktop").read_text()
    entry = launcher_text(template, ["/home/ana/My Apps/graft 100%/graft"])
    assert 'Exec="/home/ana/My Apps/graft 100%%/graft" %F' in entry.splitlines()
    assert "TryExec=/home/ana/My Apps/graft 100%/graft" in entry.splitlines()


def test_the_packaged_launcher_opens_graft_projects():
    entry = desktop_entry(PACKAGING / "graft.desktop")
    assert entry["Exec"] == "graft %F" and entry["Type"] == "Application"
    assert (PACKAGING / "graft.svg").resolve() == (PACKAGING.parent / "resources" / "icons" / "graft.svg")
