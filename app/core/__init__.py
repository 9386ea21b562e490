"""Graft's engine, free of Qt: graph model, node catalog, shape inference and validation,
compilation to Keras, project files. Importable and testable headless."""
