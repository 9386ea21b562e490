"""Issue 17, finding 12: `graft` on a Linux desktop without Qt's X libraries aborted ("This
application failed to start because no Qt platform plugin could be initialized… Aborted"). Before
the QApplication exists, `graft` now asks `ldd` what the platform plugin lacks and says, in one
line, which libraries and the command that installs them, and exits 2."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import app.gui.app
from app.cli import main
from app.gui import platform_check
from tests.conftest import ROOT

# What ldd says about PySide6's xcb plugin on a fresh Ubuntu 24.04 desktop (abridged)
FRESH_UBUNTU_LDD = """\
\tlinux-vdso.so.1 (0x00007ffd1c3f2000)
\tlibQt6XcbQpa.so.6 => /opt/graft/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f3a1c000000)
\tlibxkbcommon-x11.so.0 => /lib/x86_64-linux-gnu/libxkbcommon-x11.so.0 (0x00007f3a1bf00000)
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-util.so.1 => /lib/x86_64-linux-gnu/libxcb-util.so.1 (0x00007f3a1be00000)
\tlibxcb-cursor.so.0 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f3a1ba00000)
"""
RELEASES = {
    "apt": ({"ID": "ubuntu", "ID_LIKE": "debian"}, "sudo apt install libxcb-cursor0 libxcb-icccm4"),
    "dnf": ({"ID": "fedora"}, "sudo dnf install xcb-util-cursor xcb-util-wm"),
    "pacman": ({"ID": "endeavouros", "ID_LIKE": "arch"}, "sudo pacman -S xcb-util-cursor xcb-util-wm"),
}
DISPLAYS = ("DISPLAY", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE", "QT_QPA_PLATFORM",
            "QT_QPA_PLATFORM_PLUGIN_PATH")


@pytest.fixture
def desktop(monkeypatch):
    """An X11 desktop session as `make run` meets it; the editor itself never starts here."""
    for name in DISPLAYS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DISPLAY", ":0")
    started = []
    monkeypatch.setattr(app.gui.app, "run", lambda paths: started.append(paths) or 0)
    return started


def editor(capsys, *paths) -> tuple[int, str]:
    code = main([str(path) for path in paths])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("manager", list(RELEASES))
def test_missing_xcb_libraries_are_named_with_the_command_that_installs_them(desktop, capsys, monkeypatch,
                                                                           manager):
    release, command = RELEASES[manager]
    monkeypatch.setattr(platform_check, "ldd", lambda plugin: FRESH_UBUNTU_LDD)
    monkeypatch.setattr(platform_check, "os_release", lambda: release)
    code, err = editor(capsys, ROOT / "resources" / "examples" / "transfer.graft")
    assert code == 2 and not desktop
    assert err == ("graft: the editor cannot start: Qt's 'xcb' platform plugin needs libxcb-cursor.so.0, "
                   f"libxcb-icccm.so.4, which are not installed; install them with: {command} (or use graft "
                   "validate, summary, train or export, which need no display)\n")


def test_on_another_distribution_the_libraries_are_still_named(desktop, capsys, monkeypatch):
    monkeypatch.setattr(platform_check, "ldd", lambda plugin: "\tlibxcb-cursor.so.0 => not found\n")
    monkeypatch.setattr(platform_check, "os_release", lambda: {"ID": "gentoo"})
    code, err = editor(capsys)
    assert code == 2 and not desktop
    assert "Qt's 'xcb' platform plugin needs libxcb-cursor.so.0, which is not installed; install the " \
           "packages that provide it" in err


def test_the_apt_packages_for_every_library_qts_xcb_plugin_needs():
    libraries = ["libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-image.so.0", "libxcb-keysyms.so.1",
                 "libxcb-randr.so.0", "libxcb-render-util.so.0", "libxcb-xinerama.so.0", "libxcb-xkb.so.1",
                 "libxkbcommon-x11.so.0", "libxcb-shape.so.0",
                 "libX11-xcb.so.1", "libglib-2.0.so.0", "libgthread-2.0.so.0", "libEGL.so.1"]
    assert platform_check.packages("apt", libraries) == [
        "libxcb-cursor0", "libxcb-icccm4", "libxcb-image0", "libxcb-keysyms1", "libxcb-randr0",
        "libxcb-render-util0", "libxcb-xinerama0", "libxcb-xkb1", "libxkbcommon-x11-0", "libxcb-shape0",
        "libx11-xcb1", "libglib2.0-0", "libegl1"]


def test_a_complete_install_opens_the_editor(desktop, capsys, monkeypatch):
    monkeypatch.setattr(platform_check, "ldd", lambda plugin: FRESH_UBUNTU_LDD.replace("not found", "/lib/x"))
    code, err = editor(capsys)
    assert (code, err, desktop) == (0, "", [[]])


def test_a_wayland_session_opens_on_wayland_when_only_the_x11_plugin_lacks_libraries(desktop, capsys,
                                                                                     monkeypatch):
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    monkeypatch.setenv("XDG_SESSION_TYPE", "wayland")
    asked = []
    monkeypatch.setattr(platform_check, "ldd", lambda plugin: asked.append(plugin.name) or (
        FRESH_UBUNTU_LDD if plugin.name == "libqxcb.so" else ""))
    code, err = editor(capsys)
    assert (code, err, desktop) == (0, "", [[]])
    assert asked == ["libqwayland.so"]


def test_offscreen_needs_no_display_and_no_check(desktop, capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY")
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    monkeypatch.setattr(platform_check, "ldd", lambda plugin: pytest.fail("offscreen loads no xcb plugin"))
    assert editor(capsys) == (0, "")


def test_xcb_asked_for_without_a_display_says_so_in_one_line(desktop, capsys, monkeypatch):
    """QT_QPA_PLATFORM=xcb got past the display check and Qt aborted: could not connect to display."""
    monkeypatch.delenv("DISPLAY")
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    code, err = editor(capsys)
    assert code == 1 and not desktop
    assert err == ("graft: no display to open the editor on (DISPLAY is unset; QT_QPA_PLATFORM is xcb); run "
                   "graft in a desktop session, or use graft validate, summary, train or export here\n")


def plugin_lacking(folder: Path, library: bytes, instead: bytes) -> Path:
    """A copy of PySide6's xcb plugin whose ELF needs `instead` where it needed `library`: a
    real library the dynamic loader cannot find, without removing anything from the system."""
    real = platform_check.plugin_file("xcb", {})
    assert len(library) == len(instead) and library in real.read_bytes()
    folder.mkdir()
    (folder / "libqxcb.so").write_bytes(real.read_bytes().replace(library + b"\0", instead + b"\0"))
    return folder


@pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("ldd") is None,
                    reason="the platform plugin and ldd are Linux's")
def test_a_real_plugin_with_a_missing_library_stops_graft_with_exit_2(tmp_path):
    """The whole process, with the real ldd: before, Qt aborted it (exit 134)."""
    plugins = plugin_lacking(tmp_path / "platforms", b"libxcb-cursor.so.0", b"libxcb-cursXr.so.0")
    env = {key: value for key, value in os.environ.items() if key not in DISPLAYS}
    env.update(DISPLAY=":0", QT_QPA_PLATFORM_PLUGIN_PATH=str(plugins))
    done = subprocess.run([sys.executable, "-m", "app"], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("graft: the editor cannot start: Qt's 'xcb' platform plugin needs "
                                  "libxcb-cursXr.so.0, which is not installed; install "), done.stderr
    assert len(done.stderr.splitlines()) == 1
