"""Tools for testing pipelines without a cluster: backends that finish at once
(`polyflow.testing.backends`) and, later, a Kubernetes API simulator."""
