"""Built-in evaluator: ranking metrics over a full-catalogue ranking."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field

from recsys_kit.hookspecs import hookimpl
from recsys_kit.ranking import Ranking
from recsys_kit.stages import Family, StageConfig, StageSpec

MetricName = Literal["hr", "ndcg", "mrr", "recall", "precision"]


@dataclass
class EvalResult:
    """Mean metrics keyed ``name@k``, and the per-user values behind them."""

    metrics: dict[str, float]
    per_user: dict[str, np.ndarray]
    users: np.ndarray


class RankingConfig(StageConfig):
    """Top-K ranking metrics over the whole catalogue, seen items masked."""

    metrics: list[MetricName] = Field(
        default_factory=lambda: ["hr", "ndcg", "mrr", "recall", "precision"],
        min_length=1,
        description="Metrics to compute: hr, ndcg, mrr, recall, precision.",
    )
    k: list[int] = Field(default_factory=lambda: [10, 20], min_length=1,
                         description="Cut-offs, e.g. [10, 20].")
    mask_seen: bool = Field(True, description="Exclude items in the user's history from ranking.")

    def metric_names(self) -> list[str]:
        """Every ``name@k`` this evaluator reports."""
        return [f"{m}@{k}" for m in self.metrics for k in self.k]


class RankingEvaluator:
    """HR, NDCG, MRR, Recall and Precision at several K, per user and averaged."""

    def __init__(self, config: RankingConfig) -> None:
        self.config = config

    @property
    def max_k(self) -> int:
        """Largest cut-off: how many items per user the ranking must hold."""
        return max(self.config.k)

    @property
    def mask_seen(self) -> bool:
        """Whether the ranking must exclude seen items."""
        return self.config.mask_seen

    def evaluate(self, ranking: Ranking) -> EvalResult:
        """Metrics of the users that have targets."""
        rows, hit = ranking.hits()
        n_targets = np.array([len(ranking.targets[r]) for r in rows], dtype=np.float64)
        discounts = 1.0 / np.log2(np.arange(2, hit.shape[1] + 2))
        per_user: dict[str, np.ndarray] = {}
        for k in self.config.k:
            h = hit[:, :k]
            cut = h.shape[1]  # below k only when the catalogue is smaller than k
            n_hits = h.sum(1)
            first = np.where(h.any(1), h.argmax(1), -1)
            ideal = np.cumsum(discounts[:cut])[np.minimum(n_targets, cut).astype(int) - 1]
            values = {
                "hr": (n_hits > 0).astype(np.float64),
                "recall": n_hits / n_targets,
                "precision": n_hits / k,
                "ndcg": (h * discounts[:cut]).sum(1) / ideal,
                "mrr": np.where(first >= 0, 1.0 / np.maximum(first + 1, 1), 0.0),
            }
            for name in self.config.metrics:
                per_user[f"{name}@{k}"] = values[name]
        metrics = {key: float(v.mean()) if len(v) else 0.0 for key, v in per_user.items()}
        return EvalResult(metrics=metrics, per_user=per_user, users=ranking.users[rows])


@hookimpl
def register_stages() -> list[StageSpec]:
    """The built-in evaluators."""
    return [
        StageSpec(Family.EVALUATOR, "ranking", RankingConfig, RankingEvaluator,
                  "HR, NDCG, MRR, Recall, Precision at K; full ranking, seen items masked."),
    ]
