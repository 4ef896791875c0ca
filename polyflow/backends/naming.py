"""Deterministic names of attempts (pod names, local run directories): DESIGN section 7."""

from __future__ import annotations

import hashlib

MAX_LABEL = 63


def attempt_key(pipeline: str, op: str, run_uuid: str, attempt: int) -> str:
    """`<pipeline>-<op>-<run short uuid>-<attempt>`, trimmed to a DNS-1123 label.

    When the name is too long, the pipeline-op part is cut and a hash of it
    appended, so two long names that share a prefix still differ.
    """
    suffix = f"-{run_uuid.replace('-', '')[:8]}-{attempt}"
    base = f"{pipeline}-{op}"
    room = MAX_LABEL - len(suffix)
    if len(base) > room:
        digest = hashlib.sha1(base.encode()).hexdigest()[:8]
        base = f"{base[: room - len(digest) - 1].rstrip('-')}-{digest}"
    return base + suffix
