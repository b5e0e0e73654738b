"""Why an item was recommended: the history items behind it, with weights.

Today the runs that can say so are target-attention runs: their weights over the history are
the "why" (``method`` ``attention``, as in the ``explanations`` table). This module is the
one seam for explanations in serving: a method that works for every model (occlusion, from
``recsys_kit.runner.explain``) is added to :func:`explanation_method` and :func:`explain`.
"""

from __future__ import annotations

import numpy as np
import torch

from recsys_kit.nn.fusion.pairwise import PairwiseRecommender
from recsys_kit.ranking import NO_ITEM

ATTENTION = "attention"
#: History items given per recommendation when the recipe's ``explain_top`` is 0.
DEFAULT_TOP = 5


def explanation_method(model: torch.nn.Module) -> str | None:
    """The method that explains ``model``'s recommendations, or None when it has none."""
    return ATTENTION if isinstance(model, PairwiseRecommender) else None


def no_explanation_note(model_name: str) -> str:
    """What to tell a caller who asked for an explanation the model (described by
    ``model_name``) cannot give."""
    return (f"this run's model ({model_name}) gives no per-recommendation explanation; "
            "target-attention runs (model.fusion: target_attention) do")


@torch.no_grad()
def explain(
    model: torch.nn.Module, history: torch.Tensor, top: np.ndarray, table: torch.Tensor,
    ratings: torch.Tensor | None = None,
) -> list[list[list[tuple[int, float]]]]:
    """Per user and recommendation, the history tokens with the largest weights.

    ``history`` (B, L) is the left-padded history the items were ranked for, ``top`` (B, K)
    their tokens (``NO_ITEM`` where empty). Returns ``[user][rank] -> [(token, weight), ...]``.
    """
    assert isinstance(model, PairwiseRecommender), "ask explanation_method first"
    keep = min(model.fusion.config.explain_top or DEFAULT_TOP, history.shape[1])
    candidates = torch.from_numpy(np.ascontiguousarray(top)).to(history.device)
    _, weights = model.attend(history, candidates, ratings, table=table)
    values, positions = weights.float().topk(keep, dim=-1)  # (B, K, keep)
    tokens = history.gather(1, positions.flatten(1)).view_as(positions).cpu().numpy()
    values = values.cpu().numpy()
    out: list[list[list[tuple[int, float]]]] = []
    for b in range(top.shape[0]):
        out.append([[(int(t), float(w)) for t, w in zip(tokens[b, r], values[b, r], strict=True)
                     if t != 0 and w > 0] if top[b, r] != NO_ITEM else []
                    for r in range(top.shape[1])])
    return out
