"""The artifact store: one URL (`POLYFLOW["ARTIFACTS_STORE"]`) read and written through fsspec.

Every process that moves artifacts goes through this one class: the scheduler
(manifests, caching), the local runner and the pods' artifact containers
(`python -m polyflow.artifacts`), the API's downloads, `polyflow apply`'s build
contexts. Files stream in chunks both ways, so an artifact of any size costs a
chunk of memory; its digest is computed while it streams.

A file is stored at its URI; a directory as the files under its URI (object
stores have no directories, so an empty one is stored as nothing and its record
says it was a directory).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

CHUNK = 8 * 1024 * 1024
# A read from the store is one ranged GET per chunk on an object store, each with a round trip
# of its own: 32 MiB reads took a 200 MB download from 5.4 s to 1.9 s on moto (8 MiB: 25 GETs),
# for 24 MiB more memory, still bounded whatever the file's size (bench/artifact_bench.py).
READ_CHUNK = 32 * 1024 * 1024
FILE, DIRECTORY = "file", "directory"
DIGEST_ALGORITHM = "sha256"

Report = Callable[[str], None]


class StoreError(Exception):
    """The store could not be reached, or holds nothing at a URI: the message says which."""


@dataclass(frozen=True)
class Stored:
    """What was stored at one URI: enough to record it and to fetch it again."""

    uri: str
    size: int  # bytes, all files of a directory together
    digest: str  # "sha256:<hex>"; of a directory, over its files' relative paths and digests
    kind: str = FILE  # FILE or DIRECTORY
    files: int = 1

    def to_dict(self) -> dict:
        return {"uri": self.uri, "size": self.size, "digest": self.digest, "kind": self.kind, "files": self.files}

    @classmethod
    def from_dict(cls, data: Mapping) -> Stored:
        return cls(uri=data["uri"], size=int(data["size"]), digest=data["digest"],
                   kind=data.get("kind", FILE), files=int(data.get("files", 1)))


def default_url(home: str) -> str:
    return Path(os.path.expanduser(home), "artifacts").resolve().as_uri()


def store_url(configured: str, home: str) -> str:
    """The store's URL with no trailing slash: the configured one, or the default under HOME."""
    url = configured or default_url(home)
    if "://" not in url:
        raise StoreError(f"ARTIFACTS_STORE {url!r} is not a URL: give one such as 'file:///srv/artifacts' "
                         "or 's3://bucket/prefix'")
    return url.rstrip("/")


def settings_store() -> Store:
    """The store of the running process's settings: Django's POLYFLOW dict when Django is
    configured, else the POLYFLOW_* environment (a pod's artifact container has no Django)."""
    from django.conf import settings as django_settings

    if django_settings.configured:
        from ..conf import polyflow_settings as values

        return Store(store_url(values.ARTIFACTS_STORE, values.HOME), values.ARTIFACTS_STORE_OPTIONS)
    return environ_store()


def environ_store(environ: Mapping[str, str] | None = None) -> Store:
    from ..conf import environ_setting

    return Store(
        store_url(environ_setting("ARTIFACTS_STORE", environ), environ_setting("HOME", environ)),
        environ_setting("ARTIFACTS_STORE_OPTIONS", environ),
    )


class Store:
    def __init__(self, url: str, options: Mapping[str, object] | None = None):
        self.url = url.rstrip("/")
        self.options = dict(options or {})
        self._fs = None
        self._root = ""

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    @property
    def scheme(self) -> str:
        return self.url.split("://", 1)[0]

    @property
    def fs(self):
        if self._fs is None:
            import fsspec

            try:
                self._fs, self._root = fsspec.core.url_to_fs(self.url, **self.options)
            except ImportError as exc:
                raise StoreError(
                    f"the artifact store {self.url!r} needs a package that is not installed ({exc}): "
                    f"install the extra for {self.scheme!r} (pip install 'polyflow[{_EXTRAS.get(self.scheme, 'all')}]')"
                ) from None
            except (ValueError, TypeError) as exc:
                raise StoreError(f"the artifact store {self.url!r} cannot be opened: {exc}") from None
        return self._fs

    def uri(self, *parts: str) -> str:
        """The URI of a key under the store: parts joined with '/', each stripped of slashes."""
        return "/".join([self.url, *(str(part).strip("/") for part in parts if str(part).strip("/"))])

    def contains(self, uri: str) -> bool:
        return uri == self.url or uri.startswith(self.url + "/")

    def _path(self, uri: str) -> str:
        if not self.contains(uri):
            raise StoreError(f"{uri!r} is not in the artifact store {self.url!r}")
        self.fs  # noqa: B018 - sets _root
        return self._root.rstrip("/") + uri[len(self.url):]

    # -- writing ------------------------------------------------------------------

    def upload(self, local: str | os.PathLike, uri: str, report: Report | None = None, label: str = "") -> Stored:
        """Store the file or directory at `local` under `uri`, streaming; its record."""
        local = Path(local)
        progress = Progress("uploading", label or local.name, report)
        try:
            if local.is_dir():
                files = sorted(_files_under(local))
                progress.total = sum(path.stat().st_size for path in files)
                lines, size = [], 0
                for path in files:
                    relative = path.relative_to(local).as_posix()
                    file_size, digest = self._put_file(path, f"{uri}/{relative}", progress)
                    lines.append(f"{relative}\0{digest}\n")
                    size += file_size
                progress.done()
                tree = hashlib.sha256("".join(lines).encode()).hexdigest()
                return Stored(uri, size, f"{DIGEST_ALGORITHM}:{tree}", DIRECTORY, len(files))
            if not local.is_file():
                raise StoreError(f"nothing to upload at {str(local)!r}")
            progress.total = local.stat().st_size
            size, digest = self._put_file(local, uri, progress)
            progress.done()
            return Stored(uri, size, f"{DIGEST_ALGORITHM}:{digest}")
        except OSError as exc:
            raise StoreError(f"cannot upload {str(local)!r} to {uri}: {_reason(exc)}") from exc

    def _put_file(self, local: Path, uri: str, progress: Progress) -> tuple[int, str]:
        digest, size = hashlib.sha256(), 0
        path = self._path(uri)
        parent = path.rsplit("/", 1)[0]
        if parent:
            self.fs.makedirs(parent, exist_ok=True)
        with open(local, "rb") as source, self.fs.open(path, "wb", block_size=CHUNK) as target:
            while chunk := source.read(CHUNK):
                target.write(chunk)
                digest.update(chunk)
                size += len(chunk)
                progress.advance(len(chunk))
        return size, digest.hexdigest()

    def write_bytes(self, uri: str, data: bytes) -> None:
        path = self._path(uri)
        try:
            parent = path.rsplit("/", 1)[0]
            if parent:
                self.fs.makedirs(parent, exist_ok=True)
            with self.fs.open(path, "wb") as target:
                target.write(data)
        except OSError as exc:
            raise StoreError(f"cannot write {uri}: {_reason(exc)}") from exc

    def delete(self, uri: str) -> None:
        """Remove what is stored at `uri` (a file or everything under it); nothing there is fine."""
        path = self._path(uri)
        try:
            if self.fs.exists(path):
                self.fs.rm(path, recursive=True)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StoreError(f"cannot delete {uri}: {_reason(exc)}") from exc

    # -- reading ------------------------------------------------------------------

    def download(self, uri: str, local: str | os.PathLike, kind: str = FILE, report: Report | None = None,
                 label: str = "") -> None:
        """Fetch what `upload` stored at `uri` into `local` (a file, or a directory for DIRECTORY)."""
        local = Path(local)
        path = self._path(uri)
        progress = Progress("downloading", label or uri.rsplit("/", 1)[-1], report)
        try:
            if kind == DIRECTORY:
                local.mkdir(parents=True, exist_ok=True)
                listing = self.fs.find(path, detail=True) if self.fs.exists(path) else {}
                progress.total = sum(int(info.get("size") or 0) for info in listing.values())
                prefix = path.rstrip("/") + "/"
                for name in sorted(listing):
                    relative = name[len(prefix):] if name.startswith(prefix) else name.rsplit("/", 1)[-1]
                    if not relative or ".." in relative.split("/"):
                        continue
                    self._get_file(name, local / relative, progress)
            else:
                if not self.fs.isfile(path):
                    raise StoreError(f"no artifact at {uri}")
                progress.total = int(self.fs.size(path) or 0)
                self._get_file(path, local, progress)
            progress.done()
        except FileNotFoundError as exc:
            raise StoreError(f"no artifact at {uri}") from exc
        except OSError as exc:
            raise StoreError(f"cannot download {uri} to {str(local)!r}: {_reason(exc)}") from exc

    # Reads go through no cache (cache_type="none"): fsspec's default read-ahead cache keeps
    # what it fetched, and a download of a big file from S3 would hold most of it in memory.
    def _get_file(self, path: str, local: Path, progress: Progress) -> None:
        local.parent.mkdir(parents=True, exist_ok=True)
        with self.fs.open(path, "rb", block_size=READ_CHUNK, cache_type="none") as source, \
                open(local, "wb") as target:
            while chunk := source.read(READ_CHUNK):
                target.write(chunk)
                progress.advance(len(chunk))

    def open(self, uri: str) -> IO[bytes]:
        """A stream of the file at `uri`, read a chunk at a time (the API's downloads)."""
        try:
            return self.fs.open(self._path(uri), "rb", block_size=CHUNK, cache_type="none")
        except FileNotFoundError as exc:
            raise StoreError(f"no artifact at {uri}") from exc
        except OSError as exc:
            raise StoreError(f"cannot read {uri}: {_reason(exc)}") from exc

    def iter_files(self, uri: str) -> Iterator[tuple[str, int]]:
        """(path relative to `uri`, size) of every file stored under a directory's `uri`."""
        path = self._path(uri)
        prefix = path.rstrip("/") + "/"
        try:
            listing = self.fs.find(path, detail=True) if self.fs.exists(path) else {}
        except OSError as exc:
            raise StoreError(f"cannot list {uri}: {_reason(exc)}") from exc
        for name in sorted(listing):
            if name.startswith(prefix):
                yield name[len(prefix):], int(listing[name].get("size") or 0)

    def read_bytes(self, uri: str, limit: int) -> bytes | None:
        """The bytes of a small file (a manifest), at most `limit`; None when nothing is there."""
        try:
            with self.fs.open(self._path(uri), "rb") as source:
                return source.read(limit)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read {uri}: {_reason(exc)}") from exc

    def exists(self, uri: str) -> bool:
        try:
            return bool(self.fs.exists(self._path(uri)))
        except OSError as exc:
            raise StoreError(f"cannot reach {uri}: {_reason(exc)}") from exc


_EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure", "abfss": "azure"}


def _files_under(directory: Path) -> Iterator[Path]:
    for root, dirs, names in os.walk(directory):
        dirs.sort()
        for name in names:
            path = Path(root, name)
            if path.is_file():
                yield path


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def file_digest(path: str | os.PathLike) -> str:
    """`sha256:<hex>` of a local file, read a chunk at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
    return f"{DIGEST_ALGORITHM}:{digest.hexdigest()}"


class Progress:
    """Lines for the op's log while bytes move: at most one per `every` seconds, and the last."""

    def __init__(self, verb: str, label: str, report: Report | None, every: float = 2.0,
                 clock: Callable[[], float] = time.monotonic):
        self.verb, self.label, self.report, self.every, self.clock = verb, label, report, every, clock
        self.total = 0
        self.moved = 0
        self.started = clock()
        self._last = self.started

    def advance(self, count: int) -> None:
        self.moved += count
        now = self.clock()
        if self.report and now - self._last >= self.every:
            self._last = now
            self.report(f"polyflow: {self.verb} {self.label}: {_size(self.moved)} of {_size(self.total)}"
                        f"{_percent(self.moved, self.total)}")

    def done(self) -> None:
        if self.report:
            elapsed = max(self.clock() - self.started, 1e-6)
            self.report(f"polyflow: {self.verb} {self.label}: {_size(self.moved)} in {elapsed:.1f} s"
                        f" ({_size(self.moved / elapsed)}/s)")


def _percent(moved: int, total: int) -> str:
    return f" ({100 * moved // total}%)" if total else ""


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"
