"""``recsys-kit compare``: two runs' test metrics, paired over the users both evaluated.

Reads the results file read-only and each run's ``per_user_test_metrics`` Parquet artifact
(under the results file's artifacts/ folder); no torch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np

from recsys_kit.errors import RecsysKitError
from recsys_kit.evaluation.paired import PairedResult, paired
from recsys_kit.store.readonly import open_readonly

ARTIFACT = "per_user_test_metrics"


@dataclass(frozen=True)
class MetricComparison:
    """One metric (``ndcg@10``) of runs A and B, paired over users."""

    metric: str
    stats: PairedResult


@dataclass(frozen=True)
class RunComparison:
    """Runs A and B (ids and names) and their paired metrics; ``same_data`` is False when the
    runs were evaluated on different data (only with ``force``)."""

    a: str
    b: str
    name_a: str
    name_b: str
    same_data: bool
    metrics: list[MetricComparison]


def metric_label(column: str) -> str:
    """``ndcg_at_10`` (a Parquet column) as ``ndcg@10``."""
    return column.replace("_at_", "@")


def _run(con: duckdb.DuckDBPyConnection, run_id: str) -> tuple[str, str | None, str, str]:
    """(name, data_key, status, per-user file) of a run; a clear error when it cannot be
    compared."""
    row = con.execute("SELECT name, data_key, status FROM runs WHERE run_id = ?",
                      [run_id]).fetchone()
    if row is None:
        known = [r[0] for r in con.execute(
            "SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 3").fetchall()]
        raise RecsysKitError(f"No run '{run_id}' in the results file (recent runs: "
                             f"{', '.join(known) or 'none'}). `recsys-kit tui` lists them all.")
    path = con.execute("SELECT path FROM artifacts WHERE run_id = ? AND name = ?",
                       [run_id, ARTIFACT]).fetchone()
    if path is None:
        raise RecsysKitError(
            f"Run '{run_id}' ({row[0]}, {row[2]}) has no per-user test metrics, so it cannot be "
            "compared user by user: only a run that reached its test evaluation has them.")
    return row[0], row[1], row[2], path[0]


def _per_user(con: duckdb.DuckDBPyConnection, run_id: str, path: str) -> dict[str, np.ndarray]:
    """The run's per-user test metrics: ``user_id`` (as text) and one float array each."""
    try:
        rows = con.execute("SELECT * FROM read_parquet(?)", [path]).fetchnumpy()
    except duckdb.Error as exc:
        raise RecsysKitError(f"Cannot read the per-user test metrics of '{run_id}' at {path} "
                             f"({exc}). Was the artifacts/ folder moved or deleted?") from exc
    out = {k: np.ma.asarray(v, dtype=np.float64).filled(np.nan)  # NULL: no value
           for k, v in rows.items() if k != "user_id"}
    return {"user_id": np.asarray(rows["user_id"]).astype(str), **out}


def paired_metrics(con: duckdb.DuckDBPyConnection, a: str, b: str,
                   metrics: list[str] | None = None, *, force: bool = False,
                   resamples: int = 10_000, seed: int = 0) -> RunComparison:
    """Compare runs ``a`` and ``b`` on a connection that may read the run artifacts."""
    name_a, key_a, _, path_a = _run(con, a)
    name_b, key_b, _, path_b = _run(con, b)
    same = key_a == key_b
    if not same and not force:
        raise RecsysKitError(
            f"Runs '{a}' and '{b}' were evaluated on different data (data_key {key_a} and "
            f"{key_b}), so their users cannot be paired. Compare runs of the same dataset and "
            "split, or pass --force to pair users by id anyway.")
    values_a, values_b = _per_user(con, a, path_a), _per_user(con, b, path_b)
    _, at_a, at_b = np.intersect1d(values_a.pop("user_id"), values_b.pop("user_id"),
                                   assume_unique=True, return_indices=True)
    available = [metric_label(c) for c in values_a if c in values_b]
    wanted = metrics or available
    unknown = [m for m in wanted if m not in available]
    if unknown:
        raise RecsysKitError(f"No per-user values of {', '.join(unknown)} in both runs. "
                             f"Choose from: {', '.join(available) or 'none'}.")
    out = [MetricComparison(m, paired(values_a[column][at_a], values_b[column][at_b],
                                      resamples=resamples, seed=seed))
           for m, column in ((m, m.replace("@", "_at_")) for m in wanted)]
    return RunComparison(a, b, name_a, name_b, same, out)


def compare_runs(results: Path, a: str, b: str, metrics: list[str] | None = None, *,
                 force: bool = False, resamples: int = 10_000,
                 seed: int = 0) -> RunComparison:
    """Open ``results`` read-only (its artifacts readable) and compare runs ``a`` and ``b``."""
    if not Path(results).exists():
        raise RecsysKitError(f"No results file at {results}; pass --results PATH.")
    with open_readonly(Path(results), allow_artifacts=True) as con:
        return paired_metrics(con, a, b, metrics, force=force, resamples=resamples, seed=seed)
