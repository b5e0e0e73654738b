"""Every run ends in a terminal state: diverged runs fail, stopped runs resume to the same
result, vanished runs are lost, a reader holding the file costs no results."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
import yaml
from rich.console import Console

from recsys_kit import hookimpl
from recsys_kit.errors import RecipeError, RecsysKitError
from recsys_kit.interrupts import StopRequested
from recsys_kit.plugins import make_plugins
from recsys_kit.recipe.loader import validate_mapping
from recsys_kit.runner.data_stages import prepare_data
from recsys_kit.runner.pipeline import Runner
from recsys_kit.store import ResultStore
from recsys_kit.testing import tiny

LONGER = ("train.epochs=6", "train.patience=10", "train.precision=fp32")


class StopAt:
    """A plugin that sends the run a stop request after epoch ``epoch``."""

    def __init__(self, epoch: int, signal_name: str = "SIGTERM") -> None:
        self.epoch, self.signal_name = epoch, signal_name

    @hookimpl
    def after_epoch(self, run, epoch: int, metrics: dict) -> None:
        if epoch == self.epoch:
            raise StopRequested(self.signal_name)


def run_in_process(recipe: dict, *extra: object):
    plugins = make_plugins(extra=extra)
    loaded = validate_mapping(recipe, plugins.registry)
    return Runner(plugins, Console(quiet=True)).run(loaded), plugins


def rows(store: ResultStore, sql: str, *params: object) -> list[tuple]:
    return store.query(sql, list(params))[1]


def test_a_diverged_run_fails_naming_the_epoch_and_stores_nothing_that_looks_valid(
        tmp_path: Path) -> None:
    recipe = tiny(tmp_path / "runs", "train.lr=1000000.0", "train.grad_clip=null")
    [outcome], _ = run_in_process(recipe)
    assert outcome.status == "failed"
    assert "diverged" in str(outcome.error) and "epoch 1" in str(outcome.error)
    assert "train.lr" in str(outcome.error)
    store = ResultStore.in_dir(tmp_path / "runs")
    assert rows(store, "SELECT status FROM runs") == [("failed",)]
    assert rows(store, "SELECT count(*) FROM metrics WHERE split = 'test'") == [(0,)]
    assert rows(store, "SELECT count(*) FROM recommendations") == [(0,)]


def test_infinite_and_nan_settings_are_refused_by_validation(tmp_path: Path) -> None:
    plugins = make_plugins()
    for value in (float("inf"), float("nan")):
        with pytest.raises(RecipeError, match="finite"):
            validate_mapping(tiny(tmp_path, f"train.lr={value}"), plugins.registry)


def test_nan_scores_never_reach_metrics_or_top_k(tmp_path: Path) -> None:
    recipe = tiny(tmp_path / "runs", "train.epochs=1")
    plugins = make_plugins()
    loaded = validate_mapping(recipe, plugins.registry)

    import torch

    from recsys_kit.nn.heads.dot import Dot

    original = Dot.logits

    def nan_logits(self, states, table):
        out = original(self, states, table)
        return out.masked_fill(torch.ones_like(out, dtype=torch.bool), float("nan"))

    Dot.logits = nan_logits
    try:
        [outcome] = Runner(plugins, Console(quiet=True)).run(loaded)
    finally:
        Dot.logits = original
    assert outcome.status == "failed"
    assert "NaN" in str(outcome.error) and "After epoch 1" in str(outcome.error)
    store = ResultStore.in_dir(tmp_path / "runs")
    assert rows(store, "SELECT count(*) FROM metrics WHERE split <> 'train'") == [(0,)]
    assert rows(store, "SELECT count(*) FROM recommendations") == [(0,)]


def test_a_stopped_run_resumes_to_the_metrics_of_an_uninterrupted_one(tmp_path: Path) -> None:
    [whole], _ = run_in_process(tiny(tmp_path / "a", *LONGER))
    [stopped], plugins = run_in_process(tiny(tmp_path / "b", *LONGER), StopAt(3))
    assert stopped.status == "interrupted"
    store = ResultStore.in_dir(tmp_path / "b")
    [(status, best, error)] = rows(store, "SELECT status, best_epoch, error FROM runs")
    assert status == "interrupted" and best is not None and "SIGTERM" in error
    assert {name for (name,) in rows(store, "SELECT name FROM artifacts")} >= {"best", "last"}

    [resumed] = Runner(plugins, Console(quiet=True)).resume(stopped.run_id, store.path)
    assert resumed.status == "completed" and resumed.run_id == stopped.run_id
    assert resumed.metrics == whole.metrics
    assert rows(store, "SELECT status, attempts FROM runs") == [("completed", 2)]
    epochs = rows(store, "SELECT DISTINCT epoch FROM metrics WHERE split = 'valid' ORDER BY 1")
    assert [e for (e,) in epochs] == list(range(1, 7))
    assert not (tmp_path / "b" / "artifacts" / stopped.run_id / "last.safetensors").exists()


def test_a_resume_refused_for_changed_data_leaves_the_run_resumable(tmp_path: Path) -> None:
    events = tmp_path / "events.csv"
    original = "user_id,item_id,ts\n" + "".join(
        f"u{u},i{(u * 7 + n) % 40},{n}\n" for u in range(60) for n in range(8))
    events.write_text(original)
    recipe = tiny(tmp_path / "b", *LONGER, "data.ingest={plugin: files, params: "
                  f"{{interactions: {{path: '{events}'}}}}}}")
    [stopped], plugins = run_in_process(recipe, StopAt(2))
    store = ResultStore.in_dir(tmp_path / "b")
    runner = Runner(plugins, Console(quiet=True))
    events.write_text(original + "u0,i1,99\n")
    [refused] = runner.resume(stopped.run_id, store.path)
    assert refused.status == "failed" and "the run stays resumable" in str(refused.error)
    # It was stored as failed, and a failed run never resumes.
    assert rows(store, "SELECT status, best_epoch FROM runs") == [("interrupted", 2)]
    events.write_text(original)
    # A run that recorded its data under the previous cache format resumes too.
    loaded = validate_mapping(recipe, plugins.registry)
    prepared = prepare_data(loaded, tmp_path / "b" / "cache", Console(quiet=True),
                            lambda family, name: lambda: None)
    with duckdb.connect(str(store.path)) as con:
        con.execute("UPDATE runs SET data_key = ?", [prepared.earlier_keys[0]])
    [resumed] = runner.resume(stopped.run_id, store.path)
    assert resumed.status == "completed", resumed.error


def test_only_interrupted_or_lost_runs_resume(tmp_path: Path) -> None:
    [done], plugins = run_in_process(tiny(tmp_path / "runs"))
    runner = Runner(plugins, Console(quiet=True))
    results = tmp_path / "runs" / "results.duckdb"
    with pytest.raises(RecsysKitError, match="it has completed"):
        runner.resume(done.run_id, results)
    with pytest.raises(RecsysKitError, match="no run 'nope'"):
        runner.resume("nope", results)


def _write_recipe(tmp_path: Path, *overrides: str) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(tiny(tmp_path / "runs", *overrides)))
    return path


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "recsys_kit", *args]


def _wait_for_epoch(store: ResultStore, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if store.path.exists() and rows(store, "SELECT count(*) FROM metrics")[0][0]:
                return
        except RecsysKitError:
            pass
        time.sleep(0.1)
    raise AssertionError("the run never finished an epoch")


@pytest.mark.parametrize(("sig", "gap"), [(signal.SIGINT, 0.1), (signal.SIGTERM, 0.02)])
def test_repeated_signals_leave_an_interrupted_run_with_its_checkpoint(
        tmp_path: Path, sig: signal.Signals, gap: float) -> None:
    recipe = _write_recipe(tmp_path, "train.epochs=200", "train.patience=200")
    proc = subprocess.Popen(_cli("run", str(recipe)), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    store = ResultStore.in_dir(tmp_path / "runs")
    _wait_for_epoch(store)
    proc.send_signal(sig)
    time.sleep(gap)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, stderr
    assert "Traceback" not in stderr
    [(run_id, status, best, error)] = rows(store, "SELECT run_id, status, best_epoch, error "
                                                  "FROM runs")
    # stderr (not only the outcome table on stdout) says what happened and how to go on.
    # The run wrote elsewhere than runs/: the hint names its results file.
    assert (f"resume it with `recsys-kit run --resume {run_id} --results"
            in " ".join(stderr.split()))
    assert status == "interrupted" and best is not None
    assert signal.Signals(sig).name in error
    assert {n for (n,) in rows(store, "SELECT name FROM artifacts")} >= {"best", "last"}


def test_a_killed_run_is_marked_lost_on_the_next_open_and_resumes(tmp_path: Path) -> None:
    recipe = _write_recipe(tmp_path, "train.epochs=40", "train.patience=40")
    proc = subprocess.Popen(_cli("run", str(recipe)), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    store = ResultStore.in_dir(tmp_path / "runs")
    _wait_for_epoch(store)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    [(run_id, status)] = rows(store, "SELECT run_id, status FROM runs")
    assert status == "running"  # nobody has opened the file for writing since
    assert store.mark_lost() == [run_id]
    [(status, error)] = rows(store, "SELECT status, error FROM runs")
    assert status == "lost" and f"--resume {run_id}" in error
    done = subprocess.run(_cli("run", "--resume", run_id, "--results", str(store.path),
                               "--set", "train.epochs=3"), capture_output=True, text=True)
    assert done.returncode != 0 and "--set cannot change a resumed run" in done.stderr
    done = subprocess.run(_cli("run", "--resume", run_id, "--results", str(store.path)),
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert rows(store, "SELECT status, attempts FROM runs") == [("completed", 2)]


def test_a_reader_that_goes_away_does_not_fail_the_run(tmp_path: Path) -> None:
    """`recsys-kit run R 2>&1 | head -1`: the run trains on, records its results and exits 0."""
    recipe = _write_recipe(tmp_path, "train.epochs=3", "train.patience=3")
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(_cli("run", str(recipe)), stdout=write_end, stderr=write_end)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        assert reader.readline().startswith(b"run ")
    assert proc.wait(timeout=120) == 0
    store = ResultStore.in_dir(tmp_path / "runs")
    statuses = rows(store, "SELECT status FROM runs")
    assert statuses and all(status == "completed" for (status,) in statuses)
    assert rows(store, "SELECT count(*) FROM metrics WHERE split = 'test'")[0][0] > 0


class HoldTheFile:
    """A plugin that, as epoch 1 starts, has another process open the results file read-only
    (as a notebook would) and keep it for ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.holder: subprocess.Popen | None = None

    @hookimpl
    def before_epoch(self, run, epoch: int) -> None:
        if epoch != 1:
            return
        self.holder = subprocess.Popen(
            [sys.executable, "-c", "import duckdb, sys, time; con = duckdb.connect(sys.argv[1], "
             "read_only=True); print('holding', flush=True); time.sleep(float(sys.argv[2]))",
             str(run.out_dir / "results.duckdb"), str(self.seconds)],
            stdout=subprocess.PIPE, text=True)
        assert self.holder.stdout.readline().strip() == "holding"


def test_a_reader_holding_the_file_costs_the_run_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import recsys_kit.store.results as results

    monkeypatch.setattr(results, "WRITE_WAIT_S", 0.2)
    hold = HoldTheFile(seconds=6)
    plugins = make_plugins(extra=[hold])
    # No explanations: the run must end while the file is still held.
    loaded = validate_mapping(tiny(tmp_path / "runs", "output.explain=none"), plugins.registry)
    console = Console(record=True, width=300)
    [outcome] = Runner(plugins, console).run(loaded)
    assert hold.holder is not None
    hold.holder.wait()
    assert outcome.status == "completed"
    assert "results.duckdb.pending" in console.export_text()
    store = ResultStore.in_dir(tmp_path / "runs")
    assert store.journal.entries()
    store.migrate()  # the next open merges them
    assert not store.journal.entries()
    assert rows(store, "SELECT status FROM runs") == [("completed",)]
    assert rows(store, "SELECT count(*) > 0 FROM recommendations") == [(True,)]
    assert rows(store, "SELECT count(*) FROM metrics WHERE split = 'test'") == [(10,)]
    assert rows(store, "SELECT count(DISTINCT epoch) FROM metrics WHERE split = 'valid'") == [(2,)]


def test_a_damaged_results_file_gets_an_honest_hint(tmp_path: Path) -> None:
    path = tmp_path / "results.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE t AS SELECT range AS i FROM range(100000)")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(RecsysKitError) as info:
        ResultStore(path).migrate()
    message = str(info.value)
    assert "damaged" in message and "mv" in message
    assert "disk space" not in message.lower() and "another program" not in message


def test_training_gradients_are_identical_run_after_run() -> None:
    """Same seed, same machine, same settings: same gradients, bit for bit (the item-table
    lookup's backward once summed in a thread-dependent order)."""
    import hashlib

    import torch

    from recsys_kit.builtin.encoders import IdEmbeddingConfig, TransformerConfig
    from recsys_kit.builtin.scorers import DotConfig
    from recsys_kit.nn.encoders.embeddings import IdEmbedding
    from recsys_kit.nn.encoders.sasrec import build_sasrec
    from recsys_kit.nn.fusion.last_position import LastPosition
    from recsys_kit.nn.heads.dot import Dot
    from recsys_kit.nn.model import ModelShape, SequenceRecommender

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        torch.manual_seed(0)
        shape = ModelShape(n_items=500, dim=64, max_len=50, item_counts=None)
        model = SequenceRecommender(
            [IdEmbedding(IdEmbeddingConfig(), shape)],
            build_sasrec(TransformerConfig(dim=64, max_len=50, heads=2), shape),
            LastPosition(), Dot(DotConfig(), shape))
        history = torch.randint(1, 501, (128, 50))
        targets = torch.randint(1, 501, (128, 50))
        digests = set()
        for _ in range(4):
            model.zero_grad()
            torch.manual_seed(1)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = model.loss(history, targets)
            loss.backward()
            grad = model.items[0].embedding.weight.grad
            digests.add(hashlib.sha256(grad.numpy().tobytes()).hexdigest())
        assert len(digests) == 1
    finally:
        torch.set_num_threads(threads)


def test_a_cli_command_ignores_stop_signals_once_its_work_is_recorded() -> None:
    """A signal after the run has finished (while the CLI prints and exits) must not kill a
    process whose results are written; a library caller gets its own handlers back."""
    from recsys_kit.interrupts import handling_stops

    before = signal.getsignal(signal.SIGTERM)
    try:
        with handling_stops():
            pass
        assert signal.getsignal(signal.SIGTERM) == before
        with handling_stops(exiting_after=True):
            pass
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, before)
        signal.signal(signal.SIGINT, signal.default_int_handler)
