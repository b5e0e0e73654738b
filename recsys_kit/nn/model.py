"""How encoders, fusion and scorer fit together into one recommender.

Model-family factories are called as ``factory(config, shape)`` and return ``nn.Module``s
following the base classes here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from recsys_kit.columns import TRAIN
from recsys_kit.data import SequenceData
from recsys_kit.nn.batches import append_mask, mask_items


@dataclass
class ModelShape:
    """What a model stage needs to know about the data (and the run) to build itself.

    ``item_side``, ``item_features`` and ``meta`` are those of ``SequenceData``; ``cache_dir``
    is where stages may keep derived files across runs; ``report`` prints one line.
    """

    n_items: int
    dim: int
    max_len: int
    item_counts: np.ndarray
    item_side: dict[str, np.ndarray] = field(default_factory=dict)
    item_features: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    cache_dir: Path | None = None
    report: Callable[[str], None] = print
    rating_mean: float = 0.0
    fused_width: int = 0
    #: How the user encoder is trained (its ``objective``: ``next_item`` or ``masked``), set
    #: by the runner once the encoder is built, before the scorer.
    objective: str = "next_item"
    #: ``objective -> counts`` for :meth:`target_counts`; None where there is no data.
    count_targets: Callable[[str], np.ndarray] | None = field(default=None, repr=False)

    def target_counts(self) -> np.ndarray:
        """How often each token is a training target under ``objective``: the distribution
        in-batch negatives are drawn from (``item_counts`` when unknown). Counted on first
        use: only the losses that draw in-batch negatives need it."""
        if self.count_targets is None:
            return self.item_counts
        return self.count_targets(self.objective)

    @property
    def n_tokens(self) -> int:
        """Rows of an item table: padding, the items, the mask token."""
        return self.n_items + 2

    @classmethod
    def of(cls, data: SequenceData, dim: int, max_len: int, **run: object) -> ModelShape:
        """The shape of ``data`` for a model of width ``dim`` over ``max_len`` items; ``run``
        sets ``device``, ``cache_dir`` and ``report``."""
        rating_mean = 0.0
        train = data.ratings[data.split == TRAIN] if data.ratings is not None else None
        if train is not None and (~np.isnan(train)).any():
            rating_mean = float(np.nanmean(train))
        return cls(data.n_items, dim, max_len, data.train_counts(), data.item_side,
                   data.item_features, data.meta, rating_mean=rating_mean,
                   count_targets=partial(training_target_counts, data, max_len),
                   **run)  # type: ignore[arg-type]


def training_target_counts(data: SequenceData, max_len: int, objective: str) -> np.ndarray:
    """Per token, how often it is a training target: for ``next_item``, the last ``max_len``
    items of each training sequence after its first (``nn.batches.next_item_pairs``); for
    ``masked``, any of its last ``max_len`` items (``nn.batches.mask_items``)."""
    first = 1 if objective == "next_item" else 0
    tails = [s[first:][-max_len:] for s in data.sequences(TRAIN) if len(s) >= 2]
    targets = np.concatenate(tails) if tails else np.zeros(0, dtype=np.int64)
    return np.bincount(targets, minlength=data.n_items + 1)


class ItemEncoder(nn.Module):
    """Encodes every item token into a ``dim`` vector: ``table()`` is (n_tokens, dim)."""

    def table(self) -> torch.Tensor:
        """Vectors of all tokens (row 0 padding, last row the mask token)."""
        raise NotImplementedError


class UserEncoder(nn.Module):
    """Encodes a left-padded history of item vectors into one state per position.

    ``objective`` says how it is trained: ``next_item`` (causal: every position predicts the
    next item) or ``masked`` (bidirectional: masked positions predict their item).
    """

    objective: str = "next_item"
    #: Share of positions masked in training (``masked`` objective only).
    mask_prob: float = 0.2

    def forward(self, items: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """``items`` (B, L, D) and ``valid`` (B, L) bool -> states (B, L, D)."""
        raise NotImplementedError


class DirectRecommender(nn.Module):
    """A user encoder that scores items itself (popularity, ...): no fusion, scorer or training."""

    #: Direct recommenders read no ratings at scoring time (they learn from them in ``fit``).
    uses_ratings: bool = False

    def fit(self, data: SequenceData) -> None:
        """Learn from the training part of ``data`` (closed form, no gradients)."""
        raise NotImplementedError

    def scores(self, history: torch.Tensor) -> torch.Tensor:
        """``history`` (B, L) tokens -> scores (B, n_tokens)."""
        raise NotImplementedError

    def batch_scorer(self) -> Callable[..., torch.Tensor]:
        """The function ranking calls per batch of histories."""
        return self.scores

    def pair_scores(
        self, history: torch.Tensor, candidates: torch.Tensor, ratings: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Scores (B, C) of ``candidates`` (B, C) tokens; rating baselines predict ratings."""
        return self.scores(history).gather(1, candidates)

    def pair_scorer(self) -> Callable[..., torch.Tensor]:
        """The function rating prediction calls per batch."""
        return self.pair_scores

    def interest(self, scores: torch.Tensor) -> torch.Tensor:
        """Scores are stored as they are (counts, mean ratings)."""
        return scores


class Fusion(nn.Module):
    """Turns encoder states into the vectors the scorer compares with items.

    A ``pairwise`` fusion (target attention) instead fuses the history with each candidate
    item, and needs a pairwise scorer (``mlp``).
    """

    pairwise: bool = False

    def training_states(self, states: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """States used for training, one per position (B, L, D)."""
        return states

    def user_state(self, states: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """One vector per user (B, D) for ranking."""
        raise NotImplementedError


class Scorer(nn.Module):
    """Scores item vectors against fused vectors and owns the training loss.

    A ``pairwise`` scorer (``mlp``) scores a pairwise fusion's (user, candidate) vectors
    instead, through ``pair_logits`` and ``pair_loss``.
    """

    pairwise: bool = False

    def logits(self, states: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """``states`` (N, D), ``table`` (n_tokens, D) -> (N, n_tokens)."""
        raise NotImplementedError

    def loss(
        self, states: torch.Tensor, targets: torch.Tensor, table: torch.Tensor
    ) -> torch.Tensor:
        """Mean loss of ``states`` (N, D) predicting ``targets`` (N,) tokens."""
        raise NotImplementedError


class SequenceRecommender(nn.Module):
    """Item encoders (combined) -> user encoder -> fusion -> scorer."""

    def __init__(
        self, items: list[ItemEncoder], user: UserEncoder, fusion: Fusion, scorer: Scorer,
        combine: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.items = nn.ModuleList(items)
        self.user = user
        self.fusion = fusion
        self.scorer = scorer
        self.combine = combine

    def item_table(self) -> torch.Tensor:
        """The item encoders' tables combined into one (n_tokens, D); summed by default."""
        tables = [enc.table() for enc in self.items]
        if self.combine is not None:
            return self.combine(tables)
        return tables[0] if len(tables) == 1 else torch.stack(tables).sum(0)

    #: Whether histories must come with their ratings (rating prediction models).
    uses_ratings: bool = False

    @property
    def masked(self) -> bool:
        """Whether the user encoder is trained on masked items (BERT4Rec) rather than next items."""
        return self.user.objective == "masked"

    def encode(
        self, history: torch.Tensor, table: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """States (B, L, D) and the valid mask of a left-padded token history."""
        valid = history != 0
        # F.embedding, not table[history]: its backward is deterministic on every device.
        return self.user(F.embedding(history, table), valid), valid

    def loss(self, history: torch.Tensor, targets: torch.Tensor, kept: int | None = None
             ) -> torch.Tensor:
        """Training loss; positions whose target is padding produce no logits at all.

        For a masked objective ``history`` and ``targets`` are the same training sequences; a
        fresh random mask is drawn for every batch. ``kept``, the number of non-padding
        targets when the caller knows it (the trainer counts them on the host), lets a next-item
        objective select them without asking the device how many there are: a step without a
        host synchronisation.
        """
        table = self.item_table()
        if self.masked:
            history, targets = mask_items(history, self.user.mask_prob, table.shape[0] - 1)
        states, valid = self.encode(history, table)
        states = self.fusion.training_states(states, valid)
        # index_select on flat positions: boolean indexing copies several times slower (CPU)
        flat = (targets != 0).view(-1)
        known = kept is not None and not self.masked  # masked: the mask was just drawn
        keep = (flat.nonzero_static(size=kept) if known else flat.nonzero()).squeeze(1)
        return self.scorer.loss(states.flatten(0, 1).index_select(0, keep),
                                targets.view(-1).index_select(0, keep), table)

    def scores(
        self, history: torch.Tensor, table: torch.Tensor | None = None,
        ratings: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Scores of every token (B, n_tokens) for each history (``ratings`` unused here)."""
        table = self.item_table() if table is None else table
        if self.masked:  # the mask token after the history asks for the next item
            history = append_mask(history, table.shape[0] - 1)
        states, valid = self.encode(history, table)
        return self.scorer.logits(self.fusion.user_state(states, valid), table)

    def batch_scorer(self) -> Callable[..., torch.Tensor]:
        """``scores`` with the item table computed once, for ranking many batches."""
        table = self.item_table()
        return lambda history, **extra: self.scores(history, table, **extra)

    def pair_scores(
        self, history: torch.Tensor, candidates: torch.Tensor, ratings: torch.Tensor | None = None,
        table: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Scores (B, C) of ``candidates`` (B, C) tokens for each history."""
        return self.scores(history, table, ratings=ratings).gather(1, candidates)

    def pair_scorer(self, table: torch.Tensor | None = None) -> Callable[..., torch.Tensor]:
        """``pair_scores`` with the item table computed once, for many batches (``table``:
        one given instead, e.g. with new items' rows appended)."""
        table = self.item_table() if table is None else table
        return lambda history, candidates, **extra: self.pair_scores(
            history, candidates, table=table, **extra)

    def interest(self, scores: torch.Tensor) -> torch.Tensor:
        """Ranking scores as stored interest values (the scorer's own scale)."""
        return scores
