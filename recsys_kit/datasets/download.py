"""Fetching one file over HTTP: resumable (a ``.part`` file continued with a Range request),
atomic (renamed into place only once whole and checked), with errors that say what to do."""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from recsys_kit.errors import DataError

CHUNK = 1 << 20
TIMEOUT_S = 30.0


def sha256(path: Path) -> str:
    """The file's SHA-256, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def git_blob_id(path: Path) -> str:
    """The file's git blob id (SHA-1 of ``blob <size>\\0`` and the bytes): how a file is
    identified in a git repository, and so a checksum where only that is published."""
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode(), usedforsecurity=False)
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def disk_error(exc: OSError, path: Path) -> DataError:
    """A DataError for a failed write under ``path``: disk full gets its own advice."""
    if exc.errno == errno.ENOSPC:
        return DataError(f"The disk is full while writing {path}. Free some space (or pass "
                         "--dir on a disk with room) and run the same command again: it "
                         "continues where it stopped.")
    return DataError(f"Cannot write {path}: {exc.strerror or exc}. Pass --dir with a folder "
                     "you can write to.")


def fetch(url: str, target: Path, report: Callable[[str], None]) -> None:
    """Download ``url`` to ``target``: into ``target.part`` first (continued if one is left
    from an interrupted download, when the server allows), renamed to ``target`` at the end.
    The caller checks the file before relying on it."""
    part = target.with_name(target.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "recsys-kit"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the part file is already whole
            os.replace(part, target)
            return
        raise DataError(f"Downloading {url} failed: HTTP {exc.code} {exc.reason}. Check the "
                        "address (or --mirror / RECSYS_KIT_DATA_MIRROR) and try again.") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DataError(f"Cannot reach {url} ({reason}). Check the network connection, or "
                        "point --mirror (or RECSYS_KIT_DATA_MIRROR) at a copy; run the same "
                        "command again to continue.") from None
    with response:
        resumed = have and response.status == 206
        if have and not resumed:
            report(f"{target.name}: the server cannot continue a download; starting it again")
        expected = response.headers.get("Content-Length")
        received = 0
        try:
            with part.open("ab" if resumed else "wb") as out:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    received += len(chunk)
            if expected is not None and received < int(expected):
                raise http.client.IncompleteRead(b"", int(expected) - received)
        except http.client.HTTPException as exc:  # the server closed before the end
            raise DataError(f"The download of {url} broke off ({type(exc).__name__}). Run "
                            "the same command again: it continues from where it stopped."
                            ) from None
        except OSError as exc:
            if isinstance(exc, urllib.error.URLError) or exc.errno in (None, errno.ECONNRESET):
                raise DataError(f"The download of {url} broke off ({exc}). Run the same "
                                "command again: it continues from where it stopped.") from None
            raise disk_error(exc, part) from None
    os.replace(part, target)
