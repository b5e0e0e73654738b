"""Signals, kills and concurrency: the attempts of ``benchmarks/hostile_inputs.py`` that need
more than one command (run there: ``python benchmarks/hostile_inputs.py "signals/kills"``).

Each attempt starts a real run (``python -m recsys_kit run``) of a tiny synthetic recipe that
is big enough to spend a few seconds in ingest, training and writing, and then does to it what
a careless user or a failing machine does: Ctrl-C (once, twice), SIGTERM (once, twice 20 ms
apart), kill -9, a second run on the same file, a notebook holding the file open, a query
while it writes, two resumes at once. It is handled cleanly when every command either succeeds
or fails with one clear paragraph, every run row ends in a terminal state (``completed``,
``interrupted``, ``failed``; ``lost`` for a killed run until it is resumed), an interrupted or
killed run resumes to ``completed``, and no earlier result changes (checked by the caller).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import duckdb
import hostile_inputs as h
import yaml

#: Bigger than the tiny recipe, so that ingest, training and writing each take a while.
SETTINGS = ("data.ingest.params.n_users=500", "data.ingest.params.n_items=300",
            "train.epochs=3", "train.patience=3", "output.top_k=20")
TERMINAL = {"completed", "interrupted", "failed"}
MAY_WRITE = (*h.RUN_WRITES, "runs/results.duckdb.pending*", "r*.yaml")
FRACTIONS = (0.05, 0.25, 0.5, 0.75, 0.95)


class Run:
    """A ``recsys-kit run`` in a subprocess whose stderr is read as it comes."""

    def __init__(self, folder: Path, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "recsys_kit", *args], cwd=folder,
                                     env=_env(), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, errors="replace")
        self.lines: list[str] = []
        self.started = threading.Event()
        self.run_id = ""
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            words = line.split()
            if not self.started.is_set() and words and words[0] in ("run", "resuming"):
                self.run_id = words[1] if words[0] == "run" else words[3]
                self.started.set()
        self.started.set()

    def wait(self, timeout: float = h.TIMEOUT_S) -> int | None:
        """The exit code, or None when it did not end in time (then it is killed)."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = None
        self.reader.join(timeout=10)
        return code

    @property
    def err(self) -> str:
        """Everything it wrote to stderr so far."""
        return "".join(self.lines)


def _env() -> dict[str, str]:
    return {**os.environ, "COLUMNS": "400", "NO_COLOR": "1", "TERM": "dumb",
            "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def _recipe(folder: Path, seed: int) -> str:
    """A recipe file with a data seed of its own (so ingest runs), writing to runs/."""
    name = f"r{seed}.yaml"
    recipe = h.tiny_recipe(*SETTINGS, f"data.ingest.params.seed={seed}")
    (folder / name).write_text(yaml.safe_dump(recipe))
    return name


@cache
def _work_seconds() -> float:
    """How long a run takes from its first write to its exit on this machine (measured once)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="hostile-reference-") as tmp:
        run = Run(Path(tmp), "run", _recipe(Path(tmp), 10_000))
        run.started.wait(h.TIMEOUT_S)
        began = time.monotonic()
        if run.wait() != 0:
            raise SystemExit(f"the reference run failed:\n{run.err}")
        return time.monotonic() - began


def _rows(folder: Path) -> dict[str, tuple]:
    """run_id -> (status, error, pid, host, heartbeat_at) of every run."""
    with duckdb.connect(str(folder / h.RESULTS), read_only=True) as con:
        rows = con.execute("SELECT run_id, status, error, pid, host, heartbeat_at FROM runs"
                           ).fetchall()
    return {r[0]: r[1:] for r in rows}


def _shown(row: tuple) -> str:
    from recsys_kit.store.liveness import shown_status

    status, _, pid, host, beat = row
    return shown_status(status, pid, host, beat, datetime.now(UTC).replace(tzinfo=None))


def _clean(step: str, code: int | None, err: str, ok_codes: tuple[int, ...]) -> list[str]:
    """What is wrong with how one command ended."""
    if code is None:
        return [f"{step}: did not end within {h.TIMEOUT_S} s"]
    if "Traceback" in err or "unexpected error" in err:
        return [f"{step}: traceback or unexpected error"]
    if code not in ok_codes:
        return [f"{step}: exit {code}, expected one of {ok_codes}"]
    if code != 0 and "error:" not in err and "interrupted" not in err.lower():
        return [f"{step}: failed without an error message"]
    return []


def _resume_all(folder: Path, run_ids: list[str], problems: list[str]) -> None:
    """Resume every run that is not completed; each must end completed."""
    for run_id in run_ids:
        if _rows(folder)[run_id][0] == "completed":
            continue
        resume = Run(folder, "run", "--resume", run_id, "--results", h.RESULTS)
        code = resume.wait()
        problems += _clean(f"resume {run_id}", code, resume.err, (0,))
        status = _rows(folder)[run_id][0]
        if status != "completed":
            problems.append(f"resumed run {run_id} ended {status}")


def _new_runs(folder: Path, before: set[str]) -> list[str]:
    return sorted(set(_rows(folder)) - before)


def _scenario(attempt: h.Attempt, folder: Path, body: Callable[[list[str]], int | None]
              ) -> h.Outcome:
    started = time.monotonic()
    problems: list[str] = []
    code = body(problems)
    attempt.extra["problems"] = problems
    return h.Outcome(code, "", "; ".join(problems), time.monotonic() - started)


def _check(attempt: h.Attempt, outcome: h.Outcome, state: dict) -> tuple[str, str]:
    problems = attempt.extra.get("problems", [])
    if not problems:
        return "clear error", "handled cleanly"
    lost = [p for p in problems if "ended" in p or "not terminal" in p]
    crashed = [p for p in problems if "traceback" in p or "did not end" in p]
    verdict = "lost/corrupted" if lost else "crashed" if crashed else "unclear"
    return verdict, "; ".join(problems)[:200]


def _attempt(category: str, name: str, body: Callable[[Path, list[str]], int | None]
             ) -> h.Attempt:
    def run(attempt: h.Attempt, folder: Path) -> h.Outcome:
        return _scenario(attempt, folder, lambda problems: body(folder, problems))

    return h.Attempt(category, name, [], [], may_write=MAY_WRITE, run=run, check=_check)


# -- signals and kills -----------------------------------------------------------------------


def _signalled(signals: tuple[tuple[int, float], ...], fraction: float, seed: int
               ) -> Callable[[Path, list[str]], int | None]:
    """Send ``signals`` (signal, seconds after the previous one) at ``fraction`` of the run."""

    def body(folder: Path, problems: list[str]) -> int | None:
        before = set(_rows(folder))
        run = Run(folder, "run", _recipe(folder, seed))
        run.started.wait(h.TIMEOUT_S)
        time.sleep(_work_seconds() * fraction)
        for signum, delay in signals:
            time.sleep(delay)
            if run.proc.poll() is None:
                os.kill(run.proc.pid, signum)
        code = run.wait()
        first = signals[0][0]
        problems += _clean("signalled run", code, run.err, (0, 128 + first))
        new = _new_runs(folder, before)
        rows = _rows(folder)
        for run_id in new:
            status, error = rows[run_id][:2]
            if status not in TERMINAL:
                problems.append(f"run {run_id} not terminal after exit: {status}")
            elif status == "interrupted" and signal.Signals(first).name not in (error or ""):
                problems.append(f"interrupted run {run_id} does not name the signal: {error}")
        _resume_all(folder, new, problems)
        return code

    return body


def _killed(fraction: float, seed: int) -> Callable[[Path, list[str]], int | None]:
    """kill -9 at ``fraction`` of the run: readers show it lost, a resume completes it."""

    def body(folder: Path, problems: list[str]) -> int | None:
        before = set(_rows(folder))
        run = Run(folder, "run", _recipe(folder, seed))
        run.started.wait(h.TIMEOUT_S)
        time.sleep(_work_seconds() * fraction)
        run.proc.kill()
        code = run.wait()
        new = _new_runs(folder, before)
        rows = _rows(folder)
        for run_id in new:
            shown = _shown(rows[run_id])
            if shown not in TERMINAL | {"lost"}:
                problems.append(f"killed run {run_id} shown as {shown}: not terminal")
        _resume_all(folder, new, problems)
        return code

    return body


def signals_kills() -> list[h.Attempt]:
    """Ctrl-C once and twice, SIGTERM once and twice, kill -9, at moments across a run."""
    kinds = {
        "Ctrl-C": ((signal.SIGINT, 0.0),),
        "Ctrl-C twice 0.1 s apart": ((signal.SIGINT, 0.0), (signal.SIGINT, 0.1)),
        "SIGTERM": ((signal.SIGTERM, 0.0),),
        "SIGTERM twice 20 ms apart": ((signal.SIGTERM, 0.0), (signal.SIGTERM, 0.02)),
    }
    attempts = []
    seed = 0
    for label, signals in kinds.items():
        for fraction in FRACTIONS:
            seed += 1
            attempts.append(_attempt("signals/kills", f"{label} at {fraction:.0%} of the run",
                                     _signalled(signals, fraction, seed)))
    for fraction in FRACTIONS:
        seed += 1
        attempts.append(_attempt("signals/kills", f"kill -9 at {fraction:.0%} of the run",
                                 _killed(fraction, seed)))
    return attempts


# -- concurrency -----------------------------------------------------------------------------


def _runs_at_once(n: int, seed: int) -> Callable[[Path, list[str]], int | None]:
    """``n`` runs writing to the same results file at the same time: every one completes."""

    def body(folder: Path, problems: list[str]) -> int | None:
        before = set(_rows(folder))
        runs = [Run(folder, "run", _recipe(folder, seed + i)) for i in range(n)]
        codes = [run.wait() for run in runs]
        for i, (run, code) in enumerate(zip(runs, codes, strict=True)):
            problems += _clean(f"run {i + 1}", code, run.err, (0,))
        statuses = [_rows(folder)[r][0] for r in _new_runs(folder, before)]
        if any(s != "completed" for s in statuses):
            problems.append(f"runs ended {statuses}")
        return max((c for c in codes if c is not None), default=None)

    return body


def _reader_holds(seconds: float, seed: int) -> Callable[[Path, list[str]], int | None]:
    """A notebook holds a read-only connection for ``seconds`` while a run writes: the run
    completes, its delayed writes are merged the next time the file is written."""

    def body(folder: Path, problems: list[str]) -> int | None:
        before = set(_rows(folder))
        run = Run(folder, "run", _recipe(folder, seed))
        run.started.wait(h.TIMEOUT_S)
        time.sleep(_work_seconds() * 0.3)
        with duckdb.connect(str(folder / h.RESULTS), read_only=True) as con:
            con.execute("SELECT count(*) FROM runs").fetchall()
            time.sleep(seconds)
        code = run.wait()
        problems += _clean("run", code, run.err, (0,))
        # The next writer merges what waited: a second, short run.
        after = Run(folder, "run", _recipe(folder, seed + 1))
        problems += _clean("next run", after.wait(), after.err, (0,))
        with duckdb.connect(str(folder / h.RESULTS), read_only=True) as con:
            for run_id in _new_runs(folder, before):
                status, recs = con.execute(
                    "SELECT status, (SELECT count(*) FROM recommendations r WHERE "
                    "r.run_id = runs.run_id) FROM runs WHERE run_id = ?", [run_id]).fetchone()
                if status != "completed" or recs == 0:
                    problems.append(f"run {run_id} ended {status} with {recs} recommendations")
        if (folder / f"{h.RESULTS}.pending").exists() and any(
                (folder / f"{h.RESULTS}.pending").iterdir()):
            problems.append("pending writes were not merged by the next run")
        return code

    return body


def _query_while_running(seed: int) -> Callable[[Path, list[str]], int | None]:
    """`recsys-kit sql` several times while a run writes: each answers or says the file is
    busy, and the run completes."""

    def body(folder: Path, problems: list[str]) -> int | None:
        run = Run(folder, "run", _recipe(folder, seed))
        run.started.wait(h.TIMEOUT_S)
        while run.proc.poll() is None:
            done = subprocess.run([sys.executable, "-m", "recsys_kit", "sql",
                                   "SELECT status, count(*) FROM runs GROUP BY ALL",
                                   "--results", h.RESULTS], cwd=folder, env=_env(),
                                  capture_output=True, text=True, timeout=h.TIMEOUT_S)
            problems += _clean("sql", done.returncode, done.stderr, (0, 1))
        problems += _clean("run", run.wait(), run.err, (0,))
        return run.proc.returncode

    return body


def _two_resumes(seed: int) -> Callable[[Path, list[str]], int | None]:
    """An interrupted run resumed twice at the same moment: one resumes, the other refuses
    (or finds it done); the run ends completed, once."""

    def body(folder: Path, problems: list[str]) -> int | None:
        before = set(_rows(folder))
        run = Run(folder, "run", _recipe(folder, seed))
        run.started.wait(h.TIMEOUT_S)
        time.sleep(_work_seconds() * 0.4)
        os.kill(run.proc.pid, signal.SIGINT)
        run.wait()
        new = _new_runs(folder, before)
        parent = run.run_id or new[0]
        resumes = [Run(folder, "run", "--resume", parent, "--results", h.RESULTS)
                   for _ in range(2)]
        codes = [r.wait() for r in resumes]
        for i, (r, code) in enumerate(zip(resumes, codes, strict=True)):
            problems += _clean(f"resume {i + 1}", code, r.err, (0, 1))
        if 0 not in codes:
            problems.append(f"neither resume completed: exits {codes}")
        _resume_all(folder, new, problems)
        with duckdb.connect(str(folder / h.RESULTS), read_only=True) as con:
            dupes = con.execute("SELECT count(*) FROM (SELECT run_id, user_id, rank, count(*) "
                                "c FROM recommendations GROUP BY ALL HAVING c > 1)").fetchone()
        if dupes and dupes[0]:
            problems.append(f"{dupes[0]} recommendation rows written twice: not terminal")
        return max((c for c in codes if c is not None), default=None)

    return body


def concurrency() -> list[h.Attempt]:
    """Several runs on one file, a reader holding it, queries during a run, double resumes."""
    return [
        _attempt("concurrency", "two runs at once on one results file", _runs_at_once(2, 100)),
        _attempt("concurrency", "three runs at once on one results file",
                 _runs_at_once(3, 110)),
        _attempt("concurrency", "a notebook holds the file 15 s during a run",
                 _reader_holds(15, 120)),
        _attempt("concurrency", "a notebook holds the file 40 s during a run",
                 _reader_holds(40, 130)),
        _attempt("concurrency", "sql queries while a run writes", _query_while_running(140)),
        _attempt("concurrency", "two resumes of one run at once", _two_resumes(150)),
    ]


CATEGORIES = {"signals/kills": [signals_kills], "concurrency": [concurrency]}
