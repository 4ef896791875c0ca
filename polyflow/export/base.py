"""What every export target returns, and how it refuses what it cannot carry.

The rule (issue 13): a feature of the plan that the target cannot express is
never dropped silently. Where the target can emulate it, the export carries it
and adds a warning naming the feature and the emulation; where it cannot, the
export fails with `NotCarried`, listing every such feature at once, each with
the place in the pipeline it comes from (`ops.train.trigger`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Warning_:
    """A feature carried only approximately: where it is and how it is carried."""

    where: str  # a path in the pipeline: "ops.train.skip_on_upstream_skip", "schedule"
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class Export:
    target: str  # "airflow", "argo"
    text: str  # the file: a DAG's Python source, a Workflow's YAML
    filename: str  # a name to save it under: "<pipeline>.py", "<pipeline>.yaml"
    media_type: str  # "text/x-python", "application/yaml"
    warnings: tuple[Warning_, ...] = field(default=())


class NotCarried(Exception):
    """Features of the plan the target has no way to express."""

    def __init__(self, target: str, problems: Iterable[Warning_]):
        self.target = target
        self.problems = tuple(problems)
        listed = "; ".join(str(problem) for problem in self.problems)
        super().__init__(f"cannot export to {target}: {listed}")


# Rules under which an op may run after an upstream failed: the failure is then "handled" for an
# engine that judges a run by its last tasks (Airflow's leaf tasks, Argo's).
RUN_AFTER_FAILURE = frozenset({"all_failed", "all_done", "one_failed", "one_done", "one_succeeded"})


def judged_by_last_tasks(plan, engine: str, run: str, succeeded: str = "succeeded") -> Warning_ | None:
    """The warning for ops that may run after a failure: where Polyflow fails the run, `engine`, judging
    it by its last tasks, may call it a success (`succeeded`: the engine's word for it)."""
    handlers = [op.name for op in plan.ops if op.dependencies and op.trigger in RUN_AFTER_FAILURE]
    if not handlers:
        return None
    return Warning_(f"ops.{handlers[0]}.trigger",
                    f"{', '.join(handlers)} may run after a failure: {engine} judges a {run} by its last tasks, so "
                    f"a failure followed by such an op that succeeds leaves the {run} {succeeded}, where the "
                    f"Polyflow run is failed")
