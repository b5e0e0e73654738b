"""Built-in ingest stages: ``files`` (CSV/TSV/Parquet/JSON lines), ``sequences``, ``synthetic``.

Only the config models and the registration live here; the readers are in
:mod:`recsys_kit.ingest` and are imported when a run builds them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from recsys_kit.builtin.fields import Finite, Text, unique
from recsys_kit.hookspecs import hookimpl
from recsys_kit.stages import Family, StageConfig, StageSpec

ENCODINGS = {"utf-8": "utf-8", "utf8": "utf-8", "latin-1": "latin-1", "latin1": "latin-1",
             "iso-8859-1": "latin-1", "iso8859-1": "latin-1", "utf-16": "utf-16", "utf16": "utf-16"}


def _encoding(value: str) -> str:
    """DuckDB's spelling of an encoding (latin1 and iso-8859-1 become latin-1)."""
    key = value.strip().lower().replace("_", "-")
    if key not in ENCODINGS:
        raise ValueError(f"unknown encoding '{value}'; use utf-8, latin-1 or utf-16")
    return ENCODINGS[key]


def _delimiter(value: str) -> str:
    """A field separator: one or more characters on one line."""
    if not value or "\n" in value or "\r" in value:
        raise ValueError("a delimiter is one or more characters on one line, e.g. ',', '::' "
                         "or a tab")
    return value


Encoding = Annotated[str, AfterValidator(_encoding)]
Delimiter = Annotated[str, AfterValidator(_delimiter)]
Policy = Literal["error", "skip"]
POLICY = "A malformed row stops the run (error), or is skipped, counted and reported (skip)."


# -- configs --------------------------------------------------------------------------------


class TableSource(StageConfig):
    """One input file and how to read it."""

    path: Text = Field(description="File to read, relative to the current directory; .gz is gzip.")
    format: Literal["auto", "csv", "parquet", "json"] = Field(
        "auto", description="auto: .parquet/.pq -> parquet, .json/.jsonl/.ndjson -> JSON lines, "
        "anything else -> csv (delimited text).")
    delimiter: Delimiter | None = Field(
        None, description="csv field separator, any string such as '::', '|' or a tab; default: "
        "tab for .tsv files, comma otherwise.")
    header: bool = Field(True, description="Whether the first line of a csv file has the names.")
    encoding: Encoding = Field(
        "utf-8", description="utf-8, latin-1 or utf-16; latin1 and iso-8859-1 mean latin-1.")
    quote: str = Field('"', max_length=1, pattern=r"^[^\r\n]?$",
                       description="Quote character of csv files; '' for none.")
    columns: Annotated[list[Text], AfterValidator(unique)] | None = Field(
        None, description="csv column names in file order; default: the header line, or field1, "
        "field2, ... when there is no header.")

    @model_validator(mode="after")
    def _quote_is_not_the_delimiter(self) -> TableSource:
        if self.quote and self.delimiter and self.quote in self.delimiter:
            raise ValueError(f"quote {self.quote!r} is part of the delimiter "
                             f"{self.delimiter!r}; they must differ")
        return self


class InteractionsSource(TableSource):
    """The interactions file: one row per (user, item) event."""

    mapping: dict[Literal["user_id", "item_id", "ts", "rating", "weight"], Text] = Field(
        default_factory=dict, description="Canonical name -> file column, e.g. {user_id: userId, "
        "item_id: movieId, ts: timestamp}; canonical names the file has are taken as they are. "
        "ts may be a number or a date-time; without ts, the row order is the time.")


class ItemsSource(TableSource):
    """An item side table: one row per item with text columns (title, genres, ...)."""

    mapping: dict[Text, Text] = Field(
        default_factory=dict, description="item_id -> the file's id column; any other key is a "
        "side column taken from the given file column, e.g. {item_id: field1, title: field2}.")
    text_columns: Annotated[list[Text], AfterValidator(unique)] | None = Field(
        None, description="File columns kept as side columns under their own names; default: every "
        "other column when mapping names no side column.")


class Filters(StageConfig):
    """Rows dropped after reading, in this order: rating, repeats, rare items, rare users."""

    min_rating: Finite | None = Field(None, description="Drop interactions rated below this.")
    min_user_interactions: int = Field(0, ge=0, description="Drop users with fewer interactions.")
    min_item_interactions: int = Field(0, ge=0, description="Drop items with fewer interactions.")
    k_core: bool = Field(False, description="Repeat the item and user minimums until none applies.")
    dedupe: bool = Field(False, description="Keep only the first (user, item) pair in time order.")


class FilesConfig(StageConfig):
    """Params of the ``files`` ingest stage."""

    interactions: InteractionsSource = Field(description="The interactions file.")
    items: ItemsSource | None = Field(None, description="Optional item side table.")
    filters: Filters = Field(default_factory=Filters, description="Rows dropped after reading.")
    on_bad_rows: Policy = Field("error", description=POLICY)


class SequencesConfig(StageConfig):
    """Params of the ``sequences`` ingest stage."""

    path: Text = Field(description="Sequence file, relative to the current directory; .gz is gzip.")
    format: Literal["user_items", "pairs"] = Field(
        "user_items", description="user_items: one 'user item item ...' line per user, oldest "
        "first; pairs: one 'user item' line per interaction, in time order.")
    delimiter: Delimiter = Field(" ", description="Token separator; ' ' means any run of "
                                 "whitespace.")
    encoding: Encoding = Field("utf-8", description="utf-8, latin-1 or utf-16.")
    items: ItemsSource | None = Field(None, description="Optional item side table.")
    filters: Filters = Field(default_factory=Filters, description="Rows dropped after reading.")
    on_bad_rows: Policy = Field("error", description=POLICY)


class SyntheticConfig(StageConfig):
    """Params of the ``synthetic`` ingest stage (topic-structured sequences)."""

    seed: int = Field(42, ge=0, le=2**32 - 1,
                      description="Seed of the generator (independent of the run's seed).")
    n_users: int = Field(2000, ge=1, le=1_000_000, description="Number of users.")
    n_items: int = Field(500, ge=2, le=1_000_000, description="Number of items.")
    n_topics: int = Field(10, ge=1, description="Number of topics (the items' genres).")
    min_len: int = Field(20, ge=2, description="Shortest sequence.")
    max_len: int = Field(60, ge=2, le=10_000, description="Longest sequence.")
    zipf: Finite = Field(1.0, ge=0, description="Popularity skew within a topic (Zipf exponent).")
    drift: float = Field(0.2, ge=0, le=1, description="Chance to move to another topic per step.")
    follow: float = Field(0.5, ge=0, le=1, description="Chance to take the series' next item.")
    taste: Finite = Field(0.3, gt=0, description="Dirichlet concentration of tastes (low: "
                          "focused).")

    @model_validator(mode="after")
    def _sizes(self) -> SyntheticConfig:
        if self.min_len > self.max_len:
            raise ValueError(f"min_len ({self.min_len}) is greater than max_len ({self.max_len})")
        if self.n_topics > self.n_items:
            raise ValueError(f"n_topics ({self.n_topics}) is greater than n_items ({self.n_items})")
        return self


@hookimpl
def register_stages() -> list[StageSpec]:
    """The built-in ingest stages."""
    return [
        StageSpec(Family.INGEST, "files", FilesConfig, "recsys_kit.ingest.files:FilesIngest",
                  "Interactions (and item side data) from CSV/TSV/'::', Parquet or JSON lines."),
        StageSpec(Family.INGEST, "sequences", SequencesConfig,
                  "recsys_kit.ingest.sequences:SequencesIngest",
                  "Ready-made sequences: 'user item item ...' lines or 'user item' pairs."),
        StageSpec(Family.INGEST, "synthetic", SyntheticConfig,
                  "recsys_kit.ingest.synthetic:SyntheticIngest",
                  "Deterministic synthetic sequences with topic, Markov and next-item structure."),
    ]
