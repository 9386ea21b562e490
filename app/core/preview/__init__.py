"""Previews: each node's output on a sample of real data, before training (issue 19).

`sample.py` says what the previews are computed on, `engine.py` computes every node's output
incrementally, and `summary.py` turns one output into what the editor draws."""
