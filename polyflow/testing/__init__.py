"""Tools for testing pipelines without a cluster.

- `polyflow.testing.backends.InstantBackend`: a backend whose attempts finish as
  scripted, for testing the scheduler itself.
- `polyflow.testing.kube`: a Kubernetes API simulator (`python -m
  polyflow.testing.kube --port N`, needs the `kube-simulator` extra) that the
  Kubernetes backend, or any client, can talk to in CI (docs/kube-simulator.md).
"""
