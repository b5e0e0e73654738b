"""Training with several processes (torchrun, DistributedDataParallel on Gloo): real torchrun
processes on the CPU give the same metrics as one process; a failing rank fails the run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from recsys_kit.errors import RecsysKitError
from recsys_kit.runner.distributed import NotWriting, Ranks, ranks_from_env, start
from recsys_kit.store import ResultStore
from recsys_kit.testing import tiny

WORKER = Path(__file__).parent / "distributed" / "failing_rank_worker.py"
RNG_WORKER = Path(__file__).parent / "distributed" / "rng_worker.py"
#: 2 ranks vs 1 process: each update is the same sum of the same per-token terms, summed in
#: another order, so the weights differ by float32 rounding (which Adam carries on): per-epoch
#: losses agree to this relative tolerance (measured: 3e-5 after 3 epochs) ...
LOSS_RTOL = 1e-4
#: ... and the validation and test metrics to one user's hit of the tiny recipe's 120 (they
#: were equal to 1e-12 here; rounding can swap two near-tied items at the K boundary, which on
#: ML-100K moved 1 of 943 users). A wrong gather (users and rankings mismatched) moves far more.
METRIC_ATOL = 1 / 120 + 1e-9
TIMEOUT_S = 240


def _env() -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return {k: v for k, v in env.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}


def _recipe(folder: Path, name: str) -> Path:
    # No dropout: each rank draws its own dropout masks, unlike one process.
    recipe = tiny(folder / name, "model.encoders.user.params.dropout=0",
                  "model.encoders.user.params.attn_dropout=0", "train.epochs=3",
                  "train.patience=3")
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def _metrics(out_dir: Path) -> dict[tuple[str, int | None, str, int | None], float]:
    _, rows = ResultStore.in_dir(out_dir).query(
        "SELECT split, epoch, metric, k, value FROM metrics WHERE metric NOT IN "
        "('epoch_seconds', 'sequences_per_s', 'eval_seconds')")
    return {(split, epoch, metric, k): value for split, epoch, metric, k, value in rows}


def _rows(out_dir: Path) -> list:
    return ResultStore.in_dir(out_dir).query(
        "SELECT * FROM metrics WHERE metric NOT IN "
        "('epoch_seconds', 'sequences_per_s', 'eval_seconds')")[1]


def test_ranks_come_from_torchrun_variables() -> None:
    assert ranks_from_env({}) == Ranks()
    ranks = ranks_from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    assert (ranks.rank, ranks.world_size, ranks.local_rank, ranks.launched) == (3, 4, 1, True)
    assert not ranks.is_main and not ranks.active  # no process group in this process


def test_more_ranks_than_gpus_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    second = Ranks(rank=1, world_size=2, local_rank=1, launched=True)
    with pytest.raises(RecsysKitError, match=r"has 1 CUDA device.*--nproc 1"):
        start(second, torch.device("cuda"))


def test_shares_of_a_batch_are_the_batch() -> None:
    batch = torch.randperm(37)
    shares = [Ranks(rank=r, world_size=3).share(batch) for r in range(3)]
    assert sorted(torch.cat(shares).tolist()) == sorted(batch.tolist())
    assert max(map(len, shares)) - min(map(len, shares)) <= 1


def test_other_ranks_cannot_read_the_results_store() -> None:
    store = NotWriting()
    assert store.log_metrics("run", "train", 1, {"loss": 1.0}) is None
    with pytest.raises(AttributeError, match="rank other than 0"):
        store.query("SELECT 1")


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(tmp_path: Path) -> None:
    one, two = _recipe(tmp_path, "one"), _recipe(tmp_path, "two")
    for recipe, nproc in ((one, []), (two, ["--nproc", "2"])):
        done = subprocess.run([sys.executable, "-m", "recsys_kit", "run", *nproc, str(recipe)],
                              env=_env(), capture_output=True, text=True, timeout=TIMEOUT_S)
        assert done.returncode == 0, done.stderr[-3000:]
    assert "rank 0 of 2 processes" in done.stderr
    assert "Warning" not in done.stderr, done.stderr[-3000:]  # e.g. a deprecated DDP option
    single, ranked = _metrics(tmp_path / "one"), _metrics(tmp_path / "two")
    assert single.keys() == ranked.keys() and len(single) == len(_rows(tmp_path / "one"))
    assert {k for k in single if k[0] == "train"}, "no training losses were logged"
    for key, value in single.items():
        if key[2] == "loss":
            assert ranked[key] == pytest.approx(value, rel=LOSS_RTOL), key
        else:
            assert ranked[key] == pytest.approx(value, abs=METRIC_ATOL), key
    _, runs = ResultStore.in_dir(tmp_path / "two").query("SELECT status, processes FROM runs")
    assert runs == [("completed", 2)]  # one row: rank 0's
    _, runs = ResultStore.in_dir(tmp_path / "one").query("SELECT processes FROM runs")
    assert runs == [(1,)]


@pytest.mark.slow
def test_a_failing_rank_fails_the_run(tmp_path: Path) -> None:
    recipe = _recipe(tmp_path, "fail")
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
         str(WORKER), "run", str(recipe)],
        env=_env(), capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode != 0
    _, runs = ResultStore.in_dir(tmp_path / "fail").query("SELECT status, error FROM runs")
    assert len(runs) == 1
    status, error = runs[0]
    assert status == "failed"
    assert "rank 1 of 2 failed" in error and "deliberate failure of rank 1" in error


@pytest.mark.slow
def test_each_rank_draws_its_own_random_numbers(tmp_path: Path) -> None:
    """Dropout masks, BERT4Rec masks and sampled negatives come from the global stream: with
    one seed on every rank they repeated rank 0's draws."""
    recipe = _recipe(tmp_path, "rng")
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
         str(RNG_WORKER), "run", "--set", "train.epochs=1", str(recipe)],
        env=_env(), capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-3000:]
    [zero] = (tmp_path / "rng").glob("artifacts/*/rank-0.json")
    one = zero.with_name("rank-1.json")
    assert json.loads(zero.read_text()) != json.loads(one.read_text())


@pytest.mark.slow
def test_ctrl_c_interrupts_every_rank(tmp_path: Path) -> None:
    recipe = _recipe(tmp_path, "stop")
    text = recipe.read_text().replace("epochs: 3", "epochs: 500").replace("patience: 3",
                                                                         "patience: 500")
    recipe.write_text(text)
    proc = subprocess.Popen(
        [sys.executable, "-m", "recsys_kit", "run", "--nproc", "2", str(recipe)], env=_env(),
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, start_new_session=True)
    assert proc.stderr is not None
    try:
        for line in proc.stderr:  # Ctrl-C reaches the terminal's whole process group
            if line.startswith("epoch   2"):
                os.killpg(proc.pid, signal.SIGINT)
                break
        proc.stderr.read()
        assert proc.wait(timeout=TIMEOUT_S) != 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    _, runs = ResultStore.in_dir(tmp_path / "stop").query("SELECT status, error FROM runs")
    assert [status for status, _ in runs] == ["interrupted"]
    assert "resume it with" in runs[0][1]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (NCCL)")
def test_one_rank_per_gpu_with_nccl(tmp_path: Path) -> None:
    recipe = _recipe(tmp_path, "nccl")
    recipe.write_text(recipe.read_text().replace("device: cpu", "device: cuda"))
    nproc = torch.cuda.device_count()
    done = subprocess.run([sys.executable, "-m", "recsys_kit", "run", "--nproc", str(nproc),
                           str(recipe)], env=_env(), capture_output=True, text=True,
                          timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"on cuda:0 (rank 0 of {nproc} processes)" in done.stderr
    _, runs = ResultStore.in_dir(tmp_path / "nccl").query("SELECT status, device FROM runs")
    assert runs == [("completed", "cuda:0")]


def test_nproc_checks_the_recipe_before_starting_ranks(tmp_path: Path) -> None:
    recipe = _recipe(tmp_path, "bad")
    done = subprocess.run([sys.executable, "-m", "recsys_kit", "run", "--nproc", "2",
                           str(recipe), "--set", "train.epochz=3"],
                          env=_env(), capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 2  # as in one process
    assert done.stderr.count("unknown key 'epochz'") == 1 and "Traceback" not in done.stderr


def test_the_launcher_reports_rank_zeros_status_as_a_shell_would() -> None:
    from recsys_kit.runner.launch import failure_status

    assert failure_status({0: 130, 1: 130}) == 130  # Ctrl-C
    assert failure_status({1: 1}) == 1  # another rank failed; rank 0 was stopped for it
    assert failure_status({1: -9}) == 137  # killed (kill -9, out of memory)
    # Rank 0 stopped for the killed rank: the kill is the cause, however rank 0 learnt of it.
    assert failure_status({0: 130, 1: -9}) == failure_status({0: 143, 1: -9}) == 137
    assert failure_status({0: 1, 1: -9}) == 1  # rank 0's own failure comes first
    assert failure_status({0: 143, 1: -15, 2: -9}) == 137  # rank 1 died of the stop itself


def test_a_lost_peer_is_told_apart_from_a_bug() -> None:
    from recsys_kit.runner.distributed import RankVanished, lost_peer

    gloo = RuntimeError("[gloo/transport/tcp/pair.cc:537] Read error: Connection reset by peer")
    assert lost_peer(gloo) and lost_peer(torch.distributed.DistBackendError("NCCL aborted"))
    assert not lost_peer(RuntimeError("shape mismatch")) and not lost_peer(None)
    assert "Connection reset by peer" in RankVanished(gloo).describe()


def _rank_one_of(launcher: int) -> int | None:
    """The pid of rank 1 among the launcher's children (torchrun sets RANK in its env)."""
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            variables = environ.read_bytes().split(b"\0")
            parent = int((environ.parent / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if b"RANK=1" in variables and parent == launcher:
            return int(environ.parent.name)
    return None


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds ranks through /proc")
def test_a_rank_killed_without_a_word_stops_the_run_resumably(tmp_path: Path) -> None:
    recipe = _recipe(tmp_path, "kill")
    recipe.write_text(recipe.read_text().replace("epochs: 3", "epochs: 500")
                      .replace("patience: 3", "patience: 500"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "recsys_kit", "run", "--nproc", "2", str(recipe)], env=_env(),
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, start_new_session=True)
    assert proc.stderr is not None
    try:
        for line in proc.stderr:
            if line.startswith("epoch   2"):
                rank_one = _rank_one_of(proc.pid)
                assert rank_one is not None
                os.kill(rank_one, signal.SIGKILL)  # as the kernel's out-of-memory killer would
                break
        stderr = proc.stderr.read()
        assert proc.wait(timeout=TIMEOUT_S) == 128 + signal.SIGKILL
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert "rank 1 of 2 was killed by SIGKILL" in stderr and "Traceback" not in stderr
    _, runs = ResultStore.in_dir(tmp_path / "kill").query("SELECT status, error FROM runs")
    assert [status for status, _ in runs] == ["interrupted"]
    assert "another rank ended without a word" in runs[0][1] and "--resume" in runs[0][1]


def test_more_cpu_ranks_than_cores_get_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    from recsys_kit.runner import launch

    monkeypatch.setattr(launch.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert "--nproc 3 starts 3 training processes on 2 CPU cores" in launch.oversubscribed(
        3, "cpu")
    assert launch.oversubscribed(2, "cpu") is None
    assert launch.oversubscribed(3, "cuda") is None  # ranks count GPUs, not cores


def test_signals_are_named_for_the_killed_rank_line() -> None:
    from recsys_kit.runner.launch import signal_name

    assert signal_name(9) == "SIGKILL" and signal_name(999) == "signal 999"
