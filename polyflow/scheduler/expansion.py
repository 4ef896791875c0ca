"""A group starts: its trials are worked out (DESIGN section 9).

When a matrix op's trigger rule lets it run, the group moves to running and
its trials are made: a grid's product, a random search's draws, or a mapping's
items (a literal list, or an upstream op's list output, read now). A retried
group keeps the trials it has: the retry brought back only the failed ones.
Matrix values that cannot make trials (an upstream output that is not a list
of param mappings, an item naming no input) fail the group with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..conf import polyflow_settings
from ..matrix import MatrixError, expand
from ..spec.references import ExpressionError
from ..statuses import OpStatus
from .decide import OpChange, RunDecision
from .params import UnresolvedReference, resolve_params
from .snapshot import OpState, Published, RunSnapshot, params_of


def seed_of(run: RunSnapshot) -> int:
    """A random search without a seed draws from the run's own: the same trials every time
    this run's group is worked out, different ones from run to run."""
    return int(run.uuid.replace("-", "")[:8], 16)


def expand_group(decision: RunDecision, group: OpState, outputs: Mapping[str, Published]) -> bool:
    """Start `group`: record its move to running and the trials to create; True when
    there is something for another round to do (trials to submit, or a failed group's
    downstream to decide)."""
    run = decision.run
    spec = run.plan.op(group.name)
    if run.trials.get(group.name):
        _start(decision, group, f"{len(run.trials[group.name])} trial(s), resumed")
        return True
    try:
        trials = expand(spec.matrix, _values(run, spec.matrix.values, outputs),
                        inputs={io.name: io for io in spec.template.inputs}, seed=seed_of(run),
                        params=params_of(run, group.name), max_trials=polyflow_settings.MAX_TRIALS)
    except (UnresolvedReference, ExpressionError) as error:
        decision.changes.append(OpChange(group.pk, OpStatus.FAILED, "unresolved_reference", str(error)))
        return True
    except MatrixError as error:
        decision.changes.append(OpChange(group.pk, OpStatus.FAILED, "invalid_matrix",
                                         f"the matrix cannot make trials: {error}"))
        return True
    _start(decision, group, f"{len(trials)} trial(s)")
    decision.new_trials[group.pk] = trials
    return True


def _values(run: RunSnapshot, values: object, outputs: Mapping[str, Published]) -> object:
    """A mapping's items: the literal list, or the upstream output its reference names."""
    if not isinstance(values, str):
        return None  # literal (or not a mapping): the matrix itself holds them
    return resolve_params({"values": values}, outputs, {"run_uuid": run.uuid})["values"]


def _start(decision: RunDecision, group: OpState, message: str) -> None:
    # Scheduled then running at once: a group has nothing to hand to a backend itself.
    decision.changes.append(OpChange(group.pk, OpStatus.SCHEDULED, "", message))
    decision.changes.append(OpChange(group.pk, OpStatus.RUNNING, "", message))
