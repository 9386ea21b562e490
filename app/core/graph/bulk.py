"""Work over a whole large graph without Python's cycle collector in the way.

Reading a 100,000-node project or validating it makes millions of objects and no garbage
cycles; the collector would walk all of them again and again as they pile up (a third of
the time to validate, a fifth of the time to open). It is paused for that work only, and
runs as usual afterwards."""

from __future__ import annotations

import contextlib
import gc


@contextlib.contextmanager
def collector_paused():
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
