"""Reliability experiment 2, the fast part: a process saving a 2,000-node project, or writing
a checkpoint, is SIGKILLed at seeded random moments; the file is always the old or the new
version and loads, and no temporary file outlives the next save (the full run, 150 kills of
each, is benchmarks/reliability_kill.py)."""

import pytest

from benchmarks.reliability_kill import (
    CHECKPOINT,
    PROJECT,
    QUICK_KILLS,
    TARGETS,
    kill_runs,
    leftovers,
    prepare,
    save_once,
    verify,
)


@pytest.mark.parametrize("kind", [PROJECT, CHECKPOINT])
def test_a_save_killed_at_any_moment_leaves_the_old_or_the_new_file(tmp_path, kind):
    prepared = prepare(tmp_path, (kind,))[kind]
    tally = kill_runs(kind, QUICK_KILLS, tmp_path, prepared)
    assert tally.kills == QUICK_KILLS and tally.writer_failed == 0
    assert tally.corrupt == []
    assert tally.left_after_save == []


def test_the_checks_see_a_torn_file_and_a_leftover(tmp_path):
    """The experiment would notice what it looks for: half a file, and a temporary file that
    the next save did not remove."""
    prepared = prepare(tmp_path, (CHECKPOINT,))[CHECKPOINT]
    target = tmp_path / TARGETS[CHECKPOINT]
    old, new = prepared["versions"]
    target.write_bytes(new[: len(new) // 2] + old[len(new) // 2:])
    assert "neither version" in verify(CHECKPOINT, tmp_path, prepared)
    save_once(CHECKPOINT, tmp_path, prepared, 1)
    assert verify(CHECKPOINT, tmp_path, prepared) is None

    (tmp_path / f".{target.name}.0123abcd.tmp").write_bytes(old[:100])  # a killed save's
    assert leftovers(tmp_path, target.name) == [f".{target.name}.0123abcd.tmp"]
    save_once(CHECKPOINT, tmp_path, prepared, 0)
    assert leftovers(tmp_path, target.name) == []
