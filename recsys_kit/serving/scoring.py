"""Scores of every item for a batch of histories, items unseen in training included, and the
top-K of them with seen items masked, exactly as the run's own ranking does.

Tokens follow the run's vocabulary: 0 is padding, 1..n the catalogue; items unseen in
training (``new_rows``) take the tokens after it, and the mask token moves to the end.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from recsys_kit.nn.batches import append_mask
from recsys_kit.nn.fusion.pairwise import PairwiseRecommender
from recsys_kit.nn.model import DirectRecommender, Scorer, SequenceRecommender
from recsys_kit.nn.ranking.rank import blocked_tokens, never_ranked, top_tokens


def extended_table(table: torch.Tensor, new_rows: torch.Tensor) -> torch.Tensor:
    """The item table with ``new_rows`` after the catalogue and the mask token last."""
    return torch.cat([table[:-1], new_rows.to(table.dtype), table[-1:]])


def blocked_for(seqs: Sequence[np.ndarray], n_tokens: int, mask_seen: bool,
                device: torch.device) -> torch.Tensor:
    """(B, n_tokens) True where a token may not be recommended (padding, mask, history)."""
    return blocked_tokens(seqs, never_ranked(n_tokens, None, device), mask_seen)


@torch.no_grad()
def score_histories(
    model: torch.nn.Module, history: torch.Tensor, *, table: torch.Tensor | None,
    n_items: int, new_rows: torch.Tensor | None = None,
    ratings: torch.Tensor | None = None, blocked: torch.Tensor | None = None,
) -> torch.Tensor:
    """Scores (B, n_tokens) of every token for left-padded ``history`` (B, L).

    ``table`` is the model's item table computed once (None for direct recommenders);
    ``blocked`` (B, n_tokens) tells a two-stage model what its retrieval stage must skip.
    """
    if isinstance(model, DirectRecommender):
        return model.scores(history)
    extra = {} if ratings is None else {"ratings": ratings}
    if getattr(model, "narrows_candidates", False):
        extra["blocked"] = blocked
    if new_rows is None:
        return model.scores(history, table, **extra)
    full = extended_table(table, new_rows)
    new_tokens = torch.arange(n_items + 1, n_items + 1 + len(new_rows), device=history.device)
    if isinstance(model, PairwiseRecommender):
        scores = model.scores(history, full, **extra)
        scores[:, new_tokens] = _pairwise_new(model, history, full, new_tokens, n_items, ratings)
        return scores
    assert isinstance(model, SequenceRecommender)
    if model.masked:  # the mask token after the history asks for the next item
        history = append_mask(history, full.shape[0] - 1)
    states, valid = model.encode(history, full)
    user = model.fusion.user_state(states, valid)
    scores = model.scorer.logits(user, full)
    scores[:, new_tokens] = rows_logits(model.scorer, user, new_rows.to(full.dtype), n_items)
    return scores


def rows_logits(scorer: Scorer, states: torch.Tensor, rows: torch.Tensor,
                n_items: int) -> torch.Tensor:
    """Logits (B, m) of arbitrary item vectors ``rows`` (m, D).

    A scorer scores a table laid out as the vocabulary (padding row first, at most
    ``n_items`` items), so the rows go through it in chunks of that shape.
    """
    parts = []
    pad = rows.new_zeros(1, rows.shape[1])
    for chunk in rows.split(n_items):
        parts.append(scorer.logits(states, torch.cat([pad, chunk]))[:, 1:1 + len(chunk)])
    return torch.cat(parts, dim=1)


def _pairwise_new(model: PairwiseRecommender, history: torch.Tensor, table: torch.Tensor,
                  new_tokens: torch.Tensor, n_items: int, ratings: torch.Tensor | None
                  ) -> torch.Tensor:
    """Target-attention scores (B, m) of the new items (plus the retrieval logit for two-stage
    click models, as the model ranks its candidates)."""
    states, valid = model.encode(history, table)
    candidates = table[new_tokens][None, None].expand(history.shape[0], 1, -1, -1)
    fused, _ = model.fusion.attend(states, valid, candidates, None,
                                   ratings if model.uses_ratings else None)
    scores = model.scorer.pair_logits(fused)[:, 0]
    if model.residual:
        user = model.fusion.user_state(states, valid)
        scores = scores + rows_logits(model.retrieval, user, table[new_tokens], n_items)
    return scores


def top_k(scores: torch.Tensor, blocked: torch.Tensor, k: int
          ) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` tokens and raw scores per row; ``NO_ITEM`` and -inf where fewer are allowed.

    Scores that are NaN or +inf raise :class:`~recsys_kit.errors.NonFiniteError`: a ranking
    built on them would look valid and be meaningless.
    """
    indices, values = top_tokens(scores.float(), blocked, k)
    return indices.cpu().numpy(), values.cpu().numpy()
