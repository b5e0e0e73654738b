"""Ctrl-C and SIGTERM during a run: a request to stop, honoured at a safe point.

While :func:`handling_stops` is active, the first SIGINT or SIGTERM raises
:class:`StopRequested` in the main thread, unless the main thread is inside
:func:`shielded` (a write to the results file, the final bookkeeping of a run): then the signal
is only recorded, and raised when the shield ends. Later signals are recorded and never raised
again, so a second Ctrl-C cannot cut the clean-up of the first short.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_SIGNALS = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}


class StopRequested(KeyboardInterrupt):
    """A run was asked to stop by a signal; ``signal_name`` says which one."""

    def __init__(self, signal_name: str = "SIGINT") -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name

    def describe(self) -> str:
        """What stopped the run, in words, for ``runs.error``."""
        if self.signal_name == "SIGINT":
            return "interrupted by the user (Ctrl-C, SIGINT)"
        return f"interrupted by {self.signal_name} (a scheduler, `timeout` or `kill`)"


class _State:
    """Signals received while handling is active, and the main thread's shield depth."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.raised = False
        self.shield_depth = 0

    def handler(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(_SIGNALS.get(signum, str(signum)))
        if self.shield_depth == 0:
            self.raise_pending()

    def raise_pending(self) -> None:
        if self.received and not self.raised:
            self.raised = True
            raise StopRequested(self.received[0])


_state: _State | None = None


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def handling_stops(exiting_after: bool = False) -> Iterator[None]:
    """Turn SIGINT and SIGTERM into :class:`StopRequested` for the duration of the block
    (main thread only; elsewhere the block runs unchanged). After a stop request, both signals
    stay ignored: the process is on its way out. ``exiting_after``: the process exits once the
    block ends (a CLI command), so they stay ignored anyway; a signal in those last moments
    would otherwise kill a process whose work is done and recorded."""
    global _state
    if not _main_thread() or _state is not None:
        yield
        return
    _state = _State()
    previous = {sig: signal.signal(sig, _state.handler) for sig in _SIGNALS}
    try:
        yield
    finally:
        # A process that is stopping ignores further stop signals until it has exited.
        stopping = bool(_state.received) or exiting_after
        for sig, old in previous.items():
            signal.signal(sig, signal.SIG_IGN if stopping else old)
        _state = None


@contextmanager
def shielded() -> Iterator[None]:
    """Record, do not raise, stop requests inside the block; raise a pending one at its end.

    A no-op outside :func:`handling_stops` and in other threads.
    """
    state = _state
    if state is None or not _main_thread():
        yield
        return
    state.shield_depth += 1
    try:
        yield
    finally:
        state.shield_depth -= 1
    if state.shield_depth == 0:
        state.raise_pending()


def stop_requested() -> str | None:
    """The first signal received while handling stops, or None."""
    return _state.received[0] if _state is not None and _state.received else None


def ignore_further_stops() -> None:
    """From now on, record and ignore signals: a stopping run's final bookkeeping must finish."""
    if _state is not None:
        _state.raised = True
