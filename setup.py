"""A shim for tools that look for setup.py: every piece of Polyflow's metadata (name, version,
dependencies, extras, entry points) is in pyproject.toml (PEP 621), read by setuptools."""

from setuptools import setup

setup()
