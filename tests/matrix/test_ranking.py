"""The best trial by a metric (polyflow.matrix.ranking)."""

import pytest

from polyflow.matrix import TrialView, best_trial
from polyflow.matrix.ranking import better, reached
from polyflow.spec.plan import MetricSpec
from polyflow.statuses import OpStatus

S = OpStatus
ACCURACY = MetricSpec("accuracy")
LOSS = MetricSpec("loss", "minimize")


def trial(index, status=S.SUCCEEDED, **metrics):
    return TrialView(index, status, metrics)


@pytest.mark.parametrize(
    "trials, metric, best",
    [
        ([], ACCURACY, None),
        ([trial(0, accuracy=0.5), trial(1, accuracy=0.9), trial(2, accuracy=0.7)], ACCURACY, 1),
        ([trial(0, loss=0.5), trial(1, loss=0.9), trial(2, loss=0.1)], LOSS, 2),
        # Ties go to the lowest index, whatever the order given.
        ([trial(3, accuracy=0.9), trial(1, accuracy=0.9), trial(2, accuracy=0.5)], ACCURACY, 1),
        # Only succeeded trials with a finite number count.
        ([trial(0, S.RUNNING, accuracy=0.99), trial(1, S.FAILED, accuracy=0.99), trial(2, accuracy=0.1)], ACCURACY, 2),
        ([trial(0, accuracy=float("inf")), trial(1, accuracy=float("nan")), trial(2, accuracy=True),
          trial(3, accuracy="0.9"), trial(4, accuracy=None), trial(5)], ACCURACY, None),
        ([trial(0, accuracy=1), trial(1, accuracy=0.5)], ACCURACY, 0),
    ],
)
def test_best_trial(trials, metric, best):
    assert best_trial(trials, metric) == best


def test_comparisons():
    assert better(2, 1, "maximize") and not better(1, 1, "maximize")
    assert better(1, 2, "minimize") and not better(2, 2, "minimize")
    assert reached(0.95, 0.95, "maximize") and reached(0.96, 0.95, "maximize") and not reached(0.9, 0.95, "maximize")
    assert reached(0.1, 0.1, "minimize") and not reached(0.2, 0.1, "minimize")
