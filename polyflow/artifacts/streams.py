"""An artifact as a stream of bytes for a download: a file as it is stored, a directory as
a tar archive made while it streams (nothing is held whole, in memory or on disk)."""

from __future__ import annotations

import tarfile
from collections.abc import Iterator

from .store import CHUNK, Store, StoreError


def file_chunks(store: Store, uri: str) -> Iterator[bytes]:
    """The stored file, a chunk at a time. The first read happens here, so a missing file
    raises StoreError before a response starts."""
    stream = store.open(uri)
    first = stream.read(CHUNK)

    def chunks():
        try:
            chunk = first
            while chunk:
                yield chunk
                chunk = stream.read(CHUNK)
        finally:
            stream.close()

    return chunks()


BLOCK = 512


def tar_chunks(store: Store, uri: str, root: str) -> Iterator[bytes]:
    """A tar archive (POSIX pax) of the directory stored at `uri`, its files under `root/`,
    written as it streams: each file's header, its bytes a chunk at a time, its padding. The
    listing is read here (a StoreError before the response starts), the files as it streams."""
    files = list(store.iter_files(uri))

    def chunks():
        for relative, size in files:
            info = tarfile.TarInfo(f"{root}/{relative}")
            info.size, info.mode = size, 0o644
            yield info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape")
            left = size
            with store.open(f"{uri}/{relative}") as source:
                while left > 0:
                    chunk = source.read(min(CHUNK, left))
                    if not chunk:
                        raise StoreError(f"{uri}/{relative} is shorter than listed: it changed while it was read")
                    left -= len(chunk)
                    yield chunk
            yield b"\0" * (-size % BLOCK)
        yield b"\0" * (2 * BLOCK)  # the end of the archive

    return chunks()
