"""Fusion: from encoded history to the vector a scorer compares, or per candidate (target
attention) with the pairwise recommender built on it."""
