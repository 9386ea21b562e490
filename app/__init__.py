"""Graft: a desktop studio for composing pretrained Keras models."""

__version__ = "0.1.0"
