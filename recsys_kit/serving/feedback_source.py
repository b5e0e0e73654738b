"""The recipe setting ``data.feedback``: feedback events appended to a recipe's interactions.

Only the settings model lives here (it is part of the recipe, validated without torch); the
reading and appending is :mod:`recsys_kit.serving.feedback_ingest`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["click", "purchase", "skip", "rating"]


class FeedbackSource(BaseModel):
    """Feedback events (table ``feedback`` of a results file) appended to the interactions
    after the ingest stage, each after the user's earlier interactions in ``ts`` order, so
    that a retrain learns from them. A rating's value becomes the interaction's rating."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    results: str | None = Field(
        None, description="Results file holding the feedback; default: this recipe's "
        "<output.dir>/results.duckdb. Relative paths start at the current directory.")
    runs: list[str] | None = Field(
        None, min_length=1, description="Only feedback on these runs (run ids); default: all.")
    kinds: list[Kind] = Field(
        default_factory=lambda: ["click", "purchase", "rating"], min_length=1,
        description="Event kinds taken as interactions (skip is negative feedback: usually "
        "left out).")
    min_value: float | None = Field(
        None, description="Leave out events whose value is below this (e.g. ratings under 4); "
        "events without a value are kept.")
