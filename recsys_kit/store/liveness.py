"""Whether the process that owns a `running` run is still alive (else the run is `lost`).

A run records its process id, host name and a heartbeat. On the same host the process is
checked directly: it must exist, not be a zombie, and have started before its run's last
heartbeat (a newer process with the same id is someone else). On another host only the
heartbeat can tell: one older than :data:`STALE_S` means the process is gone.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path

#: Seconds between heartbeats of a running run.
HEARTBEAT_S = 30.0
#: A run on another host whose heartbeat is older than this is taken as lost.
STALE_S = 600.0
#: Clock slack between a process's start time and its run's first heartbeat.
_SLACK = timedelta(seconds=2)


@cache
def this_host() -> str:
    """This machine's host name, as runs record it."""
    return socket.gethostname()


def _utc(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, timezone.utc).replace(tzinfo=None)


@cache
def _boot_time() -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        return None
    return None


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (Linux), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2:].split()


def process_alive(pid: int, last_heartbeat: datetime | None) -> bool:
    """Whether process ``pid`` on this host exists, is not a zombie, and is old enough to have
    written ``last_heartbeat`` (UTC)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by someone else
    except OSError:
        return False
    fields = _proc_stat(pid)
    if fields is None:
        return True  # not Linux: existence is all we can tell
    if fields[0] in ("Z", "X"):
        return False
    boot = _boot_time()
    if boot is None or last_heartbeat is None:
        return True
    started = _utc(boot + int(fields[19]) / os.sysconf("SC_CLK_TCK"))
    return started <= last_heartbeat + _SLACK


def owner_alive(pid: int | None, host: str | None, heartbeat_at: datetime | None,
                now: datetime) -> bool:
    """Whether the process that owns a running run (``pid`` on ``host``) is alive at ``now``."""
    if pid is not None and host == this_host():
        return process_alive(pid, heartbeat_at)
    if heartbeat_at is None:
        return False
    return (now - heartbeat_at).total_seconds() <= STALE_S


def shown_status(status: str, pid: int | None, host: str | None,
                 heartbeat_at: datetime | None, now: datetime) -> str:
    """The status a reader should show: a ``running`` run whose process is gone is ``lost``
    (readers cannot write; the next writer records it)."""
    if status == "running" and not owner_alive(pid, host, heartbeat_at, now):
        return "lost"
    return status
