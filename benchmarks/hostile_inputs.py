"""Hostile and careless inputs thrown at the CLI, and what became of each: a table of figures
(never asserted).

    python benchmarks/hostile_inputs.py                      # every category
    python benchmarks/hostile_inputs.py "sql escapes" -v     # some, listing each attempt
    python benchmarks/hostile_inputs.py --jobs 4

Each attempt runs `python -m recsys_kit ...` in a subprocess, in a fresh copy of a folder that
holds a results file with one completed run (so that damage to earlier results shows). Its
outcome is one of:

- clear error: non-zero exit; the error is one paragraph on stderr that names the culprit
  (file and line, field, statement kind); no traceback, no "unexpected error";
- unclear: a clean failure whose message does not name the culprit;
- crashed: a traceback, an "unexpected error", a timeout, or exit 0 where it must fail;
- lost/corrupted: a file changed that the command may not write, the results file no longer
  opens, an earlier run's rows changed, or a new run row that looks valid (not `failed`).

Categories are pluggable: ``CATEGORIES[name]`` is a list of functions, each returning
attempts; an attempt's ``run`` may be replaced for attempts that need more than one command
(signals, kills, concurrency).
"""

from __future__ import annotations

import argparse
import fnmatch
import gzip
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import yaml

ROOT = Path(__file__).resolve().parents[1]
BAD_RECIPES = ROOT / "tests" / "data" / "bad_recipes"
BAD_DATA = ROOT / "tests" / "data" / "bad_data"
RESULTS = "runs/results.duckdb"
#: What a `run` may write: its own row in the results file, its artifacts and caches.
RUN_WRITES = ("runs/results.duckdb", "runs/results.duckdb.wal", "runs/artifacts/*",
              "runs/cache/*", "recipe.yaml")
TIMEOUT_S = 300


@dataclass
class Outcome:
    """What one command did."""

    code: int | None
    out: str
    err: str
    seconds: float


@dataclass
class Attempt:
    """One hostile input: how to set it up, the command, what its error must name, and what
    it may write (glob patterns relative to the attempt's folder)."""

    category: str
    name: str
    args: list[str]
    culprit: list[str]
    setup: Callable[[Path], None] = lambda folder: None
    may_write: tuple[str, ...] = ()
    run: Callable[[Attempt, Path], Outcome] | None = None
    verdict: str = ""
    detail: str = ""
    extra: dict[str, object] = field(default_factory=dict)


def cli(attempt: Attempt, folder: Path) -> Outcome:
    """Run the attempt's command in ``folder`` (a wide terminal, so messages are not wrapped)."""
    env = {**os.environ, "COLUMNS": "400", "NO_COLOR": "1", "TERM": "dumb",
           "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", "recsys_kit", *attempt.args], cwd=folder,
                              env=env, capture_output=True, text=True, timeout=TIMEOUT_S,
                              errors="replace")
    except subprocess.TimeoutExpired as exc:
        return Outcome(None, str(exc.stdout or ""), str(exc.stderr or ""), TIMEOUT_S)
    return Outcome(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


# -- the folder every attempt starts from ---------------------------------------------------


def make_template(folder: Path) -> None:
    """A results file with one completed (tiny) run, a second DuckDB file, files to protect."""
    from recsys_kit.testing import tiny

    (folder / "tiny.yaml").write_text(yaml.safe_dump(tiny(Path("runs"))))
    done = cli(Attempt("setup", "tiny run", ["run", "tiny.yaml"], []), folder)
    if done.code != 0:
        raise SystemExit(f"the tiny run failed:\n{done.err}")
    with duckdb.connect(str(folder / "other.duckdb")) as con:
        con.execute("CREATE TABLE runs AS SELECT 1 AS x")
    (folder / "victim.txt").write_text("keep me\n")
    (folder / "secret.txt").write_text("secret\n")


def snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file ('dir' for folders)."""
    out = {}
    for base, dirs, files in os.walk(folder):
        for name in dirs:
            out[os.path.relpath(Path(base, name), folder)] = "dir"
        for name in files:
            path = Path(base, name)
            out[os.path.relpath(path, folder)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def results_state(folder: Path) -> dict[str, list[tuple]] | str:
    """Every table's rows in the results file, or why it cannot be read."""
    try:
        with duckdb.connect(str(folder / RESULTS), read_only=True) as con:
            tables = [t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()"
                                                ).fetchall()]
            return {t: sorted(map(repr, con.execute(f'SELECT * FROM "{t}"').fetchall()))
                    for t in tables}
    except duckdb.Error as exc:
        return f"the results file no longer opens: {exc}"


def judge(attempt: Attempt, outcome: Outcome, before: dict[str, str], after: dict[str, str],
          state_before: dict, state_after: dict | str) -> tuple[str, str]:
    """The verdict and a one-line reason."""
    changed = sorted(p for p in set(before) | set(after)
                     if before.get(p) != after.get(p) and p != "."
                     and not any(fnmatch.fnmatch(p, w) for w in attempt.may_write))
    if isinstance(state_after, str):
        return "lost/corrupted", state_after
    if changed:
        return "lost/corrupted", f"changed: {', '.join(changed[:4])}"
    runs_before = {r for r in state_before.get("runs", [])}
    for table, rows in state_before.items():
        if table != "runs" and not set(rows) <= set(state_after.get(table, [])):
            return "lost/corrupted", f"rows of {table} vanished"
    if not runs_before <= set(state_after.get("runs", [])):
        return "lost/corrupted", "an earlier run's row changed"
    new_runs = set(state_after.get("runs", [])) - runs_before
    if any("'failed'" not in row for row in new_runs):
        return "lost/corrupted", "a new run row is not marked failed"
    text = outcome.out + outcome.err
    if outcome.code is None:
        return "crashed", "timed out"
    if "Traceback" in text or "unexpected error" in text:
        return "crashed", "traceback or unexpected error"
    if outcome.code == 0:
        return "crashed", "exit 0"
    error = outcome.err[outcome.err.rfind("error:"):] if "error:" in outcome.err else ""
    flat = " ".join(error.split())
    if not error or "\n\n" in error.strip():
        return "unclear", "no single error paragraph"
    missing = [c for c in attempt.culprit if c not in flat]
    if missing:
        return "unclear", f"does not name {missing}"
    return "clear error", flat[:110]


def attempt_in(template: Path, attempt: Attempt) -> Attempt:
    """Run one attempt in a fresh copy of ``template``; fill in its verdict."""
    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
        folder = Path(tmp) / "work"
        shutil.copytree(template, folder)
        attempt.setup(folder)
        before, state_before = snapshot(folder), results_state(folder)
        assert isinstance(state_before, dict)
        outcome = (attempt.run or cli)(attempt, folder)
        attempt.verdict, attempt.detail = judge(attempt, outcome, before, snapshot(folder),
                                                state_before, results_state(folder))
        attempt.extra["seconds"] = outcome.seconds
    return attempt


# -- bad data --------------------------------------------------------------------------------


def _data_recipe(params: dict[str, object], plugin: str = "files") -> Callable[[Path], None]:
    """A setup writing recipe.yaml: the tiny recipe, reading with ``plugin`` and ``params``."""
    def setup(folder: Path) -> None:
        from recsys_kit.testing import tiny

        recipe = tiny(Path("runs"))
        recipe["data"]["ingest"] = {"plugin": plugin, "params": params}
        (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    return setup


def _with_file(name: str, data: bytes, params: dict[str, object], plugin: str = "files"
               ) -> Callable[[Path], None]:
    recipe = _data_recipe(params, plugin)

    def setup(folder: Path) -> None:
        (folder / name).write_bytes(data)
        recipe(folder)
    return setup


def _gzip_damage(kind: str) -> bytes:
    body = "".join(f"{i % 97},{i % 1009},{i}\n" for i in range(30_000)).encode()
    data = bytearray(gzip.compress(b"user_id,item_id,ts\n" + body))
    if kind == "truncated":
        return bytes(data[: len(data) // 2])
    if kind == "flipped":
        data[len(data) // 2] ^= 0xFF
        return bytes(data)
    return b"user_id,item_id,ts\n1,2,3\n"


def _parquet(rows: str) -> Callable[[Path], None]:
    recipe = _data_recipe({"interactions": {"path": "events.parquet"}})

    def setup(folder: Path) -> None:
        with duckdb.connect() as con:
            con.execute(f"COPY (SELECT * FROM (VALUES {rows}) t(user_id, item_id, ts, rating)) "
                        f"TO '{folder / 'events.parquet'}'")
        recipe(folder)
    return setup


def bad_data() -> list[Attempt]:
    """Files with bad rows, damaged or missing, read by `recsys-kit run`."""
    attempts = []

    def add(name: str, setup: Callable[[Path], None], *culprit: str) -> None:
        attempts.append(Attempt("bad data", name, ["run", "recipe.yaml"], list(culprit),
                                setup, RUN_WRITES))

    lines = {"nan_ts.csv": 3, "minus_inf_ts.csv": 4, "infinity_date_ts.csv": 3,
             "nan_rating.csv": 3, "inf_weight.csv": 4, "nul_in_item_id.csv": 3,
             "escape_in_user_id.csv": 3, "short_row.csv": 3, "non_finite.jsonl": 2}
    for name, line in lines.items():
        add(name, _with_file(name, (BAD_DATA / name).read_bytes(),
                             {"interactions": {"path": name}}), f"{name} line {line}")
    for name, fmt, line in (("nul_in_sequence.txt", "user_items", 2),
                            ("escape_in_pair.txt", "pairs", 3)):
        add(name, _with_file(name, (BAD_DATA / name).read_bytes(), {"path": name, "format": fmt},
                             "sequences"), f"{name} line {line}")
    csv_cases = {
        "empty file": (b"", "events.csv is empty"),
        "header only": (b"user_id,item_id,ts\n", "No interactions are left"),
        "blank lines only": (b"\n\n\n", "events.csv is empty"),
        "binary garbage": (bytes(range(256)) * 20, "events.csv"),
        "text ts": (b"user_id,item_id,ts\n1,a,1\n1,b,yesterday\n", "events.csv line 3"),
        "empty user_id": (b"user_id,item_id,ts\n1,a,1\n,b,2\n", "events.csv line 3"),
        "empty ts": (b"user_id,item_id,ts\n1,a,1\n1,b,\n", "events.csv line 3"),
        "long row": (b"user_id,item_id,ts\n1,a,1\n1,b,2,3,4\n", "events.csv line 3"),
        "unclosed quote": (b'user_id,item_id,ts\n1,"a,1\n1,b,2\n', "events.csv"),
        "latin-1 as utf-8": ("user_id,item_id,ts\n1,café,1\n".encode("latin-1"),
                             "events.csv line 2"),
        "no user_id column": (b"user,item_id,ts\n1,a,1\n", "no user_id column"),
        "NaN rating text": (b"user_id,item_id,ts,rating\n1,a,1,nan\n", "events.csv line 2"),
        "inf ts text": (b"user_id,item_id,ts\n1,a,inf\n", "events.csv line 2"),
        "1e999 ts": (b"user_id,item_id,ts\n1,a,1e999\n", "events.csv line 2"),
        "tab inside an id": (b"user_id,item_id,ts\n1,a\tb,1\n", "events.csv line 2"),
        "DEL inside an id": (b"user_id,item_id,ts\n1,a\x7fb,1\n", "events.csv line 2"),
        "UTF-16 file": ("user_id,item_id,ts\n1,a,1\n".encode("utf-16"), "events.csv"),
    }
    for name, (data, culprit) in csv_cases.items():
        add(f"csv: {name}", _with_file("events.csv", data, {"interactions": {
            "path": "events.csv"}}), culprit)
    for kind in ("truncated", "flipped", "not gzip"):
        add(f"gzip {kind} (files)", _with_file("events.csv.gz", _gzip_damage(kind), {
            "interactions": {"path": "events.csv.gz"}}), "events.csv.gz is not a complete")
        add(f"gzip {kind} (sequences)", _with_file("seq.txt.gz", _gzip_damage(kind), {
            "path": "seq.txt.gz", "format": "pairs", "delimiter": ","}, "sequences"),
            "seq.txt.gz is not a complete")
    add("missing file", _data_recipe({"interactions": {"path": "nowhere.csv"}}),
        "'nowhere.csv' does not exist")
    add("folder as file", _data_recipe({"interactions": {"path": "runs"}}), "is a folder")
    add("mapped column missing", _with_file("events.csv", b"u,i\n1,a\n", {"interactions": {
        "path": "events.csv", "mapping": {"user_id": "u", "item_id": "item"}}}),
        "no column 'item'")
    add("parquet: garbage", _with_file("events.parquet", b"PAR1 not really", {"interactions": {
        "path": "events.parquet"}}), "events.parquet")
    add("parquet: NaN ts", _parquet("('1', 'a', 'nan'::DOUBLE, 1.0)"), "events.parquet row 1")
    add("parquet: inf rating", _parquet("('1', 'a', 1.0, 'inf'::DOUBLE)"),
        "events.parquet row 1")
    add("parquet: NUL in id", _parquet("('1', 'a' || chr(0), 1.0, 1.0)"),
        "events.parquet row 1")
    add("json: not JSON", _with_file("events.jsonl", b'{"user_id": "1", "item_id": "a"}\n{oops\n',
                                     {"interactions": {"path": "events.jsonl"}}),
        "events.jsonl line 2")
    add("json: NaN literal", _with_file(
        "events.jsonl", b'{"user_id": "1", "item_id": "a", "rating": NaN}\n',
        {"interactions": {"path": "events.jsonl"}}), "events.jsonl line 1")
    add("sequences: 3-field pair", _with_file("seq.txt", b"u1 a\nu1 b c\n", {
        "path": "seq.txt", "format": "pairs"}, "sequences"), "seq.txt line 2")
    add("filters leave nothing", _with_file("events.csv", b"user_id,item_id\n1,a\n1,b\n", {
        "interactions": {"path": "events.csv"}, "filters": {"min_user_interactions": 99}}),
        "No interactions are left")
    add("min_rating without ratings", _with_file("events.csv", b"user_id,item_id\n1,a\n", {
        "interactions": {"path": "events.csv"}, "filters": {"min_rating": 3}}), "min_rating")
    return attempts


# -- bad recipes -----------------------------------------------------------------------------


def _recipe_bytes(data: bytes) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        (folder / "recipe.yaml").write_bytes(data)
    return setup


def _first_expectation(path: Path) -> str:
    """'<file>:<line>' of a corpus file's first `# expect:` header."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# expect:"):
            return f"recipe.yaml:{line.split(' line ')[1].split()[0]}"
    return "recipe.yaml"


def bad_recipes() -> list[Attempt]:
    """Every recipe of tests/data/bad_recipes, and inputs too big, odd or hostile for files."""
    attempts = []

    def add(name: str, data: bytes, culprit: list[str], args: tuple[str, ...] = ("validate",),
            extra: tuple[str, ...] = ()) -> None:
        writes = RUN_WRITES if args[0] == "run" else ()
        attempts.append(Attempt("bad recipes", name, [*args, "recipe.yaml", *extra], culprit,
                                _recipe_bytes(data), writes))

    for path in sorted(BAD_RECIPES.glob("*.yaml")):
        add(path.stem, path.read_bytes(), [_first_expectation(path)])
    good = yaml.safe_dump(__import__("recsys_kit.testing", fromlist=["tiny"]).tiny(Path("runs")))
    lol = "".join(f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n"
                  for p, c in zip("abcdefgh", "bcdefghi", strict=True))
    bomb = ("version: 1\nname: lol\na: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
            + lol).encode()
    add("alias bomb (~500 bytes)", bomb, ["recipe.yaml:", "aliases"])
    add("alias bomb, run", bomb, ["recipe.yaml:", "aliases"], ("run",))
    add("2 MB recipe", good.encode() + b"# " + b"x" * 2_000_000 + b"\n", ["bytes"])
    add("50 MB recipe", b"a: " + b"x" * 50_000_000 + b"\n", ["50,000,004 bytes"])
    add("100k values", ("version: 1\nname: x\nl:\n" + "  - 1\n" * 100_000).encode(),
        ["recipe.yaml:", "20,000 values"])
    add("nesting 1000 deep", b"a: " + b"[" * 1000 + b"]" * 1000 + b"\n", ["recipe.yaml:1"])
    add("NUL in the name", good.replace("name: tiny", "name: ti\x00ny").encode(),
        ["recipe.yaml:", "U+0000"])
    add("escape codes", good.replace("name: tiny", "name: \x1b[31mtiny").encode(),
        ["recipe.yaml:", "U+001B"])
    add("latin-1 bytes", good.replace("name: tiny", "name: café").encode("latin-1"),
        ["recipe.yaml:", "not UTF-8"])
    add("UTF-16 file", good.encode("utf-16"), ["recipe.yaml:1", "not UTF-8"])
    add("binary file", bytes(range(256)) * 8, ["recipe.yaml:"])
    add("empty file", b"", ["recipe.yaml:1"])
    add("heads vs dim, run", good.replace("heads: 1", "heads: 3").encode(),
        ["recipe.yaml:", "model.encoders.user.params.dim"], ("run",))
    add("k: [0], run", good.replace("- 5\n", "- 0\n").encode(),
        ["recipe.yaml:", "evaluate.0.params.k.0"], ("run",))
    add("lr .nan", good.replace("patience: 2", "patience: 2\n  lr: .nan").encode(),
        ["recipe.yaml:", "train.lr"])
    add("invalid date value", good.replace("seed: 7", "seed: 2024-13-01").encode(),
        ["recipe.yaml:", "timestamp"])
    add("!!python/object tag", good.replace("seed: 7", "seed: !!python/object:os.system x")
        .encode(), ["recipe.yaml:", "not valid YAML"])
    add("--set alias bomb", good.encode(), ["--set", "aliases"],
        extra=("--set", "name=[" + ", ".join(["&a [1, 1, 1, 1, 1, 1, 1, 1, 1]", *(
            f"&{c} [{', '.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefg", "bcdefgh",
                                                                  strict=True))]) + "]"))
    add("--set escape code", good.encode(), ["--set", "U+001B"], extra=("--set", "name=a\x1bb"))
    add("--set bad path", good.encode(), ["--set"], extra=("--set", "train..lr=1"))
    add("--set k=[0]", good.encode(), ["--set", "evaluate.0.params.k.0"],
        extra=("--set", "evaluate.0.params.k=[0]"))
    attempts.append(Attempt("bad recipes", "recipe is a folder", ["validate", "runs"],
                            ["runs", "cannot read the file"]))
    attempts.append(Attempt("bad recipes", "missing recipe", ["validate", "nowhere.yaml"],
                            ["nowhere.yaml", "file not found"]))
    attempts.append(Attempt("bad recipes", "/dev/zero as recipe", ["validate", "/dev/zero"],
                            ["/dev/zero", "at most"]))
    return attempts


# -- SQL escapes -----------------------------------------------------------------------------

SQL_ESCAPES = {
    "ATTACH 'other.duckdb' AS o (READ_WRITE); DELETE FROM o.runs": "2 statements",
    "ATTACH 'other.duckdb' AS o (READ_WRITE)": "ATTACH statements",
    "ATTACH 'new.duckdb' AS n": "ATTACH statements",
    "DETACH results": "DETACH statements",
    "COPY (SELECT 1) TO 'victim.txt'": "COPY statements",
    "COPY runs TO 'runs/artifacts/x.csv'": "COPY statements",
    "COPY runs FROM 'victim.txt'": "COPY statements",
    "EXPORT DATABASE 'dump'": "EXPORT statements",
    "IMPORT DATABASE 'dump'": "Refused",
    "SELECT * FROM read_text('/etc/passwd')": "reaches outside",
    "SELECT * FROM read_text('secret.txt')": "reaches outside",
    "SELECT * FROM read_csv('secret.txt')": "reaches outside",
    "SELECT * FROM read_blob('runs/artifacts/../../secret.txt')": "reaches outside",
    "SELECT * FROM glob('/etc/*')": "reaches outside",
    "SELECT * FROM 'other.duckdb'": "Refused",
    "SET log_query_path = 'log.txt'": "SET statements",
    "SET profiling_output = 'profile.json'": "SET statements",
    "SET enable_external_access = true": "SET statements",
    "RESET lock_configuration": "SET statements",
    "PRAGMA enable_profiling": "settings cannot be changed",
    "PRAGMA profiling_output = 'p.json'": "settings cannot be changed",
    "CALL enable_logging(storage = 'file', storage_path = 'logs')": "cannot be changed",
    "SELECT * FROM enable_logging(storage = 'file', storage_path = 'logs')": "cannot be changed",
    "INSTALL httpfs": "LOAD statements",
    "LOAD httpfs": "LOAD statements",
    "EXPLAIN ANALYZE COPY (SELECT 1) TO 'victim.txt'": "EXPLAIN of COPY statements",
    "EXPLAIN ANALYZE DELETE FROM runs": "EXPLAIN of DELETE statements",
    "COPY (PIVOT runs ON status) TO 'victim.txt'": "MULTI statements",
    "DELETE FROM runs": "DELETE statements",
    "UPDATE runs SET name = 'x'": "UPDATE statements",
    "INSERT INTO runs (run_id) VALUES ('x')": "INSERT statements",
    "DROP TABLE metrics": "DROP statements",
    "ALTER TABLE runs RENAME TO r": "ALTER statements",
    "CREATE TABLE t AS SELECT 1": "CREATE statements",
    "CREATE TEMP TABLE t AS SELECT 1": "CREATE statements",
    "CREATE SECRET s (TYPE s3, KEY_ID 'k', SECRET 's')": "CREATE statements",
    "VACUUM": "VACUUM statements",
    "BEGIN TRANSACTION": "TRANSACTION statements",
    "UPDATE EXTENSIONS": "unnamed statements",
    "WITH d AS (DELETE FROM runs RETURNING *) SELECT * FROM d": "opened read-only",
    "SELECT 1; DELETE FROM runs": "2 statements",
    "SELECT 1; SELECT 2": "2 statements",
    "SELCT * FROM runs": "Tables: artifacts",
    "SELECT * FROM no_such_table": "Tables: artifacts",
    "SELECT nope FROM runs": "Tables: artifacts",
    "": "no SQL statement",
}
#: Tried again with --allow-artifacts, where DuckDB itself would allow writing there.
WITH_ARTIFACTS = [
    "COPY runs TO 'runs/artifacts/x.csv'",
    "COPY (SELECT 1) TO 'runs/artifacts/new.parquet' (FORMAT parquet)",
    "EXPORT DATABASE 'runs/artifacts/dump'",
    "EXPLAIN ANALYZE COPY (SELECT 1) TO 'runs/artifacts/e.csv'",
    "COPY (PIVOT runs ON status) TO 'runs/artifacts/p.csv'",
    "ATTACH 'runs/artifacts/new.duckdb' AS n",
    "SELECT * FROM read_text('secret.txt')",
    "SELECT * FROM read_text('runs/artifacts/../../secret.txt')",
    "SET allowed_directories = ['/']",
    "CALL enable_logging(storage = 'file', storage_path = 'runs/artifacts/logs')",
]


def sql_escapes() -> list[Attempt]:
    """Writes, file access, settings and several statements through `recsys-kit sql`."""
    attempts = [Attempt("sql escapes", sql or "(empty)", ["sql", sql, "--results", RESULTS],
                        [why]) for sql, why in SQL_ESCAPES.items()]
    attempts += [Attempt("sql escapes", f"--allow-artifacts {sql}",
                         ["sql", sql, "--results", RESULTS, "--allow-artifacts"], ["Refused"])
                 for sql in WITH_ARTIFACTS]
    return attempts


#: Category -> functions that return its attempts. Add a category, or append to one.
CATEGORIES: dict[str, list[Callable[[], list[Attempt]]]] = {
    "bad data": [bad_data],
    "bad recipes": [bad_recipes],
    "sql escapes": [sql_escapes],
}
VERDICTS = ("clear error", "unclear", "crashed", "lost/corrupted")


def main() -> None:
    """Run the chosen categories and print the table (and each attempt with -v)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("categories", nargs="*", help=f"some of: {', '.join(CATEGORIES)}")
    parser.add_argument("--jobs", type=int, default=2, help="attempts run at once")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every attempt")
    args = parser.parse_args()
    chosen = args.categories or list(CATEGORIES)
    unknown = [c for c in chosen if c not in CATEGORIES]
    if unknown:
        parser.error(f"unknown categories {unknown}; choose from {list(CATEGORIES)}")
    attempts = [a for c in chosen for make in CATEGORIES[c] for a in make()]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hostile-template-") as tmp:
        template = Path(tmp)
        make_template(template)
        with ThreadPoolExecutor(args.jobs) as pool:
            done = list(pool.map(lambda a: attempt_in(template, a), attempts))
    if args.verbose:
        for a in done:
            print(f"{a.verdict:<15} {a.category:<12} {a.name[:60]:<60} {a.detail}")
        print()
    print(f"{'category':<14}{'attempts':>9}" + "".join(f"{v:>16}" for v in VERDICTS))
    for category in [*chosen, "total"]:
        rows = [a for a in done if category in (a.category, "total")]
        print(f"{category:<14}{len(rows):>9}"
              + "".join(f"{sum(a.verdict == v for a in rows):>16}" for v in VERDICTS))
    print(f"\n{len(done)} attempts in {time.monotonic() - started:.0f} s "
          f"({args.jobs} at once; python {sys.version.split()[0]}, duckdb {duckdb.__version__})")


if __name__ == "__main__":
    main()
