"""``recsys-kit serve``: load a run and answer HTTP on a host and port (uvicorn)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from recsys_kit.errors import RecsysKitError
from recsys_kit.store import ResultStore

if TYPE_CHECKING:
    from recsys_kit.serving.recommender import LoadedRun

#: How long a feedback write waits for another program's lock before it is journaled.
FEEDBACK_WAIT_S = 0.25


def serve_run(run: str, results: Path | None, host: str, port: int, device: str,
              console: Console, threads: int = 1) -> None:
    """Serve ``run`` until Ctrl-C or SIGTERM; feedback goes to the run's results file.

    ``threads`` is torch's intra-op threads per request: one request is far too small to
    share among cores (on CPU, more threads only add waiting), so concurrent requests run in
    parallel instead, one thread each.
    """
    try:
        import uvicorn

        from recsys_kit.serving.http import create_app
    except ImportError as exc:
        raise RecsysKitError(f"Serving needs the `serve` extra ({exc.name} is missing): "
                             "pip install 'recsys-kit[serve]'.") from exc
    import torch

    from recsys_kit.serving.loading import load_run

    torch.set_num_threads(threads)
    sock = _bind(host, port)  # first: a taken port fails before the model loads
    try:
        loaded = load_run(run, results, device=device, console=console)
        store = _feedback_store(loaded, console)
        where = f"http://{host}:{sock.getsockname()[1]}"
        console.print(f"serving run {loaded.run_id} ({escape(loaded.name)}) at {where}  —  API "
                      f"docs {where}/docs; feedback "
                      f"{'to ' + escape(str(store.path)) if store else 'off'}; loaded in "
                      f"{loaded.load_seconds:.2f} s; Ctrl-C stops", highlight=False)
        config = uvicorn.Config(create_app(loaded, store), log_level="warning", access_log=False)
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()


def _feedback_store(loaded: LoadedRun, console: Console) -> ResultStore | None:
    """The run's results file, brought to the current schema, for feedback; None without."""
    if loaded.files.results is None:
        return None
    store = ResultStore(loaded.files.results, write_wait_s=FEEDBACK_WAIT_S,
                        on_delay=lambda m: console.print(f"[yellow]warning:[/] {escape(m)}",
                                                         highlight=False))
    store.migrate()
    return store


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket, bound before the server starts so that a taken port is a clear
    error (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Connections inherit it: a reply's head and body go out at once, never held back ~40 ms
    # by Nagle's algorithm waiting for the client's delayed ACK (uvicorn's own binding sets
    # it per connection; a socket handed to it does not get it).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise RecsysKitError(f"Cannot listen on {host}:{port}: {exc.strerror}. Choose another "
                             "--port (or --host), or stop the program that uses it.") from exc
    sock.listen(2048)
    return sock
