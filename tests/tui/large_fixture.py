"""A large results file made by SQL alone: 100 runs, 1 million recommendation rows."""

from __future__ import annotations

from pathlib import Path

import duckdb

from recsys_kit.store import ResultStore

DATA_KEY = "large"


def build_large(path: Path, runs: int = 100, users: int = 1000, k: int = 10,
                epochs: int = 10, items: int = 5000, history: int = 50) -> Path:
    """``runs`` completed runs on one dataset, each with top-``k`` for ``users`` users."""
    path.unlink(missing_ok=True)
    ResultStore(path).migrate()
    con = duckdb.connect(str(path))
    try:
        con.execute(f"""
            INSERT INTO datasets VALUES ('{DATA_KEY}', {users}, {items}, {users * history},
                                         TIMESTAMP '2026-01-01 00:00:00');
            INSERT INTO items SELECT '{DATA_KEY}', CAST(i AS VARCHAR), 'item number ' || i
                FROM range(1, {items} + 1) t(i);
            INSERT INTO interactions
                SELECT '{DATA_KEY}', CAST(u AS VARCHAR), p,
                       CAST(1 + (u * 7919 + p * 104729) % {items} AS VARCHAR),
                       CASE p WHEN {history - 1} THEN 'test' WHEN {history - 2} THEN 'valid'
                              ELSE 'train' END
                FROM range(1, {users} + 1) a(u), range({history}) b(p);
            INSERT INTO runs (run_id, name, status, parent_run_id, data_key, recipe,
                    recipe_source, versions, device, seed, monitor, best_epoch, started_at,
                    ended_at, duration_s, error)
                SELECT printf('20260101-%06d-run-%04d', r, r), 'run-' || r, 'completed', NULL,
                       '{DATA_KEY}', '{{"name": "run"}}', NULL, '{{}}', 'cpu', r, 'ndcg@10',
                       {epochs}, TIMESTAMP '2026-01-01 00:00:00' + INTERVAL (r) MINUTE,
                       TIMESTAMP '2026-01-01 00:00:30' + INTERVAL (r) MINUTE, 30.0, NULL
                FROM range({runs}) t(r);
            INSERT INTO metrics
                SELECT run_id, 'valid', e, m, kk, (e + hash(run_id) % 7) / 100.0, started_at
                FROM runs, range(1, {epochs} + 1) a(e),
                     (VALUES ('hr'), ('ndcg'), ('mrr')) b(m), (VALUES (5), (10)) c(kk);
            INSERT INTO metrics
                SELECT run_id, 'train', e, 'loss', NULL, 5.0 / e, started_at
                FROM runs, range(1, {epochs} + 1) a(e);
            INSERT INTO metrics
                SELECT run_id, 'test', NULL, m, kk, (hash(run_id) % 50) / 200.0, ended_at
                FROM runs, (VALUES ('hr'), ('ndcg'), ('mrr')) b(m), (VALUES (5), (10)) c(kk);
            INSERT INTO recommendations
                SELECT run_id, CAST(u AS VARCHAR), rk,
                       CAST(1 + (u * 31 + rk * 17 + hash(run_id) % 97) % {items} AS VARCHAR),
                       1.0 / rk
                FROM runs, range(1, {users} + 1) a(u), range(1, {k} + 1) b(rk)
                ORDER BY run_id, u, rk;
        """)
    finally:
        con.close()
    return path
