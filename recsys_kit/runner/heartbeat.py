"""A running run's heartbeat: a background thread that records, every few seconds, that the
run's process is alive, so that a vanished one can be told apart (``lost``)."""

from __future__ import annotations

import contextlib
import threading
from types import TracebackType

from recsys_kit.errors import StoreError
from recsys_kit.store import ResultStore
from recsys_kit.store.liveness import HEARTBEAT_S


class Heartbeat:
    """Context manager: heartbeats of ``run_id`` every ``every_s`` seconds while inside."""

    def __init__(self, store: ResultStore, run_id: str, every_s: float = HEARTBEAT_S) -> None:
        self.store, self.run_id, self.every_s = store, run_id, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="recsys-kit-heartbeat",
                                        daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self.every_s):
            # The file is busy: the next beat will do (pid and host tell meanwhile).
            with contextlib.suppress(StoreError):
                self.store.heartbeat(self.run_id)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
