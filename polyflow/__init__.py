"""Polyflow: a container-native engine for machine-learning pipelines on Polyaxon."""

__version__ = "0.1.0"
