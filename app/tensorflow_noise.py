"""TensorFlow's start-up lines kept off the terminal `graft` runs in (its commands and the editor).

TensorFlow's own logging is for its developers, not Graft's users: TF_CPP_MIN_LOG_LEVEL 3 keeps
only fatal lines, but its C++ still writes a few lines to fd 2 while it loads, whatever the
level says (absl's INFO lines and its notice, the oneDNN notice). These are filtered out while
`tensorflow` is first imported, by whichever module imports it (the core imports it lazily, not
every command needs it, and the editor imports it on a background thread)."""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import logging
import os
import re
import sys
import tempfile


def quiet_tensorflow() -> None:
    """TensorFlow's own logging is for its developers, not Graft's users: level 3 keeps only
    fatal lines. A user's own level is kept (see `filter_tensorflow_start_up`)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if not _asked_for_info_lines():
        logger = logging.getLogger("tensorflow")
        if not any(isinstance(f, _NoRetracingNotes) for f in logger.filters):
            logger.addFilter(_NoRetracingNotes())


class _NoRetracingNotes(logging.Filter):
    """TensorFlow's note that a function was traced again ("5 out of the last 13 calls … triggered
    tf.function retracing") is advice on its caching: each run, and each trial of a sweep, builds
    a new model whose predict function is traced anew, as it should be."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


def _asked_for_info_lines() -> bool:
    """Whether the user set TF_CPP_MIN_LOG_LEVEL to 0, asking for TensorFlow's INFO lines. Any other
    level hides them, and absl's start-up lines with them: absl ignores the level, so a user who set
    it to 2 to quiet TensorFlow would see them still."""
    return os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3").strip() == "0"


# What TensorFlow's C++ writes to fd 2 while it loads, whatever TF_CPP_MIN_LOG_LEVEL says: absl's
# notice that it is not initialised yet and its INFO lines (CUDA drivers, CPU features), TF's own
# INFO lines, and the oneDNN notice. oneDNN stays on (the editor, a user's own TensorFlow and the
# exported model compute the same way); only its notice goes.
_TENSORFLOW_NOISE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|I\d{4} [\d:.]+ +\d+ [\w./-]+:\d+\] "
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: I "
    r"|To enable the following instructions: .*rebuild TensorFlow"
    r"|.*oneDNN custom operations are on")


@contextlib.contextmanager
def tensorflow_noise_filtered():
    """Catch what is written to fd 2 (C++ included, which sys.stderr never sees) and pass on
    every line but TensorFlow's start-up noise once the block ends, even when it raised."""
    with contextlib.suppress(AttributeError, OSError, ValueError):
        sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 at all: nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(AttributeError, OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            kept = [line for line in caught.read().splitlines(keepends=True)
                    if not _TENSORFLOW_NOISE.match(line.decode("utf-8", "replace"))]
            if kept:
                os.write(2, b"".join(kept))


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Filters fd 2 while `tensorflow` is first imported, by whichever module imports it (core
    modules import it lazily, and not every command needs it). It removes itself on first use."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _FilteredLoader(spec.loader)
        return spec


class _FilteredLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        module.__spec__.loader = module.__loader__ = self.loader  # the module sees its own loader
        with tensorflow_noise_filtered():
            self.loader.exec_module(module)


def filter_tensorflow_start_up() -> None:
    """From now on, the first import of TensorFlow is filtered (unless the user asked for its lines)."""
    if (not _asked_for_info_lines() and "tensorflow" not in sys.modules
            and not any(isinstance(finder, _QuietTensorFlowImport) for finder in sys.meta_path)):
        sys.meta_path.insert(0, _QuietTensorFlowImport())
