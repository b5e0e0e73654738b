"""The data stages (ingest, split, tokenize) on a large synthetic Parquet file, in bounded
memory: figures printed, never asserted.

    python benchmarks/bigdata_benchmarks.py                      # 10 million interactions
    python benchmarks/bigdata_benchmarks.py --rows 50000000      # 50 million
    python benchmarks/bigdata_benchmarks.py --rows 50000000 --memory-limit 4GB --dir /scratch

DuckDB writes the file (users of 50 interactions each, item popularity skewed); the `files`
ingest stage reads it, `leave_one_out` splits it and `item_ids` tokenizes it, with DuckDB
held to ``--memory-limit`` (spilling to the cache folder). Each size runs in a fresh process,
so the peak RSS (``resource.getrusage``, the whole process: Python and DuckDB) is its own.
Printed per stage: wall seconds and the peak RSS reached by the end of the stage (the file
is written first, by the parent process, and kept for the next run).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PER_USER = 50
ITEMS = 200_000


def write_parquet(path: Path, rows: int) -> float:
    """Write ``rows`` interactions with DuckDB; return the seconds it took."""
    import duckdb

    t0 = time.perf_counter()
    with duckdb.connect() as con:
        # Popularity skew: squaring a uniform hash puts most interactions on few items.
        con.execute(f"""
            COPY (SELECT i // {PER_USER} AS user_id,
                         CAST(pow((hash(i) % 1000003) / 1000003.0, 2) * {ITEMS} AS BIGINT)
                             AS item_id,
                         i AS ts
                  FROM range({rows}) t(i))
            TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)
        """)
    return time.perf_counter() - t0


def peak_rss_gb() -> float:
    """This process's peak resident memory so far, in GiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def data_stages(parquet: Path, work: Path, memory_limit: str) -> list[dict[str, object]]:
    """Run the recipe's data stages on ``parquet``; one row of figures per stage."""
    from rich.console import Console

    from recsys_kit.plugins import make_plugins
    from recsys_kit.recipe.loader import validate_mapping
    from recsys_kit.runner.data_stages import prepare_data

    recipe = {
        "version": 1, "name": "bigdata", "device": "cpu",
        "data": {"ingest": {"plugin": "files",
                            "params": {"interactions": {"path": str(parquet)}}},
                 "split": {"plugin": "leave_one_out"}, "tokenize": [{"plugin": "item_ids"}],
                 "memory_limit": memory_limit},
        "model": {"encoders": {"user": {"plugin": "sasrec"}}},
        "output": {"dir": str(work)},
    }
    loaded = validate_mapping(recipe, make_plugins().registry)
    figures: list[dict[str, object]] = []

    def hook(family: str, name: str):
        t0 = time.perf_counter()

        def done() -> None:
            figures.append({"stage": f"{family} {name}", "seconds": time.perf_counter() - t0,
                            "peak_rss_gb": peak_rss_gb()})
        return done

    # memory_limit is not part of the data's cache key: an earlier run's cache would be
    # loaded and reported as a measurement.
    shutil.rmtree(work / "cache", ignore_errors=True)
    t0 = time.perf_counter()
    prepared = prepare_data(loaded, work / "cache", Console(stderr=True), hook)
    assert not prepared.cached
    figures.append({"stage": "all (with cache write)", "seconds": time.perf_counter() - t0,
                    "peak_rss_gb": peak_rss_gb()})
    for f in figures:
        f["interactions"] = len(prepared.data.items)
        f["users"] = prepared.data.n_users
    return figures


def parquet_file(folder: Path, rows: int) -> Path:
    """The synthetic file of ``rows`` interactions in ``folder``."""
    return folder / f"interactions-{rows}.parquet"


def one_size(rows: int, folder: Path, memory_limit: str) -> None:
    """Run the stages on the file written before, print JSON figures (in its own process)."""
    figures = data_stages(parquet_file(folder, rows), folder / f"run-{rows}", memory_limit)
    print(json.dumps(figures))


def main() -> None:
    """Run each size in a fresh process and print one table."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000_000])
    parser.add_argument("--memory-limit", default="8GB")
    parser.add_argument("--dir", type=Path, default=ROOT / "benchmarks" / "out" / "bigdata")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one_size(args.rows[0], args.dir, args.memory_limit)
        return
    print(f"{'rows':>12}  {'stage':<28} {'seconds':>8} {'peak RSS GiB':>12}")
    for rows in args.rows:
        args.dir.mkdir(parents=True, exist_ok=True)
        parquet = parquet_file(args.dir, rows)
        if not parquet.exists():  # here, so that its memory is not the stages' peak
            seconds = write_parquet(parquet, rows)
            print(f"{rows:>12,}  {'write parquet (DuckDB COPY)':<28} {seconds:>8.1f} "
                  f"{'':>12}  {parquet.stat().st_size / 1e6:,.0f} MB")
        done = subprocess.run(
            [sys.executable, __file__, "--one", "--rows", str(rows), "--memory-limit",
             args.memory_limit, "--dir", str(args.dir)],
            capture_output=True, text=True, check=False)
        if done.returncode:
            print(f"{rows:>12,}  failed: {done.stderr[-2000:]}")
            continue
        for f in json.loads(done.stdout.strip().splitlines()[-1]):
            print(f"{rows:>12,}  {f['stage']:<28} {f['seconds']:>8.1f} {f['peak_rss_gb']:>12.2f}")
    print(f"(DuckDB memory_limit {args.memory_limit}; files under {args.dir})")


if __name__ == "__main__":
    main()
