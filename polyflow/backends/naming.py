"""Deterministic names of attempts (pod names, local run directories): DESIGN section 7."""

from __future__ import annotations

import hashlib

MAX_LABEL = 63


def label(base: str, suffix: str) -> str:
    """`base + suffix` as a DNS-1123 label: a base too long is cut and a hash
    of it appended, so two long names that share a prefix still differ."""
    room = MAX_LABEL - len(suffix)
    if len(base) > room:
        digest = hashlib.sha1(base.encode()).hexdigest()[:8]
        base = f"{base[: room - len(digest) - 1].rstrip('-')}-{digest}"
    return base + suffix


def attempt_key(pipeline: str, op: str, run_uuid: str, attempt: int, trial: int | None = None) -> str:
    """`<pipeline>-<op>-<run short uuid>-<attempt>`, trimmed to a DNS-1123 label; a matrix
    trial's is `<pipeline>-<op>-t<trial>-<run short uuid>-<attempt>`."""
    trial_part = "" if trial is None else f"-t{trial}"
    return label(f"{pipeline}-{op}", f"{trial_part}-{run_uuid.replace('-', '')[:8]}-{attempt}")
