"""Backends run op runs: the local one as processes, the Kubernetes one as pods.

`get_backend()` returns the one chosen by `POLYFLOW["BACKEND"]`.
"""

from __future__ import annotations

from importlib import import_module

from .base import Backend, Observation, Submission, SubmitError

_BACKENDS = {
    "local": "polyflow.backends.local.LocalBackend",
    "kubernetes": "polyflow.backends.kubernetes.KubernetesBackend",
}


def get_backend(name: str | None = None) -> Backend:
    # Read here: the modules of this package that need no settings (the manifests the
    # Kubernetes simulator checks pods with, say) import without Django.
    from ..conf import polyflow_settings

    path = _BACKENDS[name or polyflow_settings.BACKEND]
    module, _, cls = path.rpartition(".")
    return getattr(import_module(module), cls)()


__all__ = ["Backend", "Observation", "SubmitError", "Submission", "get_backend"]
