"""Turning token sequences into left-padded training rows, and masking them (BERT4Rec)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from recsys_kit.nn.precision import to_device


def left_pad(
    seqs: Sequence[np.ndarray], max_len: int, dtype: type = np.int64, fill: float = 0
) -> np.ndarray:
    """The last ``max_len`` values of each sequence, left-padded with ``fill``."""
    out = np.full((len(seqs), max_len), fill, dtype=dtype)
    for row, seq in enumerate(seqs):
        tail = seq[-max_len:]
        if len(tail):
            out[row, max_len - len(tail):] = tail
    return out


def padded(
    seqs: Sequence[np.ndarray], max_len: int, device: torch.device, dtype: type = np.int64
) -> torch.Tensor:
    """``left_pad`` as a tensor on ``device``."""
    return to_device(torch.from_numpy(left_pad(seqs, max_len, dtype)), device)


def ratings_input(
    ratings: Sequence[np.ndarray] | None, rows: np.ndarray, max_len: int, device: torch.device
) -> dict[str, torch.Tensor]:
    """``{"ratings": (B, max_len)}`` for the users ``rows`` when there are ratings, else ``{}``:
    the keyword a rating model's scoring functions take."""
    if ratings is None:
        return {}
    return {"ratings": padded([ratings[u] for u in rows], max_len, device, np.float32)}


def next_item_pairs(seqs: Sequence[np.ndarray], max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and next-item targets for causal training, every position at once.

    For a sequence ``s`` the input is ``s[:-1]`` and the target ``s[1:]`` (last ``max_len``).
    Sequences shorter than 2 give all-padding rows, which are dropped.
    """
    long_enough = [s for s in seqs if len(s) >= 2]
    inputs = left_pad([s[:-1] for s in long_enough], max_len)
    targets = left_pad([s[1:] for s in long_enough], max_len)
    return inputs, targets


def training_rows(
    seqs: Sequence[np.ndarray], max_len: int, masked: bool,
    ratings: Sequence[np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """The trainer's rows: next-item pairs, or (masked objective) the sequences themselves.

    A masked model draws its own mask per batch, so its targets are the sequence too. With
    ``ratings`` (aligned with ``seqs``) the rows also hold the inputs' and targets' ratings.
    """
    if masked:
        rows = left_pad([s for s in seqs if len(s) >= 2], max_len)
        return {"history": rows, "targets": rows}
    inputs, targets = next_item_pairs(seqs, max_len)
    out = {"history": inputs, "targets": targets}
    if ratings is not None:
        rated = [r for r in ratings if len(r) >= 2]
        out["ratings"] = left_pad([r[:-1] for r in rated], max_len, np.float32)
        out["target_ratings"] = left_pad([r[1:] for r in rated], max_len, np.float32, np.nan)
    return out


def mask_items(
    history: torch.Tensor, prob: float, mask_token: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace a random ``prob`` share of real tokens with ``mask_token``.

    Returns the masked inputs and the targets (the original token where masked, else 0).
    Every row that has items gets at least one masked position: its latest item.
    """
    valid = history != 0
    chosen = (torch.rand(history.shape, device=history.device) < prob) & valid
    chosen[:, -1] |= ~chosen.any(1) & valid[:, -1]
    return history.masked_fill(chosen, mask_token), history.masked_fill(~chosen, 0)


def append_mask(history: torch.Tensor, mask_token: int) -> torch.Tensor:
    """Drop the oldest slot and put ``mask_token`` after the latest item: (B, L)."""
    mask = torch.full_like(history[:, :1], mask_token)
    return torch.cat([history[:, 1:], mask], dim=1)
