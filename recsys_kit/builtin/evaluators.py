"""Built-in evaluators: ranking metrics over a full-catalogue ranking; rating error (RMSE, MAE)
of predicted ratings of held-out interactions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
from pydantic import AfterValidator, Field

from recsys_kit.builtin.fields import Positive, unique
from recsys_kit.hookspecs import hookimpl
from recsys_kit.predictions import PairPredictions
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

    metrics: Annotated[list[MetricName], AfterValidator(unique)] = Field(
        default_factory=lambda: ["hr", "ndcg", "mrr", "recall", "precision"],
        min_length=1,
        description="Metrics to compute: hr, ndcg, mrr, recall, precision.",
    )
    k: Annotated[list[Positive], AfterValidator(unique)] = Field(
        default_factory=lambda: [10, 20], min_length=1,
        description="Cut-offs, each a whole number of 1 or more, e.g. [10, 20].")
    mask_seen: bool = Field(True, description="Exclude items in the user's history from ranking.")
    test_candidates: Literal["all", "cold"] = Field(
        "all",
        description="Items ranked at test time: `all`, or `cold`: only items with no training "
        "or validation interaction (cold-start evaluation, with the cold_items split).",
    )

    def metric_names(self) -> list[str]:
        """Every ``name@k`` this evaluator reports."""
        return [f"{m}@{k}" for m in self.metrics for k in self.k]


class RankingEvaluator:
    """HR, NDCG, MRR, Recall and Precision at several K, per user and averaged."""

    kind = "ranking"

    def __init__(self, config: RankingConfig) -> None:
        self.config = config

    @property
    def test_candidates(self) -> str:
        """Which items the test ranking covers: ``all`` or ``cold``."""
        return self.config.test_candidates

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


class RatingConfig(StageConfig):
    """Error of predicted ratings on held-out interactions."""

    metrics: Annotated[list[Literal["rmse", "mae"]], AfterValidator(unique)] = Field(
        default_factory=lambda: ["rmse", "mae"], min_length=1, description="rmse and/or mae."
    )

    def metric_names(self) -> list[str]:
        """Every metric this evaluator reports."""
        return list(self.metrics)


class RatingEvaluator:
    """RMSE and MAE over every held-out rated interaction (per-user values kept too)."""

    kind = "rating"
    max_k = 1
    mask_seen = True

    def __init__(self, config: RatingConfig) -> None:
        self.config = config

    def evaluate(self, predictions: PairPredictions) -> EvalResult:
        """Errors of the predictions whose true rating is known."""
        rated = ~np.isnan(predictions.actual)
        users = predictions.users[rated]
        error = predictions.predicted[rated] - predictions.actual[rated]
        uniq, inverse = np.unique(users, return_inverse=True)
        counts = np.maximum(np.bincount(inverse, minlength=len(uniq)), 1)
        per_pair = {"rmse": error**2, "mae": np.abs(error)}
        metrics, per_user = {}, {}
        for name in self.config.metrics:
            per_user_mean = np.bincount(inverse, per_pair[name], len(uniq)) / counts
            overall = float(per_pair[name].mean()) if len(error) else float("nan")
            if name == "rmse":
                overall, per_user_mean = overall**0.5, np.sqrt(per_user_mean)
            metrics[name], per_user[name] = overall, per_user_mean
        return EvalResult(metrics=metrics, per_user=per_user, users=uniq)


@hookimpl
def register_stages() -> list[StageSpec]:
    """The built-in evaluators."""
    return [
        StageSpec(Family.EVALUATOR, "ranking", RankingConfig, RankingEvaluator,
                  "HR, NDCG, MRR, Recall, Precision at K; full ranking, seen items masked."),
        StageSpec(Family.EVALUATOR, "rating", RatingConfig, RatingEvaluator,
                  "RMSE and MAE of predicted ratings of held-out interactions."),
    ]
