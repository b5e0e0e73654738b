"""Only what is needed: the item side columns a recipe names, and the columns it drops.

An item side column survives ingest only when the recipe names it: mapped or listed by the
ingest stage, or read by another stage (an hf_text template, a categorical encoder's column).
Stages say which columns they read with a ``side_columns()`` method on their config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recsys_kit.errors import did_you_mean

if TYPE_CHECKING:
    from recsys_kit.recipe.loader import LoadedRecipe

#: Interaction columns that ``privacy.drop_columns`` may name (emptied at ingest).
DROPPABLE_INTERACTION_COLUMNS = ("rating", "weight")
#: Columns no recipe may drop: every stage relies on them.
REQUIRED_COLUMNS = ("user_id", "item_id", "ts", "row_no")
INGEST = "data.ingest"


def named_side_columns(loaded: LoadedRecipe) -> dict[str, str]:
    """Item side column -> the recipe path of the first stage that names it."""
    named: dict[str, str] = {}
    for path, stage in loaded.stages.items():
        declare = getattr(stage.config, "side_columns", None)
        for column in declare() if callable(declare) else []:
            named.setdefault(column, path)
    return named


def unknown_drop_error(column: str, item_columns: list[str]) -> str:
    """The message for a ``drop_columns`` entry that names no column the ingest kept."""
    choices = [*item_columns, *DROPPABLE_INTERACTION_COLUMNS]
    return (
        f"privacy.drop_columns names '{column}', which is not a column the ingest kept (item "
        f"columns: {', '.join(item_columns) or 'none'}; interaction columns: "
        f"{', '.join(DROPPABLE_INTERACTION_COLUMNS)}).{did_you_mean(column, choices)} Only "
        "those can reach caches and results: fix the spelling, or remove it from the list.")
