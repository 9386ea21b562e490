"""Which versions of Graft and of what it runs on are installed, for `graft --version` and
Help ▸ About. Read from the installed packages' metadata, so nothing is imported: asking must
stay instant, and importing TensorFlow takes seconds."""

from __future__ import annotations

import importlib.metadata
import platform
import sys

import app

NOT_INSTALLED = "not installed"

# Each package by the distribution names it is installed under, first the usual one; and the
# module whose __version__ answers where no metadata was installed (as in a bundle).
_PACKAGES = {
    "Graft": (("graft-studio",), "app"),
    "TensorFlow": (("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tf-nightly"), "tensorflow"),
    "Keras": (("keras",), "keras"),
    "PySide6": (("PySide6-Essentials", "PySide6"), "PySide6"),
}


def versions() -> dict[str, str]:
    """Graft, TensorFlow, Keras, PySide6 and Python, each with its version (or "not installed")."""
    found = {name: _version(distributions, module) for name, (distributions, module) in _PACKAGES.items()}
    return found | {"Python": platform.python_version()}


def _version(distributions: tuple[str, ...], module: str) -> str:
    for distribution in distributions:
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    if module == "app":
        return app.__version__
    loaded = sys.modules.get(module)  # only where it is imported already: never import it to ask
    return getattr(loaded, "__version__", NOT_INSTALLED) if loaded else NOT_INSTALLED


def version_text() -> str:
    """`graft --version`: Graft's version on the first line, what it runs on on the second."""
    found = versions()
    graft = found.pop("Graft")
    return f"graft {graft}\n" + ", ".join(f"{name} {version}" for name, version in found.items())
