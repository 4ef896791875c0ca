"""A Kubernetes API simulator for core/v1 pods, to test pipelines (and Polyflow's
Kubernetes backend) without a cluster.

Start it from a shell::

    python -m polyflow.testing.kube --port 8001

or in-process, in a background thread::

    from polyflow.testing.kube import KubeSimulator

    with KubeSimulator(port=0) as sim:
        configuration = kubernetes.client.Configuration(host=sim.url)
        ...

It answers the Kubernetes REST calls the official client makes for pods
(create, get, list with selectors, watch, delete, log), validates pods like a
real API server (kubernetes-validate, strict), moves them through their phases
and really runs their first container's command on this machine. Faults are
injected with `sim.inject(...)` or `POST /_sim/faults`; `sim.requests` (or
`GET /_sim/requests`) is the record of every API request. See
docs/kube-simulator.md.

Standard library, kubernetes-validate and PyYAML only: no Django.
"""

from .errors import ApiError
from .faults import FaultError
from .simulator import KubeSimulator

__all__ = ["ApiError", "FaultError", "KubeSimulator"]
