"""Exports: a Polyflow pipeline's plan written out for another engine.

Each target is a module with ``export(plan, **options) -> Export``; the CLI
(`polyflow export`) and the API (`.../pipelines/{name}/export/?to=`) find it
here by name, so neither knows the targets' modules.
"""

from __future__ import annotations

import importlib

from .base import Export, NotCarried, Warning_

TARGETS = {
    "airflow": "polyflow.export.airflow",
    "argo": "polyflow.export.argo",
}

__all__ = ["TARGETS", "Export", "NotCarried", "Warning_", "exporter"]


def exporter(target: str):
    """The `export` function of a target; ValueError naming the targets for an unknown one."""
    if target not in TARGETS:
        raise ValueError(f"unknown export target {target!r}: choose one of {', '.join(sorted(TARGETS))}")
    return importlib.import_module(TARGETS[target]).export
