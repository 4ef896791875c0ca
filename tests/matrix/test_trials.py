"""A trial's view and its metric values (polyflow.matrix.trials)."""

import pytest

from polyflow.matrix import TrialView


@pytest.mark.parametrize(
    "value, read",
    [(0.5, 0.5), (3, 3), (0, 0), (True, None), ("0.5", None), (None, None), (float("nan"), None),
     (float("-inf"), None), ([1], None)],
)
def test_a_metric_value_is_a_finite_number(value, read):
    assert TrialView(0, "running", {"m": value}).value("m") == read
    assert TrialView(0, "running", {}).value("m") is None
