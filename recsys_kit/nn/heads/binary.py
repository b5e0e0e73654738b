"""Binary cross-entropy of the target against sampled negatives: plain (``bce``) and gSASRec's
calibrated generalisation (``gbce``).

gSASRec (Petrov & Macdonald, RecSys 2023) shows that BCE with ``k`` uniform negatives out of
``|I|`` items makes a model overconfident: it learns ``P(positive)`` as if only a share
``α = k / (|I| - 1)`` of the catalogue existed. gBCE raises the positive's probability to a
power ``β = α·(t·(1 - 1/α) + 1/α) = 1 - t·(1 - α)``, i.e. weights the positive's log-loss by
``β``. ``t = 0`` is BCE over the ``k + 1`` scores (``β = 1``); ``t = 1`` gives ``β = α``, for
which the paper shows the learned probabilities match the full catalogue's; it recommends
``t = 0.75``. The loss is averaged over the ``k + 1`` scores of a position, as in the paper
(``bce`` instead weighs the positive as much as the mean of the negatives).

gbce adds one learned offset to every score, initialised to ``log(β / k)``: the score that is
optimal when every item scores the same. Ranking ignores it. Without it the first steps,
``k`` negatives pushing down against one positive, move every item vector along one shared
direction; with the item vectors shared by the input, that direction swamps what tells items
apart, and the model stalled at popularity's level (ML-1M: validation NDCG@10 0.02 after 12 epochs;
with the offset 0.13 after 5). Initialising a bias to the prior is the usual remedy for such an
imbalance (RetinaNet's prior probability).

Negatives are drawn uniformly, ``k`` for each block of ``block`` consecutive positions (the
paper draws them per position) and shared within the block; a negative that is the position's
target is masked out. Per block rather than per batch: one draw for a whole batch reaches
only ``k`` items per step, so on a big catalogue most items are never pushed down at all (on
200,000 items, ``k = 256`` shared by the batch learned nothing in two epochs); per block, a
batch reaches ``k`` items per block at the same number of multiply-adds, for
``blocks × k × dim`` floats of gathered item vectors.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def gbce_beta(n_items: int, negatives: int, t: float) -> float:
    """gSASRec's β for ``negatives`` uniform samples out of ``n_items`` and calibration ``t``."""
    alpha = min(negatives, n_items - 1) / max(n_items - 1, 1)
    return 1.0 - t * (1.0 - alpha)


def scored_negatives(
    states: torch.Tensor, targets: torch.Tensor, items: torch.Tensor, negatives: int, block: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Positive scores (N,), the scores of ``negatives`` uniform items drawn for each block of
    ``block`` consecutive positions (N, K), both float32, and where a negative is the
    position's target (N, K)."""
    n, dim = states.shape
    block = max(1, min(block, n))  # a block past the batch is one draw, not padded rows
    n_blocks = -(-n // block)
    drawn = torch.randint(0, len(items), (n_blocks, negatives), device=states.device)
    # F.embedding, not items[...]: its backward is deterministic on every device.
    positive = (states * F.embedding(targets, items)).sum(-1).float()
    padded = F.pad(states, (0, 0, 0, n_blocks * block - n)).view(n_blocks, block, dim)
    negative = padded @ F.embedding(drawn, items).transpose(1, 2)
    negative = negative.reshape(n_blocks * block, negatives)[:n].float()
    drawn_for = drawn.repeat_interleave(block, dim=0)[:n]
    return positive, negative, drawn_for == targets[:, None]


class BinaryCrossEntropy(nn.Module):
    """``bce``: log-loss of the target being positive plus the mean over negatives of theirs
    being negative."""

    def __init__(self, negatives: int, block: int) -> None:
        super().__init__()
        self.negatives, self.block = negatives, block

    def forward(
        self, states: torch.Tensor, targets: torch.Tensor, items: torch.Tensor
    ) -> torch.Tensor:
        """Mean loss of ``states`` (N, D) predicting ``targets`` (N,), rows of ``items`` (V, D)."""
        positive, negative, hit = scored_negatives(states, targets, items, self.negatives,
                                                     self.block)
        negative_loss = F.softplus(negative).masked_fill(hit, 0.0).mean(-1)
        return (F.softplus(-positive) + negative_loss).mean()


class GeneralisedBinaryCrossEntropy(nn.Module):
    """``gbce``: gSASRec's gBCE, the positive's log-loss weighted by ``β``, scores shifted by a
    learned offset that starts at ``log(β / k)`` (see the module docstring)."""

    def __init__(self, n_items: int, negatives: int, t: float, block: int) -> None:
        super().__init__()
        self.negatives, self.block = negatives, block
        self.beta = gbce_beta(n_items, negatives, t)
        # β is 0 only for a one-item catalogue with t = 1, where no negative exists: start
        # the offset where β = 1/k would.
        self.offset = nn.Parameter(torch.tensor(math.log((self.beta or 1 / negatives)
                                                         / negatives)))

    def forward(
        self, states: torch.Tensor, targets: torch.Tensor, items: torch.Tensor
    ) -> torch.Tensor:
        """Mean loss of ``states`` (N, D) predicting ``targets`` (N,), rows of ``items`` (V, D)."""
        positive, negative, hit = scored_negatives(states, targets, items, self.negatives,
                                                     self.block)
        positive, negative = positive + self.offset, negative + self.offset
        negative_loss = F.softplus(negative).masked_fill(hit, 0.0).sum(-1)
        return ((self.beta * F.softplus(-positive) + negative_loss) / (self.negatives + 1)).mean()
