"""The store and the transfer code on file:// and on S3 (moto's server): files, directories
(empty ones included), digests, big files streamed, manifests."""

import hashlib
import json
import os
import tracemalloc

import pytest

from polyflow.artifacts.store import CHUNK, DIRECTORY, FILE, READ_CHUNK, Store, StoreError
from polyflow.artifacts.streams import tar_chunks
from polyflow.artifacts.transfer import MissingOutput, Pull, Push, pull_all, push_all, read_manifest


@pytest.fixture
def store(any_store):
    return Store(any_store.url, any_store.options)


def test_a_file_goes_and_comes_back_with_its_digest(store, tmp_path):
    source = tmp_path / "model.bin"
    source.write_bytes(b"weights" * 1000)
    lines = []
    stored = store.upload(source, store.uri("p", "model"), report=lines.append, label="output model")
    assert (stored.kind, stored.size, stored.files) == (FILE, 7000, 1)
    assert stored.digest == "sha256:" + hashlib.sha256(b"weights" * 1000).hexdigest()
    assert lines[-1].startswith("polyflow: uploading output model: 6.8 KiB in ")
    store.download(stored.uri, tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == source.read_bytes()


def test_a_directory_keeps_its_tree_and_an_empty_one_is_still_a_directory(store, tmp_path):
    tree = tmp_path / "data"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "empty").mkdir()
    (tree / "top.txt").write_text("top")
    (tree / "a" / "b" / "deep.txt").write_text("deep")
    stored = store.upload(tree, store.uri("p", "data"))
    assert (stored.kind, stored.size, stored.files) == (DIRECTORY, 7, 2)
    assert sorted(store.iter_files(stored.uri)) == [("a/b/deep.txt", 4), ("top.txt", 3)]
    store.download(stored.uri, tmp_path / "back", kind=DIRECTORY)
    assert (tmp_path / "back" / "a" / "b" / "deep.txt").read_text() == "deep"
    # The same tree has the same digest wherever it is stored.
    assert store.upload(tree, store.uri("elsewhere")).digest == stored.digest
    (tmp_path / "none").mkdir()
    empty = store.upload(tmp_path / "none", store.uri("p", "none"))
    assert (empty.kind, empty.size, empty.files) == (DIRECTORY, 0, 0)
    store.download(empty.uri, tmp_path / "none-back", kind=DIRECTORY)
    assert (tmp_path / "none-back").is_dir() and not list((tmp_path / "none-back").iterdir())


def test_a_directory_streams_as_a_tar_archive(store, tmp_path):
    import io
    import tarfile

    (tmp_path / "d" / "x").mkdir(parents=True)
    (tmp_path / "d" / "x" / "one").write_bytes(b"1" * 513)
    (tmp_path / "d" / "two").write_bytes(b"")
    stored = store.upload(tmp_path / "d", store.uri("p", "d"))
    archive = b"".join(tar_chunks(store, stored.uri, "d"))
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert sorted(tar.getnames()) == ["d/two", "d/x/one"]
        assert tar.extractfile("d/x/one").read() == b"1" * 513


def test_a_big_file_streams_in_chunks(store, tmp_path):
    big = tmp_path / "big"
    with open(big, "wb") as out:
        for _ in range(7):
            out.write(os.urandom(READ_CHUNK))  # 224 MiB: more than the bound below
    tracemalloc.start()
    try:
        stored = store.upload(big, store.uri("p", "big"))
        store.download(stored.uri, tmp_path / "big-back")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stored.size == 7 * READ_CHUNK
    # A few chunks (the one read, the one before it, the client's buffers), whatever the size of the file.
    assert peak < 4 * READ_CHUNK, f"peak {peak / 2**20:.1f} MiB for a 224 MiB file"
    assert stored.digest == f"sha256:{_sha256(tmp_path / 'big-back')}"


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def test_nothing_stored_is_a_store_error_naming_the_uri(store, tmp_path):
    with pytest.raises(StoreError, match="no artifact at .*/missing"):
        store.download(store.uri("missing"), tmp_path / "x")
    assert store.read_bytes(store.uri("missing"), 10) is None


def test_push_writes_the_manifest_last_and_pull_gets_the_inputs(store, tmp_path):
    out = tmp_path / "outputs"
    (out / "data").mkdir(parents=True)
    (out / "model").write_bytes(b"m")
    (out / "data" / "f").write_bytes(b"ff")
    manifest = store.uri("p", ".polyflow", "attempt-1.json")
    items = [Push("model", str(out / "model"), store.uri("p", "model")),
             Push("data", str(out / "data"), store.uri("p", "data")),
             Push("extra", str(out / "extra"), store.uri("p", "extra"), optional=True)]
    stored = push_all(store, items, manifest, report=lambda line: None)
    assert set(stored) == {"model", "data"}
    assert read_manifest(store, manifest) == stored
    assert json.loads(store.read_bytes(manifest, 10_000))["artifacts"]["data"]["kind"] == "directory"
    pull_all(store, [Pull("model", stored["model"].uri, str(tmp_path / "in" / "model")),
                     Pull("data", stored["data"].uri, str(tmp_path / "in" / "data"), DIRECTORY)],
             report=lambda line: None)
    assert (tmp_path / "in" / "model").read_bytes() == b"m"
    assert (tmp_path / "in" / "data" / "f").read_bytes() == b"ff"


def test_a_required_output_not_written_uploads_nothing(store, tmp_path):
    manifest = store.uri("q", "manifest.json")
    with pytest.raises(MissingOutput, match="output 'model' was not written"):
        push_all(store, [Push("model", str(tmp_path / "nothing"), store.uri("q", "model"))], manifest)
    assert read_manifest(store, manifest) is None


def test_a_second_push_replaces_what_the_first_stored(store, tmp_path):
    tree = tmp_path / "out" / "data"
    tree.mkdir(parents=True)
    (tree / "old.txt").write_text("old")
    (tree / "kept.txt").write_text("kept")
    uri = store.uri("r", "data")
    push_all(store, [Push("data", str(tree), uri)], store.uri("r", "m1.json"), report=lambda line: None)
    (tree / "old.txt").unlink()
    second = push_all(store, [Push("data", str(tree), uri)], store.uri("r", "m2.json"), report=lambda line: None)
    assert [name for name, _ in store.iter_files(uri)] == ["kept.txt"]
    assert second["data"].files == 1
