"""`graft --install-desktop`: Graft in the user's application menu, `.graft` files known to the file
manager as Graft projects that open in it, and its icon, all for this user only (the XDG data
folder: $XDG_DATA_HOME, else ~/.local/share). The files come from `packaging/`; the launcher's
Exec is made to point at the `graft` that ran this, the pip entry point or the bundle's."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGING = Path(__file__).resolve().parents[1] / "packaging"  # beside app/, in a checkout and in the bundle
DESKTOP_FILE, MIME_FILE, ICON_FILE = "graft.desktop", "graft-project.xml", "graft.svg"
# What Exec's quoting rules reserve (the Desktop Entry Specification, "The Exec key").
RESERVED = re.compile(r"[\s\"'\\><~|&;$*?#()`]")


def data_home(environ=None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def graft_command() -> list[str]:
    """The command that starts this Graft: the bundle's executable, the `graft` script beside
    this Python (a virtual environment's), the one on PATH, or this Python running the package."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    beside = Path(sys.executable).parent / "graft"
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside.absolute())]
    on_path = shutil.which("graft")
    return [str(Path(on_path).absolute())] if on_path else [sys.executable, "-m", "app"]


def install_desktop(target: Path | None = None, command: list[str] | None = None) -> list[Path]:
    """Install the launcher, the MIME type and the icon under `target` (the XDG data folder);
    returns the files written. The MIME and launcher caches are refreshed where their tools exist; the
    user's icon folder gets no cache, which would hide the icons other programs add there later."""
    target = data_home() if target is None else target
    command = graft_command() if command is None else command
    launcher = target / "applications" / DESKTOP_FILE
    mime = target / "mime" / "packages" / MIME_FILE
    icon = target / "icons" / "hicolor" / "scalable" / "apps" / ICON_FILE
    for path in (launcher, mime, icon):
        path.parent.mkdir(parents=True, exist_ok=True)
    launcher.write_text(launcher_text((PACKAGING / DESKTOP_FILE).read_text(encoding="utf-8"), command),
                        encoding="utf-8")
    shutil.copyfile(PACKAGING / MIME_FILE, mime)
    shutil.copyfile(PACKAGING / ICON_FILE, icon)
    _refresh("update-mime-database", str(target / "mime"))
    _refresh("update-desktop-database", str(launcher.parent))
    return [launcher, mime, icon]


def launcher_text(template: str, command: list[str]) -> str:
    """The desktop entry with Exec and TryExec pointing at `command` (which a menu's PATH may lack)."""
    executable = " ".join(_exec_argument(part) for part in command)
    lines = []
    for line in template.splitlines():
        if line.startswith("Exec="):
            line = f"Exec={executable} %F"
        elif line.startswith("TryExec="):
            line = f"TryExec={_escaped(command[0])}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _exec_argument(argument: str) -> str:
    """One argument of Exec: quoted where it holds a reserved character, then escaped as a string."""
    if RESERVED.search(argument):
        argument = '"' + re.sub(r'(["`$\\])', r"\\\1", argument) + '"'
    return _escaped(argument).replace("%", "%%")  # a lone % would start a field code


def _escaped(value: str) -> str:
    """A desktop entry's string escape: a backslash doubled."""
    return value.replace("\\", "\\\\")


def _refresh(tool: str, *arguments: str) -> None:
    """Run a desktop cache tool if it is installed; without it the desktop picks the files up later."""
    found = shutil.which(tool)
    if found:
        subprocess.run([found, *arguments], capture_output=True, timeout=120, check=False)


def cmd_install_desktop(args=None) -> int:
    """`graft --install-desktop`: install, and say what went where."""
    command = graft_command()
    for path in install_desktop(command=command):
        print(f"installed {path}")
    print(f"Graft is in the application menu and opens .graft files; its launcher runs {' '.join(command)}")
    return 0
