"""Loading and validating grow linearly with the project: counted in executed lines of Python
(deterministic, unlike time), a project four times as large runs at most ~4.5 times the lines.
Two shapes: a long chain, and one merge with many inputs."""

from __future__ import annotations

import json
import sys

import pytest

from app.core.analysis.validate import analyze
from app.core.document.fileformat import loads
from benchmarks.project_scale import chain, merge


def lines_run(work) -> int:
    """How many lines of Python `work()` executes (app code and libraries alike)."""
    count = 0

    def tracer(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
        return tracer

    sys.settrace(tracer)
    try:
        work()
    finally:
        sys.settrace(None)
    return count


def cost(text: str) -> tuple[int, int]:
    """Lines run to load `text` and to validate what it holds."""
    project = loads(text)
    assert analyze(project.graph, project.context).ok
    return lines_run(lambda: loads(text)), lines_run(lambda: analyze(project.graph, project.context))


@pytest.mark.parametrize("shape", [chain, merge])
def test_loading_and_validating_grow_linearly_with_the_project(shape):
    small, large = json.dumps(shape(400)), json.dumps(shape(1600))
    loads(small)  # caches and lazy imports warmed before counting
    costs = {name: cost(text) for name, text in (("small", small), ("large", large))}
    for step, small_cost, large_cost in zip(("load", "validate"), costs["small"], costs["large"]):
        assert large_cost <= 4.5 * small_cost, f"{step}: {small_cost} → {large_cost} lines for 4× the nodes"
