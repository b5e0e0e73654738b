"""Sampled softmax: the target against in-batch and sampled negatives, with logQ correction.

The full softmax's normaliser ``Z = Σ_j exp(s_j)`` runs over the whole catalogue. Here it is
estimated from a candidate set shared by every position of the batch:

* ``in_batch`` of the batch's own targets (drawn at random from its positions, so each is a
  draw from the training targets' distribution: popular items come up often), and
* ``negatives`` items drawn from a proposal: ``uniform``, or ``popularity`` (training counts
  plus one, so that every item can be drawn).

An item ``j`` is expected ``E_j = M·p_target(j) + K·q(j)`` times among the candidates, so
``Σ_c exp(s_c - log E_c)`` estimates ``Z`` without bias (importance sampling with the mixture
as proposal): that subtraction is the logQ correction. Without it, popular items, which are
drawn far more often than their share of ``Z``, are pushed down far too hard, and on a skewed
catalogue the model learns to rank against random items rather than the likely ones. The
target's own score is exact and is not corrected; a candidate that is the position's target
(an accidental hit, certain when the position's own target is drawn in-batch) is masked out.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

Sampler = Literal["uniform", "popularity"]


def corrected_softmax_loss(
    states: torch.Tensor, targets: torch.Tensor, items: torch.Tensor,
    candidates: torch.Tensor, log_expected: torch.Tensor,
) -> torch.Tensor:
    """Mean cross-entropy of each target against the shared ``candidates``.

    ``states`` (N, D), ``targets`` (N,) rows of ``items`` (V, D), ``candidates`` (C,) rows of
    ``items`` and ``log_expected`` (C,) the log of how often each candidate is expected to be
    drawn. With every item drawn exactly once (``log_expected`` zero) this is the full softmax.
    """
    # F.embedding, not items[...]: its backward is deterministic on every device.
    positive = (states * F.embedding(targets, items)).sum(-1).float()
    negative = (states @ F.embedding(candidates, items).T).float() - log_expected.float()
    negative = negative.masked_fill(candidates[None, :] == targets[:, None], float("-inf"))
    logits = torch.cat([positive[:, None], negative], dim=1)
    return F.cross_entropy(logits, torch.zeros_like(targets))


class SampledSoftmax(nn.Module):
    """Sampled softmax over in-batch and proposal negatives with logQ correction.

    ``counts`` (V,) are the items' training interactions, the ``sampler="popularity"``
    proposal's weights; ``target_counts`` (V,) how often each is a training target, the
    in-batch candidates' distribution (default: ``counts``).
    """

    def __init__(self, counts: np.ndarray, negatives: int, sampler: Sampler, in_batch: int,
                 target_counts: np.ndarray | None = None) -> None:
        super().__init__()
        counts_t = torch.as_tensor(np.asarray(counts, dtype=np.float64))
        n_items = len(counts_t)
        targets_t = counts_t if target_counts is None else torch.as_tensor(
            np.asarray(target_counts, dtype=np.float64))
        target = targets_t / targets_t.sum() if targets_t.sum() > 0 else torch.full_like(
            targets_t, 1.0 / n_items)
        proposal = (counts_t + 1.0) / (counts_t + 1.0).sum() if sampler == "popularity" else (
            torch.full_like(counts_t, 1.0 / n_items))
        # Derived from the data, not learned: kept out of checkpoints.
        self.register_buffer("target_probs", target.float(), persistent=False)
        self.register_buffer("proposal_probs", proposal.float(), persistent=False)
        self.negatives, self.sampler, self.in_batch = negatives, sampler, in_batch

    def candidates(self, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch's shared candidates (C,) and the log of their expected counts (C,)."""
        n_in_batch = min(self.in_batch, len(targets))
        parts = []
        if n_in_batch == len(targets):
            parts.append(targets)
        elif n_in_batch:
            picks = torch.randint(0, len(targets), (n_in_batch,), device=targets.device)
            parts.append(targets[picks])
        if self.sampler == "uniform":
            parts.append(torch.randint(0, len(self.proposal_probs), (self.negatives,),
                                       device=targets.device))
        else:
            parts.append(torch.multinomial(self.proposal_probs, self.negatives, replacement=True))
        candidates = torch.cat(parts)
        expected = (n_in_batch * self.target_probs[candidates]
                    + self.negatives * self.proposal_probs[candidates])
        return candidates, expected.log()

    def forward(
        self, states: torch.Tensor, targets: torch.Tensor, items: torch.Tensor
    ) -> torch.Tensor:
        """Mean loss of ``states`` (N, D) predicting ``targets`` (N,), rows of ``items`` (V, D)."""
        candidates, log_expected = self.candidates(targets)
        return corrected_softmax_loss(states, targets, items, candidates, log_expected)
