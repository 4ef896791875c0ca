"""Where a build's context comes from (pure; docs/kubernetes.md "Build contexts").

- a `context` with a scheme (`git://`, `s3://`, `gs://`, `https://...tar.gz`, `dir://`) or an
  absolute path is given to kaniko as it is;
- none, or a relative one, is the spec file's directory (or that sub-directory of it): packed
  at apply time by `polyflow apply`/`polyflow run`, or uploaded or named over the API. Until
  then the build *needs a directory*; after, its BuildSpec holds the packed context
  (`packed_uri`, `packed_digest`) or the named URL.
"""

from __future__ import annotations

import dataclasses
import re

from .plan import BuildSpec

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(context: str | None) -> bool:
    return bool(context and _SCHEME.match(context.strip()))


def relative_part(context: str | None) -> str | None:
    """The sub-directory a relative context names, None for the directory itself."""
    part = (context or "").strip().strip("/")
    return None if part in ("", ".") else part


def needs_directory(build: BuildSpec | None) -> bool:
    """A build whose context is the spec's directory (or a sub-directory of it), not supplied yet."""
    if build is None or build.packed_uri:
        return False
    context = (build.context or "").strip()
    return not (is_url(context) or context.startswith("/"))


def with_packed(build: BuildSpec, uri: str, digest: str, sub_path: str | None = None) -> BuildSpec:
    return dataclasses.replace(build, packed_uri=uri, packed_digest=digest, context_sub_path=sub_path)


def with_named(build: BuildSpec, url: str) -> BuildSpec:
    """A build without a context of its own, given a URL for its spec's directory: a relative
    context becomes a sub-path of it."""
    return dataclasses.replace(build, context=url, context_sub_path=relative_part(build.context))

