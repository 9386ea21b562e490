"""Shape inference over a graph, problems and one-step fixes."""
