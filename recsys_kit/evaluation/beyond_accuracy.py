"""Metrics beyond accuracy over top-K lists: coverage, Gini of exposure, novelty, average
recommended popularity (ARP) and intra-list diversity (ILD).

``top`` is a (users, K) array of item tokens, ``NO_ITEM`` (0) in empty slots; empty slots
count for nothing. Catalogue-level metrics return one float; per-user metrics return one
value per row of ``top`` (NaN for a user with no item, or for ILD fewer than two).
"""

from __future__ import annotations

import numpy as np

from recsys_kit.ranking import NO_ITEM

#: Users whose (K x K) similarity blocks are computed at once in ``intra_list_diversity``.
ILD_CHUNK = 2048


def exposure(top: np.ndarray, n_items: int) -> np.ndarray:
    """Times each item (row ``i`` = token ``i + 1``) appears in the top-K lists."""
    tokens = top[top != NO_ITEM]
    return np.bincount(tokens, minlength=n_items + 1)[1:n_items + 1]


def coverage(top: np.ndarray, n_items: int) -> float:
    """Share of the catalogue recommended to at least one user."""
    return float((exposure(top, n_items) > 0).sum() / n_items) if n_items else 0.0


def gini(top: np.ndarray, n_items: int) -> float:
    """Gini coefficient of the exposure counts over the whole catalogue: 0 when every item is
    recommended equally often, towards 1 when a few items take every slot. NaN when nothing
    is recommended."""
    counts = np.sort(exposure(top, n_items)).astype(np.float64)
    total = counts.sum()
    if not total:
        return float("nan")
    rank = np.arange(1, n_items + 1)
    return float(((2 * rank - n_items - 1) * counts).sum() / (n_items * total))


def _per_user_mean(top: np.ndarray, per_token: np.ndarray) -> np.ndarray:
    """Mean of ``per_token`` over each user's real items (NaN for a user without any)."""
    real = top != NO_ITEM
    n = real.sum(1)
    total = np.where(real, per_token[top], 0.0).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def novelty(top: np.ndarray, share: np.ndarray) -> np.ndarray:
    """Per user: mean self-information ``-log2(share)`` of the recommended items, where
    ``share`` (per token) is the item's share of training interactions."""
    information = np.zeros(len(share))
    information[1:] = -np.log2(share[1:])
    return _per_user_mean(top, information)


def average_popularity(top: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per user: mean training interaction count of the recommended items (ARP)."""
    return _per_user_mean(top, counts.astype(np.float64))


def intra_list_diversity(top: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Per user: 1 - mean cosine similarity over the pairs of recommended items, with
    ``vectors`` (per token) the items' vectors. A zero vector (an item without categories) is
    similar to nothing. NaN for a user with fewer than two items."""
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms > 0, norms, 1.0)
    out = np.empty(len(top))
    k = top.shape[1]
    off_diagonal = ~np.eye(k, dtype=bool)
    for start in range(0, len(top), ILD_CHUNK):
        block = top[start:start + ILD_CHUNK]
        real = (block != NO_ITEM).astype(np.float64)
        v = unit[block] * real[:, :, None]
        similarity = np.einsum("ukd,ujd->ukj", v, v)
        pairs = (real[:, :, None] * real[:, None, :]) * off_diagonal
        n_pairs = pairs.sum((1, 2))
        total = (similarity * pairs).sum((1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start:start + len(block)] = np.where(n_pairs > 0, 1.0 - total / n_pairs, np.nan)
    return out


def category_vectors(values: np.ndarray, separator: str) -> np.ndarray:
    """Multi-hot category vectors per token (row 0, padding, all zero) from a side column of
    ``separator``-joined categories by item row, e.g. ``"Action|Comedy"``."""
    split = [[c.strip() for c in str(v).split(separator) if c.strip()] for v in values]
    vocabulary = {c: i for i, c in enumerate(sorted({c for cats in split for c in cats}))}
    out = np.zeros((len(values) + 1, max(len(vocabulary), 1)), dtype=np.float32)
    for row, cats in enumerate(split, start=1):
        out[row, [vocabulary[c] for c in cats]] = 1.0
    return out
