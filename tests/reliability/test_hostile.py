"""Reliability experiment 4, the fast part: model files of published (and likely) attack
shapes, each with a payload that would write a canary, are read the way Graft reads them
(analysis, compile, prediction); no canary appears, and Graft's own refusal names the file.
The cases tests/core/test_import.py already runs are left to it."""

import pytest

from benchmarks.reliability_hostile import CASES, run_case

NEW = [case for case in CASES if not case.covered]


@pytest.mark.parametrize("case", NEW, ids=[case.name for case in NEW])
def test_a_hostile_model_file_runs_nothing_and_is_refused_clearly(case, tmp_path):
    outcome = run_case(case, tmp_path)
    assert outcome.canaries == [], f"the payload ran: {outcome.canaries}"
    if case.refusal is None:
        assert outcome.loaded, outcome.messages  # inert data: the model is fine to use
    else:
        assert outcome.refused_clearly, outcome.messages  # one line, not too long, naming the cause
        assert any(m.startswith("'model': ") or m.startswith("model ") for m in outcome.messages)


def test_every_case_not_run_here_is_run_where_it_says():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for case in CASES:
        if case.covered:
            file, test = case.covered.split("::")
            assert f"def {test}(" in (root / file).read_text(), case.covered
