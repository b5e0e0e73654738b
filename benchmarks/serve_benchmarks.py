"""Serving figures for a trained run, printed (never asserted): load time, recommendation
latency for one user and for batches of 1,000, and HTTP throughput and latency under 1, 8 and
32 concurrent clients.

Train a run first (ML-1M SASRec on CPU with a short budget), then measure it:

    recsys-kit run recipes/ml-1m-sasrec.yaml --set train.max_minutes=3 --set device=cpu \\
        --set output.dir=/tmp/serve-bench/runs
    python benchmarks/serve_benchmarks.py --results /tmp/serve-bench/runs/results.duckdb

Load time is measured in a fresh process from before ``import recsys_kit`` (torch included)
to a loaded run, so only the interpreter's own start is left out; and again in a warm process.
The HTTP benchmark starts ``recsys-kit serve`` in a subprocess. With two or more cores the
server is pinned to core 0 and this load generator to core 1 (``sched_setaffinity``), so
that generating load cannot starve the server; ``--no-pin`` shares the cores instead.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time

import numpy as np

LOAD_PROBE = """
import sys, time
started = time.perf_counter()
import recsys_kit
run = recsys_kit.load_run(sys.argv[1], results=sys.argv[2], device="cpu")
print(time.perf_counter() - started)
"""


def percentiles(values: list[float]) -> tuple[float, float]:
    """p50 and p99 of ``values``."""
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def load_times(run: str, results: str, repeats: int) -> tuple[list[float], list[float]]:
    """Seconds to load the run: in fresh processes (imports included), and in this one."""
    cold = []
    for _ in range(repeats):
        done = subprocess.run([sys.executable, "-c", LOAD_PROBE, run, results],
                              capture_output=True, text=True, check=True)
        cold.append(float(done.stdout.strip().splitlines()[-1]))
    import recsys_kit

    warm = []
    for _ in range(repeats):
        started = time.perf_counter()
        recsys_kit.load_run(run, results=results, device="cpu")
        warm.append(time.perf_counter() - started)
    return cold, warm


def recommend_times(run: str, results: str, single: int, batches: int, seed: int,
                    threads: int) -> dict[str, list[float]]:
    """Seconds per ``recommend`` of one user, and per ``recommend_many`` of 1,000 users, with
    ``threads`` torch threads."""
    import torch

    import recsys_kit

    torch.set_num_threads(threads)
    loaded = recsys_kit.load_run(run, results=results, device="cpu")
    rng = np.random.default_rng(seed)
    users = loaded.user_ids.tolist()
    for user in rng.choice(users, 20):  # warm-up
        loaded.recommend(user=str(user), k=10)
    one = []
    for user in rng.choice(users, single):
        started = time.perf_counter()
        loaded.recommend(user=str(user), k=10)
        one.append(time.perf_counter() - started)
    many = []
    for _ in range(batches):
        chosen = [str(u) for u in rng.choice(users, min(1000, len(users)), replace=False)]
        started = time.perf_counter()
        loaded.recommend_many(chosen, k=10)
        many.append(time.perf_counter() - started)
    return {"one user": one, "1,000 users": many, "users": users}


def free_port() -> int:
    """A port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(run: str, results: str, port: int, pin: bool) -> subprocess.Popen:
    """``recsys-kit serve`` in a subprocess (on core 0 when pinned), once it answers."""
    import httpx

    env = {**os.environ, "OMP_NUM_THREADS": "1"} if pin else dict(os.environ)
    server = subprocess.Popen(
        [sys.executable, "-m", "recsys_kit", "serve", run, "--results", results, "--port",
         str(port), "--device", "cpu", "--threads", "1"], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
        preexec_fn=(lambda: os.sched_setaffinity(0, {0})) if pin else None)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited: {server.communicate()[1]}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).raise_for_status()
            return server
        except httpx.HTTPError:
            time.sleep(0.3)
    server.kill()
    raise SystemExit("the server did not start within 180 s")


async def load_level(url: str, users: list[str], clients: int, seconds: float,
                     seed: int) -> tuple[int, list[float], int]:
    """``clients`` concurrent clients posting /recommend for ``seconds``: requests done,
    their latencies, and failures."""
    import httpx

    rng = np.random.default_rng(seed)
    latencies: list[float] = []
    failures = 0
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal failures
        while time.perf_counter() < stop:
            body = {"user_id": str(rng.choice(users)), "k": 10}
            started = time.perf_counter()
            reply = await http.post(f"{url}/recommend", json=body)
            latencies.append(time.perf_counter() - started)
            failures += reply.status_code != 200

    async with httpx.AsyncClient(limits=limits, timeout=60) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    return len(latencies), latencies, failures


def serve_figures(run: str, results: str, users: list[str], levels: list[int],
                  seconds: float, pin: bool) -> list[tuple[int, float, float, float, int]]:
    """Per concurrency level: requests/s, p50 and p99 latency (ms), failures."""
    port = free_port()
    server = start_server(run, results, port, pin)
    if pin:
        os.sched_setaffinity(0, {1})
    rows = []
    try:
        url = f"http://127.0.0.1:{port}"
        asyncio.run(load_level(url, users, 4, 2.0, 0))  # warm-up
        for clients in levels:
            n, latencies, failures = asyncio.run(load_level(url, users, clients, seconds,
                                                            clients))
            p50, p99 = percentiles(latencies)
            rows.append((clients, n / seconds, p50 * 1e3, p99 * 1e3, failures))
    finally:
        server.terminate()
        server.wait(timeout=60)
    return rows


def main() -> None:
    """Parse arguments, measure, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="runs/results.duckdb")
    parser.add_argument("--run", default="latest", help="run id or `latest`")
    parser.add_argument("--repeats", type=int, default=5, help="load-time repetitions")
    parser.add_argument("--single", type=int, default=500, help="one-user requests timed")
    parser.add_argument("--batches", type=int, default=10, help="1,000-user batches timed")
    parser.add_argument("--seconds", type=float, default=10.0, help="per concurrency level")
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and client")
    args = parser.parse_args()
    pin = not args.no_pin and hasattr(os, "sched_setaffinity") and len(
        os.sched_getaffinity(0)) >= 2

    cold, warm = load_times(args.run, args.results, args.repeats)
    print("load (s)                         median    max")
    print(f"  fresh process, imports included  {statistics.median(cold):6.2f} {max(cold):6.2f}")
    print(f"  warm process                     {statistics.median(warm):6.2f} {max(warm):6.2f}")

    print("\nrecommend, k=10, CPU   threads      n      p50          p99")
    for threads in sorted({1, len(os.sched_getaffinity(0))}):
        times = recommend_times(args.run, args.results, args.single, args.batches, seed=0,
                                threads=threads)
        for name in ("one user", "1,000 users"):
            p50, p99 = percentiles(times[name])
            print(f"  {name:<12} {threads:>7} {len(times[name]):>6} {p50 * 1e3:8.1f} ms "
                  f"{p99 * 1e3:8.1f} ms")

    levels = [int(c) for c in args.clients.split(",")]
    rows = serve_figures(args.run, args.results, times["users"], levels, args.seconds, pin)
    how = "server on core 0, load generator on core 1" if pin else "cores shared"
    print(f"\nPOST /recommend, k=10 ({how}, {args.seconds:.0f} s per level)")
    print("  clients   requests/s   p50 (ms)   p99 (ms)   failures")
    for clients, rate, p50, p99, failures in rows:
        print(f"  {clients:>7} {rate:12.1f} {p50:10.1f} {p99:10.1f} {failures:10d}")


if __name__ == "__main__":
    main()
