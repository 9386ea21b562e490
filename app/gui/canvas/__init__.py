"""The node canvas: a QGraphicsScene mirroring the core graph, and its view."""
