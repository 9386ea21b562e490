"""Can Qt open a window here? Asked before the QApplication exists, because once Qt finds that
its platform plugin cannot load it aborts the process with lines about plugins that name no
package ("This application failed to start because no Qt platform plugin could be initialized").

Qt >= 6.5's X11 plugin needs libxcb-cursor0, which a fresh Ubuntu desktop lacks, and a few more
xcb libraries that minimal installs lack. `ldd` on the plugin lists what it cannot find; the
user gets one line naming those libraries and the command that installs them on their
distribution. This module imports no Qt: it only finds the plugin file."""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

NO_DISPLAY_EXIT, MISSING_LIBRARIES_EXIT = 1, 2  # 2 like a wrong option: nothing ran, set the machine up first
PLUGIN_FILES = {"xcb": "libqxcb.so", "wayland": "libqwayland.so"}  # the platforms that need a display
DISPLAY_VARIABLES = {"xcb": "DISPLAY", "wayland": "WAYLAND_DISPLAY"}
# Libraries PySide6 ships beside Qt: already loaded when Qt loads the plugin, whatever ldd finds.
SHIPPED_WITH_QT = re.compile(r"lib(Qt6|icu|pyside6|shiboken6)")
HEADLESS_HINT = "or use graft validate, summary, train or export, which need no display"

# Debian names a library's package after its soname (_debian_package), but for these; dnf and
# pacman name them after the upstream project, by the soname's stem.
APT_EXCEPTIONS = {"libglib-2.0.so.0": "libglib2.0-0", "libgthread-2.0.so.0": "libglib2.0-0"}
DNF = {"libxcb-cursor": "xcb-util-cursor", "libxcb-icccm": "xcb-util-wm", "libxcb-image": "xcb-util-image",
       "libxcb-keysyms": "xcb-util-keysyms", "libxcb-render-util": "xcb-util-renderutil",
       "libxcb-util": "xcb-util", "libxcb": "libxcb", "libX11": "libX11", "libX11-xcb": "libX11-xcb",
       "libxkbcommon": "libxkbcommon", "libxkbcommon-x11": "libxkbcommon-x11", "libEGL": "libglvnd-egl",
       "libGL": "libglvnd-glx", "libfontconfig": "fontconfig", "libfreetype": "freetype",
       "libglib-2.0": "glib2", "libgthread-2.0": "glib2", "libdbus-1": "dbus-libs",
       "libwayland-client": "libwayland-client", "libwayland-cursor": "libwayland-cursor",
       "libwayland-egl": "libwayland-egl"}
PACMAN = {"libxcb-cursor": "xcb-util-cursor", "libxcb-icccm": "xcb-util-wm", "libxcb-image": "xcb-util-image",
          "libxcb-keysyms": "xcb-util-keysyms", "libxcb-render-util": "xcb-util-renderutil",
          "libxcb-util": "xcb-util", "libxcb": "libxcb", "libX11": "libx11", "libX11-xcb": "libx11",
          "libxkbcommon": "libxkbcommon", "libxkbcommon-x11": "libxkbcommon-x11", "libEGL": "libglvnd",
          "libGL": "libglvnd", "libfontconfig": "fontconfig", "libfreetype": "freetype2",
          "libglib-2.0": "glib2", "libgthread-2.0": "glib2", "libdbus-1": "dbus",
          "libwayland-client": "wayland", "libwayland-cursor": "wayland", "libwayland-egl": "wayland"}
INSTALLERS = {"apt": "sudo apt install", "dnf": "sudo dnf install", "pacman": "sudo pacman -S"}
DISTRIBUTIONS = {"apt": {"debian", "ubuntu"}, "dnf": {"fedora", "rhel", "centos"}, "pacman": {"arch"}}


@dataclass(frozen=True)
class CannotStart:
    """Why the editor cannot open a window here: the line to print and the exit code."""

    line: str
    exit_code: int


def start_problem(environ=None) -> CannotStart | None:
    """None when Qt can open a window as the environment asks (or it is not for us to tell)."""
    environ = os.environ if environ is None else environ
    if not sys.platform.startswith("linux"):
        return None
    platforms = requested_platforms(environ)
    if any(name not in PLUGIN_FILES for name in platforms):
        return None  # offscreen, minimal, vnc, eglfs…: nothing to connect to, or the user knows best
    shown = [name for name in platforms if environ.get(DISPLAY_VARIABLES[name])]
    if not shown:
        return CannotStart(no_display_line(environ, platforms), NO_DISPLAY_EXIT)
    missing: dict[str, list[str]] = {}
    for name in shown:
        plugin = plugin_file(name, environ)
        lacking = missing_libraries(plugin) if plugin else []
        if not lacking:
            return None  # Qt tries the platforms in order and takes the first that loads
        missing[name] = lacking
    libraries = list(dict.fromkeys(library for lacking in missing.values() for library in lacking))
    return CannotStart(missing_libraries_line(list(missing), libraries, package_manager(os_release())),
                       MISSING_LIBRARIES_EXIT)


def requested_platforms(environ) -> list[str]:
    """The platforms Qt may try, in order: QT_QPA_PLATFORM ("wayland;xcb", "xcb:option"), else
    Wayland then X11 where there is a Wayland display, else X11. Generous on purpose: a check that
    stops an editor which would have opened is worse than Qt's own message."""
    asked = environ.get("QT_QPA_PLATFORM", "").strip()
    if asked:
        return [part.split(":")[0].strip() for part in asked.split(";") if part.strip()]
    wayland = environ.get("XDG_SESSION_TYPE") == "wayland" or environ.get("WAYLAND_DISPLAY")
    return ["wayland", "xcb"] if wayland else ["xcb"]


def no_display_line(environ, platforms: list[str]) -> str:
    asked = environ.get("QT_QPA_PLATFORM", "").strip()
    unset = [DISPLAY_VARIABLES[name] for name in platforms] if asked else ["DISPLAY", "WAYLAND_DISPLAY"]
    told = f"{' and '.join(dict.fromkeys(unset))} {'is' if len(set(unset)) == 1 else 'are'} unset"
    if asked:
        told += f"; QT_QPA_PLATFORM is {asked}"
    return (f"graft: no display to open the editor on ({told}); run graft in a desktop session, or use "
            "graft validate, summary, train or export here")


def plugin_file(name: str, environ) -> Path | None:
    """The platform plugin Qt would load, found without importing Qt; None if not there."""
    folders = []
    if environ.get("QT_QPA_PLATFORM_PLUGIN_PATH"):
        folders.append(Path(environ["QT_QPA_PLATFORM_PLUGIN_PATH"]))
    spec = importlib.util.find_spec("PySide6")
    for package in (spec.submodule_search_locations or []) if spec else []:
        folders.append(Path(package) / "Qt" / "plugins" / "platforms")
    candidates = (folder / PLUGIN_FILES[name] for folder in folders)
    return next((path for path in candidates if path.is_file()), None)


def missing_libraries(plugin: Path) -> list[str]:
    """The system libraries the plugin needs and the dynamic loader cannot find."""
    found = []
    for line in ldd(plugin).splitlines():
        library, _, where = line.strip().partition(" => ")
        if where.strip() == "not found" and not SHIPPED_WITH_QT.match(library) and library not in found:
            found.append(library)
    return found


def ldd(plugin: Path) -> str:
    """`ldd`'s report on the plugin; empty when there is no ldd to ask (then Qt says what it says)."""
    if shutil.which("ldd") is None:
        return ""
    try:
        return subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def os_release() -> dict[str, str]:
    try:
        return platform.freedesktop_os_release()
    except OSError:
        return {}


def package_manager(release: dict[str, str]) -> str | None:
    """apt, dnf or pacman, from /etc/os-release's ID and ID_LIKE; None for another distribution."""
    names = {release.get("ID", ""), *release.get("ID_LIKE", "").split()}
    return next((manager for manager, family in DISTRIBUTIONS.items() if names & family), None)


def packages(manager: str, libraries: list[str]) -> list[str]:
    """The packages that hold the libraries, for one package manager; one it does not know is left out."""
    found = []
    for library in libraries:
        stem, _, version = library.partition(".so.")
        if manager == "apt":
            name = APT_EXCEPTIONS.get(library) or _debian_package(stem, version)
        else:
            name = (DNF if manager == "dnf" else PACMAN).get(stem)
        if name and name not in found:
            found.append(name)
    return found


def _debian_package(stem: str, version: str) -> str | None:
    """Debian's rule: libfoo.so.1 is in libfoo1, libfoo-x11.so.0 in libfoo-x11-0."""
    major = version.split(".")[0]
    if not major:
        return None
    return f"{stem.lower()}{'-' if stem[-1].isdigit() else ''}{major}"


def missing_libraries_line(platforms: list[str], libraries: list[str], manager: str | None) -> str:
    """One line: which plugin, which libraries, and the command that installs them."""
    plugins = " and ".join(f"'{name}'" for name in platforms)
    many = len(libraries) > 1
    line = (f"graft: the editor cannot start: Qt's {plugins} platform "
            f"{'plugins need' if len(platforms) > 1 else 'plugin needs'} {', '.join(libraries)}, "
            f"{'which are' if many else 'which is'} not installed; ")
    install = packages(manager, libraries) if manager else []
    if install:
        return line + f"install {'them' if many else 'it'} with: {INSTALLERS[manager]} {' '.join(install)} " \
                      f"({HEADLESS_HINT})"
    return line + f"install the packages that provide {'them' if many else 'it'}, {HEADLESS_HINT}"
