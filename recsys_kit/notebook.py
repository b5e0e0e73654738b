"""The Python API for notebooks: run a recipe, read its results as data frames.

    import recsys_kit
    outcomes = recsys_kit.run_recipe("recipes/quickstart.yaml", overrides=["train.epochs=5"])
    results = recsys_kit.open_results(outcomes.results)
    results.metrics(run_id=outcomes[0].run_id, split="test")      # a pandas DataFrame

Results are read with the read-only SQL surface (``recsys_kit.store.readonly``): each call
opens the file read-only, runs one query and closes it, so a run writing meanwhile is never
blocked for long. pandas, pyarrow and polars come with the ``notebook`` extra.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import duckdb

from recsys_kit.errors import RecsysKitError, StoreError
from recsys_kit.locations import RESULTS_FILE
from recsys_kit.store.readonly import checked_statement, explain_failure, open_readonly

if TYPE_CHECKING:
    from recsys_kit.runner.pipeline import RunOutcome

Format = Literal["pandas", "arrow", "polars"]
#: The package each output format needs, and where it comes from.
FORMAT_PACKAGES = {"pandas": "pandas", "arrow": "pyarrow", "polars": "polars"}


class RunOutcomes(list):
    """The outcomes of one recipe: the main run first, then its baselines.

    Each item has ``run_id``, ``name``, ``status``, ``metrics`` (final test metrics keyed like
    ``ndcg@10``), ``seconds`` and ``error``; ``results`` is the results file they went to.
    """

    def __init__(self, outcomes: Sequence[RunOutcome], results: Path) -> None:
        super().__init__(outcomes)
        self.results = results

    def open(self) -> Results:
        """The results file these runs wrote, ready to read."""
        return Results(self.results)


def run_recipe(
    recipe: str | Path | Mapping[str, Any], overrides: Sequence[str] = (), *,
    quiet: bool = False,
) -> RunOutcomes:
    """Run a recipe (a YAML file or a mapping) and its baselines; return their outcomes.

    ``overrides`` are ``path.to.key=value`` strings, as ``--set`` takes them. A recipe that
    does not validate raises :class:`~recsys_kit.errors.RecipeError` before anything runs; a
    run that fails raises its error once every run is recorded (its row says ``failed``). A
    run stopped by the notebook's interrupt is returned with status ``interrupted`` and can be
    resumed with ``recsys-kit run --resume RUN_ID``. ``quiet`` silences progress output.
    """
    from rich.console import Console

    from recsys_kit.plugins import make_plugins
    from recsys_kit.recipe.loader import load_recipe, validate_mapping
    from recsys_kit.recipe.yaml_lines import apply_override
    from recsys_kit.runner.pipeline import Runner

    plugins = make_plugins()
    plugins.check_clashes()
    if isinstance(recipe, Mapping):
        data = copy.deepcopy(dict(recipe))
        overridden = {apply_override(data, item) for item in overrides}
        loaded = validate_mapping(data, plugins.registry, source="<mapping>",
                                  overridden=overridden)
    else:
        loaded = load_recipe(recipe, plugins.registry, overrides)
    console = Console(stderr=True, quiet=quiet)
    outcomes = Runner(plugins, console).run(loaded)
    failed = [o.error for o in outcomes if o.status == "failed" and o.error is not None]
    if failed:
        raise failed[0]
    return RunOutcomes(outcomes, Path(loaded.recipe.output.dir) / RESULTS_FILE)


def open_results(path: str | Path = "runs") -> Results:
    """The results at ``path``: a results file, or an output directory holding one."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    if not path.is_file():
        raise StoreError(f"No results file at {path}. Run a recipe first (recsys_kit.run_recipe"
                         "(...) or `recsys-kit run RECIPE.yaml`), or pass the output.dir it "
                         "wrote to.")
    return Results(path)


@contextmanager
def connect(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """The one place this module opens the results file: read-only, protected, short."""
    with open_readonly(path) as con:
        yield con


def _convert(relation: duckdb.DuckDBPyRelation, fmt: Format) -> Any:
    """The relation's rows as a pandas DataFrame, an Arrow table or a polars DataFrame, each
    made by DuckDB's own converter (columnar, no row-by-row copy in Python)."""
    package = FORMAT_PACKAGES.get(fmt)
    if package is None:
        raise RecsysKitError(f"Unknown format '{fmt}'; use pandas, arrow or polars.")
    try:
        __import__(package)
    except ImportError:
        raise RecsysKitError(
            f"Reading results as {fmt} needs the {package} package: install the notebook extra "
            "(pip install 'recsys-kit[notebook]').") from None
    if fmt == "pandas":
        return relation.df()
    if fmt == "polars":
        return relation.pl()
    # DuckDB 2 calls it to_arrow_table; 1.x arrow().
    return getattr(relation, "to_arrow_table", relation.arrow)()


class Results:
    """One results file, read as data frames; every method runs one read-only query.

    ``format`` picks what comes back: ``pandas`` (default), ``arrow`` (a ``pyarrow.Table``)
    or ``polars``; :meth:`arrow` and :meth:`polars` are shortcuts of :meth:`table`.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Results({str(self.path)!r})"

    def sql(self, query: str, *, format: Format = "pandas") -> Any:
        """Run one reading SQL statement (as `recsys-kit sql` does) and return its rows."""
        with connect(self.path) as con:
            statement = checked_statement(con, query)
            return self._fetch(con, statement, [], format)

    def tables(self) -> list[str]:
        """Names of the tables in the file."""
        frame = self._query("SELECT table_name FROM duckdb_tables() WHERE NOT temporary "
                            "ORDER BY table_name", [], None)
        return [name for (name,) in frame]

    def table(self, name: str, *, format: Format = "pandas", **where: Any) -> Any:
        """All rows of table ``name`` whose columns equal the ``where`` values, e.g.
        ``table("recommendations", run_id=..., user_id="42")``."""
        with connect(self.path) as con:
            tables = {n for (n,) in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE NOT temporary").fetchall()}
            if name not in tables:
                raise StoreError(f"There is no table '{name}' in {self.path}. Tables: "
                                 f"{', '.join(sorted(tables))}.")
            columns = [c for (c,) in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = ?", [name]
            ).fetchall()]
            unknown = sorted(set(where) - set(columns))
            if unknown:
                raise StoreError(f"Table '{name}' has no column {', '.join(unknown)}; its "
                                 f"columns are {', '.join(columns)}.")
            sql = f'SELECT * FROM "{name}"'
            if where:
                sql += " WHERE " + " AND ".join(f'"{c}" IS NOT DISTINCT FROM ?' for c in where)
            order = [c for c in ("started_at", "run_id", "split", "epoch", "user_id", "rank",
                                 "metric", "k") if c in columns]
            if order:
                sql += " ORDER BY " + ", ".join(f'"{c}"' for c in order)
            return self._fetch(con, sql, list(where.values()), format)

    def arrow(self, name: str, **where: Any) -> Any:
        """:meth:`table` as a ``pyarrow.Table``."""
        return self.table(name, format="arrow", **where)

    def polars(self, name: str, **where: Any) -> Any:
        """:meth:`table` as a polars DataFrame."""
        return self.table(name, format="polars", **where)

    def runs(self, *, format: Format = "pandas", **where: Any) -> Any:
        """The ``runs`` table (one row per run, oldest first)."""
        return self.table("runs", format=format, **where)

    def metrics(self, *, format: Format = "pandas", **where: Any) -> Any:
        """The ``metrics`` table in long format (run_id, split, epoch, metric, k, value)."""
        return self.table("metrics", format=format, **where)

    def recommendations(self, *, format: Format = "pandas", **where: Any) -> Any:
        """Top-K recommendations (run_id, user_id, rank, item_id, score)."""
        return self.table("recommendations", format=format, **where)

    def explanations(self, *, format: Format = "pandas", **where: Any) -> Any:
        """Weights of history items behind recommendations."""
        return self.table("explanations", format=format, **where)

    def test_metrics(self, *, format: Format = "pandas") -> Any:
        """One row per run with its final test metrics as columns (``ndcg@10``, ...)."""
        with connect(self.path) as con:
            keys = [key for (key,) in con.execute(
                "SELECT DISTINCT metric || coalesce('@' || k, '') AS key FROM metrics "
                "WHERE split = 'test' AND epoch IS NULL ORDER BY key").fetchall()]
            quoted = ['"' + key.replace('"', '""') + '"' for key in keys]
            cells = "".join(f", max(value) FILTER (WHERE metric || coalesce('@' || k, '') = ?) "
                            f"AS {name}" for name in quoted)
            sql = ("SELECT r.run_id, r.name, r.status" + cells + " FROM runs r "
                   "JOIN metrics m ON m.run_id = r.run_id AND m.split = 'test' "
                   "AND m.epoch IS NULL GROUP BY r.run_id, r.name, r.status, r.started_at "
                   "ORDER BY r.started_at")
            return self._fetch(con, sql, keys, format)

    def _query(self, sql: str, params: list[Any], fmt: Format | None) -> Any:
        with connect(self.path) as con:
            return self._fetch(con, sql, params, fmt)

    def _fetch(self, con: duckdb.DuckDBPyConnection, sql: str | duckdb.Statement,
               params: list[Any], fmt: Format | None) -> Any:
        text = sql if isinstance(sql, str) else sql.query
        try:
            if fmt is None:
                return con.execute(text, params).fetchall()
            relation = con.sql(text, params=params or None)
            return None if relation is None else _convert(relation, fmt)
        except duckdb.Error as exc:
            raise explain_failure(con, exc) from None
