"""`recsys-kit data get` against a real HTTP server on 127.0.0.1 (a thread serving mirror
folders built here from the real files): checksums, conversion, resume, damaged downloads,
a full disk, and the CLI. No internet."""

from __future__ import annotations

import gzip
import http.server
import shutil
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from recsys_kit.datasets.convert import movielens_half, movielens_sequences
from recsys_kit.datasets.get import get
from recsys_kit.errors import DataError


class Mirror(http.server.SimpleHTTPRequestHandler):
    """Serves ``root``, honours ``Range: bytes=N-`` (206), records each request, and when
    ``cut_after`` is set sends only that many bytes of the next file and hangs up."""

    root: Path
    requests: list[tuple[str, str | None]]
    cut_after: int | None = None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, directory=str(self.root), **kwargs)

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        path = Path(self.translate_path(self.path))
        wanted = self.headers.get("Range")
        self.requests.append((self.path, wanted))
        if not path.is_file():
            self.send_error(404)
            return
        body = path.read_bytes()
        start = int(wanted.removeprefix("bytes=").rstrip("-")) if wanted else 0
        self.send_response(206 if wanted else 200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        cut = type(self).cut_after
        if cut is not None:
            type(self).cut_after = None
            self.wfile.write(body[start:start + cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body[start:])


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[str, type[Mirror]]]:
    """A mirror folder served over HTTP; yields its base URL and handler class."""
    handler = type("Handler", (Mirror,), {"root": tmp_path / "mirror", "requests": []})
    handler.root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", handler
    server.shutdown()
    server.server_close()


def publish(handler: type[Mirror], name: str, source: Path) -> Path:
    (handler.root / name).mkdir(exist_ok=True)
    return Path(shutil.copy(source, handler.root / name / source.name))


def test_ml_100k_from_its_zip_via_the_cli(shared_data: Path, tmp_path: Path, mirror) -> None:
    url, handler = mirror
    (handler.root / "ml-100k").mkdir()
    with zipfile.ZipFile(handler.root / "ml-100k" / "ml-100k.zip", "w") as archive:
        for name in ("u.data", "u.item", "u.user", "u.genre", "u.info", "u.occupation",
                     "README"):
            archive.write(shared_data / "ml-100k" / name, f"ml-100k/{name}")
    command = [sys.executable, "-m", "recsys_kit", "data", "get", "ml-100k", "--dir",
               str(tmp_path / "data"), "--mirror", url]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    got = tmp_path / "data" / "ml-100k"
    assert sorted(p.name for p in got.iterdir()) == sorted(
        ["u.data", "u.item", "u.user", "u.genre", "u.info", "u.occupation", "README"])
    assert (got / "u.data").read_bytes() == (shared_data / "ml-100k" / "u.data").read_bytes()
    assert "recsys-kit run recipes/ml-100k-sasrec.yaml" in done.stdout
    assert len(handler.requests) == 1
    again = subprocess.run(command, capture_output=True, text=True)
    assert again.returncode == 0 and "already there, checksums match" in again.stderr
    assert len(handler.requests) == 1  # nothing fetched twice


def test_scientific_is_converted_to_the_sequences_the_recipes_read(
        shared_data: Path, tmp_path: Path, mirror) -> None:
    url, handler = mirror
    for source in (shared_data / "amazon-scientific-unisrec").glob("Scientific.*"):
        publish(handler, "scientific", source)
    folder = get("scientific", tmp_path / "data", url, lambda line: None)
    made = (folder / "sequences.txt").read_bytes()
    assert made == (shared_data / "amazon-scientific-unisrec" / "sequences.txt").read_bytes()


def test_a_broken_off_download_resumes_where_it_stopped(shared_data: Path, tmp_path: Path,
                                                        mirror) -> None:
    url, handler = mirror
    publish(handler, "beauty", shared_data / "amazon-beauty-s3rec" / "Beauty.txt")
    handler.cut_after = 400_000
    with pytest.raises(DataError, match=r"broke off.*continues from where it stopped"):
        get("beauty", tmp_path / "data", url, lambda line: None)
    folder = tmp_path / "data" / "amazon-beauty-s3rec"
    assert not (folder / "Beauty.txt").exists()
    assert (folder / "Beauty.txt.part").stat().st_size == 400_000
    get("beauty", tmp_path / "data", url, lambda line: None)
    assert handler.requests[-1][1] == "bytes=400000-"
    assert (folder / "Beauty.txt").read_bytes() == (
        shared_data / "amazon-beauty-s3rec" / "Beauty.txt").read_bytes()
    assert sorted(p.name for p in folder.iterdir()) == ["Beauty.txt"]


def test_a_damaged_file_is_refused_and_not_kept(shared_data: Path, tmp_path: Path,
                                                mirror) -> None:
    url, handler = mirror
    served = publish(handler, "beauty", shared_data / "amazon-beauty-s3rec" / "Beauty.txt")
    served.write_bytes(b"9" + served.read_bytes()[1:])  # one byte changed
    with pytest.raises(DataError, match=r"does not match its recorded checksum.*226cce9c"):
        get("beauty", tmp_path / "data", url, lambda line: None)
    assert list((tmp_path / "data" / "amazon-beauty-s3rec").iterdir()) == []


def test_a_full_disk_is_named_and_the_server_unreachable_too(tmp_path: Path, mirror) -> None:
    url, handler = mirror
    (handler.root / "beauty").mkdir()
    (handler.root / "beauty" / "Beauty.txt").write_bytes(b"x" * 10_000)
    folder = tmp_path / "data" / "amazon-beauty-s3rec"
    folder.mkdir(parents=True)
    (folder / "Beauty.txt.part").symlink_to("/dev/full")  # every write: ENOSPC
    with pytest.raises(DataError, match="The disk is full"):
        get("beauty", tmp_path / "data", url, lambda line: None)
    with pytest.raises(DataError, match=r"Cannot reach http://127\.0\.0\.1:9/beauty/Beauty\.txt"):
        get("beauty", tmp_path / "other", "http://127.0.0.1:9", lambda line: None)
    with pytest.raises(DataError, match="HTTP 404"):
        get("ml-1m", tmp_path / "other", url, lambda line: None)
    with pytest.raises(DataError, match="Did you mean 'ml-1m'"):
        get("ml-1n", tmp_path / "other", url, lambda line: None)


@pytest.mark.slow
def test_ml_1m_conversion_matches_the_published_files(shared_data: Path,
                                                      tmp_path: Path) -> None:
    """ratings.dat of users 1..2999 (the half in shared/data) gives exactly the first 2999
    lines of the published stable-ties sequences, and the half file itself back."""
    ratings = tmp_path / "ratings.dat"
    with gzip.open(shared_data / "ml-1m" / "ratings-users-1-2999.dat.gz", "rb") as source:
        ratings.write_bytes(source.read())
    movielens_sequences(ratings, tmp_path)
    published = (shared_data / "ml-1m" / "sequences-stable.txt").read_text().splitlines()
    assert (tmp_path / "sequences-stable.txt").read_text().splitlines() == published[:2999]
    by_movie = (tmp_path / "sequences.txt").read_text().splitlines()
    first = (shared_data / "ml-1m" / "sequences.txt").read_text().splitlines()[:2999]
    assert [sorted(a.split()) for a in by_movie] == [sorted(b.split()) for b in first]
    movielens_half(ratings, tmp_path)
    with gzip.open(tmp_path / "ratings-users-1-2999.dat.gz", "rb") as made:
        assert made.read() == ratings.read_bytes()
