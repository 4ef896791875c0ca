import pytest

from .support import make_users, seed


@pytest.fixture
def users(db):
    return make_users()


@pytest.fixture
def seeded(users):
    return seed(users)
