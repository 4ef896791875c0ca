"""Packing a build context: Docker's .dockerignore rules, the same bytes for the same files,
stored once by digest, received over the API with its checks, unpacked for kaniko (also by
`python -m polyflow.artifacts context`, the build pod's init container)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from polyflow.artifacts.contexts import (
    ContextError,
    ContextTooLarge,
    context_members,
    pack,
    receive,
    store_context,
    unpack,
)
from polyflow.artifacts.layout import context_uri
from polyflow.artifacts.store import Store
from tests.conftest import clean_environ, run_python


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def packed_bytes(root: Path, dockerfile: str = "Dockerfile") -> bytes:
    target = io.BytesIO()
    pack(root, target, dockerfile)
    return target.getvalue()


def names_in(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        return [member.name for member in archive.getmembers() if member.isfile()]


@pytest.fixture
def store(tmp_path) -> Store:
    return Store((tmp_path / "store").as_uri())


# -- .dockerignore ---------------------------------------------------------------------------

def test_dockerignore_patterns_exceptions_and_double_stars(tmp_path):
    root = tree(tmp_path / "ctx", {
        "Dockerfile": "FROM scratch\n",
        "app/main.py": "", "app/notes.md": "", "README.md": "", "docs/guide.md": "",
        "data/big.csv": "", "data/keep.csv": "", "build/out.o": "", "src/x/__pycache__/m.pyc": "",
        ".git/HEAD": "", "secrets.env": "",
        ".dockerignore": "# comments and blank lines are not patterns\n\n*.md\n!app/notes.md\ndata\n"
                         "!data/keep.csv\n/build/\n**/__pycache__\n.git\nsecrets.env\n",
    })
    # `*.md` matches names at the top only (Docker matches whole paths): docs/guide.md is sent;
    # `data` goes but for its exception; a directory's entry is sent with what it keeps.
    assert context_members(root) == [
        ".dockerignore", "Dockerfile", "app", "app/main.py", "app/notes.md", "data/keep.csv", "docs",
        "docs/guide.md", "src", "src/x"]


def test_star_matches_top_level_only_and_double_star_any_depth(tmp_path):
    root = tree(tmp_path / "ctx", {"Dockerfile": "", "a.md": "", "docs/b.md": "", "docs/deep/c.md": "",
                                   ".dockerignore": "*.md\n"})
    assert names_in(packed_bytes(root)) == [".dockerignore", "Dockerfile", "docs/b.md", "docs/deep/c.md"]
    (root / ".dockerignore").write_text("**/*.md\n")
    assert names_in(packed_bytes(root)) == [".dockerignore", "Dockerfile"]


def test_the_dockerfile_and_the_dockerignore_are_sent_even_when_ignored(tmp_path):
    root = tree(tmp_path / "ctx", {"build/Dockerfile.ci": "FROM scratch\n", "x.txt": "",
                                   ".dockerignore": "*\n"})
    assert names_in(packed_bytes(root, "build/Dockerfile.ci")) == [".dockerignore", "build/Dockerfile.ci"]


def test_no_dockerignore_sends_everything(tmp_path):
    root = tree(tmp_path / "ctx", {"Dockerfile": "", "a/b/c.txt": "", "z": ""})
    assert names_in(packed_bytes(root)) == ["Dockerfile", "a/b/c.txt", "z"]


# -- determinism -----------------------------------------------------------------------------

def test_the_same_files_give_the_same_bytes_whatever_their_times_order_and_place(tmp_path):
    files = {"Dockerfile": "FROM scratch\nCOPY . /\n", "src/a.py": "print(1)\n", "src/b.py": "print(2)\n",
             "run.sh": "#!/bin/sh\n"}
    first = tree(tmp_path / "one", files)
    second = tree(tmp_path / "two", dict(reversed(list(files.items()))))
    os.chmod(first / "run.sh", 0o755)
    os.chmod(second / "run.sh", 0o700)  # only the owner's execute bit counts: 755 either way
    os.utime(second / "src" / "a.py", (1_000_000, 1_000_000))
    assert packed_bytes(first) == packed_bytes(second)
    with tarfile.open(fileobj=io.BytesIO(packed_bytes(first)), mode="r:gz") as archive:
        members = {m.name: m for m in archive.getmembers()}
    assert all((m.mtime, m.uid, m.gid, m.uname, m.gname) == (0, 0, 0, "", "") for m in members.values())
    assert members["run.sh"].mode == 0o755 and members["src/a.py"].mode == 0o644
    # gzip's own header holds no time and no file name either.
    header = packed_bytes(first)[:10]
    assert header[4:8] == b"\0\0\0\0" and not header[3] & 0x08

    (second / "src" / "b.py").write_text("print(3)\n")
    assert packed_bytes(first) != packed_bytes(second)


def test_store_context_stores_by_digest_once(tmp_path, store):
    root = tree(tmp_path / "ctx", {"Dockerfile": "FROM scratch\n", "a.txt": "a"})
    packed = store_context(store, root)
    digest = "sha256:" + hashlib.sha256(packed_bytes(root)).hexdigest()
    assert (packed.digest, packed.uri, packed.files) == (digest, context_uri(store, digest), 2)
    stored = Path(store.url.removeprefix("file://")) / "contexts" / (digest.replace(":", "-") + ".tar.gz")
    assert stored.read_bytes() == packed_bytes(root)
    os.utime(stored, (1, 1))
    assert store_context(store, root) == packed
    assert stored.stat().st_mtime == 1  # not uploaded again
    (root / "a.txt").write_text("b")
    assert store_context(store, root).digest != digest


def test_a_missing_dockerfile_is_named(tmp_path, store):
    root = tree(tmp_path / "ctx", {"a.txt": ""})
    with pytest.raises(ContextError, match=r"dockerfile 'dockerfiles/Dockerfile' is not in its context"):
        store_context(store, root, "dockerfiles/Dockerfile")


# -- receiving over the API, unpacking ------------------------------------------------------------

def test_receive_checks_digest_size_and_shape(tmp_path, store):
    data = packed_bytes(tree(tmp_path / "ctx", {"Dockerfile": "FROM scratch\n"}))
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with pytest.raises(ContextError, match="not the sha256:" + "0" * 64):
        receive(store, io.BytesIO(data), "sha256:" + "0" * 64, 1 << 20)
    with pytest.raises(ContextTooLarge, match="over 10 bytes"):
        receive(store, io.BytesIO(data), digest, 10)
    with pytest.raises(ContextError, match="not 'sha256:'"):
        receive(store, io.BytesIO(data), "md5:abc", 1 << 20)
    junk = b"not a tarball"
    with pytest.raises(ContextError, match="not a tar.gz"):
        receive(store, io.BytesIO(junk), "sha256:" + hashlib.sha256(junk).hexdigest(), 1 << 20)
    assert not store.exists(context_uri(store, digest))  # nothing stored by a refusal
    packed, created = receive(store, io.BytesIO(data), digest, 1 << 20)
    assert created and packed.uri == context_uri(store, digest) and packed.size == len(data)
    assert receive(store, io.BytesIO(data), digest, 1 << 20)[1] is False


def test_receive_refuses_members_that_escape(tmp_path, store):
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb") as zipped, tarfile.open(fileobj=zipped, mode="w") as archive:
        info = tarfile.TarInfo("../outside")
        archive.addfile(info, io.BytesIO(b""))
    data = raw.getvalue()
    with pytest.raises(ContextError, match="outside the destination"):
        receive(store, io.BytesIO(data), "sha256:" + hashlib.sha256(data).hexdigest(), 1 << 20)


def test_unpack_checks_the_digest(tmp_path, store):
    root = tree(tmp_path / "ctx", {"Dockerfile": "FROM scratch\n", "src/a.py": "x"})
    packed = store_context(store, root)
    count = unpack(store, packed.uri, packed.digest, tmp_path / "out")
    assert count == 3 and (tmp_path / "out" / "src" / "a.py").read_text() == "x"
    other = "sha256:" + "1" * 64
    with pytest.raises(ContextError, match="was changed"):
        unpack(store, packed.uri, other, tmp_path / "out2")


def test_the_init_containers_command_unpacks_the_context(tmp_path, store):
    """What the build pod's init container runs, as a real process with the env it is given."""
    root = tree(tmp_path / "ctx", {"Dockerfile": "FROM scratch\n", "src/a.py": "x", "notes.md": "",
                                   ".dockerignore": "*.md\n"})
    packed = store_context(store, root)
    env = {**clean_environ(tmp_path / "home"), "POLYFLOW_ARTIFACTS_STORE": store.url,
           "POLYFLOW_ARTIFACTS_STORE_OPTIONS": "{}"}
    into = tmp_path / "workspace"
    result = run_python("-m", "polyflow.artifacts", "context", "--uri", packed.uri, "--digest", packed.digest,
                        "--into", str(into), env=env)
    assert result.returncode == 0, result.stderr
    assert f"polyflow: build context {packed.digest}: 4 entries in {into}" in result.stdout
    assert sorted(p.relative_to(into).as_posix() for p in into.rglob("*") if p.is_file()) == [
        ".dockerignore", "Dockerfile", "src/a.py"]
    bad = run_python("-m", "polyflow.artifacts", "context", "--uri", packed.uri, "--digest", "sha256:" + "2" * 64,
                     "--into", str(tmp_path / "w2"), env=env)
    assert bad.returncode == 1 and "was changed" in bad.stderr and "Traceback" not in bad.stderr


def test_contexts_through_s3(tmp_path, moto_s3, monkeypatch):
    """Against a real S3 API (moto on loopback): stored once by digest, unpacked by the init
    container's command with the store's options and credentials in its env."""
    for name, value in moto_s3["env"].items():
        monkeypatch.setenv(name, value)
    s3 = Store(moto_s3["url"], moto_s3["options"])
    root = tree(tmp_path / "ctx", {"Dockerfile": "FROM scratch\n", "app/main.py": "print('hi')\n"})
    packed = store_context(s3, root)
    assert packed.uri == context_uri(s3, packed.digest) and s3.exists(packed.uri)
    assert store_context(s3, root) == packed
    env = {**clean_environ(tmp_path / "home"), **moto_s3["env"], "POLYFLOW_ARTIFACTS_STORE": moto_s3["url"],
           "POLYFLOW_ARTIFACTS_STORE_OPTIONS": json.dumps(moto_s3["options"])}
    into = tmp_path / "workspace"
    result = run_python("-m", "polyflow.artifacts", "context", "--uri", packed.uri, "--digest", packed.digest,
                        "--into", str(into), env=env)
    assert result.returncode == 0, result.stderr
    assert (into / "app" / "main.py").read_text() == "print('hi')\n"
    data = packed_bytes(root)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert digest == packed.digest
    assert receive(s3, io.BytesIO(data), digest, 1 << 20)[1] is False  # the store had it
