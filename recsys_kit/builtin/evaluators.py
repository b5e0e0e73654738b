"""Built-in evaluators: ranking metrics over a full-catalogue ranking; rating error (RMSE, MAE)
of predicted ratings of held-out interactions; metrics beyond accuracy (coverage, Gini,
novelty, popularity, diversity) of the top-K lists."""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import AfterValidator, Field

from recsys_kit.builtin.fields import Positive, unique
from recsys_kit.errors import RecsysKitError
from recsys_kit.evaluation import beyond_accuracy as ba
from recsys_kit.evaluation.context import EvalContext
from recsys_kit.evaluation.result import EvalResult
from recsys_kit.hookspecs import hookimpl
from recsys_kit.predictions import PairPredictions
from recsys_kit.ranking import Ranking
from recsys_kit.stages import Family, StageConfig, StageSpec

MetricName = Literal["hr", "ndcg", "mrr", "recall", "precision"]


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


BeyondMetric = Literal["coverage", "gini", "novelty", "arp", "ild"]


class BeyondAccuracyConfig(StageConfig):
    """Coverage, Gini of exposure, novelty, average popularity and intra-list diversity of
    the top-K lists (seen items masked), on validation and test."""

    metrics: Annotated[list[BeyondMetric], AfterValidator(unique)] = Field(
        default_factory=lambda: ["coverage", "gini", "novelty", "arp", "ild"], min_length=1,
        description="coverage (share of the catalogue recommended to anyone), gini (of item "
        "exposure), novelty (mean -log2 training popularity share), arp (average recommended "
        "popularity, in training interactions), ild (intra-list diversity).",
    )
    k: Annotated[list[Positive], AfterValidator(unique)] = Field(
        default_factory=lambda: [10], min_length=1,
        description="Cut-offs: the top-K lists measured, e.g. [10, 20].")
    diversity: str = Field(
        "model", min_length=1,
        description="What ild compares items by: `model` (the model's item vectors; models "
        "without an item table, such as popularity, then report no ild), or the name of a "
        "categorical item side column such as `genres`.",
    )
    separator: str = Field(
        "|", min_length=1,
        description="Separator of several categories in the `diversity` side column.")

    def metric_names(self) -> list[str]:
        """Every ``name@k`` this evaluator reports."""
        return [f"{m}@{k}" for m in self.metrics for k in self.k]


class BeyondAccuracyEvaluator:
    """Metrics beyond accuracy; novelty, arp and ild also per user (coverage and Gini are
    properties of the whole catalogue). Measured over the users with a target."""

    kind = "ranking"
    mask_seen = True
    test_candidates = "all"

    def __init__(self, config: BeyondAccuracyConfig) -> None:
        self.config = config

    @property
    def max_k(self) -> int:
        """Largest cut-off."""
        return max(self.config.k)

    def _diversity_vectors(self, context: EvalContext) -> np.ndarray | None:
        source = self.config.diversity
        if source == "model":
            return context.item_vectors
        if source not in context.item_side:
            have = ", ".join(sorted(context.item_side)) or "none"
            raise RecsysKitError(
                f"beyond_accuracy's diversity is '{source}', which is no item side column of "
                f"this data (it has: {have}). Set params.diversity to one of them, or `model`.")
        return ba.category_vectors(context.item_side[source], self.config.separator)

    def evaluate(self, ranking: Ranking, context: EvalContext) -> EvalResult:
        """The metrics of the users that have targets."""
        lens = np.fromiter((len(t) for t in ranking.targets), np.int64, len(ranking.targets))
        rows = np.flatnonzero(lens)
        wanted = set(self.config.metrics)
        share = context.popularity_share()
        vectors = self._diversity_vectors(context) if "ild" in wanted else None
        metrics: dict[str, float] = {}
        per_user: dict[str, np.ndarray] = {}
        for k in self.config.k:
            top = ranking.items[rows, :k]
            for name in self.config.metrics:
                if name == "coverage":
                    metrics[f"coverage@{k}"] = ba.coverage(top, context.n_items)
                elif name == "gini":
                    metrics[f"gini@{k}"] = ba.gini(top, context.n_items)
                elif name == "novelty":
                    per_user[f"novelty@{k}"] = ba.novelty(top, share)
                elif name == "arp":
                    per_user[f"arp@{k}"] = ba.average_popularity(top, context.item_counts)
                elif vectors is not None:  # ild, where the items have vectors
                    per_user[f"ild@{k}"] = ba.intra_list_diversity(top, vectors)
        metrics.update({key: _mean(v) for key, v in per_user.items()})
        return EvalResult(metrics=metrics, per_user=per_user, users=ranking.users[rows])


def _mean(values: np.ndarray) -> float:
    """Mean over users with a value (NaN when none has one)."""
    kept = values[~np.isnan(values)]
    return float(kept.mean()) if len(kept) else float("nan")


@hookimpl
def register_stages() -> list[StageSpec]:
    """The built-in evaluators."""
    return [
        StageSpec(Family.EVALUATOR, "ranking", RankingConfig, RankingEvaluator,
                  "HR, NDCG, MRR, Recall, Precision at K; full ranking, seen items masked."),
        StageSpec(Family.EVALUATOR, "rating", RatingConfig, RatingEvaluator,
                  "RMSE and MAE of predicted ratings of held-out interactions."),
        StageSpec(Family.EVALUATOR, "beyond_accuracy", BeyondAccuracyConfig,
                  BeyondAccuracyEvaluator,
                  "Coverage, Gini, novelty, popularity and diversity of the top-K lists."),
    ]
