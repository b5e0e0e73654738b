"""Tokenizers: the item vocabulary that turns split interactions into token sequences, and
item text tokenized for a pretrained language model (``hf_text``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import AfterValidator, Field

from recsys_kit.builtin.fields import Text, plain_template
from recsys_kit.columns import ITEMS, SPLIT_INTERACTIONS, TRAIN
from recsys_kit.data import SequenceData, as_strings
from recsys_kit.errors import DataError
from recsys_kit.hookspecs import hookimpl
from recsys_kit.ingest.token_arrays import fetch_tokens
from recsys_kit.runner.context import DataContext
from recsys_kit.stages import Family, StageConfig, StageSpec


class ItemIdsConfig(StageConfig):
    """Item vocabulary: token 0 is padding, tokens 1..N items, N + 1 the mask token."""

    vocabulary: Literal["all", "train"] = Field(
        "all",
        description="`all`: every item seen in any split gets a token (the usual benchmark "
        "protocol); `train`: only items seen in training; others are unknown.",
    )
    unknown: Literal["drop"] = Field(
        "drop", description="What happens to unknown items in validation/test: dropped, counted."
    )


class HfTextConfig(StageConfig):
    """Item text rendered from side columns and tokenized for a pretrained model."""

    template: Annotated[str, AfterValidator(plain_template)] = Field(
        min_length=1,
        description="Text of an item from its side columns, e.g. \"{title} | {genres}\"; a "
        "literal brace is written {{ or }}.",
    )
    model: Text = Field(
        "all-minilm-l6-v2",
        description="Tokenizer (and model) source: a local directory, `all-minilm-l6-v2` "
        "(installed by the `text` extra, offline), or a Hugging Face hub name (needs network).",
    )
    max_length: int = Field(64, ge=2, description="Most tokens per item text.")
    truncation: bool = Field(
        True, description="Cut texts at max_length; false keeps whole texts (longest sets width)."
    )
    name: str = Field(
        "text", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Name of this text field; text_embedding's `field` refers to it.",
    )

    def side_columns(self) -> list[str]:
        """The item side columns the template reads."""
        from string import Formatter

        return [name for _, name, _, _ in Formatter().parse(self.template) if name]

    def cache_inputs(self) -> list[str]:
        """Files whose change must invalidate cached tokens: the model folder's files (a local
        folder, or the installed package's); a hub model has none to watch."""
        from recsys_kit.errors import RecsysKitError
        from recsys_kit.text.pretrained import model_files, resolve_model

        try:
            folder = Path(resolve_model(self.model, "model").location)
        except RecsysKitError:  # the stage itself reports it, naming what to do
            return []
        return [str(f) for f in model_files(folder)] if folder.is_dir() else []


class ItemIds:
    """Builds the item vocabulary and the per-user token sequences."""

    def __init__(self, config: ItemIdsConfig) -> None:
        self.config = config

    def run(self, ctx: DataContext, data: SequenceData | None) -> SequenceData:
        """Tokenize ``split_interactions`` (and align the ``items`` side table to tokens)."""
        con = ctx.con
        where = f"WHERE split = {TRAIN}" if self.config.vocabulary == "train" else ""
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE vocab AS
            SELECT item_id, CAST(row_number() OVER (ORDER BY min(row_no)) AS BIGINT) AS token
            FROM {SPLIT_INTERACTIONS} {where} GROUP BY item_id
        """)
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE user_order AS
            SELECT user_id, CAST(row_number() OVER (ORDER BY min(row_no)) - 1 AS BIGINT) AS u
            FROM {SPLIT_INTERACTIONS} GROUP BY user_id
        """)
        total = con.execute(f"SELECT count(*) FROM {SPLIT_INTERACTIONS}").fetchone()[0]
        if total == 0:
            raise DataError("No interactions are left after ingestion and split; loosen the "
                            "filters in data.ingest.params or check the input file.")
        tokens = fetch_tokens(ctx)
        dropped = total - len(tokens.items)
        if dropped:
            ctx.report("tokenize", f"item_ids: {dropped:,} interactions with unknown items dropped")
        users = con.execute("SELECT user_id FROM user_order ORDER BY u").fetchnumpy()["user_id"]
        items = con.execute("SELECT item_id FROM vocab ORDER BY token").fetchnumpy()["item_id"]
        data = SequenceData(
            user_ids=as_strings(users),
            item_ids=as_strings(items),
            offsets=tokens.offsets,
            items=tokens.items,
            split=tokens.split,
            ratings=tokens.ratings,
            item_side=_side_columns(ctx),
        )
        ctx.report("tokenize", f"item_ids: {data.n_items:,} items, {data.n_users:,} users")
        return data


def _side_columns(ctx: DataContext) -> dict[str, np.ndarray]:
    tables = {r[0] for r in ctx.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if ITEMS not in tables:
        return {}
    columns = [c for (c,) in ctx.con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = ?", [ITEMS]).fetchall()]
    if columns == ["item_id"]:  # an item file whose other columns privacy dropped
        return {}
    side = ctx.con.execute(f"""
        SELECT i.* EXCLUDE (item_id) FROM vocab v LEFT JOIN (
            SELECT DISTINCT ON (item_id) * FROM {ITEMS}
        ) i USING (item_id) ORDER BY v.token
    """).fetchnumpy()
    return {
        name: as_strings("" if v is None or v is np.ma.masked else v for v in values)
        for name, values in side.items()
    }


@hookimpl
def register_stages() -> list[StageSpec]:
    """The built-in tokenizers."""
    return [
        StageSpec(Family.TOKENIZE, "item_ids", ItemIdsConfig, ItemIds,
                  "Item vocabulary with padding and mask tokens; unknown items dropped."),
        StageSpec(Family.TOKENIZE, "hf_text", HfTextConfig, "recsys_kit.text.tokenizer:HfText",
                  "Item text from a template over side columns, Hugging Face tokenized."),
    ]
