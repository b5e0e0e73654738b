"""One user under one run: history, top-K, the held-out item and the explanations (target
attention or occlusion) of its recommendations."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

#: Users are listed in numeric order when their ids are numbers, else by text.
USER_ORDER = "TRY_CAST(user_id AS BIGINT) NULLS LAST, user_id"


@dataclass(frozen=True)
class HistoryItem:
    """One interaction of the user, in sequence order."""

    position: int
    item_id: str
    title: str | None
    split: str


@dataclass(frozen=True)
class Recommendation:
    """One of the user's top-K items."""

    rank: int
    item_id: str
    title: str | None
    score: float

    def label(self) -> str:
        """``item_id · title`` (title when the data has one)."""
        return f"{self.item_id} · {self.title}" if self.title else self.item_id


@dataclass
class UserView:
    """Everything the user screen shows for ``user_id`` under ``run_id``."""

    run_id: str
    run_name: str
    user_id: str
    history: list[HistoryItem]
    recommendations: list[Recommendation]
    test_items: list[HistoryItem]
    #: rank -> [(history item id, title, weight)], heaviest first.
    explanations: dict[int, list[tuple[str, str | None, float]]] = field(default_factory=dict)
    #: How the run explained its recommendations (``attention``, ``occlusion``, ...); None
    #: when it stored no explanation at all.
    explanation_method: str | None = None

    def test_rank(self) -> int | None:
        """Rank of the held-out test item in the top-K, or None when it is not there."""
        targets = {t.item_id for t in self.test_items}
        return next((r.rank for r in self.recommendations if r.item_id in targets), None)


def _run(con: duckdb.DuckDBPyConnection, run_id: str) -> tuple[str | None, str]:
    """The dataset a run trained on, and the run's name."""
    row = con.execute("SELECT data_key, name FROM runs WHERE run_id = ?", [run_id]).fetchone()
    return (row[0], row[1]) if row else (None, run_id)


def user_view(con: duckdb.DuckDBPyConnection, run_id: str, user_id: str) -> UserView | None:
    """The user's view, or None when the run has neither history nor top-K for the user."""
    key, name = _run(con, run_id)
    history = [HistoryItem(*row) for row in con.execute(
        "SELECT i.position, i.item_id, t.title, i.split FROM interactions i "
        "LEFT JOIN items t ON t.data_key = i.data_key AND t.item_id = i.item_id "
        "WHERE i.data_key = ? AND i.user_id = ? ORDER BY i.position", [key, user_id]).fetchall()]
    recs = [Recommendation(*row) for row in con.execute(
        "SELECT r.rank, r.item_id, t.title, r.score FROM recommendations r "
        "LEFT JOIN items t ON t.data_key = ? AND t.item_id = r.item_id "
        "WHERE r.run_id = ? AND r.user_id = ? ORDER BY r.rank", [key, run_id, user_id]).fetchall()]
    if not history and not recs:
        return None
    method = explanation_method(con, run_id)
    explanations: dict[int, list[tuple[str, str | None, float]]] = {}
    for rank, item, title, weight in con.execute(
        "SELECT e.rank, e.history_item_id, t.title, e.weight FROM explanations e "
        "LEFT JOIN items t ON t.data_key = ? AND t.item_id = e.history_item_id "
        "WHERE e.run_id = ? AND e.user_id = ? AND e.method = ? ORDER BY e.rank, e.weight DESC",
        [key, run_id, user_id, method]).fetchall():
        explanations.setdefault(rank, []).append((item, title, weight))
    return UserView(
        run_id, name, user_id,
        history=[h for h in history if h.split != "test"],
        recommendations=recs,
        test_items=[h for h in history if h.split == "test"],
        explanations=explanations,
        explanation_method=method,
    )


def explanation_method(con: duckdb.DuckDBPyConnection, run_id: str) -> str | None:
    """The method whose explanations the user screen shows: attention when the run stored
    it, else the first other method stored; None when there are none."""
    methods = [r[0] for r in con.execute(
        "SELECT DISTINCT method FROM explanations WHERE run_id = ? ORDER BY method <> "
        "'attention', method", [run_id]).fetchall()]
    return methods[0] if methods else None


#: The run's users: those it recommended to, and every user of the dataset it trained on.
RUN_USERS = """
    SELECT user_id FROM recommendations WHERE run_id = $run
    UNION
    SELECT user_id FROM interactions
    WHERE data_key = (SELECT data_key FROM runs WHERE run_id = $run)
"""


def first_user(con: duckdb.DuckDBPyConnection, run_id: str) -> str | None:
    """The first user (in user order) with recommendations from the run, else the first user
    of its dataset."""
    row = con.execute(
        f"SELECT user_id FROM (SELECT DISTINCT user_id FROM recommendations WHERE run_id = ?) "
        f"ORDER BY {USER_ORDER} LIMIT 1", [run_id]).fetchone()
    if row is None:
        row = con.execute(f"SELECT user_id FROM ({RUN_USERS}) ORDER BY {USER_ORDER} LIMIT 1",
                          {"run": run_id}).fetchone()
    return row[0] if row else None


def neighbour_user(
    con: duckdb.DuckDBPyConnection, run_id: str, user_id: str, step: int
) -> str | None:
    """The user ``step`` places after (or before, when negative) ``user_id`` among the run's
    users (with or without recommendations); None at the end."""
    row = con.execute(f"""
        WITH u AS (
            SELECT user_id, row_number() OVER (ORDER BY {USER_ORDER}) AS n FROM ({RUN_USERS})
        )
        SELECT user_id FROM u WHERE n = (SELECT n FROM u WHERE user_id = $user) + $step
    """, {"run": run_id, "user": user_id, "step": step}).fetchone()
    return row[0] if row else None


def sample_users(con: duckdb.DuckDBPyConnection, run_id: str, limit: int = 3) -> list[str]:
    """A few user ids of the run, to suggest when an id is unknown."""
    return [r[0] for r in con.execute(
        f"SELECT user_id FROM ({RUN_USERS}) ORDER BY {USER_ORDER} LIMIT $limit",
        {"run": run_id, "limit": limit}).fetchall()]
