"""Shared helpers of the Kubernetes backend tests: plans and submissions from YAML."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
from kubernetes_validate.utils import latest_version

from polyflow.backends.base import Submission
from polyflow.backends.naming import attempt_key
from polyflow.scheduler.params import resolve_params
from polyflow.spec import check, parse_yaml, read_file

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "examples" / "test-pipeline.yaml"
SEED_ACTION = ROOT / "examples" / "actions" / "deep-wide-model.yaml"
RUN_UUID = "4b1c0d2e-9f8a-4e6b-8c7d-123456789abc"
KUBE_VERSION = latest_version()  # the newest Kubernetes version kubernetes-validate knows


def validate(manifest: dict) -> None:
    """kubernetes-validate, strict (unknown fields are errors), for the newest version."""
    kubernetes_validate.validate(manifest, KUBE_VERSION, strict=True)


def seed_plan():
    raws = list(read_file(str(SEED_ACTION))) + list(read_file(str(SEED)))
    return check(raws).pipelines[0]


def plan_of(text: str, **kwargs):
    return check(parse_yaml(text, "test.yaml"), **kwargs).pipelines[0]


def submission_for(plan, op_name: str, attempt: int = 1, run_uuid: str = RUN_UUID, schedule_at: str = "",
                   project: str = "7") -> Submission:
    op = plan.op(op_name)
    globals_ = {"run_uuid": run_uuid, "op_name": op.name, "attempt": attempt, "schedule_at": schedule_at}
    return Submission(
        key=attempt_key(plan.name, op.name, run_uuid, attempt), pipeline=plan.name, op=op.name,
        run_uuid=run_uuid, attempt=attempt, template=op.template,
        params=resolve_params(op.params, {}, globals_), globals=globals_, timeout=op.timeout, project=project,
    )
