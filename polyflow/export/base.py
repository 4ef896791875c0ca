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
