"""A deterministic results file built by SQL: five runs, a dataset with titles, explanations;
and, added on request, three sweeps written through the ResultStore.

Fixed run ids, times and values, so screens (and their snapshots) never change between runs.
"""

from __future__ import annotations

import json
import math
import os
import random
from datetime import datetime, timedelta
from pathlib import Path
from unittest import mock

import duckdb

from recsys_kit.store import ResultStore
from recsys_kit.store.liveness import this_host

#: The clock the tests give the app (the running run started 3 min 20 s before it).
NOW = datetime(2026, 1, 5, 12, 0, 0)
DATA_KEY = "d41d8cd98f00b204"
N_USERS, N_ITEMS, TOP_K = 12, 24, 10
TOPICS = ["Silent Galaxy", "Crimson Seed", "Grand Detective", "Quiet Robot", "Wild Stadium",
          "Lost Orbit"]

RUNS = [
    # run_id, name, status, parent, start, duration, epochs, best, error
    ("20260105-100000-sasrec-a1b2", "sasrec", "completed", None,
     datetime(2026, 1, 5, 10, 0, 0), 312.4, 8, 6, None),
    ("20260105-100520-sasrec-popularity-c3d4", "sasrec:popularity", "completed",
     "20260105-100000-sasrec-a1b2", datetime(2026, 1, 5, 10, 5, 20), 1.8, 0, None, None),
    ("20260105-103000-bert4rec-e5f6", "bert4rec", "failed", None,
     datetime(2026, 1, 5, 10, 30, 0), 41.0, 2, None,
     "Traceback (most recent call last):\n  File \"recsys_kit/nn/train.py\", line 97, in fit\n"
     "    loss = self.step(batch)\nRuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB"),
    ("20260105-110000-sasrec-big-0a0b", "sasrec-big", "interrupted", None,
     datetime(2026, 1, 5, 11, 0, 0), 95.0, 1, None, "interrupted by the user (Ctrl-C)"),
    ("20260105-115640-gru4rec-9f8e", "gru4rec", "running", None,
     datetime(2026, 1, 5, 11, 56, 40), None, 3, None, None),
]
SASREC, POP, BERT, BIG, GRU = (r[0] for r in RUNS)


def _recipe(name: str, encoder: str) -> dict:
    return {
        "version": 1, "name": name, "seed": 7, "device": "cpu",
        "data": {"ingest": {"plugin": "synthetic", "params": {"n_users": N_USERS}},
                 "split": {"plugin": "leave_one_out", "params": {}}},
        "model": {"encoders": {"user": {"plugin": encoder, "params": {"dim": 32}}}},
        "train": {"epochs": 8, "batch_size": 32, "monitor": "ndcg@10"},
        "evaluate": [{"plugin": "ranking", "params": {"k": [5, 10]}}],
        "output": {"dir": "runs", "top_k": TOP_K},
    }


def _sequences(rng: random.Random) -> dict[str, list[str]]:
    return {str(u): [str(rng.randint(1, N_ITEMS)) for _ in range(rng.randint(6, 11))]
            for u in range(1, N_USERS + 1)}


def build(path: Path) -> Path:
    """Write the fixture results file at ``path`` (replacing it); return ``path``."""
    path.unlink(missing_ok=True)
    ResultStore(path).migrate()
    rng = random.Random(7)
    seqs = _sequences(rng)
    con = duckdb.connect(str(path))
    try:
        con.execute("INSERT INTO datasets VALUES (?, ?, ?, ?, ?)",
                    [DATA_KEY, N_USERS, N_ITEMS, sum(map(len, seqs.values())), NOW])
        con.executemany("INSERT INTO items VALUES (?, ?, ?)", [
            (DATA_KEY, str(i), f"{TOPICS[i % len(TOPICS)]} {1 + i // 6}, part {1 + i % 3}")
            for i in range(1, N_ITEMS + 1)])
        con.executemany("INSERT INTO interactions VALUES (?, ?, ?, ?, ?)", [
            (DATA_KEY, u, p, item, "test" if p == len(s) - 1 else
             "valid" if p == len(s) - 2 else "train")
            for u, s in seqs.items() for p, item in enumerate(s)])
        for run_id, name, status, parent, start, dur, epochs, best, error in RUNS:
            _run(con, rng, seqs, run_id, name, status, parent, start, dur, epochs, best, error)
    finally:
        con.close()
    return path


def _run(con: duckdb.DuckDBPyConnection, rng: random.Random, seqs: dict[str, list[str]],
         run_id: str, name: str, status: str, parent: str | None, start: datetime,
         dur: float | None, epochs: int, best: int | None, error: str | None) -> None:
    encoder = {"sasrec": "sasrec", "sasrec:popularity": "popularity"}.get(name, name)
    encoder = "sasrec" if encoder == "sasrec-big" else encoder
    end = None if dur is None else start + timedelta(seconds=dur)
    # A running run is owned by a live process: this one.
    owner = (os.getpid(), this_host()) if status == "running" else (None, None)
    con.execute(
        "INSERT INTO runs (run_id, name, status, parent_run_id, data_key, recipe, recipe_source, "
        "versions, device, seed, monitor, best_epoch, started_at, ended_at, duration_s, error, "
        "pid, host) VALUES (?, ?, ?, ?, ?, ?, 'recipes/quickstart.yaml', ?, 'cpu', 7, "
        "'ndcg@10', ?, ?, ?, ?, ?, ?, ?)",
        [run_id, name, status, parent, DATA_KEY, json.dumps(_recipe(name, encoder)),
         json.dumps({"python": "3.11.7", "recsys-kit": "0.1.0", "torch": "2.13.0"}), best,
         start, end, dur, error, *owner])
    for path, family, plugin in (("data.ingest", "ingest", "synthetic"),
                                 ("data.split", "split", "leave_one_out"),
                                 ("model.encoders.user", "user_encoder", encoder),
                                 ("evaluate.0", "evaluator", "ranking")):
        con.execute("INSERT INTO run_plugins VALUES (?, ?, ?, ?, 'recsys-kit', '0.1.0', '{}')",
                    [run_id, path, family, plugin])
    strength = {"sasrec": 1.0, "sasrec:popularity": 0.45, "bert4rec": 0.7}.get(name, 0.8)
    for epoch in range(1, epochs + 1):
        at = start + timedelta(seconds=30 * epoch)
        rise = strength * (1 - math.exp(-epoch / 2.5))
        con.execute("INSERT INTO metrics VALUES (?, 'train', ?, 'loss', NULL, ?, ?)",
                    [run_id, epoch, 3.2 * math.exp(-epoch / 4) + 1.1, at])
        wobble = 0.2 if epoch % 2 else -0.2  # timings as the trainer logs them, mean 10.8 s
        for metric, value in (("epoch_seconds", 10.8 + wobble), ("eval_seconds", 1.6),
                              ("sequences_per_s", 278.0 - 5 * wobble)):
            con.execute("INSERT INTO metrics VALUES (?, 'train', ?, ?, NULL, ?, ?)",
                        [run_id, epoch, metric, value, at])
        for metric, k, scale in (("hr", 5, 0.30), ("hr", 10, 0.42), ("ndcg", 5, 0.18),
                                 ("ndcg", 10, 0.22)):
            con.execute("INSERT INTO metrics VALUES (?, 'valid', ?, ?, ?, ?, ?)",
                        [run_id, epoch, metric, k, round(scale * rise, 4), at])
    if status != "completed":
        return
    at = start + timedelta(seconds=dur or 0)
    for metric, k, scale in (("hr", 5, 0.29), ("hr", 10, 0.40), ("ndcg", 5, 0.17),
                             ("ndcg", 10, 0.21), ("mrr", 10, 0.15)):
        con.execute("INSERT INTO metrics VALUES (?, 'test', NULL, ?, ?, ?, ?)",
                    [run_id, metric, k, round(scale * strength, 4), at])
    for user, seq in seqs.items():
        pool = [str(i) for i in range(1, N_ITEMS + 1) if str(i) not in seq[:-1]]
        rng.shuffle(pool)
        if name == "sasrec" and int(user) % 3 != 0:
            if seq[-1] in pool:
                pool.remove(seq[-1])
            pool.insert(int(user) % 4, seq[-1])
        score = 9.0 if name == "sasrec" else 0.9
        rows = [(run_id, user, r + 1, item, round(score * (1 - 0.07 * r), 3))
                for r, item in enumerate(pool[:TOP_K])]
        con.executemany("INSERT INTO recommendations VALUES (?, ?, ?, ?, ?)", rows)
        if name == "sasrec" and user in ("1", "2"):
            history = seq[:-1]
            for rank in range(1, TOP_K + 1):
                picks = history[-3:]
                weights = [0.55, 0.3, 0.15][:len(picks)]
                con.executemany("INSERT INTO explanations (run_id, user_id, rank, "
                                "history_item_id, weight) VALUES (?, ?, ?, ?, ?)", [
                    (run_id, user, rank, item, w) for item, w in zip(picks, weights, strict=True)])
    for art, kind, size in (("best", "checkpoint", 1_482_112),
                            ("per_user_test_metrics", "parquet", 3_364)):
        if name == "sasrec:popularity" and kind == "checkpoint":
            continue
        where = f"runs/artifacts/{run_id}/{art}.{kind}"
        if kind == "parquet":
            where = _per_user_file(con, run_id, strength, seqs)
        con.execute("INSERT INTO artifacts VALUES (?, ?, ?, ?, ?, ?)",
                    [run_id, art, kind, where, size, at])


def _per_user_file(con: duckdb.DuckDBPyConnection, run_id: str, strength: float,
                   seqs: dict[str, list[str]]) -> str:
    """Write the run's per-user test metrics (fixed values) next to the results file."""
    database = con.execute("SELECT path FROM duckdb_databases() WHERE NOT internal "
                           "AND database_name = current_database()").fetchone()[0]
    folder = Path(database).parent / "artifacts" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "per_user_test_metrics.parquet"
    users = list(seqs)
    ndcg = [round(strength * (0.05 + 0.3 * (int(u) % 4) / 3), 4) for u in users]
    con.execute(f"COPY (SELECT unnest(?) AS user_id, unnest(?) AS ndcg_at_10) TO '{path}' "
                "(FORMAT parquet)", [users, ndcg])
    return str(path)


# -- sweeps --------------------------------------------------------------------------------------

#: sweep_id, name, method, space, n_trials, status, start, trials: (trial, params, status,
#: valid ndcg@10 per epoch (the best epoch is the highest), test ndcg@10).
SWEEPS = [
    ("sweep-20260104-090000-quickstart-5e5e", "quickstart", "grid",
     {"grid": {"train.lr": [0.0001, 0.001, 0.01], "model.encoders.user.params.dim": [32, 64]}},
     6, "completed", datetime(2026, 1, 4, 9, 0, 0), [
         (1, {"train.lr": 0.0001, "model.encoders.user.params.dim": 32}, "completed",
          [0.08, 0.11, 0.12], 0.115),
         (2, {"train.lr": 0.0001, "model.encoders.user.params.dim": 64}, "completed",
          [0.09, 0.13, 0.14], 0.132),
         (3, {"train.lr": 0.001, "model.encoders.user.params.dim": 32}, "completed",
          [0.15, 0.2, 0.19], 0.193),
         (4, {"train.lr": 0.001, "model.encoders.user.params.dim": 64}, "completed",
          [0.17, 0.21, 0.23], 0.221),
         (5, {"train.lr": 0.01, "model.encoders.user.params.dim": 32}, "failed", [], None),
         (6, {"train.lr": 0.01, "model.encoders.user.params.dim": 64}, "completed",
          [0.16, 0.17, 0.15], 0.158),
     ]),
    ("sweep-20260104-110000-quickstart-rolling-7c7c", "quickstart-rolling", "rolling",
     {"rounds": 4}, 4, "running", datetime(2026, 1, 4, 11, 0, 0), [
         (r, {"data.split.params.round": r}, "completed", [round(v - 0.03, 4), v],
          round(v - 0.01, 4))
         for r, v in ((1, 0.18), (2, 0.21), (3, 0.19))
     ]),
    ("sweep-20260104-130000-quickstart-3d3d", "quickstart", "optuna",
     {"params": [{"key": "train.loss", "choices": ["bce", "softmax", "gbce"]},
                 {"key": "train.lr", "low": 0.0001, "high": 0.01, "log": True}]},
     8, "interrupted", datetime(2026, 1, 4, 13, 0, 0), [
         (1, {"train.loss": "softmax", "train.lr": 0.0025}, "completed", [0.2, 0.22], 0.214),
         (2, {"train.loss": "bce", "train.lr": 0.0004}, "completed", [0.12, 0.16], 0.155),
         (3, {"train.loss": "gbce", "train.lr": 0.003}, "interrupted", [0.18], None),
     ]),
]
GRID_SWEEP, ROLLING_SWEEP, OPTUNA_SWEEP = (s[0] for s in SWEEPS)
#: The grid sweep's best trial (4) and the rolling sweep's first round, by run id.
GRID_BEST = "20260104-094000-quickstart-t4"
ROUND_1 = "20260104-111000-quickstart-rolling-t1"


class _Clock:
    """The store's clock while the sweeps are written: fixed times, set by the writer."""

    def __init__(self) -> None:
        self.at = NOW

    def __call__(self) -> datetime:
        return self.at


def add_sweeps(path: Path) -> Path:
    """Add three sweeps (grid, rolling, optuna with a string param) to the results file at
    ``path``, written as `recsys-kit sweep` writes them: through :class:`ResultStore`, with
    fixed times. Return ``path``."""
    clock = _Clock()
    store = ResultStore(path)
    with mock.patch("recsys_kit.store.results.now", clock):
        for sweep_id, name, method, space, n_trials, status, start, trials in SWEEPS:
            clock.at = start
            store.start_sweep(sweep_id, name=name, method=method, space=space,
                              n_trials=n_trials, metric="ndcg@10", direction="maximize",
                              recipe=_recipe(name, "sasrec"), source="recipes/quickstart.yaml")
            best = _trials(store, clock, sweep_id, name, start, trials)
            if status != "running":
                store.finish_sweep(sweep_id, status, best)
    return path


def _trials(store: ResultStore, clock: _Clock, sweep_id: str, name: str, start: datetime,
            trials: list) -> str | None:
    """Write each trial's run; return the run id of the best completed trial."""
    scores: dict[str, float] = {}
    for number, params, status, valid, test in trials:
        clock.at = start + timedelta(minutes=10 * number)
        run_id = f"{clock.at:%Y%m%d-%H%M%S}-{name}-t{number}"
        store.start_run(run_id=run_id, name=name, recipe=_recipe(name, "sasrec"),
                        source="recipes/quickstart.yaml",
                        versions={"python": "3.11.7", "recsys-kit": "0.1.0"}, device="cpu",
                        seed=7, monitor="ndcg@10", plugins=[])
        store.tag_trial(run_id, sweep_id, number, params)
        for epoch, value in enumerate(valid, start=1):
            clock.at += timedelta(seconds=30)
            store.log_metrics(run_id, "train", epoch, {"loss": 3.0 - 0.4 * epoch})
            store.log_metrics(run_id, "valid", epoch, {"ndcg@10": value, "hr@10": 2 * value})
        best = 1 + valid.index(max(valid)) if valid and status == "completed" else None
        if test is not None:
            store.log_metrics(run_id, "test", None, {"ndcg@10": test, "hr@10": 2 * test})
            scores[run_id] = max(valid)
        clock.at += timedelta(seconds=5)
        store.finish_run(run_id, status, best_epoch=best,
                         error="RuntimeError: loss is nan" if status == "failed" else None)
    return max(scores, key=scores.__getitem__) if scores else None
