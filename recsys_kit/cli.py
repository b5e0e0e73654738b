"""The `recsys-kit` command: run, validate, plugins, schema, sql, tui."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from recsys_kit.errors import RecsysKitError

if TYPE_CHECKING:
    from recsys_kit.plugins import Plugins
    from recsys_kit.runner.pipeline import RunOutcome

app = typer.Typer(
    name="recsys-kit",
    help="Declarative, plugin-based user-interest prediction: run YAML recipes, query results.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()
err = Console(stderr=True)
STATE = {"debug": False}

SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a recipe value: path.to.key=value (repeatable)."),
]


@app.callback()
def main_options(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
) -> None:
    """Declarative recommender recipes on PyTorch, results in DuckDB."""
    STATE["debug"] = debug


def _plugins(*, allow_clashes: bool = False) -> Plugins:
    """Load the plugins, warning about each one that failed; stop on a stage name clash
    unless ``allow_clashes`` (for listing them)."""
    from recsys_kit.plugins import make_plugins

    plugins = make_plugins()
    for failure in plugins.failures:
        err.print(
            f"[yellow]warning:[/] plugin '{escape(failure.name)}' from "
            f"{escape(failure.distribution)} failed to load ({escape(failure.error)}); its stages "
            "are unavailable. Reinstall or uninstall it.",
            highlight=False,
        )
    if not allow_clashes:
        plugins.check_clashes()
    return plugins


@app.command()
def validate(
    recipe: Annotated[Path, typer.Argument(help="Recipe YAML file.")],
    set_: SetOption = None,
) -> None:
    """Check a recipe and report every error at once (exit 2 when invalid)."""
    from recsys_kit.recipe import load_recipe

    loaded = load_recipe(recipe, _plugins().registry, set_ or [])
    out.print(f"[green]ok[/] {escape(str(recipe))}: recipe '{escape(loaded.recipe.name)}' is "
              f"valid ({len(loaded.stages)} stages).", highlight=False)


@app.command()
def run(
    recipe: Annotated[Path | None, typer.Argument(help="Recipe YAML file.")] = None,
    set_: SetOption = None,
    resume: Annotated[str | None, typer.Option(
        "--resume", metavar="RUN_ID",
        help="Continue an interrupted or lost run from its last checkpoint.")] = None,
    results: Annotated[Path, typer.Option(
        help="Results file holding the run to resume (with --resume).")] = Path(
        "runs/results.duckdb"),
) -> None:
    """Run a recipe: data, training, evaluation; results go to <output.dir>/results.duckdb.

    Ctrl-C or SIGTERM stop it cleanly (status interrupted, checkpoints kept); `--resume RUN_ID`
    continues it later.
    """
    from recsys_kit.interrupts import handling_stops
    from recsys_kit.recipe import load_recipe
    from recsys_kit.runner.pipeline import Runner

    if (recipe is None) == (resume is None):
        raise RecsysKitError("Give a recipe file to run (`recsys-kit run RECIPE.yaml`) or a run "
                             "to continue (`recsys-kit run --resume RUN_ID`), not both.")
    if resume is not None and set_:
        raise RecsysKitError("--set cannot change a resumed run: it continues with the recipe "
                             "it started with. Start a new run to change settings.")
    plugins = _plugins()
    with handling_stops():
        runner = Runner(plugins, err)
        if resume is not None:
            outcomes = runner.resume(resume, results)
            out_dir = str(results.parent)
        else:
            loaded = load_recipe(recipe, plugins.registry, set_ or [])
            outcomes = runner.run(loaded)
            out_dir = loaded.recipe.output.dir
        _print_outcomes(outcomes, out_dir)
    stopped = [o.error for o in outcomes if o.status == "interrupted"]
    if stopped:
        raise typer.Exit(_stop_exit_code(stopped[0]))
    failed = [o for o in outcomes if o.error is not None]
    for o in failed[1:]:
        err.print(f"[bold red]error[/] in {escape(o.name)}: {escape(str(o.error))}",
                  highlight=False)
    if failed:
        raise failed[0].error


def _stop_exit_code(error: BaseException | None) -> int:
    """128 + the signal's number, as shells report a process stopped by it (Ctrl-C: 130)."""
    import signal

    name = getattr(error, "signal_name", "SIGINT")
    return 128 + int(getattr(signal, name, signal.SIGINT))


def _print_outcomes(outcomes: list[RunOutcome], out_dir: str) -> None:
    done = [o for o in outcomes if o.metrics]
    if done:
        table = Table(title="test metrics", title_justify="left")
        table.add_column("metric")
        for o in done:
            table.add_column(escape(o.name), justify="right")
        for key in done[0].metrics:
            best = max(o.metrics.get(key, float("-inf")) for o in done)
            cells = [f"{'[bold green]' if o.metrics.get(key) == best and len(done) > 1 else ''}"
                     f"{o.metrics.get(key, float('nan')):.4f}" for o in done]
            table.add_row(escape(key), *cells)
        out.print(table)
    for o in outcomes:
        out.print(f"{o.status:<11} {escape(o.run_id)}  ({o.seconds:.1f} s)", highlight=False)
    results = escape(str(Path(out_dir) / "results.duckdb"))
    out.print(f"results: {results}  —  try "
              f"`recsys-kit sql \"SELECT * FROM metrics WHERE split = 'test'\"`", highlight=False)


@app.command()
def plugins() -> None:
    """List every installed stage (family, name, distribution, version), failures and clashes."""
    loaded = _plugins(allow_clashes=True)
    table = Table()
    for column in ("family", "name", "distribution", "version", "description"):
        table.add_column(column)
    for spec in loaded.registry:
        table.add_row(*(escape(cell) for cell in (spec.family.value, spec.name,
                                                  spec.distribution, spec.version,
                                                  spec.description)))
    out.print(table)
    modules = Table("plugin", "distribution", "version", title="plugins loaded",
                    title_justify="left")
    for info in loaded.list_plugin_distinfo():
        modules.add_row(escape(info.name), escape(info.distribution), escape(info.version))
    out.print(modules)
    for failure in loaded.failures:
        out.print(f"[red]failed[/] {escape(failure.name)} ({escape(failure.distribution)}): "
                  f"{escape(failure.error)}", highlight=False)
    for clash in loaded.clashes:
        out.print(f"[red]clash[/] {escape(clash.message())}", highlight=False)


@app.command()
def schema() -> None:
    """Print the JSON Schema of recipes, with every installed plugin's params."""
    from recsys_kit.recipe.schema import recipe_json_schema

    sys.stdout.write(json.dumps(recipe_json_schema(_plugins().registry), indent=2) + "\n")


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="One read-only SQL statement.")],
    results: Annotated[Path, typer.Option(help="Results file.")] = Path("runs/results.duckdb"),
    format: Annotated[str, typer.Option("--format", "-f", help="table | csv | json")] = "table",
    allow_artifacts: Annotated[bool, typer.Option(
        "--allow-artifacts",
        help="Also let the query read the files runs wrote under the results file's own "
             "artifacts/ folder (e.g. per-user metrics with read_parquet).")] = False,
) -> None:
    """Run one read-only statement on the results file; print a table, CSV or JSON.

    The file is opened read-only with no access to any other file; writes, COPY, ATTACH,
    EXPORT, settings and several statements at once are refused.
    """
    from recsys_kit.store.readonly import query as run_query

    result = run_query(results, query, allow_artifacts=allow_artifacts)
    _print_rows(result.columns, result.rows, format)


def _print_rows(columns: list[str], rows: list[tuple], fmt: str) -> None:
    if fmt == "json":
        records = [dict(zip(columns, row, strict=True)) for row in rows]
        sys.stdout.write(json.dumps(records, default=str, indent=2) + "\n")
    elif fmt == "csv":
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    elif fmt == "table":
        table = Table(*(escape(column) for column in columns))
        for row in rows:
            table.add_row(*("" if v is None else escape(str(v)) for v in row))
        out.print(table)
    else:
        raise RecsysKitError(f"Unknown --format '{fmt}'; use table, csv or json.")


@app.command()
def tui(
    results: Annotated[Path, typer.Option(help="Results file.")] = Path("runs/results.duckdb"),
) -> None:
    """Browse a results file in the terminal: runs, curves, recommendations, SQL.

    The file need not exist yet: the runs list says so and fills in once a run writes it.
    """
    from recsys_kit.tui import run_tui

    run_tui(results)


def main() -> None:
    """Entry point: run the app, turning user-facing errors into one paragraph and an exit code."""
    try:
        app()
    except RecsysKitError as exc:
        if STATE["debug"]:
            raise
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt as exc:
        err.print("interrupted")
        sys.exit(_stop_exit_code(exc))
    except Exception as exc:
        if STATE["debug"]:
            raise
        err.print(
            f"[bold red]unexpected error:[/] {escape(type(exc).__name__)}: {escape(str(exc))}. "
            "This is likely a bug in recsys-kit or a plugin: run again with --debug for the "
            "traceback (a failed run also stores it in runs.error) and report it.",
            highlight=False,
        )
        sys.exit(1)
