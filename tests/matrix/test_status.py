"""A group's status from its trials' (polyflow.matrix.status)."""

import pytest

from polyflow.matrix import group_status
from polyflow.spec.plan import MatrixSpec
from polyflow.statuses import OpStatus

S = OpStatus
SEARCH = MatrixSpec("grid")
RANDOM = MatrixSpec("random")
MAPPING = MatrixSpec("mapping")


@pytest.mark.parametrize(
    "matrix, statuses, status",
    [
        (SEARCH, [S.SUCCEEDED, S.RUNNING], None),
        (SEARCH, [S.FAILED, S.RETRYING], None),
        (MAPPING, [S.SUCCEEDED, S.CREATED], None),
        (SEARCH, [S.SUCCEEDED, S.FAILED, S.STOPPED, S.SKIPPED], S.SUCCEEDED),
        (RANDOM, [S.FAILED, S.SUCCEEDED], S.SUCCEEDED),
        (SEARCH, [S.FAILED, S.STOPPED, S.SKIPPED], S.FAILED),
        (MAPPING, [S.SUCCEEDED, S.SUCCEEDED], S.SUCCEEDED),
        (MAPPING, [S.SUCCEEDED, S.FAILED], S.FAILED),
        (MAPPING, [S.SUCCEEDED, S.SKIPPED], S.FAILED),
        (MAPPING, [S.SUCCEEDED, S.STOPPED], S.FAILED),
        (MAPPING, [], S.SUCCEEDED),
        (SEARCH, [], S.SUCCEEDED),
    ],
)
def test_group_status(matrix, statuses, status):
    assert group_status(matrix, statuses) == status
    assert group_status(matrix, [str(item) for item in statuses]) == status  # plain strings too
