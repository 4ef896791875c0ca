"""Early-stopping policies (DESIGN section 9): whether a group, or some of its trials, stop now.

One function per policy kind, in POLICIES. A policy reads the trials as the
scheduler last saw them and returns a Verdict or None; the scheduler applies it
(skips pending trials, stops running ones).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ..spec.errors import choices_text
from ..spec.plan import EarlyStoppingSpec
from ..statuses import OP_SUBMITTED, OpStatus
from .errors import MatrixError
from .ranking import MAXIMIZE, best_of, better, reached
from .spaces import tidy
from .trials import TrialView

# A trial handed to a backend and not final: it may report metrics, and be stopped.
RUNNING = OP_SUBMITTED


@dataclass(frozen=True)
class Verdict:
    policy: str  # a sentence naming the policy that fired and why
    stop_group: bool  # no more trials start; pending ones are skipped, running ones stopped except `keep`
    stop_trials: frozenset[int] = frozenset()  # running trials to stop while the group goes on
    keep: frozenset[int] = frozenset()  # running trials that met a metric threshold: they finish


def metric_early_stopping(policy: EarlyStoppingSpec, trials: Sequence[TrialView]) -> Verdict | None:
    """A running or succeeded trial has the metric at the value or beyond: the search found
    what it looked for. The running trials that met it finish (their results are wanted)."""
    met = [(value, trial) for trial in trials
           if trial.status in RUNNING | {OpStatus.SUCCEEDED}
           and (value := trial.value(policy.metric)) is not None
           and reached(value, policy.value, policy.optimization)]
    if not met:
        return None
    value, trial = best_of(met, policy.optimization)
    sign = ">=" if policy.optimization == MAXIMIZE else "<="
    return Verdict(f"metric_early_stopping: {policy.metric} reached {value} {sign} {policy.value} "
                   f"(trial {trial.index})", stop_group=True,
                   keep=frozenset(trial.index for _, trial in met if trial.status in RUNNING))


def failure_early_stopping(policy: EarlyStoppingSpec, trials: Sequence[TrialView]) -> Verdict | None:
    """The failed trials reached `percent` of all the group's trials (pending ones count)."""
    failed = sum(trial.status == OpStatus.FAILED for trial in trials)
    if not failed or failed * 100 < policy.percent * len(trials):
        return None
    return Verdict(f"failure_early_stopping: {failed} of {len(trials)} trials failed "
                   f"({failed * 100 / len(trials):.3g}% >= {policy.percent:g}%)", stop_group=True)


def median_early_stopping(policy: EarlyStoppingSpec, trials: Sequence[TrialView]) -> Verdict | None:
    """Once `min_samples` trials succeeded with a value of the metric, a running trial past
    `min_steps` whose latest value is worse than their median is stopped; the group goes on."""
    finished = [value for trial in trials
                if trial.status == OpStatus.SUCCEEDED and (value := trial.value(policy.metric)) is not None]
    if len(finished) < policy.min_samples:
        return None
    import statistics  # with fractions and decimal: 3 ms a spec does not need

    median = statistics.median(finished)
    worse = [trial.index for trial in trials
             if trial.status in RUNNING
             and (trial.step if trial.step is not None else 0) >= policy.min_steps
             and (value := trial.value(policy.metric)) is not None
             and better(median, value, policy.optimization)]
    if not worse:
        return None
    side = "below" if policy.optimization == MAXIMIZE else "above"
    which = f"trial {worse[0]} is" if len(worse) == 1 else f"trials {', '.join(map(str, worse))} are"
    return Verdict(f"median_early_stopping: {policy.metric} of {which} {side} the median {tidy(median)} "
                   f"of {len(finished)} succeeded trials", stop_group=False, stop_trials=frozenset(worse))


POLICIES: Mapping[str, Callable[[EarlyStoppingSpec, Sequence[TrialView]], Verdict | None]] = {
    policy.__name__: policy for policy in (metric_early_stopping, failure_early_stopping, median_early_stopping)
}


def early_stop(policies: Sequence[EarlyStoppingSpec], trials: Sequence[TrialView]) -> Verdict | None:
    """The policies in the order given: the first that stops the group decides; otherwise
    the trials that policies single out are stopped together; None when no policy fires."""
    singled: list[Verdict] = []
    for policy in policies:
        decide = POLICIES.get(policy.kind)
        if decide is None:
            raise MatrixError(f"unknown early-stopping policy {policy.kind!r} (kinds: {choices_text(POLICIES)})")
        verdict = decide(policy, trials)
        if verdict is not None and verdict.stop_group:
            return verdict
        if verdict is not None:
            singled.append(verdict)
    if not singled:
        return None
    return Verdict("; ".join(verdict.policy for verdict in singled), stop_group=False,
                   stop_trials=frozenset().union(*(verdict.stop_trials for verdict in singled)))
