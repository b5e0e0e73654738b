"""Two runs side by side: test metrics with differences (and, from the per-user files, the
paired t-test's p-value), and the users they disagree on."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from recsys_kit.errors import RecsysKitError
from recsys_kit.evaluation.compare_runs import paired_metrics
from recsys_kit.evaluation.paired import PairedResult
from recsys_kit.tui.formatting import metric_key


@dataclass(frozen=True)
class MetricDiff:
    """One test metric of runs A and B."""

    key: str
    a: float | None
    b: float | None
    #: Paired over the users both runs evaluated, where both have per-user values.
    paired: PairedResult | None = None

    @property
    def delta(self) -> float | None:
        """B minus A, when both have it."""
        return None if self.a is None or self.b is None else self.b - self.a

    @property
    def relative(self) -> float | None:
        """(B - A) / A, when defined."""
        return None if self.delta is None or not self.a else self.delta / abs(self.a)


@dataclass(frozen=True)
class Disagreement:
    """A user whose top-K lists differ: shared items and the held-out item's rank in each."""

    user_id: str
    shared: int
    k: int
    rank_a: int | None
    rank_b: int | None


@dataclass
class Comparison:
    """What the compare screen shows."""

    a: str
    b: str
    name_a: str
    name_b: str
    metrics: list[MetricDiff]
    users: list[Disagreement]
    #: Why there are no paired statistics (different data, no per-user file), else None.
    paired_note: str | None = None


def _test_metrics(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, float]:
    rows = con.execute("SELECT metric, k, value FROM metrics WHERE run_id = ? AND split = 'test'",
                       [run_id]).fetchall()
    return {metric_key(m, k): v for m, k, v in rows}


def compare(con: duckdb.DuckDBPyConnection, a: str, b: str, limit: int = 200) -> Comparison:
    """Compare runs ``a`` and ``b``; users ordered by fewest shared top-K items first."""
    names = dict(con.execute("SELECT run_id, name FROM runs WHERE run_id IN (?, ?)",
                             [a, b]).fetchall())
    ma, mb = _test_metrics(con, a), _test_metrics(con, b)
    keys = sorted(set(ma) | set(mb), key=lambda s: (s.split("@")[0], int(s.split("@")[1])
                                                     if "@" in s else 0))
    stats, note = _paired(con, a, b)
    metrics = [MetricDiff(k, ma.get(k), mb.get(k), stats.get(k)) for k in keys]
    rows = con.execute("""
        WITH ra AS (SELECT user_id, item_id, rank FROM recommendations WHERE run_id = $a),
             rb AS (SELECT user_id, item_id, rank FROM recommendations WHERE run_id = $b),
             ta AS (SELECT i.user_id, i.item_id FROM interactions i JOIN runs r
                      ON r.run_id = $a AND i.data_key = r.data_key AND i.split = 'test'),
             tb AS (SELECT i.user_id, i.item_id FROM interactions i JOIN runs r
                      ON r.run_id = $b AND i.data_key = r.data_key AND i.split = 'test'),
             ka AS (SELECT user_id, count(*) AS k FROM ra GROUP BY user_id),
             kb AS (SELECT user_id, count(*) AS k FROM rb GROUP BY user_id),
             shared AS (SELECT ra.user_id, count(*) AS n FROM ra JOIN rb
                          ON ra.user_id = rb.user_id AND ra.item_id = rb.item_id
                        GROUP BY ra.user_id),
             hit_a AS (SELECT ra.user_id, min(ra.rank) AS rank
                       FROM ra JOIN ta USING (user_id, item_id)
                       GROUP BY ra.user_id),
             hit_b AS (SELECT rb.user_id, min(rb.rank) AS rank
                       FROM rb JOIN tb USING (user_id, item_id)
                       GROUP BY rb.user_id)
        SELECT * FROM (
            SELECT ka.user_id, coalesce(shared.n, 0) AS n, greatest(ka.k, kb.k) AS k,
                   hit_a.rank AS rank_a, hit_b.rank AS rank_b
            FROM ka JOIN kb USING (user_id)
                 LEFT JOIN shared USING (user_id)
                 LEFT JOIN hit_a USING (user_id)
                 LEFT JOIN hit_b USING (user_id)
        )
        ORDER BY n / k, abs(coalesce(rank_a, k + 1) - coalesce(rank_b, k + 1)) DESC,
                 TRY_CAST(user_id AS BIGINT) NULLS LAST, user_id
        LIMIT $limit
    """, {"a": a, "b": b, "limit": limit}).fetchall()
    return Comparison(a, b, names.get(a, a), names.get(b, b), metrics,
                      [Disagreement(*r) for r in rows], note)


def _paired(con: duckdb.DuckDBPyConnection, a: str, b: str
            ) -> tuple[dict[str, PairedResult], str | None]:
    """Paired t-tests of every per-user metric (no bootstrap: `recsys-kit compare` gives the
    CI), or why there are none."""
    try:
        c = paired_metrics(con, a, b, resamples=0)
    except RecsysKitError as exc:
        return {}, str(exc)
    return {m.metric: m.stats for m in c.metrics}, None
