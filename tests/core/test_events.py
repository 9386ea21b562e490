"""How a running training's times read, in the GUI's progress line and the CLI's alike."""

import math

import pytest

from app.core.training.events import duration


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0:00"), (42.2, "0:42"), (59.6, "1:00"), (725, "12:05"), (3725, "1:02:05"),
    (36000, "10:00:00"), (-3, "0:00"),  # an estimate a little below zero is no time left
    (math.inf, "?"), (math.nan, "?"),
])
def test_a_duration_reads_as_a_clock_to_the_nearest_second(seconds, text):
    assert duration(seconds) == text
