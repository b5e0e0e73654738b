"""Ingest -> split -> tokenize inside DuckDB, cached by a hash of their inputs and params."""

from __future__ import annotations

import csv
import hashlib
import json
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import duckdb
from rich.console import Console

from recsys_kit.data import SequenceData
from recsys_kit.errors import DataError
from recsys_kit.privacy.dataset import DataPrivacy
from recsys_kit.recipe.loader import LoadedRecipe, ResolvedStage
from recsys_kit.runner.context import DataContext
from recsys_kit.serving.feedback_ingest import FeedbackSnapshot, append_feedback, feedback_snapshot

#: Bump when the cached format or the data stages' meaning changes.
CACHE_FORMAT = 4  # 4: ids packed as UTF-8; text times keep their UTC offset
#: Earlier formats whose runs still resume: their data is rebuilt by today's stages (for
#: format 3 the same data, unless text date-times carried a UTC offset).
RESUMABLE_FORMATS = (3,)

T = TypeVar("T")
StageHook = Callable[[str, str], Callable[[], None]]


@dataclass
class PreparedData:
    """Tokenized data, its cache key, whether it came from cache, and skipped input rows."""

    data: SequenceData
    key: str
    cached: bool
    skipped_rows: Path | None = None
    #: The same data's keys under :data:`RESUMABLE_FORMATS` (what runs started then recorded).
    earlier_keys: tuple[str, ...] = ()


def _fingerprint(path: Path) -> dict[str, object]:
    try:
        stat = path.stat()
    except FileNotFoundError:  # the stage itself reports it, naming the recipe setting
        return {"path": str(path), "missing": True}
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def data_key(loaded: LoadedRecipe, ingest: object,
             feedback: FeedbackSnapshot | None = None, privacy: dict | None = None,
             cache_format: int = CACHE_FORMAT) -> str:
    """Hash of the data stages' names and params, their input files' identity, the feedback
    events the recipe takes (``data.feedback``) and what the privacy step does
    (``DataPrivacy.fingerprint``: a key's identity, never the key)."""
    stages = [loaded.stage("data.ingest"), loaded.stage("data.split"),
              *loaded.stage_list("data.tokenize")]
    inputs = [*getattr(ingest, "inputs", lambda: [])(),
              *(f for s in stages for f in getattr(s.config, "cache_inputs", lambda: [])())]
    blob = json.dumps(
        {
            "format": cache_format,
            "seed": loaded.recipe.seed,
            "stages": [[s.spec.family.value, s.spec.name, s.spec.version,
                        s.config.model_dump(mode="json")] for s in stages],
            "inputs": [_fingerprint(Path(p)) for p in inputs],
            **({"feedback": feedback.fingerprint} if feedback is not None else {}),
            **({"privacy": privacy} if privacy else {}),
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def prepare_data(
    loaded: LoadedRecipe, cache_dir: Path, console: Console, stage_hook: StageHook
) -> PreparedData:
    """Run the data stages, or load their cached result."""
    ingest = loaded.stage("data.ingest").build()
    feedback = feedback_snapshot(loaded.recipe.data.feedback, loaded.recipe.output.dir)
    privacy = DataPrivacy.of(loaded)
    key = data_key(loaded, ingest, feedback, privacy.fingerprint())
    earlier = tuple(data_key(loaded, ingest, feedback, privacy.fingerprint(), cache_format=f)
                    for f in RESUMABLE_FORMATS)
    path = cache_dir / f"data-{key}.npz"
    skipped = cache_dir / f"data-{key}-skipped-rows.csv"
    if path.exists():
        try:
            data = SequenceData.load(path)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            console.print(f"[yellow]data cache {path} is unreadable; rebuilding it[/]")
        else:
            console.print(f"[dim]data stages: cached ({path})[/]")
            return PreparedData(data, key, cached=True,
                                skipped_rows=skipped if skipped.exists() else None,
                                earlier_keys=earlier)
    ctx = DataContext(con=connect(loaded, cache_dir), seed=loaded.recipe.seed, console=console,
                      quote_rows=privacy.key is None)
    try:
        _timed(ctx, stage_hook, loaded.stage("data.ingest"), lambda: ingest.run(ctx))
        # Feedback ids are stored pseudonyms already: the privacy step must not hash them again.
        privacy.apply(ctx)
        if feedback is not None:
            append_feedback(ctx, feedback)
            privacy.leave_out_erased(ctx)
        _timed(ctx, stage_hook, loaded.stage("data.split"),
               lambda: loaded.stage("data.split").build().run(ctx))
        data: SequenceData | None = None
        for stage in loaded.stage_list("data.tokenize"):
            tokenizer = stage.build()
            data = _timed(ctx, stage_hook, stage, lambda t=tokenizer, d=data: t.run(ctx, d))
    finally:
        ctx.con.close()
    assert data is not None  # the recipe checks guarantee an item_ids tokenizer
    cache_dir.mkdir(parents=True, exist_ok=True)
    rows = ctx.notes.get("ingest_skipped")
    if rows:  # before the data file, so that a cache hit always finds it
        with skipped.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["file", "line", "reason"])
            writer.writerows(rows)
    data.save(path)
    return PreparedData(data, key, cached=False, skipped_rows=skipped if rows else None,
                        earlier_keys=earlier)


def connect(loaded: LoadedRecipe, cache_dir: Path) -> duckdb.DuckDBPyConnection:
    """The data stages' in-memory DuckDB: within ``data.memory_limit`` when set, spilling what
    does not fit (large joins, sorts, tables) to a folder of the cache."""
    cache_dir.mkdir(parents=True, exist_ok=True)  # DuckDB creates the last folder only
    config = {"temp_directory": str(cache_dir / "duckdb-tmp")}
    if loaded.recipe.data.memory_limit:
        config["memory_limit"] = loaded.recipe.data.memory_limit
    return duckdb.connect(config=config)


def _timed(ctx: DataContext, stage_hook: StageHook, stage: ResolvedStage, fn: Callable[[], T]
           ) -> T:
    """Run one data stage between its before/after hooks; say how long it took."""
    family, name = stage.spec.family.value, stage.spec.name
    done = stage_hook(family, name)
    started = time.perf_counter()
    try:
        result = fn()
    except duckdb.OutOfMemoryException as exc:
        limit = ctx.con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        raise DataError(
            f"The data stage {family} '{name}' needs more memory than DuckDB may use "
            f"({limit}; {' '.join(str(exc).split()[:12])} ...). Raise data.memory_limit in the "
            "recipe (e.g. `--set data.memory_limit=16GB`), or free memory on this machine."
        ) from None
    ctx.console.print(f"[dim]{family} {name}: done in {time.perf_counter() - started:.1f} s[/]",
                      highlight=False)
    done()
    return result
