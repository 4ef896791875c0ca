import pytest

from polyflow.testing.backends import InstantBackend


@pytest.fixture
def backend():
    return InstantBackend()
