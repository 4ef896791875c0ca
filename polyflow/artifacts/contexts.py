"""Build contexts (DESIGN section 10, docs/kubernetes.md "Build contexts"): a directory packed
into a deterministic tar.gz, stored in the artifact store by its digest, unpacked for kaniko.

- `pack` writes the files Docker would send for the directory (its `.dockerignore` read with
  Docker's own rules, through the docker library's matcher; the Dockerfile and the
  `.dockerignore` are always sent, as Docker does) in sorted order, with mtimes, owners and
  modes fixed: the same files give the same bytes, so the same digest.
- `store_context` packs and uploads to `layout.context_uri(store, digest)`, skipping the upload
  when the store has it already.
- `receive` stores a tar.gz sent over the API: size-limited while it streams, digest-checked.
- `unpack` (also `python -m polyflow.artifacts context --uri U --digest D --into DIR`, the build
  pod's init container) fetches one, checks its digest and extracts it safely.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .layout import context_uri
from .store import CHUNK, DIGEST_ALGORITHM, Store, StoreError, file_digest

IGNORE_FILE = ".dockerignore"
DIGEST_PREFIX = DIGEST_ALGORITHM + ":"


class ContextError(StoreError):
    """A context that cannot be packed, received or unpacked: the message says why and where."""


@dataclass(frozen=True)
class PackedContext:
    uri: str
    digest: str  # "sha256:<hex>" of the tar.gz
    size: int
    files: int = 0

    def to_dict(self) -> dict:
        return {"uri": self.uri, "digest": self.digest, "size": self.size, "files": self.files}


def is_digest(value: str) -> bool:
    hexpart = value[len(DIGEST_PREFIX):] if value.startswith(DIGEST_PREFIX) else ""
    return len(hexpart) == 64 and all(c in "0123456789abcdef" for c in hexpart)


def ignore_patterns(directory: Path) -> list[str]:
    """The `.dockerignore` patterns of a directory, read as the docker library reads them."""
    path = directory / IGNORE_FILE
    if not path.is_file():
        return []
    lines = (line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def context_members(directory: str | os.PathLike, dockerfile: str = "Dockerfile") -> list[str]:
    """The paths (relative, '/'-separated, sorted) Docker would send for `directory`."""
    try:
        from docker.utils.build import exclude_paths
    except ImportError:  # pragma: no cover - the kubernetes extra brings it
        raise ContextError("packing a build context needs the 'docker' package: "
                           "pip install 'polyflow[kubernetes]'") from None
    root = Path(directory)
    paths = exclude_paths(str(root), ignore_patterns(root), dockerfile=dockerfile)
    return sorted(Path(path).as_posix() for path in paths)


def _member(root: Path, relative: str) -> tarfile.TarInfo | None:
    """A tar entry with nothing of this machine in it: no owner, no time, a mode of 644 or 755."""
    path = root / relative
    info = tarfile.TarInfo(relative)
    mode = path.lstat()
    if stat.S_ISLNK(mode.st_mode):
        info.type, info.linkname, info.mode = tarfile.SYMTYPE, os.readlink(path), 0o777
    elif stat.S_ISDIR(mode.st_mode):
        info.type, info.mode = tarfile.DIRTYPE, 0o755
    elif stat.S_ISREG(mode.st_mode):
        info.size = mode.st_size
        info.mode = 0o755 if mode.st_mode & stat.S_IXUSR else 0o644
    else:
        return None  # sockets, fifos, devices: Docker sends none either
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    return info


def pack(directory: str | os.PathLike, target: IO[bytes], dockerfile: str = "Dockerfile") -> int:
    """Write the context of `directory` to `target` as a deterministic tar.gz; the files packed."""
    root = Path(directory)
    if not root.is_dir():
        raise ContextError(f"the build context {str(root)!r} is not a directory")
    count = 0
    # mtime=0 and no file name: gzip's header carries nothing that changes between packs.
    with gzip.GzipFile(filename="", mode="wb", fileobj=target, mtime=0) as zipped, \
            tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for relative in context_members(root, dockerfile):
            info = _member(root, relative)
            if info is None:
                continue
            if info.isreg():
                with open(root / relative, "rb") as source:
                    archive.addfile(info, source)
                count += 1
            else:
                archive.addfile(info)
    return count


def store_context(store: Store, directory: str | os.PathLike, dockerfile: str = "Dockerfile") -> PackedContext:
    """Pack `directory` and store it by digest (the upload is skipped when the store has it)."""
    root = Path(directory)
    if not (root / dockerfile).is_file():
        raise ContextError(f"the build's dockerfile {dockerfile!r} is not in its context {str(root)!r}")
    with tempfile.TemporaryDirectory(prefix="polyflow-context-") as scratch:
        packed = Path(scratch, "context.tar.gz")
        with open(packed, "wb") as target:
            files = pack(root, target, dockerfile)
        digest = file_digest(packed)
        uri = context_uri(store, digest)
        size = packed.stat().st_size
        if not store.exists(uri):
            store.upload(packed, uri)
    return PackedContext(uri, digest, size, files)


def receive(store: Store, stream, digest: str, limit: int) -> tuple[PackedContext, bool]:
    """Store a tar.gz read from `stream` (at most `limit` bytes, checked against `digest`):
    (what is stored, whether it was new). Nothing is stored unless every check passes."""
    if not is_digest(digest):
        raise ContextError(f"digest {digest!r} is not 'sha256:' and 64 lowercase hex digits")
    with tempfile.TemporaryDirectory(prefix="polyflow-upload-") as scratch:
        path = Path(scratch, "context.tar.gz")
        hasher, size = hashlib.sha256(), 0
        with open(path, "wb") as target:
            while chunk := stream.read(min(CHUNK, limit + 1 - size)):
                size += len(chunk)
                if size > limit:
                    raise ContextTooLarge(f"the context is over {limit} bytes (POLYFLOW['MAX_CONTEXT_BYTES'])")
                hasher.update(chunk)
                target.write(chunk)
        actual = DIGEST_PREFIX + hasher.hexdigest()
        if actual != digest:
            raise ContextError(f"the body's digest is {actual}, not the {digest} given")
        _check_archive(path)
        uri = context_uri(store, digest)
        new = not store.exists(uri)
        if new:
            store.upload(path, uri)
    return PackedContext(uri, digest, size), new


class ContextTooLarge(ContextError):
    pass


def _check_archive(path: Path) -> None:
    """A tar.gz whose every member would be extracted (what kaniko's init container does)."""
    try:
        with tarfile.open(path, mode="r:gz") as archive:
            for member in archive:
                tarfile.data_filter(member, "/context")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ContextError(f"the context is not a tar.gz that can be unpacked: {exc}") from None


def unpack(store: Store, uri: str, digest: str, into: str | os.PathLike, report=None) -> int:
    """Fetch the context at `uri`, check it is `digest`, extract it into `into`; the members."""
    target = Path(into)
    with tempfile.TemporaryDirectory(prefix="polyflow-context-") as scratch:
        packed = Path(scratch, "context.tar.gz")
        store.download(uri, packed, report=report, label="build context")
        actual = file_digest(packed)
        if actual != digest:
            raise ContextError(f"the context at {uri} has digest {actual}, not {digest}: it was changed")
        target.mkdir(parents=True, exist_ok=True)
        try:
            with tarfile.open(packed, mode="r:gz") as archive:
                members = archive.getmembers()
                # The "data" filter refuses absolute paths, '..', devices and links out of the tree.
                archive.extractall(target, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise ContextError(f"cannot unpack the context {uri} into {str(target)!r}: {exc}") from None
    return len(members)


def add_command(commands) -> None:
    """`python -m polyflow.artifacts context --uri U --digest D --into DIR` (transfer.py's main)."""
    command = commands.add_parser("context", help="unpack a build context for kaniko: --uri --digest --into")
    command.add_argument("--uri", required=True)
    command.add_argument("--digest", required=True)
    command.add_argument("--into", required=True)


def run_command(store: Store, args) -> None:
    count = unpack(store, args.uri, args.digest, args.into, report=_line)
    _line(f"polyflow: build context {args.digest}: {count} entries in {args.into}")


def _line(text: str) -> None:
    print(text, flush=True)

