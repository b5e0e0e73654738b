"""Whole-recipe checks of the privacy settings (run by ``recsys-kit validate``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from recsys_kit.privacy.columns import INGEST, REQUIRED_COLUMNS, named_side_columns

if TYPE_CHECKING:
    from recsys_kit.recipe.loader import LoadedRecipe


def drop_columns_are_possible(loaded: LoadedRecipe) -> Iterator[tuple[tuple, str]]:
    """``privacy.drop_columns`` may not name a required column, nor one a stage reads."""
    read = {c: p for c, p in named_side_columns(loaded).items() if not p.startswith(INGEST)}
    for i, column in enumerate(loaded.recipe.privacy.drop_columns):
        if column in REQUIRED_COLUMNS:
            yield ("privacy", "drop_columns", i), (
                f"'{column}' cannot be dropped: every stage needs it. Remove it from the list.")
        elif column in read:
            yield ("privacy", "drop_columns", i), (
                f"drops '{column}', which {read[column]} reads. Remove it from drop_columns, "
                "or change that stage so that it does not read the column.")


def private_training_has_no_baselines(loaded: LoadedRecipe) -> Iterator[tuple[tuple, str]]:
    """Baselines (popularity, ...) learn from the data without DP: not in a DP recipe."""
    if loaded.recipe.train.privacy is not None and loaded.recipe.baselines:
        yield ("baselines",), (
            "train.privacy protects the trained model, but baselines are computed from the "
            "same users without differential privacy, and their results would be stored next "
            "to it. Remove baselines here and run them in a recipe of their own.")


