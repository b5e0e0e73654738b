"""Split stages: divide interactions into train, validation and test inside DuckDB."""

from __future__ import annotations

from pydantic import Field, model_validator

from recsys_kit.builtin.fields import Finite
from recsys_kit.columns import INTERACTIONS, SPLIT_INTERACTIONS, TEST, TRAIN, VALID
from recsys_kit.errors import DataError
from recsys_kit.hookspecs import hookimpl
from recsys_kit.runner.context import DataContext
from recsys_kit.stages import Family, StageConfig, StageSpec

# Ties in ts are always broken by the original row order: latest first.
LATEST_FIRST = "ts DESC, row_no DESC"


class LeaveOneOutConfig(StageConfig):
    """Leave-one-out: each user's last item is test, the one before it validation."""

    min_train: int = Field(
        1, ge=1, description="Users with fewer training items than this are dropped."
    )


class LeaveOneOut:
    """Last interaction of every user to test, second to last to validation, rest to train."""

    def __init__(self, config: LeaveOneOutConfig) -> None:
        self.config = config

    def run(self, ctx: DataContext) -> None:
        """Create ``split_interactions`` from ``interactions``."""
        need = self.config.min_train + 2
        ctx.con.execute(f"""
            CREATE OR REPLACE TABLE {SPLIT_INTERACTIONS} AS
            WITH ranked AS (
                SELECT *,
                       row_number() OVER (PARTITION BY user_id ORDER BY {LATEST_FIRST}) AS from_end,
                       count(*) OVER (PARTITION BY user_id) AS n
                FROM {INTERACTIONS}
            )
            SELECT * EXCLUDE (from_end, n),
                   CAST(CASE from_end WHEN 1 THEN {TEST} WHEN 2 THEN {VALID} ELSE {TRAIN} END
                        AS TINYINT) AS split
            FROM ranked WHERE n >= {need}
        """)
        dropped = ctx.con.execute(
            f"SELECT count(DISTINCT user_id) FROM {INTERACTIONS} WHERE user_id NOT IN "
            f"(SELECT user_id FROM {SPLIT_INTERACTIONS})"
        ).fetchone()[0]
        _report(ctx, "leave_one_out", dropped, f"fewer than {need} interactions")


class TemporalConfig(StageConfig):
    """Global time cut: everything before ``valid_ts`` trains, then validation, then test."""

    valid_ts: Finite | None = Field(None, description="First timestamp of the validation part.")
    test_ts: Finite | None = Field(None, description="First timestamp of the test part.")
    valid_fraction: float = Field(
        0.1, gt=0, lt=1, description="Used when valid_ts is unset: share of interactions (by "
        "time) in validation."
    )
    test_fraction: float = Field(
        0.1, gt=0, lt=1, description="Used when test_ts is unset: share of interactions (by "
        "time) in test."
    )

    @model_validator(mode="after")
    def _ordered(self) -> TemporalConfig:
        if self.valid_ts is not None and self.test_ts is not None and self.valid_ts > self.test_ts:
            raise ValueError("valid_ts must not be later than test_ts")
        if self.valid_fraction + self.test_fraction >= 1:
            raise ValueError("valid_fraction + test_fraction must be below 1")
        return self


class Temporal:
    """Split by a global time cut; users need training history to be evaluated."""

    def __init__(self, config: TemporalConfig) -> None:
        self.config = config

    def _cuts(self, ctx: DataContext) -> tuple[float, float]:
        c = self.config
        q_valid = 1 - c.valid_fraction - c.test_fraction
        q_test = 1 - c.test_fraction
        auto_valid, auto_test = ctx.con.execute(
            f"SELECT quantile_disc(ts, {q_valid}), quantile_disc(ts, {q_test}) FROM {INTERACTIONS}"
        ).fetchone()
        test = c.test_ts if c.test_ts is not None else auto_test
        valid = c.valid_ts if c.valid_ts is not None else min(auto_valid, test)
        return float(valid), float(test)

    def run(self, ctx: DataContext) -> None:
        """Create ``split_interactions``; users with no training interaction are dropped."""
        valid, test = self._cuts(ctx)
        _split_by_time(ctx, valid, test, None)
        ctx.report("split", f"temporal: validation from ts {valid:g}, test from ts {test:g}")
        _report(ctx, "temporal", _dropped_users(ctx), "no interaction before the validation cut")


def _split_by_time(ctx: DataContext, valid: float, test: float, end: float | None) -> None:
    """``split_interactions``: before ``valid`` train, then validation, from ``test`` test;
    from ``end`` (if given) nothing. Users with no training interaction are dropped; an empty
    test or validation part is an error naming the cut."""
    before_end = "TRUE" if end is None else f"ts < {end!r}"
    ctx.con.execute(f"""
        CREATE OR REPLACE TABLE {SPLIT_INTERACTIONS} AS
        WITH labelled AS (
            SELECT *, CAST(CASE WHEN ts >= {test!r} THEN {TEST} WHEN ts >= {valid!r} THEN {VALID}
                                ELSE {TRAIN} END AS TINYINT) AS split
            FROM {INTERACTIONS} WHERE {before_end}
        )
        SELECT * FROM labelled
        WHERE user_id IN (SELECT user_id FROM labelled WHERE split = {TRAIN})
    """)
    counts = dict(ctx.con.execute(
        f"SELECT split, count(*) FROM {SPLIT_INTERACTIONS} GROUP BY split"
    ).fetchall())
    if not counts.get(TEST):
        raise DataError(
            f"The time split at ts {test:g} leaves no test interactions (of users with "
            "training history). Set an earlier data.split.params.test_ts or a larger "
            "test_fraction (rolling: a larger window_fraction or fewer rounds)."
        )
    if not counts.get(VALID):
        raise DataError(
            f"The time split leaves no validation interactions between ts {valid:g} and "
            f"{test:g}, so early stopping would have nothing to watch. Set "
            "data.split.params.valid_ts earlier than test_ts (or a larger valid_fraction)."
        )


def _dropped_users(ctx: DataContext) -> int:
    return ctx.con.execute(
        f"SELECT count(DISTINCT user_id) FROM {INTERACTIONS} WHERE user_id NOT IN "
        f"(SELECT user_id FROM {SPLIT_INTERACTIONS})"
    ).fetchone()[0]


class RollingConfig(StageConfig):
    """Rolling (time-window) evaluation: rounds of train up to t, test on the next window.

    The last ``rounds`` windows of ``window_fraction`` of the interactions each (by time) are
    the test windows. Round ``r`` trains on everything before its window (the latest
    ``valid_fraction`` of that validates), tests on the window, and ignores what comes after
    it; the next round adds the window to the training data. ``recsys-kit run`` runs every
    round as its own run, each warm-started from the round before, and groups them as a
    sweep of method ``rolling`` (``runs.trial`` is the round).
    """

    rounds: int = Field(4, ge=1, le=100, description="Number of rounds (test windows).")
    window_fraction: float = Field(
        0.05, gt=0, lt=1, description="Share of all interactions (by time) in each round's "
        "test window.")
    valid_fraction: float = Field(
        0.05, gt=0, lt=1, description="Share of all interactions (by time) just before a "
        "round's test window that validates it (early stopping).")
    warm_start: bool = Field(
        True, description="Start each round after the first from the previous round's best "
        "weights (train.init_from); false trains every round from scratch.")
    warm_epochs: int | None = Field(
        None, ge=1, description="Most epochs of a warm-started round (default train.epochs).")
    warm_lr: float | None = Field(
        None, gt=0, description="Learning rate of a warm-started round (default train.lr); "
        "a smaller one fine-tunes the previous round's model instead of moving far from it.")
    round: int = Field(
        1, ge=1, description="The round this run is (1 to rounds); `recsys-kit run` sets it "
        "for each round's run. Set it yourself to run one round alone.")

    @model_validator(mode="after")
    def _fits(self) -> RollingConfig:
        if self.rounds * self.window_fraction + self.valid_fraction >= 1:
            raise ValueError("rounds × window_fraction + valid_fraction must be below 1, so "
                             "that the first round has training data")
        if self.round > self.rounds:
            raise ValueError(f"round {self.round} is past the last round ({self.rounds})")
        return self


class Rolling:
    """One round of a rolling evaluation (see :class:`RollingConfig`)."""

    def __init__(self, config: RollingConfig) -> None:
        self.config = config

    def cuts(self, ctx: DataContext) -> tuple[float, float, float | None]:
        """This round's validation start, test start and test end (None: the data's end)."""
        c = self.config
        after = c.rounds - c.round  # windows after this round's
        q_test, q_end = 1 - (after + 1) * c.window_fraction, 1 - after * c.window_fraction
        valid, test, end = ctx.con.execute(
            f"SELECT quantile_disc(ts, ?), quantile_disc(ts, ?), quantile_disc(ts, ?) "
            f"FROM {INTERACTIONS}", [q_test - c.valid_fraction, q_test, q_end]).fetchone()
        return float(valid), float(test), None if after == 0 else float(end)

    def run(self, ctx: DataContext) -> None:
        """Create ``split_interactions`` for this round."""
        valid, test, end = self.cuts(ctx)
        _split_by_time(ctx, valid, test, end)
        until = "the end" if end is None else f"ts {end:g}"
        ctx.report("split", f"rolling round {self.config.round} of {self.config.rounds}: "
                            f"validation from ts {valid:g}, test from ts {test:g} to {until}")
        _report(ctx, "rolling", _dropped_users(ctx),
                "no interaction before the validation cut, or only later ones")


class ColdItemsConfig(StageConfig):
    """Cold-start split: a random share of items is held out of training entirely."""

    fraction: float = Field(
        0.1, gt=0, lt=1, description="Share of distinct items held out (chosen with the seed)."
    )
    min_train: int = Field(
        1, ge=1, description="Users with fewer training items than this are dropped."
    )


class ColdItems:
    """Held-out items never appear in training or validation.

    Each user's first interaction with a held-out item is their test item; their history is
    the interactions with other items before it (the latest of them is validation). Later
    interactions, and other interactions with held-out items, are dropped. Users who never
    meet a held-out item train and validate only.
    """

    def __init__(self, config: ColdItemsConfig) -> None:
        self.config = config

    def run(self, ctx: DataContext) -> None:
        """Create ``split_interactions`` from ``interactions``."""
        con = ctx.con
        n_items = con.execute(f"SELECT count(DISTINCT item_id) FROM {INTERACTIONS}").fetchone()[0]
        n_cold = max(1, round(n_items * self.config.fraction))
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE cold_items AS
            SELECT item_id FROM (SELECT DISTINCT item_id FROM {INTERACTIONS})
            ORDER BY hash(item_id || ?), item_id LIMIT {n_cold}
        """, [str(ctx.seed)])
        need = self.config.min_train + 1
        con.execute(f"""
            CREATE OR REPLACE TABLE {SPLIT_INTERACTIONS} AS
            WITH marked AS (
                SELECT *, item_id IN (SELECT item_id FROM cold_items) AS is_cold,
                       row_number() OVER (PARTITION BY user_id ORDER BY ts, row_no) AS pos
                FROM {INTERACTIONS}
            ), first_cold AS (
                SELECT user_id, min(pos) AS cold_pos FROM marked WHERE is_cold GROUP BY user_id
            ), kept AS (
                SELECT m.* FROM marked m LEFT JOIN first_cold f USING (user_id)
                WHERE (NOT m.is_cold AND (f.cold_pos IS NULL OR m.pos < f.cold_pos))
                   OR m.pos = f.cold_pos
            ), ranked AS (
                SELECT *,
                       row_number() OVER (PARTITION BY user_id, is_cold
                                          ORDER BY {LATEST_FIRST}) AS from_end,
                       count(*) FILTER (WHERE NOT is_cold) OVER (PARTITION BY user_id) AS n_warm
                FROM kept
            )
            SELECT * EXCLUDE (is_cold, pos, from_end, n_warm),
                   CAST(CASE WHEN is_cold THEN {TEST} WHEN from_end = 1 THEN {VALID}
                             ELSE {TRAIN} END AS TINYINT) AS split
            FROM ranked WHERE n_warm >= {need}
        """)
        if not con.execute(f"SELECT count(*) FROM {SPLIT_INTERACTIONS} WHERE split = {TEST}"
                           ).fetchone()[0]:
            raise DataError(
                "The cold_items split found no user with training history before a held-out "
                "item, so there is nothing to test. Raise data.split.params.fraction."
            )
        dropped = con.execute(
            f"SELECT count(DISTINCT user_id) FROM {INTERACTIONS} WHERE user_id NOT IN "
            f"(SELECT user_id FROM {SPLIT_INTERACTIONS})"
        ).fetchone()[0]
        ctx.report("split", f"cold_items: {n_cold:,} of {n_items:,} items held out of training")
        _report(ctx, "cold_items", dropped,
                f"fewer than {need} interactions with other items, before their first "
                "held-out one if they have one")


def _report(ctx: DataContext, name: str, dropped_users: int, why: str) -> None:
    counts = dict(ctx.con.execute(
        f"SELECT split, count(*) FROM {SPLIT_INTERACTIONS} GROUP BY split"
    ).fetchall())
    ctx.report(
        "split",
        f"{name}: train {counts.get(TRAIN, 0):,}, valid {counts.get(VALID, 0):,}, "
        f"test {counts.get(TEST, 0):,} interactions; {dropped_users:,} users dropped ({why})",
    )


@hookimpl
def register_stages() -> list[StageSpec]:
    """The built-in split stages."""
    return [
        StageSpec(Family.SPLIT, "leave_one_out", LeaveOneOutConfig, LeaveOneOut,
                  "Last item test, second to last validation, the rest train."),
        StageSpec(Family.SPLIT, "temporal", TemporalConfig, Temporal,
                  "Global time cut into train, validation and test."),
        StageSpec(Family.SPLIT, "rolling", RollingConfig, Rolling,
                  "Rounds of train up to t, test on the next time window, warm-started."),
        StageSpec(Family.SPLIT, "cold_items", ColdItemsConfig, ColdItems,
                  "Held-out items never trained on; each user's first one is the test item."),
    ]
