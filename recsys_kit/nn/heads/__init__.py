"""Heads: scorers that compare fused vectors with items, and their training losses."""
