"""Conversions from the downloaded files to the files the recipes read.

Each writes its output next to its input through a temporary file, renamed into place only
when it is whole.
"""

from __future__ import annotations

import gzip
import os
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path


def write_atomically(path: Path, lines: Iterable[str], opener: Callable = open) -> None:
    """Write ``lines`` to ``path`` via ``path.tmp``: the file is whole, or absent."""
    tmp = path.with_name(path.name + ".tmp")
    with opener(tmp, "wt", encoding="utf-8", newline="\n") as out:
        for line in lines:
            out.write(line)
    os.replace(tmp, path)


def _ratings(ratings: Path) -> list[tuple[str, str, int]]:
    """(user, item, timestamp) of every ``UserID::MovieID::Rating::Timestamp`` line."""
    rows = []
    with ratings.open(encoding="latin-1") as lines:
        for line in lines:
            user, item, _, ts = line.rstrip("\n").split("::")
            rows.append((user, item, int(ts)))
    return rows


def movielens_sequences(ratings: Path, folder: Path) -> None:
    """``sequences-stable.txt`` and ``sequences.txt`` from ML-1M ``ratings.dat``.

    One user per line (``UserID item item ...``, oldest first). Ties in time keep
    ratings.dat's order (a stable sort). ``sequences-stable.txt`` numbers items 1, 2, ... in
    order of first appearance in ratings.dat (as the published stable-ties file does);
    ``sequences.txt`` keeps MovieIDs, to join movies.dat.
    """
    rows = _ratings(ratings)
    ids: dict[str, int] = {}
    by_user: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for user, item, ts in rows:
        ids.setdefault(item, len(ids) + 1)
        by_user[user].append((ts, item))
    users = sorted(by_user, key=int)
    ordered = {u: [item for _, item in sorted(by_user[u], key=lambda p: p[0])] for u in users}
    write_atomically(folder / "sequences-stable.txt",
                     (f"{u} {' '.join(str(ids[i]) for i in ordered[u])}\n" for u in users))
    write_atomically(folder / "sequences.txt",
                     (f"{u} {' '.join(ordered[u])}\n" for u in users))


def movielens_half(ratings: Path, folder: Path) -> None:
    """``ratings-users-1-2999.dat.gz``: the lines of users 1..2999, in file order (what the
    raw-format recipes read)."""
    def lines() -> Iterable[str]:
        with ratings.open(encoding="latin-1", newline="") as source:
            for line in source:
                if int(line.split("::", 1)[0]) < 3000:
                    yield line

    write_atomically(folder / "ratings-users-1-2999.dat.gz", lines(), opener=gzip.open)


def scientific_sequences(folder: Path) -> None:
    """``sequences.txt`` from UniSRec's Scientific ``.inter`` files: each user's full
    sequence (ASINs, oldest first), rebuilt as its SOURCE.md describes: the training rows
    reversed (they are listed longest history first), the first row's one history item, the
    training targets in that order, then the validation and test targets."""
    asin = {}
    for line in (folder / "Scientific.item2index").read_text(encoding="utf-8").splitlines():
        name, index = line.split("\t")
        asin[index] = name

    def rows(split: str) -> list[list[str]]:
        text = (folder / f"Scientific.{split}.inter").read_text(encoding="utf-8")
        return [line.split("\t") for line in text.splitlines()[1:] if line]

    train: dict[str, list[tuple[list[str], str]]] = defaultdict(list)
    for user, history, target in rows("train"):
        train[user].append((history.split(), target))
    tail = {split: {user: target for user, _, target in rows(split)}
            for split in ("valid", "test")}
    users = sorted(tail["test"], key=int)

    def sequence(user: str) -> list[str]:
        ordered = train[user][::-1]
        items = [ordered[0][0][0]] if ordered else []
        items += [target for _, target in ordered]
        return [*items, tail["valid"][user], tail["test"][user]]

    write_atomically(folder / "sequences.txt", (
        f"{user} {' '.join(asin[i] for i in sequence(user))}\n" for user in users))
