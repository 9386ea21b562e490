"""Commands that change a project (with undo), layout, clipboard and the graph builder."""
