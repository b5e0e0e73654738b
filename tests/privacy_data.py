"""Test data for the privacy tests: people with e-mail-like ids, and searching every byte."""

from __future__ import annotations

import os
import random
from collections.abc import Iterable
from pathlib import Path

import duckdb

SECRET = "test-pseudonym-key-0f3c9a7e51d2b684"
N_USERS, N_ITEMS = 40, 30


def raw_ids() -> list[str]:
    """Distinctive raw user ids: nothing else in a run could contain them by chance."""
    return [f"person{u:03d}.zq@mail-{u % 7}.example" for u in range(N_USERS)]


def seller(i: int) -> str:
    return f"seller{i:03d}.xq@shop.example"


def write_data(folder: Path, bad_row: bool = False) -> tuple[Path, Path]:
    """interactions.csv (user_id,item_id,ts,rating) and items.csv (with a column no stage
    reads, supplier_email); ``bad_row`` adds a row with a non-numeric ts."""
    rng = random.Random(5)
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["user_id,item_id,ts,rating"]
    for user in raw_ids():
        for t in range(rng.randint(8, 12)):
            lines.append(f"{user},i{rng.randint(1, N_ITEMS)},{1000 + t},{rng.randint(1, 5)}")
    if bad_row:
        lines.insert(5, f"{raw_ids()[3]},i4,not-a-time,3")
    interactions = folder / "interactions.csv"
    interactions.write_text("\n".join(lines) + "\n")
    items = folder / "items.csv"
    items.write_text("item_id,title,genres,supplier_email\n" + "".join(
        f"i{i},Title {i},Genre{i % 4}zq,{seller(i)}\n" for i in range(1, N_ITEMS + 1)))
    return interactions, items


def recipe_text(interactions: Path, items: Path, out_dir: Path, *, privacy: str,
                policy: str = "skip") -> str:
    """A small SASRec recipe over the files, with the given ``privacy:`` mapping."""
    return f"""
version: 1
name: people
seed: 3
device: cpu
data:
  ingest:
    plugin: files
    params:
      interactions: {{path: '{interactions}'}}
      items: {{path: '{items}', mapping: {{item_id: item_id, title: title, genres: genres}}}}
      on_bad_rows: {policy}
model:
  encoders:
    user: {{plugin: sasrec, params: {{layers: 1, heads: 1, dim: 16, max_len: 12}}}}
train: {{epochs: 2, batch_size: 16, patience: 2}}
evaluate: [{{plugin: ranking, params: {{k: [5, 10]}}}}]
output: {{dir: '{out_dir}', top_k: 5}}
privacy: {privacy}
"""


def encodings(text: str) -> list[bytes]:
    """How a string may be stored: UTF-8 (DuckDB, Parquet, CSV), UTF-16 and UTF-32 (NumPy)."""
    return [text.encode(e) for e in ("utf-8", "utf-16-le", "utf-32-le")]


def files_holding(folder: Path, needles: Iterable[str]) -> dict[str, list[str]]:
    """needle -> the files under ``folder`` whose bytes contain it, in any encoding."""
    wanted = {n: encodings(n) for n in needles}
    found: dict[str, list[str]] = {}
    for root, _, files in os.walk(folder):
        for name in files:
            data = (Path(root) / name).read_bytes()
            for needle, forms in wanted.items():
                if any(f in data for f in forms):
                    found.setdefault(needle, []).append(str(Path(root) / name))
    return found


def text_values(results: Path, skip: Iterable[str] = ()) -> str:
    """Every value of every table in the results file and every Parquet artifact, as text."""
    parts = []
    with duckdb.connect(str(results), read_only=True) as con:
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        for table in tables:
            if table not in skip:
                parts += [repr(row) for row in con.execute(f'SELECT * FROM "{table}"').fetchall()]
        paths = [r[0] for r in con.execute("SELECT path FROM artifacts WHERE kind = 'parquet'")
                 .fetchall()]
    with duckdb.connect() as con:
        for path in paths:
            parts += [repr(r) for r in con.execute(f"SELECT * FROM read_parquet('{path}')")
                      .fetchall()]
    return "\n".join(parts)
