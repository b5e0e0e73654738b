"""Token arrays fetched from DuckDB in bounded pieces: every user's tokens, split labels and
ratings, written into arrays allocated once, so that Python never holds the query's whole
result next to them (what matters with tens of millions of interactions)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from recsys_kit.columns import SPLIT_INTERACTIONS
from recsys_kit.runner.context import DataContext

#: Interactions fetched per piece: bounds the memory of one piece (about 30 bytes a row).
ROWS_PER_PIECE = 2_000_000
#: A progress line after each piece once a fetch is this large.
REPORT_FROM_ROWS = 5_000_000


@dataclass
class TokenArrays:
    """CSR token arrays: user ``u`` owns ``items[offsets[u]:offsets[u + 1]]`` (time order),
    with split labels and ratings (None when no interaction is rated)."""

    offsets: np.ndarray
    items: np.ndarray
    split: np.ndarray
    ratings: np.ndarray | None


def fetch_tokens(ctx: DataContext, rows_per_piece: int = ROWS_PER_PIECE) -> TokenArrays:
    """Tokenized interactions from the ``vocab`` and ``user_order`` tables: DuckDB joins and
    sorts them (spilling to disk past its memory limit) into one table; Python reads it piece
    by piece, by row number, straight into preallocated arrays."""
    con = ctx.con
    started = time.perf_counter()
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _tokens AS
        SELECT o.u, v.token, s.split, CAST(s.rating AS FLOAT) AS rating
        FROM {SPLIT_INTERACTIONS} s
        JOIN vocab v USING (item_id) JOIN user_order o USING (user_id)
        ORDER BY o.u, s.ts, s.row_no
    """)
    n_users = con.execute("SELECT count(*) FROM user_order").fetchone()[0]
    per_user = con.execute("SELECT u, count(*) FROM _tokens GROUP BY u").fetchnumpy()
    counts = np.zeros(n_users, dtype=np.int64)
    counts[np.asarray(per_user["u"], dtype=np.int64)] = per_user["count_star()"]
    offsets = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    n = int(offsets[-1])
    if n >= REPORT_FROM_ROWS:  # the sort is the slow part: say it is done
        ctx.console.print(f"[dim]tokenize: {n:,} interactions sorted by user and time "
                          f"({time.perf_counter() - started:.1f} s)[/]", highlight=False)
    rated = con.execute("SELECT count(rating) FROM _tokens").fetchone()[0] > 0
    items = np.empty(n, dtype=np.int64)
    split = np.empty(n, dtype=np.int8)
    ratings = np.empty(n, dtype=np.float32) if rated else None
    for start in range(0, n, rows_per_piece):
        stop = min(start + rows_per_piece, n)
        piece = con.execute(f"SELECT token, split{', rating' if rated else ''} FROM _tokens "
                            f"WHERE rowid >= {start} AND rowid < {stop}").fetchnumpy()
        if len(piece["token"]) != stop - start:
            raise RuntimeError(f"DuckDB returned {len(piece['token'])} rows for rows "
                               f"{start}..{stop}: the token table changed while read")
        items[start:stop] = piece["token"]
        split[start:stop] = piece["split"]
        if ratings is not None:
            values = piece["rating"]
            ratings[start:stop] = (values.filled(np.nan) if np.ma.isMaskedArray(values)
                                   else values)
        if n >= REPORT_FROM_ROWS:
            ctx.console.print(f"[dim]tokenize: {stop:,} of {n:,} interactions fetched "
                              f"({time.perf_counter() - started:.1f} s)[/]", highlight=False)
    con.execute("DROP TABLE _tokens")
    return TokenArrays(offsets, items, split, ratings)
