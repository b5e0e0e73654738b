"""Finding a run's files: by id (or ``latest``) in a results file, or by its artifacts folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recsys_kit.errors import RecsysKitError
from recsys_kit.locations import DEFAULT_RESULTS, RESULTS_FILE
from recsys_kit.serving.bundle import BUNDLE, RUN_FILE, read_description
from recsys_kit.store import ResultStore, resume_command

#: The run id that means "the most recent completed run that is not a baseline".
LATEST = "latest"


@dataclass(frozen=True)
class RunFiles:
    """A run's id, name, effective recipe, artifacts folder, and its results file (if known)."""

    run_id: str
    name: str
    recipe: dict[str, Any]
    source: str
    folder: Path
    results: Path | None

    @property
    def out_dir(self) -> Path:
        """The run's output directory (holds ``cache/``, shared with other runs)."""
        return self.results.parent if self.results is not None else self.folder.parent.parent


def locate_run(run: str | Path, results: str | Path | None = None,
               purpose: str = "be served") -> RunFiles:
    """The files of ``run``: an existing artifacts folder (``runs/artifacts/<run_id>``), or a
    run id (or ``latest``) looked up in ``results`` (default ``runs/results.duckdb``).

    A run looked up by id must have completed (the error says it cannot ``purpose``); a
    folder is taken as it is.
    """
    folder = Path(run)
    if folder.is_dir():
        return _from_folder(folder, Path(results) if results is not None else None)
    return _from_results(str(run), Path(results or DEFAULT_RESULTS), purpose)


def _from_folder(folder: Path, results: Path | None) -> RunFiles:
    if not (folder / RUN_FILE).exists() or not (folder / BUNDLE).exists():
        raise RecsysKitError(
            f"{folder} is not a loadable run folder: it lacks {RUN_FILE} or {BUNDLE}. Give a "
            "run's artifacts folder (runs/artifacts/<run_id>) written by a run of this "
            "recsys-kit version, or the run id with --results.")
    about = read_description(folder)
    if results is None and (folder.parent.parent / RESULTS_FILE).exists():
        results = folder.parent.parent / RESULTS_FILE
    return RunFiles(about["run_id"], about["name"], about["recipe"],
                    about.get("recipe_source") or "<run folder>", folder.resolve(), results)


def run_row(store: ResultStore, run_id: str) -> dict[str, Any]:
    """The ``runs`` row of ``run_id`` (``latest``: the newest completed run that is not a
    baseline); a clear error when there is none."""
    if run_id == LATEST:
        _, rows = store.query("SELECT run_id FROM runs WHERE status = 'completed' AND "
                              "parent_run_id IS NULL ORDER BY started_at DESC LIMIT 1")
        if not rows:
            raise RecsysKitError(f"{store.path} holds no completed run yet. Run a recipe first "
                                 "(`recsys-kit run recipes/quickstart.yaml`).")
        run_id = rows[0][0]
    row = store.run_row(run_id)
    if row is None:
        raise RecsysKitError(
            f"There is no run '{run_id}' in {store.path}. List the runs with `recsys-kit sql "
            "\"SELECT run_id, name, status FROM runs ORDER BY started_at\"`, or pass the file "
            "that holds it with --results.")
    return row


def _from_results(run_id: str, results: Path, purpose: str) -> RunFiles:
    store = ResultStore(results)
    row = run_row(store, run_id)
    run_id = row["run_id"]
    if row["status"] != "completed":
        resume = resume_command(run_id, results)
        why = {"running": "it is still running", "failed": "it failed",
               "interrupted": f"it was interrupted (resume it with `{resume}`)",
               "lost": f"its process vanished (resume it with `{resume}`)"}.get(
                   row["status"], row["status"])
        raise RecsysKitError(f"Run {run_id} cannot {purpose}: {why}. Only a completed run "
                             "can.")
    folder = _bundle_folder(store, run_id, results)
    return RunFiles(run_id, row["name"], row["recipe"], row["recipe_source"] or "<results>",
                    folder, results)


def _bundle_folder(store: ResultStore, run_id: str, results: Path) -> Path:
    """The recorded folder of the run's bundle, else the usual place next to ``results``
    (the output directory may have moved since)."""
    _, rows = store.query("SELECT path FROM artifacts WHERE run_id = ? AND name = "
                          "'serving_data'", [run_id])
    candidates = [Path(rows[0][0]).parent] if rows else []
    candidates.append(results.parent / "artifacts" / run_id)
    for folder in candidates:
        if (folder / BUNDLE).exists():
            return folder
    raise RecsysKitError(
        f"Run {run_id} has no serving data ({BUNDLE}) in {candidates[-1]}: it was made by a "
        "recsys-kit without serving, or its artifacts were removed. Run its recipe again to "
        "get a servable run.")
