"""Turning token sequences into left-padded tensors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def left_pad(seqs: Sequence[np.ndarray], max_len: int) -> np.ndarray:
    """The last ``max_len`` tokens of each sequence, left-padded with 0: (len(seqs), max_len)."""
    out = np.zeros((len(seqs), max_len), dtype=np.int64)
    for row, seq in enumerate(seqs):
        tail = seq[-max_len:]
        if len(tail):
            out[row, max_len - len(tail):] = tail
    return out


def next_item_pairs(seqs: Sequence[np.ndarray], max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and next-item targets for causal training, every position at once.

    For a sequence ``s`` the input is ``s[:-1]`` and the target ``s[1:]`` (last ``max_len``).
    Sequences shorter than 2 give all-padding rows, which are dropped.
    """
    long_enough = [s for s in seqs if len(s) >= 2]
    inputs = left_pad([s[:-1] for s in long_enough], max_len)
    targets = left_pad([s[1:] for s in long_enough], max_len)
    return inputs, targets
