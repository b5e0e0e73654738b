"""Ranking: full-catalogue top-K per user, and predicted scores of held-out pairs."""
