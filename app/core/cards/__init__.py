"""Pretrained models: the Keras Applications table, model cards and safe loading of model files."""
