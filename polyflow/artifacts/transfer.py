"""One attempt's artifact moves: its inputs fetched before it starts, its outputs stored after.

The same code runs in the local runner and, as `python -m polyflow.artifacts
pull|push --items JSON`, in an op pod's artifact containers, so both backends
store the same layout and the same records. `push` writes a manifest (JSON: each
output's `Stored` record by name) to the store last: whoever records the attempt
reads that one object instead of listing the store.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .store import FILE, Store, Stored, StoreError

MAX_MANIFEST_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Pull:
    name: str  # the input's name
    uri: str
    path: str  # where the op finds it
    kind: str = FILE


@dataclass(frozen=True)
class Push:
    name: str  # the output's name
    path: str  # where the op wrote it: $POLYFLOW_OUTPUTS_DIR/<name>
    uri: str
    optional: bool = False


class MissingOutput(StoreError):
    pass


def pull_all(store: Store, items: Sequence[Pull], report=print) -> None:
    for item in items:
        store.download(item.uri, item.path, item.kind, report=report, label=f"input {item.name}")


def push_all(store: Store, items: Sequence[Push], manifest_uri: str, report=print) -> dict[str, Stored]:
    """Upload every written output, then the manifest; a required output not written is an error
    naming it (nothing of the attempt is recorded then: the manifest is written last)."""
    from pathlib import Path

    missing = [item for item in items if not item.optional and not Path(item.path).exists()]
    if missing:
        raise MissingOutput("; ".join(
            f"output {item.name!r} was not written: nothing at {item.path} "
            f"(an op writes a path output at $POLYFLOW_OUTPUTS_DIR/{item.name})" for item in missing
        ))
    stored = {}
    for item in items:
        if Path(item.path).exists():
            # What an earlier attempt stored there goes first: a directory with fewer files
            # must not keep the old ones (a download takes every file under its URI).
            store.delete(item.uri)
            stored[item.name] = store.upload(item.path, item.uri, report=report, label=f"output {item.name}")
    store.write_bytes(manifest_uri, json.dumps(
        {"artifacts": {name: record.to_dict() for name, record in stored.items()}}, sort_keys=True
    ).encode())
    return stored


def read_manifest(store: Store, manifest_uri: str) -> dict[str, Stored] | None:
    """The records `push_all` wrote, or None when there is no manifest (nothing was pushed)."""
    raw = store.read_bytes(manifest_uri, MAX_MANIFEST_BYTES + 1)
    if raw is None:
        return None
    if len(raw) > MAX_MANIFEST_BYTES:
        raise StoreError(f"the artifact manifest {manifest_uri} is over {MAX_MANIFEST_BYTES} bytes")
    try:
        data = json.loads(raw)
        return {name: Stored.from_dict(record) for name, record in data["artifacts"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StoreError(f"the artifact manifest {manifest_uri} cannot be read: {exc}") from None


def _items(raw: str, kind: type) -> list:
    data = json.loads(raw)
    if not isinstance(data, list) or not all(isinstance(item, Mapping) for item in data):
        raise ValueError("--items must be a JSON list of objects")
    return [kind(**item) for item in data]


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m polyflow.artifacts",
                                     description="Move one attempt's artifacts to or from the artifact store "
                                                 "(POLYFLOW_ARTIFACTS_STORE, POLYFLOW_ARTIFACTS_STORE_OPTIONS).")
    commands = parser.add_subparsers(dest="command", required=True)
    pull = commands.add_parser("pull", help="fetch inputs: --items '[{name, uri, path, kind}]'")
    pull.add_argument("--items", required=True)
    push = commands.add_parser("push", help="store outputs: --items '[{name, path, uri, optional}]' --manifest URI")
    push.add_argument("--items", required=True)
    push.add_argument("--manifest", required=True)
    from . import contexts

    contexts.add_command(commands)
    args = parser.parse_args(argv)

    from .store import environ_store

    report = _report_line
    try:
        store = environ_store()
        if args.command == "pull":
            pull_all(store, _items(args.items, Pull), report)
        elif args.command == "context":
            contexts.run_command(store, args)
        else:
            push_all(store, _items(args.items, Push), args.manifest, report)
    except (StoreError, ValueError, TypeError) as exc:
        print(f"polyflow: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


def _report_line(line: str) -> None:
    print(line, flush=True)
