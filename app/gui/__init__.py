"""The PySide6 editor: a thin layer that mirrors the core's state and issues its commands."""
