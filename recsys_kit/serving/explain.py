"""Why an item was recommended: the history items behind it, with weights.

Target-attention runs give their attention weights over the history (``method``
``attention``, as in the ``explanations`` table); every other trained model is explained by
occlusion (``occlusion``: the score drop when one history item is removed, see
:mod:`recsys_kit.runner.occlusion`). Direct recommenders (popularity, ...) give none.
"""

from __future__ import annotations

import numpy as np
import torch

from recsys_kit.nn.fusion.pairwise import PairwiseRecommender
from recsys_kit.nn.model import DirectRecommender
from recsys_kit.ranking import NO_ITEM
from recsys_kit.runner import occlusion

ATTENTION = "attention"
OCCLUSION = "occlusion"
#: History items given per recommendation when the recipe's ``explain_top`` is 0.
DEFAULT_TOP = 5


def explanation_method(model: torch.nn.Module) -> str | None:
    """The method that explains ``model``'s recommendations, or None when it has none."""
    if isinstance(model, PairwiseRecommender):
        return ATTENTION
    return None if isinstance(model, DirectRecommender) else OCCLUSION


def no_explanation_note(model_name: str) -> str:
    """What to tell a caller who asked for an explanation the model (described by
    ``model_name``) cannot give."""
    return (f"this run's model ({model_name}) gives no per-recommendation explanation: it "
            "learns no function of the history; trained sequence models do")


@torch.no_grad()
def explain(
    model: torch.nn.Module, history: torch.Tensor, top: np.ndarray, table: torch.Tensor,
    ratings: torch.Tensor | None = None, *, precision: str = "fp32",
) -> list[list[list[tuple[int, float]]]]:
    """Per user and recommendation, the history tokens with the largest weights.

    ``history`` (B, L) is the left-padded history the items were ranked for, ``top`` (B, K)
    their tokens (``NO_ITEM`` where empty; new items are rows of ``table`` past the run's
    own). Returns ``[user][rank] -> [(token, weight), ...]``.
    """
    if not isinstance(model, PairwiseRecommender):
        return _by_occlusion(model, history, top, ratings, table, precision=precision)
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


def _by_occlusion(model: torch.nn.Module, history: torch.Tensor, top: np.ndarray,
                  ratings: torch.Tensor | None, table: torch.Tensor, *, precision: str
                  ) -> list[list[list[tuple[int, float]]]]:
    # Scored with the table the items were ranked with: new items (in the history or
    # recommended) have their rows only there.
    rows = history.cpu().numpy()
    rated = None if ratings is None else ratings.float().cpu().numpy()
    out = []
    for b in range(top.shape[0]):
        kept = rows[b] != 0
        reasons = occlusion.explain(
            model, rows[b][kept], top[b], max_len=history.shape[1], keep=DEFAULT_TOP,
            device=history.device, precision=precision,
            ratings=None if rated is None else rated[b][kept], table=table)
        per_rank: list[list[tuple[int, float]]] = [[] for _ in range(top.shape[1])]
        for reason in reasons:
            per_rank[reason.rank - 1].append((reason.item, reason.weight))
        out.append(per_rank)
    return out
