"""The graph model: nodes, edges, parameter schemas and tensor specs. Imports nothing else of Graft's."""
