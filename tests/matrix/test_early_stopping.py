"""Early-stopping policies: when each fires and what it stops (polyflow.matrix.early_stopping)."""

import pytest

from polyflow.matrix import TrialView, Verdict, early_stop
from polyflow.matrix.early_stopping import POLICIES
from polyflow.matrix.errors import MatrixError
from polyflow.spec.plan import EarlyStoppingSpec
from polyflow.statuses import OpStatus

S = OpStatus


def trial(index, status, step=None, **metrics):
    return TrialView(index, status, metrics, step)


ACCURACY = EarlyStoppingSpec("metric_early_stopping", metric="accuracy", value=0.95)
LOSS = EarlyStoppingSpec("metric_early_stopping", metric="loss", value=0.1, optimization="minimize")
HALF = EarlyStoppingSpec("failure_early_stopping", percent=50)
MEDIAN = EarlyStoppingSpec("median_early_stopping", metric="accuracy", min_samples=2, min_steps=5)


def test_the_registry():
    assert list(POLICIES) == ["metric_early_stopping", "failure_early_stopping", "median_early_stopping"]


@pytest.mark.parametrize(
    "policies, trials, verdict",
    [
        ([ACCURACY], [], None),
        ([ACCURACY], [trial(0, S.RUNNING, accuracy=0.9), trial(1, S.SUCCEEDED, accuracy=0.94)], None),
        # Reached by a running trial: the group stops, that trial finishes.
        ([ACCURACY], [trial(0, S.RUNNING, accuracy=0.96), trial(1, S.CREATED), trial(2, S.RUNNING, accuracy=0.5)],
         Verdict("metric_early_stopping: accuracy reached 0.96 >= 0.95 (trial 0)", True, keep=frozenset({0}))),
        # At the value counts; the best trial is named, every running one that met it is kept.
        ([ACCURACY], [trial(0, S.RUNNING, accuracy=0.95), trial(1, S.SUCCEEDED, accuracy=0.99),
                      trial(2, S.STARTING, accuracy=0.97)],
         Verdict("metric_early_stopping: accuracy reached 0.99 >= 0.95 (trial 1)", True, keep=frozenset({0, 2}))),
        # A failed or stopped trial's values do not count; nor do non-numbers.
        ([ACCURACY], [trial(0, S.FAILED, accuracy=0.99), trial(1, S.STOPPED, accuracy=0.99),
                      trial(2, S.RUNNING, accuracy=True), trial(3, S.RUNNING, accuracy=float("nan"))], None),
        ([LOSS], [trial(0, S.SUCCEEDED, loss=0.2), trial(1, S.SUCCEEDED, loss=0.05), trial(2, S.SUCCEEDED, loss=0.05)],
         Verdict("metric_early_stopping: loss reached 0.05 <= 0.1 (trial 1)", True)),
        ([HALF], [trial(0, S.FAILED), trial(1, S.RUNNING), trial(2, S.CREATED), trial(3, S.CREATED)], None),
        ([HALF], [trial(0, S.FAILED), trial(1, S.FAILED), trial(2, S.RUNNING), trial(3, S.CREATED)],
         Verdict("failure_early_stopping: 2 of 4 trials failed (50% >= 50%)", True)),
        ([EarlyStoppingSpec("failure_early_stopping", percent=30)],
         [trial(0, S.FAILED), trial(1, S.SUCCEEDED), trial(2, S.SUCCEEDED)],
         Verdict("failure_early_stopping: 1 of 3 trials failed (33.3% >= 30%)", True)),
        ([EarlyStoppingSpec("failure_early_stopping", percent=0.5)], [trial(0, S.SUCCEEDED)], None),
        # The first policy that stops the group decides.
        ([HALF, ACCURACY], [trial(0, S.FAILED), trial(1, S.SUCCEEDED, accuracy=0.99)],
         Verdict("failure_early_stopping: 1 of 2 trials failed (50% >= 50%)", True)),
        ([ACCURACY, HALF], [trial(0, S.FAILED), trial(1, S.SUCCEEDED, accuracy=0.99)],
         Verdict("metric_early_stopping: accuracy reached 0.99 >= 0.95 (trial 1)", True)),
    ],
)
def test_group_policies(policies, trials, verdict):
    assert early_stop(policies, trials) == verdict


FINISHED = [trial(0, S.SUCCEEDED, accuracy=0.8), trial(1, S.SUCCEEDED, accuracy=1.0)]  # median 0.9


@pytest.mark.parametrize(
    "policies, trials, verdict",
    [
        # Too few finished trials to judge.
        ([MEDIAN], FINISHED[:1] + [trial(2, S.RUNNING, step=9, accuracy=0.1)], None),
        ([MEDIAN], FINISHED + [trial(2, S.RUNNING, step=9, accuracy=0.89), trial(3, S.RUNNING, step=9, accuracy=0.9),
                               trial(4, S.RUNNING, step=4, accuracy=0.1), trial(5, S.RUNNING, accuracy=0.1),
                               trial(6, S.CREATED), trial(7, S.RUNNING, step=9)],
         Verdict("median_early_stopping: accuracy of trial 2 is below the median 0.9 of 2 succeeded trials", False,
                 stop_trials=frozenset({2}))),
        ([MEDIAN], FINISHED + [trial(2, S.RUNNING, step=5, accuracy=0.1), trial(3, S.SCHEDULED, step=6, accuracy=0.2)],
         Verdict("median_early_stopping: accuracy of trials 2, 3 are below the median 0.9 of 2 succeeded trials",
                 False, stop_trials=frozenset({2, 3}))),
        # min_steps 0: a trial that reported no step yet is judged too.
        ([EarlyStoppingSpec("median_early_stopping", metric="loss", optimization="minimize", min_samples=1)],
         [trial(0, S.SUCCEEDED, loss=0.2), trial(1, S.RUNNING, loss=0.3)],
         Verdict("median_early_stopping: loss of trial 1 is above the median 0.2 of 1 succeeded trials", False,
                 stop_trials=frozenset({1}))),
        # Two median policies single out trials together; a group policy firing wins over them.
        ([MEDIAN, EarlyStoppingSpec("median_early_stopping", metric="loss", optimization="minimize", min_samples=1)],
         [trial(0, S.SUCCEEDED, accuracy=0.8, loss=0.1), trial(1, S.SUCCEEDED, accuracy=1.0, loss=0.1),
          trial(2, S.RUNNING, step=9, accuracy=0.5, loss=0.1), trial(3, S.RUNNING, step=9, accuracy=0.95, loss=0.5)],
         Verdict("median_early_stopping: accuracy of trial 2 is below the median 0.9 of 2 succeeded trials; "
                 "median_early_stopping: loss of trial 3 is above the median 0.1 of 2 succeeded trials", False,
                 stop_trials=frozenset({2, 3}))),
        ([MEDIAN, ACCURACY], FINISHED + [trial(2, S.RUNNING, step=9, accuracy=0.5),
                                         trial(3, S.RUNNING, accuracy=0.96)],
         Verdict("metric_early_stopping: accuracy reached 1.0 >= 0.95 (trial 1)", True, keep=frozenset({3}))),
    ],
)
def test_median_stopping_stops_trials_not_the_group(policies, trials, verdict):
    assert early_stop(policies, trials) == verdict


def test_an_unknown_policy_is_an_error():
    with pytest.raises(MatrixError, match=r"^unknown early-stopping policy 'patience' \(kinds: metric_early_stopping"):
        early_stop([EarlyStoppingSpec("patience")], [])
