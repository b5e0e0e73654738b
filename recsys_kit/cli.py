"""The `recsys-kit` command line: one function per command (`recsys-kit --help` lists them)."""

from __future__ import annotations

import json
import math
import sys
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from recsys_kit.cli_output import CliConsole, discard_output, print_plugins
from recsys_kit.errors import RecsysKitError
from recsys_kit.locations import DEFAULT_RESULTS, RESULTS_FILE

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
out = CliConsole()
err = CliConsole(stderr=True)
STATE = {"debug": False}

SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a recipe value: path.to.key=value (repeatable)."),
]


@app.callback()
def main_options(
    debug: Annotated[bool, typer.Option(
        "--debug", help="Show tracebacks of errors (also taken after the command: "
        "`recsys-kit run --debug R`).")] = False,
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
    for unused in loaded.unused_params():
        err.print(f"[yellow]warning:[/] {escape(unused)}", highlight=False)
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
        help="Results file holding the run to resume (with --resume).")] = DEFAULT_RESULTS,
    nproc: Annotated[int | None, typer.Option(
        "--nproc", min=1, metavar="N",
        help="Train with N processes on this machine (DistributedDataParallel, one per GPU, "
             "or Gloo on the CPU): starts torchrun for you.")] = None,
) -> None:
    """Run a recipe: data, training, evaluation; results go to <output.dir>/results.duckdb.

    Ctrl-C or SIGTERM stop it cleanly (status interrupted, checkpoints kept); `--resume RUN_ID`
    continues it later. Under torchrun (or with --nproc) only rank 0 writes results.
    """
    from recsys_kit.interrupts import handling_stops
    from recsys_kit.recipe import load_recipe
    from recsys_kit.runner.distributed import ranks_from_env, stop
    from recsys_kit.runner.pipeline import Runner

    if (recipe is None) == (resume is None):
        raise RecsysKitError("Give a recipe file to run (`recsys-kit run RECIPE.yaml`) or a run "
                             "to continue (`recsys-kit run --resume RUN_ID`), not both.")
    if resume is not None and set_:
        raise RecsysKitError("--set cannot change a resumed run: it continues with the recipe "
                             "it started with. Start a new run to change settings.")
    if nproc is not None:
        from recsys_kit.runner.launch import launch

        raise typer.Exit(launch(nproc, recipe, set_ or [], resume=resume, results=results,
                                debug=STATE["debug"]))
    plugins = _plugins()
    ranks = ranks_from_env()
    with handling_stops(exiting_after=True):
        # Ranks other than 0 stay quiet but for errors: rank 0 speaks for the run.
        runner = Runner(plugins, err if ranks.is_main else CliConsole(stderr=True, quiet=True))
        try:
            if resume is not None:
                outcomes = runner.resume(resume, results)
                out_dir = str(results.parent)
            else:
                loaded = load_recipe(recipe, plugins.registry, set_ or [])
                outcomes = runner.run(loaded)
                out_dir = loaded.recipe.output.dir
        finally:
            stop(ranks)
        if ranks.is_main:
            _print_outcomes(outcomes, out_dir)
    stopped = [o for o in outcomes if o.status == "interrupted"]
    if stopped:
        if ranks.is_main:
            _say_stopped(stopped[0], Path(out_dir))
        raise typer.Exit(_stop_exit_code(stopped[0].error))
    failed = [o for o in outcomes if o.error is not None]
    for o in failed[1:]:
        err.print(f"[bold red]error[/] in {escape(o.name)}: {escape(str(o.error))}",
                  highlight=False)
    if failed:
        raise failed[0].error


def _say_stopped(outcome: RunOutcome, out_dir: Path) -> None:
    """On stderr, whatever the moment of the stop: what stopped the run and how to go on."""
    from recsys_kit.interrupts import StopRequested
    from recsys_kit.store import resume_command

    error = outcome.error
    why = error.describe() if isinstance(error, StopRequested) else "interrupted"
    err.print(f"[yellow]{escape(why)}[/]: run {escape(outcome.run_id)} stopped; resume it with "
              f"`{escape(resume_command(outcome.run_id, out_dir / RESULTS_FILE))}`",
              highlight=False)


def _stop_exit_code(error: BaseException | None) -> int:
    """128 + the signal's number, as shells report a process stopped by it (Ctrl-C: 130)."""
    import signal

    name = getattr(error, "signal_name", "SIGINT")
    return 128 + int(getattr(signal, name, signal.SIGINT))


def _print_outcomes(outcomes: list[RunOutcome], out_dir: str) -> None:
    done = [o for o in outcomes if o.metrics]
    if len(done) > 3:  # rounds of a rolling evaluation: one row per run
        out.print(_metrics_by_run(done))
    elif done:
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
    results = escape(str(Path(out_dir) / RESULTS_FILE))
    out.print(f"results: {results}  —  try "
              f"`recsys-kit sql \"SELECT * FROM metrics WHERE split = 'test'\"`", highlight=False)


def _metrics_by_run(done: list[RunOutcome]) -> Table:
    """Test metrics with a row per run (many runs would not fit as columns)."""
    table = Table(title="test metrics", title_justify="left")
    table.add_column("run")
    keys = list(done[0].metrics)
    for key in keys:
        table.add_column(escape(key), justify="right")
    for o in done:
        table.add_row(escape(o.name), *(f"{o.metrics.get(k, float('nan')):.4f}" for k in keys))
    return table


@app.command()
def sweep(
    recipe: Annotated[Path | None, typer.Argument(help="Recipe YAML file.")] = None,
    grid: Annotated[list[str] | None, typer.Option(
        "--grid", metavar="KEY=V1,V2", help="Values of one recipe key to try (repeatable: "
        "every combination runs).")] = None,
    optuna: Annotated[int | None, typer.Option(
        "--optuna", metavar="N", help="Run N trials proposed by Optuna over the --param "
        "ranges (the sweep extra).")] = None,
    param: Annotated[list[str] | None, typer.Option(
        "--param", metavar="KEY=KIND:...", help="An Optuna range: float:LOW:HIGH[:log], "
        "int:LOW:HIGH[:log] or choice:A,B,... (repeatable).")] = None,
    parallel: Annotated[int, typer.Option(
        help="Trials at once, each in its own process (at most one per CPU core, or one per "
        "GPU).")] = 1,
    metric: Annotated[str | None, typer.Option(
        help="Validation metric trials are compared on (default: train.monitor).")] = None,
    set_: SetOption = None,
    resume: Annotated[str | None, typer.Option(
        "--resume", metavar="SWEEP_ID", help="Continue an interrupted sweep: finished trials "
        "are kept, interrupted ones resume, the rest run.")] = None,
    results: Annotated[Path, typer.Option(
        help="Results file holding the sweep to resume (with --resume).")] = DEFAULT_RESULTS,
) -> None:
    """Run a recipe over a grid or an Optuna search; each trial is an ordinary run, tagged
    with the sweep's id (`sweeps` table, `runs.sweep_id`); print the best settings."""
    from recsys_kit.interrupts import handling_stops
    from recsys_kit.sweeps.command import sweep as run_sweep

    with handling_stops():
        try:
            run_sweep(_plugins(), out, err, recipe=recipe, overrides=set_ or [],
                      grid=grid or [], optuna=optuna, params=param or [], metric=metric,
                      parallel=parallel, resume=resume, results=results)
        except KeyboardInterrupt as exc:
            raise typer.Exit(_stop_exit_code(exc)) from None


data_app = typer.Typer(help="Public datasets the shipped recipes read: download, check, "
                       "convert.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("get")
def data_get(
    name: Annotated[str, typer.Argument(help="ml-1m, ml-100k, beauty or scientific.")],
    dir: Annotated[Path, typer.Option(
        "--dir", help="Folder to put the dataset's folder in (what RECSYS_KIT_DATA points "
        "recipes at).")] = Path("data"),
    mirror: Annotated[str | None, typer.Option(
        help="Base URL of a copy holding <name>/<file> (default: RECSYS_KIT_DATA_MIRROR, "
        "else the original sources).")] = None,
) -> None:
    """Download a dataset, check its checksums, convert it for the recipes (resumable: run
    it again after an interruption)."""
    from recsys_kit.datasets.get import dataset, get

    folder = get(name, dir, mirror,
                 lambda line: err.print(escape(line), highlight=False, soft_wrap=True))
    info = dataset(name)
    out.print(f"[green]ready[/] {escape(str(folder))}", highlight=False)
    if info.note:
        out.print(f"note: {escape(info.note)}", highlight=False)
    out.print(f"run: RECSYS_KIT_DATA={escape(str(dir))} recsys-kit run {info.recipe}",
              highlight=False, soft_wrap=True)


@app.command()
def plugins(
    format: Annotated[str, typer.Option(
        "--format", "-f",
        help="text: a block per family, descriptions at full width (reads at 80 columns); "
             "table: one wide table with distributions and versions; json.")] = "text",
) -> None:
    """List every installed stage (family, name, description, where it comes from), the
    plugins loaded, failures and clashes."""
    print_plugins(out, _plugins(allow_clashes=True), format)


@app.command()
def schema() -> None:
    """Print the JSON Schema of recipes, with every installed plugin's params."""
    from recsys_kit.recipe.schema import recipe_json_schema

    sys.stdout.write(json.dumps(recipe_json_schema(_plugins().registry), indent=2) + "\n")


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="One read-only SQL statement.")],
    results: Annotated[Path, typer.Option(help="Results file.")] = DEFAULT_RESULTS,
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


def _json_value(value: object) -> object:
    """JSON has no NaN or infinity: they become null, as in DuckDB's own JSON output;
    decimals become numbers."""
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _print_rows(columns: list[str], rows: list[tuple], fmt: str) -> None:
    if fmt == "json":
        records = [dict(zip(columns, map(_json_value, row), strict=True)) for row in rows]
        sys.stdout.write(json.dumps(records, default=str, indent=2, allow_nan=False) + "\n")
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
def compare(
    run_a: Annotated[str, typer.Argument(help="Run A (the baseline).")],
    run_b: Annotated[str, typer.Argument(help="Run B; differences are B - A.")],
    results: Annotated[Path, typer.Option(help="Results file.")] = DEFAULT_RESULTS,
    metric: Annotated[list[str] | None, typer.Option(
        "--metric", "-m", help="A metric to compare, e.g. ndcg@10 (repeatable; default: every "
        "metric both runs have per user).")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Pair users by id even when the runs used different data.")] = False,
    resamples: Annotated[int, typer.Option(min=100, help="Bootstrap resamples.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
) -> None:
    """Are two runs' test metrics really different? A paired test over the users both runs
    evaluated: mean difference B - A, paired t-test p-value, bootstrap 95 % CI, users."""
    from recsys_kit.evaluation.compare_runs import compare_runs

    c = compare_runs(results, run_a, run_b, metric, force=force, resamples=resamples, seed=seed)
    table = Table(title=f"B - A over users in both: A {escape(c.name_a)} ({escape(c.a)}), "
                  f"B {escape(c.name_b)} ({escape(c.b)})", title_justify="left")
    for column in ("metric", "A", "B", "B - A", "95% CI", "p", "users"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for m in c.metrics:
        s = m.stats
        significant = s.p_value < 0.05
        table.add_row(escape(m.metric), f"{s.mean_a:.4f}", f"{s.mean_b:.4f}",
                      f"{'[bold]' if significant else ''}{s.mean_diff:+.4f}",
                      f"[{s.ci_low:+.4f}, {s.ci_high:+.4f}]", f"{s.p_value:.3g}", f"{s.n:,}")
    out.print(table)
    note = "" if c.same_data else " [yellow]The runs used different data (--force).[/]"
    out.print(f"[dim]paired t-test (two-sided) and bootstrap CI ({resamples:,} resamples, seed "
              f"{seed}); bold: p < 0.05.[/]{note}", highlight=False)


@app.command()
def tui(
    results: Annotated[Path, typer.Option(help="Results file.")] = DEFAULT_RESULTS,
) -> None:
    """Browse a results file in the terminal: runs, curves, recommendations, SQL.

    The file need not exist yet: the runs list says so and fills in once a run writes it.
    """
    from recsys_kit.tui import run_tui

    run_tui(results)


ResultsOption = Annotated[Path, typer.Option(help="Results file holding the run.")]
RunArgument = Annotated[str, typer.Argument(
    help="Run id, `latest` (newest completed run), or a run's artifacts folder.")]


@app.command()
def recommend(
    run_id: RunArgument,
    user: Annotated[str | None, typer.Option(help="A user the run knows.")] = None,
    history: Annotated[str | None, typer.Option(
        help="Item ids, oldest first, comma-separated: a new user, or fresh items of --user.")
    ] = None,
    k: Annotated[int, typer.Option("--k", help="How many items.")] = 10,
    explain: Annotated[bool, typer.Option(help="Show the history items behind each one.")
                       ] = False,
    format: Annotated[str, typer.Option("--format", "-f", help="table | json")] = "table",
    new_items: Annotated[Path | None, typer.Option(
        help="CSV or JSON lines of items the run was not trained on: item_id plus side "
        "columns (title, ...), embedded from their text by runs with a text encoder.")] = None,
    ignore_unknown: Annotated[bool, typer.Option(
        help="Leave out history items the run does not know instead of stopping.")] = False,
    results: ResultsOption = DEFAULT_RESULTS,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N")] = "auto",
) -> None:
    """Recommend from a trained run for a known user or a fresh history (no retraining)."""
    from recsys_kit.serving.commands import recommend_command

    recommend_command(run_id, results, user=user, history=history, k=k, explain=explain,
                      fmt=format, new_items=new_items, ignore_unknown=ignore_unknown,
                      device=device, out=out, err=err)


@app.command()
def serve(
    run_id: RunArgument,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free one).")] = 8000,
    results: ResultsOption = DEFAULT_RESULTS,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N")] = "auto",
    threads: Annotated[int, typer.Option(
        min=1, help="Torch threads per request (concurrent requests run in parallel).")] = 1,
) -> None:
    """Serve a run over HTTP: POST /recommend, POST /feedback, GET /health, /docs.

    Needs the `serve` extra. Feedback lands in the run's results file (table `feedback`).
    """
    from recsys_kit.serving.server import serve_run

    serve_run(run_id, results, host, port, device, err, threads)


@app.command()
def feedback(
    run_id: Annotated[str, typer.Argument(help="The run the feedback answers.")],
    file: Annotated[Path, typer.Argument(
        help="CSV (header: user_id, item_id, kind[, ts, value, event_id]) or JSON lines.")],
    results: ResultsOption = DEFAULT_RESULTS,
) -> None:
    """Store feedback events (click, purchase, skip, rating) on a run's recommendations."""
    from recsys_kit.serving.commands import feedback_command

    feedback_command(run_id, file, results, out, err)


@app.command()
def forget(
    user: Annotated[list[str], typer.Option(
        "--user", "-u", help="Raw id of the user to erase (repeatable); with pseudonymised "
        "results the key is applied as a run does.")],
    results: Annotated[Path, typer.Option(help="Results file.")] = DEFAULT_RESULTS,
    key_file: Annotated[Path | None, typer.Option(
        help="File holding the pseudonym key (default: as the runs read it).")] = None,
    pseudonym: Annotated[bool, typer.Option(
        "--pseudonym", help="The ids given are pseudonyms already, not raw ids.")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Only report what would be removed.")] = False,
) -> None:
    """Erase users from the results file, its artifacts and caches; record the erasure."""
    from recsys_kit.privacy.erasure import forget as erase
    from recsys_kit.privacy.report import print_erasure

    outcome = erase(results, user, key_file=key_file, given_pseudonyms=pseudonym,
                    dry_run=dry_run)
    if print_erasure(outcome, out, err):
        raise typer.Exit(1)


def main() -> None:
    """Entry point: run the app, turning user-facing errors into one paragraph and an exit code.

    Under torchrun, ranks other than 0 exit with their status and say nothing: rank 0 speaks
    for the run (a rank's own failure reaches it through the note the rank leaves), and the
    others would repeat its errors, or report the lost connection to a rank that failed as a
    bug of their own."""
    import os

    # RANK as torchrun sets it (recsys_kit.runner.distributed reads it too, but imports torch).
    speaks = "WORLD_SIZE" not in os.environ or os.environ.get("RANK", "0") == "0"
    args = sys.argv[1:]
    if "--debug" in args:  # an option of recsys-kit itself, wherever it is written
        args = ["--debug", *(arg for arg in args if arg != "--debug")]
    try:
        app(args=args, prog_name="recsys-kit")
    except RecsysKitError as exc:
        if STATE["debug"]:
            raise
        if speaks:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        # A direct write (`plugins --format json`) to a reader that went away: quiet, as the
        # consoles are, and status 1 as Python's documentation advises, since it was cut short.
        discard_output(sys.stdout)
        sys.exit(1)
    except KeyboardInterrupt as exc:
        if speaks:
            err.print("interrupted")
        sys.exit(_stop_exit_code(exc))
    except Exception as exc:
        if STATE["debug"]:
            raise
        if not speaks:
            sys.exit(1)
        err.print(
            f"[bold red]unexpected error:[/] {escape(type(exc).__name__)}: {escape(str(exc))}. "
            "This is likely a bug in recsys-kit or a plugin: run again with --debug for the "
            "traceback (a failed run also stores it in runs.error) and report it.",
            highlight=False,
        )
        sys.exit(1)
