"""Dock panels around the canvas: palette, inspector, problems, model view."""
