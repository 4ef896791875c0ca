"""Backends run op runs: the local one as processes, the Kubernetes one as pods; the Airflow
one hands whole runs to an Airflow.

`get_backend()` returns the one chosen by `POLYFLOW["BACKEND"]`.
"""

from __future__ import annotations

from importlib import import_module

from .base import Backend, Observation, Submission, SubmitError

_BACKENDS = {
    "local": "polyflow.backends.local.LocalBackend",
    "kubernetes": "polyflow.backends.kubernetes.KubernetesBackend",
    "airflow": "polyflow.backends.airflow.AirflowBackend",
}
# The backends that run whole runs with a scheduler of their own (`Backend.runs_whole_runs`):
# known by name, for the queries that must leave their op runs to scheduler/mirror.py.
RUN_ENGINES = frozenset({"airflow"})


def get_backend(name: str | None = None) -> Backend:
    # Read here: the modules of this package that need no settings (the manifests the
    # Kubernetes simulator checks pods with, say) import without Django.
    from ..conf import polyflow_settings

    path = _BACKENDS[name or polyflow_settings.BACKEND]
    module, _, cls = path.rpartition(".")
    return getattr(import_module(module), cls)()


__all__ = ["RUN_ENGINES", "Backend", "Observation", "SubmitError", "Submission", "get_backend"]
