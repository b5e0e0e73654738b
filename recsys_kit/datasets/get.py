"""`recsys-kit data get NAME`: download, check, convert; every step skipped when its result
is already there and checks out, so running it again finishes an interrupted one."""

from __future__ import annotations

import gzip
import hashlib
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

from recsys_kit.datasets.catalog import DATASETS, Dataset, Source
from recsys_kit.datasets.download import CHUNK, disk_error, fetch, git_blob_id, sha256
from recsys_kit.errors import DataError, did_you_mean

#: Environment variable naming a mirror (a base URL holding ``<name>/<file>``).
MIRROR_ENV = "RECSYS_KIT_DATA_MIRROR"


def dataset(name: str) -> Dataset:
    """The dataset called ``name``; a clear error listing the choices otherwise."""
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(f"There is no dataset '{name}'.{did_you_mean(name, DATASETS)} "
                        f"Choose one of: {', '.join(DATASETS)}.") from None


def checksum_of(path: Path, expected: str) -> str:
    """The checksum of ``path`` in the form ``expected`` is written in (sha256 hex,
    ``git:<blob id>`` or ``gz-sha256:<hex of the decompressed bytes>``)."""
    if expected.startswith("git:"):
        return f"git:{git_blob_id(path)}"
    if expected.startswith("gz-sha256:"):
        digest = hashlib.sha256()
        with gzip.open(path, "rb") as source:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
        return f"gz-sha256:{digest.hexdigest()}"
    return sha256(path)


def verified(path: Path, expected: str | None) -> bool:
    """Whether ``path`` exists and matches ``expected`` (any file, when nothing is expected)."""
    return path.is_file() and (expected is None or checksum_of(path, expected) == expected)


def check(path: Path, expected: str | None, origin: str) -> None:
    """Raise a DataError (and delete the file, so the next try fetches it again) when
    ``path`` does not match its recorded checksum."""
    if expected is None:
        return
    got = checksum_of(path, expected)
    if got != expected:
        path.unlink()
        raise DataError(f"{path.name} from {origin} does not match its recorded checksum "
                        f"(expected {expected}, got {got}); the file was deleted. The download "
                        "was damaged or the source changed: run the command again, or use "
                        "another --mirror.")


def _url(data: Dataset, source: Source, mirror: str | None) -> str:
    return f"{mirror.rstrip('/')}/{data.name}/{source.name}" if mirror else source.url


def _extract(archive: Path, members: tuple[str, ...], folder: Path,
             data: Dataset) -> None:
    """Each member into ``folder`` under its base name, whole or not at all, checked."""
    try:
        with zipfile.ZipFile(archive) as zipped:
            for member in members:
                target = folder / Path(member).name
                tmp = target.with_name(target.name + ".tmp")
                with zipped.open(member) as source, tmp.open("wb") as out:
                    while chunk := source.read(CHUNK):
                        out.write(chunk)
                os.replace(tmp, target)
                check(target, data.checksums.get(target.name), archive.name)
    except (zipfile.BadZipFile, KeyError) as exc:
        archive.unlink()
        raise DataError(f"{archive.name} is not the archive expected ({exc}); it was deleted. "
                        "Run the command again, or use another --mirror.") from None


def get(name: str, base: Path, mirror: str | None, report: Callable[[str], None]) -> Path:
    """Make dataset ``name`` ready under ``base``; return its folder."""
    data = dataset(name)
    mirror = mirror or os.environ.get(MIRROR_ENV) or None
    folder = base / data.folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for source in data.sources:
            kept = [Path(m).name for m in source.members] or [source.name]
            if all(verified(folder / f, data.checksums.get(f)) for f in kept):
                report(f"{', '.join(kept)}: already there, checksums match")
                continue
            url = _url(data, source, mirror)
            report(f"downloading {url}")
            target = folder / source.name
            fetch(url, target, report)
            if source.members:
                _extract(target, source.members, folder, data)
                target.unlink()
            else:
                check(target, data.checksums.get(target.name), url)
        outputs = [f for f in data.checksums if not any(
            f in ([Path(m).name for m in s.members] or [s.name]) for s in data.sources)]
        if data.convert and not all(verified(folder / f, data.checksums[f]) for f in outputs):
            report(f"converting into {', '.join(outputs)}")
            data.convert(folder)
            for f in outputs:
                check(folder / f, data.checksums[f], "the conversion")
    except OSError as exc:
        raise disk_error(exc, folder) from None
    return folder
