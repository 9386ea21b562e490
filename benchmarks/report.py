"""docs/benchmarks.md is shared: each benchmark script rewrites only its own section."""

from __future__ import annotations

from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def write_section(name: str, section: str) -> None:
    """Replace the text between `<!-- name:start -->` and `<!-- name:end -->` (or append it)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = DOC.read_text() if DOC.exists() else (
        "# Benchmarks\n\nMeasured by the scripts in `benchmarks/`; each script rewrites only "
        "its own section.\n")
    block = f"{start}\n{section.rstrip()}\n{end}"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text)


def measured_on(more: str = "") -> str:
    """The line that ends a section: when and on what it was measured (`more` is added)."""
    import datetime
    import os
    import platform

    import keras
    import tensorflow as tf

    return (f"Measured {datetime.date.today()} on {platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, TensorFlow {tf.__version__}, Keras {keras.__version__}"
            f"{more}.")
