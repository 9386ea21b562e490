"""Previews of each node's output in the editor (issue 19): the switch and the background work
(`controller.py`), the strip under each card (`strip.py`) and the Preview dock (`panel.py`)."""
