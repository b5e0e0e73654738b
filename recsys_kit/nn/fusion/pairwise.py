"""Models whose fusion sees each candidate (target attention), with optional two-stage ranking.

Training adds two losses: the retrieval scorer's (e.g. dot-product cross-entropy, every
position) and the pairwise scorer's at a few sampled positions per sequence, each against
the true next item and sampled negatives (bce: from the retrieval stage's top-N when there is
one, else uniform) or against its rating (mse). Ranking either re-scores the whole catalogue
with target attention, or (two-stage) re-ranks the retrieval scorer's top-N candidates by the
sum of the two stages' logits: a product of experts, the retrieval stage's view of the whole
catalogue times the re-ranker's odds from the candidate's attention over the history. (Adding
the retrieval logit while training the re-ranker was measured worse on MovieLens-100K.)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from recsys_kit.nn.fusion.target_attention import TargetAttention
from recsys_kit.nn.model import ItemEncoder, Scorer, SequenceRecommender, UserEncoder

#: Candidates attended at once when target attention scores the whole catalogue.
CANDIDATE_CHUNK = 512


def sample_positions(keep: torch.Tensor, n: int) -> torch.Tensor:
    """``n`` positions per row (with replacement) among those where ``keep`` (B, L) is True;
    a row with none gets its last position (the caller gives it no weight)."""
    weights = keep.float()
    weights[:, -1] += (~keep.any(1)).float()
    return torch.multinomial(weights, n, replacement=True)


class PairwiseRecommender(SequenceRecommender):
    """Item encoders -> user encoder -> target attention per candidate -> MLP scorer."""

    fusion: TargetAttention
    #: Two-stage: ranking passes ``blocked`` to ``scores``, the retrieval stage picks from the
    #: rest (so seen items and non-candidates never take a candidate slot).
    narrows_candidates: bool = False

    def __init__(
        self,
        items: list[ItemEncoder],
        user: UserEncoder,
        fusion: TargetAttention,
        scorer: Scorer,
        combine: torch.nn.Module | None,
        n_items: int,
        retrieval: Scorer | None = None,
        top_n: int = 100,
    ) -> None:
        super().__init__(items, user, fusion, scorer, combine)
        self.retrieval = retrieval
        self.top_n, self.n_items = top_n, n_items
        self.uses_ratings = scorer.config.loss == "mse"
        self.narrows_candidates = retrieval is not None

    @property
    def residual(self) -> bool:
        """Two-stage click models rank by retrieval logit + re-ranker logit (a product of
        experts); rating models rank by the predicted rating alone."""
        return self.retrieval is not None and not self.uses_ratings

    def loss(
        self,
        history: torch.Tensor,
        targets: torch.Tensor,
        ratings: torch.Tensor | None = None,
        target_ratings: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Retrieval loss (if two-stage) plus the pairwise loss at sampled positions."""
        table = self.item_table()
        states, valid = self.encode(history, table)
        keep = targets != 0
        total = torch.zeros((), device=history.device)
        if self.retrieval is not None:
            total = self.retrieval.loss(states[keep], targets[keep], table)
        config = self.scorer.config
        if self.uses_ratings and target_ratings is not None:  # unrated targets teach nothing
            keep = keep & ~target_ratings.isnan()
        upto = sample_positions(keep, config.positions)  # (B, P)
        positive = targets.gather(1, upto)[:, :, None]
        if self.uses_ratings:
            if target_ratings is None:
                raise ValueError("an mse scorer needs target ratings")
            candidates, labels = positive, target_ratings.gather(1, upto)[:, :, None]
            weight = keep.gather(1, upto)[:, :, None]
        else:
            negatives = self._negatives(states, upto, table, config.negatives)
            candidates = torch.cat([positive, negatives], dim=-1)
            labels = torch.zeros_like(candidates, dtype=torch.float32)
            labels[:, :, 0] = 1.0
            # A sampled negative that is the positive itself is left out.
            weight = torch.cat([torch.ones_like(positive, dtype=torch.bool),
                                negatives != positive], dim=-1) & keep.gather(1, upto)[:, :, None]
        fused, _ = self.fusion.attend(states, valid, F.embedding(candidates, table), upto,
                                      ratings if self.uses_ratings else None)
        return total + self.scorer.pair_loss(self.scorer.pair_logits(fused), labels, weight)

    def _negatives(
        self, states: torch.Tensor, upto: torch.Tensor, table: torch.Tensor, n: int
    ) -> torch.Tensor:
        """Negatives (B, P, n) for the prediction points ``upto`` (B, P).

        Single-stage: uniform over the catalogue. Two-stage: drawn from the retrieval stage's
        current top ``top_n`` at that point, the candidates the re-ranker must order at
        inference (early in training those are close to uniform).
        """
        shape = (*upto.shape, n)
        if self.retrieval is None:
            return torch.randint(1, self.n_items + 1, shape, device=states.device)
        with torch.no_grad():
            points = states.gather(1, upto[:, :, None].expand(-1, -1, states.shape[2]))
            logits = self.retrieval.logits(points.flatten(0, 1), table).view(*upto.shape, -1)
            top = logits.topk(min(self.top_n, self.n_items), dim=-1).indices
            return top.gather(2, torch.randint(0, top.shape[-1], shape, device=states.device))

    def _first_stage(self, states: torch.Tensor, valid: torch.Tensor, table: torch.Tensor
                     ) -> torch.Tensor:
        """Retrieval scores (B, n_tokens) of every token from the latest state."""
        return self.retrieval.logits(self.fusion.user_state(states, valid), table)

    def attend(
        self, history: torch.Tensor, candidates: torch.Tensor,
        ratings: torch.Tensor | None = None, table: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Pairwise scores (B, C) and attention weights (B, C, L) of ``candidates`` (B, C)."""
        table = self.item_table() if table is None else table
        states, valid = self.encode(history, table)
        fused, weights = self.fusion.attend(states, valid, table[candidates][:, None], None,
                                            ratings if self.uses_ratings else None)
        scores = self.scorer.pair_logits(fused)[:, 0]
        if self.residual:
            scores = scores + self._first_stage(states, valid, table).gather(1, candidates)
        return scores, weights[:, 0]

    def pair_scores(
        self, history: torch.Tensor, candidates: torch.Tensor, ratings: torch.Tensor | None = None,
        table: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Scores (B, C) of the given candidates: no retrieval stage involved."""
        return self.attend(history, candidates, ratings, table)[0]

    def scores(
        self, history: torch.Tensor, table: torch.Tensor | None = None,
        ratings: torch.Tensor | None = None, blocked: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Scores (B, n_tokens): target attention for the candidates, -inf for the rest.

        Two-stage: the retrieval scorer's top-N items, leaving out ``blocked`` (B, n_tokens:
        seen items and non-candidates, from the ranking) or else the history window, are the
        candidates; otherwise every item is (in chunks).
        """
        table = self.item_table() if table is None else table
        states, valid = self.encode(history, table)
        batch = history.shape[0]
        out = torch.full((batch, table.shape[0]), -torch.inf, device=history.device)
        if self.retrieval is not None:
            first = self._first_stage(states, valid, table)
            first = (first.masked_fill(blocked, -torch.inf) if blocked is not None
                     else first.scatter(1, history, -torch.inf))
            chunks = [first.topk(min(self.top_n, self.n_items), dim=1).indices]
        else:
            every = torch.arange(1, self.n_items + 1, device=history.device)
            chunks = list(every.expand(batch, -1).split(CANDIDATE_CHUNK, dim=1))
        use_ratings = ratings if self.uses_ratings else None
        for chunk in chunks:
            fused, _ = self.fusion.attend(states, valid, table[chunk][:, None], None, use_ratings)
            second = self.scorer.pair_logits(fused)[:, 0]
            if self.retrieval is not None:  # a blocked item the top-N had to take stays out
                base = first.gather(1, chunk)
                second = second + base if self.residual else second.masked_fill(
                    base.isneginf(), -torch.inf)
            out.scatter_(1, chunk, second)
        out[:, 0] = -torch.inf
        return out

    def interest(self, scores: torch.Tensor) -> torch.Tensor:
        """Probability of interest (bce) or predicted rating (mse)."""
        return self.scorer.interest(scores)
