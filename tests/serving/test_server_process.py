"""`recsys-kit serve` as a user starts it: a real uvicorn server in a subprocess, called over
HTTP on 127.0.0.1, stopped with SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.serving.conftest import Trained

pytest.importorskip("uvicorn", reason="the `serve` extra is not installed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(url: str, body: object | None = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data,
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def wait_until_up(url: str, server: subprocess.Popen, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"the server exited: {server.communicate()}")
        try:
            return call(f"{url}/health")[1]
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise AssertionError("the server did not answer in time")


def test_the_real_server_recommends_and_takes_feedback_over_http(sasrec_run: Trained) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "recsys_kit", "serve", sasrec_run.run_id, "--results",
         str(sasrec_run.results), "--port", str(port), "--device", "cpu"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "COLUMNS": "250", "NO_COLOR": "1"})
    try:
        assert wait_until_up(url, server)["run_id"] == sasrec_run.run_id
        status, body = call(f"{url}/recommend", {"user_id": "1", "k": 4})
        assert status == 200 and [r["rank"] for r in body["items"]] == [1, 2, 3, 4]
        status, body = call(f"{url}/recommend", {"user_id": "nobody"})
        assert status == 404 and "nobody" in body["detail"]
        status, body = call(f"{url}/feedback", {"user_id": "1", "item_id": "5",
                                                "kind": "purchase", "event_id": "over-http"})
        assert status == 201 and body["durable"] == "committed"
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=60)
    # uvicorn shuts down gracefully, then ends by the signal it caught (as a shell expects).
    assert server.returncode in (0, -signal.SIGTERM), err
    assert f"serving run {sasrec_run.run_id}" in " ".join(err.split())
    assert "Traceback" not in err
    _, rows = sasrec_run.store.query("SELECT source FROM feedback WHERE event_id = 'over-http'")
    assert rows == [("http",)]


def test_a_taken_port_is_a_clear_error(sasrec_run: Trained) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "recsys_kit", "serve", sasrec_run.run_id, "--results",
             str(sasrec_run.results), "--port", str(port)],
            capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "250"})
    assert done.returncode == 1
    assert f"Cannot listen on 127.0.0.1:{port}" in done.stderr and "Traceback" not in done.stderr


def test_the_listening_socket_sends_replies_without_delay() -> None:
    """Without TCP_NODELAY a keep-alive client waited ~40 ms per reply (Nagle's algorithm
    against delayed ACKs); connections inherit the option from the listening socket."""
    from recsys_kit.serving.server import _bind

    sock = _bind("127.0.0.1", 0)
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        sock.close()
