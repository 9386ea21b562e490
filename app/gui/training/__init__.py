"""The Training dock: setup forms, a background run with live plots, and its results."""

from app.gui.training.dock import TrainingPanel

__all__ = ["TrainingPanel"]
