"""What ``recsys-kit recommend`` and ``recsys-kit feedback`` do, and how they print it."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from recsys_kit.errors import DataError, RecsysKitError
from recsys_kit.serving.recommender import Recommendations


def recommend_command(run: str, results: Path, *, user: str | None, history: str | None,
                      k: int, explain: bool, fmt: str, new_items: Path | None,
                      ignore_unknown: bool, device: str, out: Console, err: Console) -> None:
    """Load ``run``, recommend once, print a table or JSON."""
    if fmt not in ("table", "json"):
        raise RecsysKitError(f"Unknown --format '{fmt}'; use table or json.")
    items = [i.strip() for i in history.split(",") if i.strip()] if history else None
    if user is None and not items:
        raise RecsysKitError("Say who to recommend for: --user USER_ID (a user the run knows), "
                             "--history ITEM,ITEM,... (oldest first), or both.")
    described = read_new_items(new_items) if new_items is not None else None
    import torch

    from recsys_kit.serving.loading import load_run

    torch.set_num_threads(1)  # one request is too small to share: more threads only wait
    loaded = load_run(run, results, device=device, console=err)
    recs = loaded.recommend(user=user, history=items, k=k, explain=explain,
                            new_items=described, ignore_unknown=ignore_unknown)
    if fmt == "json":
        sys.stdout.write(json.dumps(recs.to_dict(), indent=2) + "\n")
    else:
        print_table(recs, loaded.name, out)


def print_table(recs: Recommendations, name: str, out: Console) -> None:
    """The recommendations as a table; explanations as 'item (weight)' lists."""
    who = f"user {recs.user_id}" if recs.user_id is not None else "a fresh history"
    table = Table(title=f"run {recs.run_id} ({name}): top {len(recs.items)} for {escape(who)} "
                  f"({recs.history_length} history items)", title_justify="left")
    for column in ("rank", "item_id", "score", "title"):
        table.add_column(column, justify="right" if column in ("rank", "score") else "left")
    if recs.explain_method:
        table.add_column(f"why ({recs.explain_method})")
    for rec in recs.items:
        cells = [str(rec.rank), escape(rec.item_id), f"{rec.score:.4f}", escape(rec.title or "")]
        if recs.explain_method:
            cells.append(escape(", ".join(f"{r.history_item_id} ({r.weight:.2f})"
                                          for r in rec.explanation or [])))
        table.add_row(*cells)
    out.print(table)
    if recs.unknown_items:
        out.print(f"left out (not in the catalogue): {escape(', '.join(recs.unknown_items))}",
                  highlight=False)
    if recs.note:
        out.print(f"note: {escape(recs.note)}", highlight=False)


def read_new_items(path: Path) -> list[dict[str, str]]:
    """Items the run was not trained on, from CSV (header: item_id and side columns) or JSON
    lines (one object per item); a bad line is a :class:`DataError` naming it."""
    if not path.is_file():
        raise DataError(f"No new-items file at {path}. Give CSV (header: item_id, title, ...) "
                        "or JSON lines ({\"item_id\": ..., \"title\": ...}).")
    rows: list[dict[str, str]] = []
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}:{number}: not valid JSON ({exc.msg}).") from exc
                if not isinstance(value, dict) or not value.get("item_id"):
                    raise DataError(f"{path}:{number}: expected an object with an item_id.")
                rows.append({str(k): "" if v is None else str(v) for k, v in value.items()})
        return rows
    with path.open(encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=2):
            if not row.get("item_id"):
                raise DataError(f"{path}:{number}: no item_id (the header must name an item_id "
                                "column).")
            rows.append({k: v or "" for k, v in row.items() if k is not None})
    return rows


def feedback_command(run_id: str, file: Path, results: Path, out: Console,
                     err: Console) -> None:
    """Store the events of ``file`` as feedback on ``run_id``."""
    from recsys_kit.serving.feedback import read_feedback_file, record_feedback
    from recsys_kit.serving.locate import run_row
    from recsys_kit.store import ResultStore

    store = ResultStore(results, on_delay=lambda m: err.print(f"[yellow]warning:[/] {escape(m)}",
                                                               highlight=False))
    if not store.path.exists():
        raise RecsysKitError(f"No results file at {results}: pass the file that holds run "
                             f"{run_id} with --results.")
    events, ids = read_feedback_file(file)
    store.migrate()
    row = run_row(store, run_id)
    run_id = row["run_id"]
    receipt = record_feedback(store, run_id, events, row["recipe"], "file", ids)
    where = (f"in {results}" if receipt.committed else
             f"in {store.journal.folder} (merged into {results} by the next write)")
    out.print(f"{len(events)} feedback events for run {escape(run_id)} stored {escape(where)}; "
              "events stored before (same event_id) were left as they were.", highlight=False)
