"""The ``sequences`` ingest stage."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from recsys_kit.builtin.ingest import SequencesConfig
from recsys_kit.ingest.bad_rows import CONTROL, SHOWN, Bad, handle_bad_rows
from recsys_kit.ingest.tables import fetch_one, ingest, input_file, quote, read_lines

if TYPE_CHECKING:
    from recsys_kit.runner.context import DataContext


class SequencesIngest:
    """Reads ready-made sequences: one line per user, or one 'user item' pair per line."""

    def __init__(self, config: SequencesConfig) -> None:
        self.config = config

    def inputs(self) -> list[Path]:
        """The files this stage reads."""
        items = [Path(self.config.items.path).expanduser()] if self.config.items else []
        return [Path(self.config.path).expanduser(), *items]

    def run(self, ctx: DataContext) -> None:
        """Create ``interactions`` (ts = position in the user's sequence) and ``items``."""
        cfg = self.config
        ingest(ctx, lambda: self._read(ctx), cfg.filters, cfg.items, cfg.on_bad_rows)

    def _read(self, ctx: DataContext) -> int:
        """Create ``interactions`` from the sequence file; return the interactions read."""
        cfg, con = self.config, ctx.con
        file = input_file(cfg.path, "path")
        split = (f"string_split(line, {quote(cfg.delimiter)})" if cfg.delimiter.strip() else
                 "regexp_split_to_array(line, '\\s+')")
        read_lines(con, file, cfg.encoding, "_ingest_toks", f"list_filter(list_transform({split}, "
                    "lambda x: trim(x)), lambda x: x <> '') AS toks")
        pairs = cfg.format == "pairs"
        bad = ("CASE WHEN len(toks) NOT IN (0, 2) THEN 'expected 2 fields (user item), found ' "
               "|| len(toks) " if pairs else "CASE ")
        bad += (f"WHEN list_bool_or(list_transform(toks, lambda x: regexp_matches(x, {CONTROL})))"
                " THEN 'an id holds a control character (NUL, tab, escape, ...)' END")
        found = con.execute(f"SELECT rowid + 1, {bad}, array_to_string(toks, ' ') FROM "
                            f"_ingest_toks WHERE {bad} IS NOT NULL ORDER BY rowid LIMIT {SHOWN}"
                            ).fetchall()
        kinds = dict(con.execute(f"SELECT CASE WHEN starts_with({bad}, 'expected') THEN "
                                 f"'not a ''user item'' pair' ELSE {bad} END, count(*) FROM "
                                 f"_ingest_toks WHERE {bad} IS NOT NULL GROUP BY 1").fetchall())
        handle_bad_rows(ctx, cfg.on_bad_rows, Bad(file, "line", kinds, found))
        if pairs:
            items, keep = "toks[2:2]", f"len(toks) = 2 AND {bad} IS NULL"
        else:
            n, lines = fetch_one(con, "SELECT count(*), list(rowid + 1 ORDER BY rowid)[1:5] FROM "
                                 f"_ingest_toks WHERE len(toks) = 1 AND {bad} IS NULL")
            if n:
                ctx.report("ingest", f"{file.name}: dropped {n} users with no items (lines "
                           f"{', '.join(map(str, lines))})")
            items, keep = "toks[2:]", f"len(toks) > 1 AND {bad} IS NULL"
        # start: items on earlier lines; pos: the user's items on earlier lines (no big sorts)
        con.execute(
            "CREATE OR REPLACE TABLE interactions AS WITH l AS (SELECT rowid AS _row, toks[1] AS "
            f"user_id, {items} AS items FROM _ingest_toks WHERE {keep}), o AS (SELECT *, CAST(sum("
            "len(items)) OVER (ORDER BY _row) AS BIGINT) - len(items) AS start, CAST(sum(len("
            "items)) OVER (PARTITION BY user_id ORDER BY _row) AS BIGINT) - len(items) AS pos "
            "FROM l), "
            "x AS (SELECT user_id, unnest(items) AS item_id, unnest(range(pos, pos + len(items))) "
            "AS ts, unnest(range(start, start + len(items))) AS row_no FROM o) SELECT user_id, "
            "item_id, CAST(ts AS DOUBLE) AS ts, CAST(NULL AS DOUBLE) AS rating, CAST(NULL AS "
            "DOUBLE) AS weight, row_no FROM x ORDER BY row_no")
        n_read = fetch_one(con, "SELECT count(*) FROM interactions")[0]
        ctx.report("ingest", f"{file.name}: {n_read} interactions read")
        return n_read
