"""Paired statistics between runs: the t distribution against known values, the bootstrap,
and `recsys-kit compare` on a results file with real Parquet artifacts."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest

from recsys_kit.errors import RecsysKitError
from recsys_kit.evaluation.compare_runs import compare_runs
from recsys_kit.evaluation.paired import betainc, bootstrap_ci, paired, t_two_sided_p
from recsys_kit.store import ResultStore


def test_t_distribution_tails_match_tables() -> None:
    assert t_two_sided_p(1.0, 1) == pytest.approx(0.5)  # Cauchy: P(|T| > 1) = 1/2
    assert t_two_sided_p(2.0, 10) == pytest.approx(0.073388, abs=1e-6)
    assert t_two_sided_p(2.228139, 10) == pytest.approx(0.05, abs=1e-6)  # t table, 97.5 %
    assert t_two_sided_p(1.959964, 1e7) == pytest.approx(0.05, abs=1e-5)  # normal limit
    assert t_two_sided_p(0.0, 5) == pytest.approx(1.0)
    assert betainc(2, 3, 0.4) == pytest.approx(0.5248)  # 6x^2 - 8x^3 + 3x^4


def test_paired_by_hand() -> None:
    a = np.array([1.0, 2, 3, 4, 5, np.nan])
    diff = np.array([0.1, 0.3, -0.2, 0.5, 0.4])
    r = paired(a, np.append(a[:5] + diff, 9.0))  # the NaN pair is left out
    sd = math.sqrt(((diff - 0.22) ** 2).sum() / 4)
    assert (r.n, r.mean_diff) == (5, pytest.approx(0.22))
    assert r.t == pytest.approx(0.22 / (sd / math.sqrt(5)))
    assert r.p_value == pytest.approx(t_two_sided_p(r.t, 4)) and 0.1 < r.p_value < 0.2
    assert r.ci_low < 0.22 < r.ci_high and paired(a, a + 1).p_value == 0.0


def test_bootstrap_is_seeded_and_covers_the_mean() -> None:
    diff = np.random.default_rng(1).normal(0.3, 1.0, 400)
    low, high = bootstrap_ci(diff, 2000, seed=5)
    assert (low, high) == bootstrap_ci(diff, 2000, seed=5)
    se = diff.std(ddof=1) / math.sqrt(len(diff))  # close to the normal interval
    assert low == pytest.approx(diff.mean() - 1.96 * se, abs=0.02)
    assert high == pytest.approx(diff.mean() + 1.96 * se, abs=0.02)


def test_against_scipy_when_installed() -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    a, b = rng.random(50), rng.random(50) + 0.05
    assert paired(a, b).p_value == pytest.approx(stats.ttest_rel(b, a).pvalue, rel=1e-9)


def results_file(tmp_path: Path, same_data: bool = True) -> Path:
    """Runs A and B (B better by 0.1 for every user but one), and run C without metrics."""
    path = tmp_path / "runs" / "results.duckdb"
    path.parent.mkdir()
    ResultStore(path).migrate()
    users = [str(u) for u in range(1, 41)]
    ndcg = np.linspace(0.0, 0.8, 40)
    frames = {"a": (users, ndcg), "b": ([*users[1:], "999"], np.append(ndcg[1:] + 0.1, 1.0))}
    with duckdb.connect(str(path)) as con:
        for run, key in (("a", "k1"), ("b", "k1" if same_data else "k2"), ("c", "k1")):
            con.execute("INSERT INTO runs (run_id, name, status, data_key, recipe, started_at) "
                        "VALUES (?, ?, 'completed', ?, '{}', now())", [run, f"run-{run}", key])
            if run == "c":
                continue
            folder = path.parent / "artifacts" / run
            folder.mkdir(parents=True)
            ids, values = frames[run]
            frame = {"user_id": np.array(ids, dtype=object), "ndcg_at_10": values,  # noqa: F841
                     "hr_at_10": (values > 0.4).astype(float)}
            file = folder / "per_user_test_metrics.parquet"
            con.execute(f"COPY (SELECT * FROM frame) TO '{file}' (FORMAT parquet)")
            con.execute("INSERT INTO artifacts VALUES (?, 'per_user_test_metrics', 'parquet', "
                        "?, 1, now())", [run, str(file)])
    return path


def test_compare_pairs_users_present_in_both(tmp_path: Path) -> None:
    path = results_file(tmp_path)
    c = compare_runs(path, "a", "b", ["ndcg@10"], resamples=1000)
    [m] = c.metrics
    assert (m.metric, m.stats.n) == ("ndcg@10", 39)  # users 2..40
    assert m.stats.mean_diff == pytest.approx(0.1) and m.stats.p_value == 0.0
    assert m.stats.ci_low == pytest.approx(0.1) and m.stats.ci_high == pytest.approx(0.1)
    both = compare_runs(path, "a", "b", resamples=1000)
    assert [m.metric for m in both.metrics] == ["ndcg@10", "hr@10"]


def test_compare_refuses_what_cannot_be_paired(tmp_path: Path) -> None:
    path = results_file(tmp_path, same_data=False)
    with pytest.raises(RecsysKitError, match=r"different data.*--force"):
        compare_runs(path, "a", "b")
    assert compare_runs(path, "a", "b", force=True, resamples=100).same_data is False
    with pytest.raises(RecsysKitError, match=r"'c' .*no per-user test metrics"):
        compare_runs(path, "a", "c")
    with pytest.raises(RecsysKitError, match="No run 'zz'"):
        compare_runs(path, "a", "zz")
    with pytest.raises(RecsysKitError, match=r"mrr@10.*Choose from: ndcg@10, hr@10"):
        compare_runs(path, "a", "b", ["mrr@10"], force=True)


def test_compare_command(tmp_path: Path) -> None:
    path = results_file(tmp_path)
    done = subprocess.run([sys.executable, "-m", "recsys_kit", "compare", "a", "b",
                           "--results", str(path), "-m", "ndcg@10", "--resamples", "500"],
                          capture_output=True, text=True, env={"COLUMNS": "160", "PATH": ""},
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "ndcg@10" in done.stdout and "+0.1000" in done.stdout and "39" in done.stdout
    refused = subprocess.run([sys.executable, "-m", "recsys_kit", "compare", "a", "c",
                              "--results", str(path)], capture_output=True, text=True,
                             timeout=120)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "no per-user test metrics" in refused.stderr
