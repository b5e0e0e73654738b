"""The datasets `recsys-kit data get` knows: where each file comes from, its checksum, and
how it becomes what the recipes read (see docs/datasets.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from recsys_kit.datasets import convert

GROUPLENS = "https://files.grouplens.org/datasets/movielens"
BEAUTY = ("https://raw.githubusercontent.com/salesforce/ICLRec/"
          "2890e6c3ff6a22c6699fc19cb863b66786c1cde4/data")
SCIENTIFIC = ("https://raw.githubusercontent.com/ysh-1998/CoWPiRec/"
              "db47560c2364650d22afc77080717287daec5079/dataset/Scientific")


@dataclass(frozen=True)
class Source:
    """One file to download: its address, and (for an archive) the members to keep."""

    url: str
    members: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The file's name (the last part of its address)."""
        return self.url.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Dataset:
    """A dataset: its folder, sources, the checksum of every file it ends with (``sha256`` or
    ``git:`` blob id; ``gz-sha256`` of a gzip file's content), its conversion, and the recipe
    that reads it."""

    name: str
    folder: str
    sources: tuple[Source, ...]
    checksums: dict[str, str]
    recipe: str
    convert: Callable[[Path], None] | None = None
    note: str = ""


def _ml1m(folder: Path) -> None:
    convert.movielens_sequences(folder / "ratings.dat", folder)
    convert.movielens_half(folder / "ratings.dat", folder)


DATASETS: dict[str, Dataset] = {
    "ml-100k": Dataset(
        "ml-100k", "ml-100k", (Source(f"{GROUPLENS}/ml-100k.zip", (
            "ml-100k/u.data", "ml-100k/u.item", "ml-100k/u.user", "ml-100k/u.genre",
            "ml-100k/u.info", "ml-100k/u.occupation", "ml-100k/README")),),
        {"u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
         "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
         "u.user": "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c",
         "u.genre": "9757e0d3e6b298159a80dd48eaf938114690e911e39af97a76949ef1663610bb"},
        "recipes/ml-100k-sasrec.yaml"),
    "ml-1m": Dataset(
        "ml-1m", "ml-1m", (Source(f"{GROUPLENS}/ml-1m.zip", (
            "ml-1m/ratings.dat", "ml-1m/movies.dat", "ml-1m/users.dat", "ml-1m/README")),),
        {"ratings.dat": "git:77a7c4b150f588c23bb9e1f068aa996c0b413695",
         "movies.dat": "0140fc2356357c1a851d0f52e893a1e4d3696df632c4141cea8d5bc3d621f0b9",
         "users.dat": "1dc3a95300cb19f7c10e027daf29b8cdf1d908dab65b5edfb45950aa389a10a3",
         "sequences-stable.txt":
             "567df58c3822a48e1a92c8d94b43d25fac7f06fd37b817b2a2fc9af364a1b88b",
         "ratings-users-1-2999.dat.gz":
             "gz-sha256:1273c4edfe3c0ff9e3a0a0d55819faeb947da0ad7df3927333b51ebefbeedc3d"},
        "recipes/ml-1m-sasrec.yaml", _ml1m,
        note="sequences.txt keeps MovieIDs with ties in ratings.dat order (the copy in "
             "shared/data has ties in arbitrary order; see docs/datasets.md)."),
    "beauty": Dataset(
        "beauty", "amazon-beauty-s3rec", (Source(f"{BEAUTY}/Beauty.txt"),),
        {"Beauty.txt": "226cce9c3105299ca0db9615d7d3fb32b3175e90da43100ae352599f0f0107b8"},
        "recipes/beauty-sasrec.yaml"),
    "scientific": Dataset(
        "scientific", "amazon-scientific-unisrec",
        tuple(Source(f"{SCIENTIFIC}/Scientific.{part}") for part in (
            "text", "train.inter", "valid.inter", "test.inter", "item2index", "user2index")),
        {"Scientific.text": "95887e6bda76e54f59b71b566320520d5da74e21d3b6ff8f20bfb6e8e84aa831",
         "Scientific.train.inter":
             "7284f6489d956fa20c9b64ffc84569264320edba5c3bc2fcb22db2ea083a1163",
         "Scientific.valid.inter":
             "5f37c84d3b54617cdc46638c89dfe8741c7efc4987acd5eb64de2cbd4311f46c",
         "Scientific.test.inter":
             "546da7e5f44002b4518d7fd58066684bc09613f76c240914e16976d57cfe7083",
         "Scientific.item2index":
             "896ab1017508cf20834d3d0537da9f8f624324223a835af272a98ba16f8c087a",
         "Scientific.user2index":
             "f0162b1a3a0c6b7e816f86208e7b36f65d6787923126f9558fbc6d368e4c4974",
         "sequences.txt": "1cdbf71a91d2fe6e43d3117eec132223bf12922c9f3a11d72ec57b4bbc896cd7"},
        "recipes/scientific-sasrec.yaml", convert.scientific_sequences),
}
