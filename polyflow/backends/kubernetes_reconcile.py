"""Reconciling Polyflow's pods with its recorded op runs (DESIGN section 7).

Called by the tick through `KubernetesBackend.reconcile()`: once when a
scheduler process starts, then every `POLYFLOW["RECONCILE_INTERVAL"]` seconds.
One LIST of Polyflow's pods and two queries, whatever the number of pods:

- adopted: op runs recorded as `scheduled` without a handle (a submit that
  failed, or whose answer was lost) whose deterministic pod exists get that
  pod as their handle, so the sync of this tick follows it;
- resubmit: op runs `scheduled` without a handle and without a pod: the tick
  submits them again under the same name (nothing to do here);
- lost: op runs recorded with a pod that no longer exists (and no image build
  they wait for): the sync of this same tick reports them LOST, and the tick
  fails the attempt (retries apply). Statuses are written only by the tick;
- unrecorded: pods of attempts not recorded yet (a scheduler that died
  between creating the pod and committing): the next submit of that attempt
  answers 409 and adopts the pod, so none is created twice;
- stray: pods still pending or running for the attempt of an op run that ended
  (a stop whose delete was lost, an op run stopped while its submit's answer
  was lost): deleted, since nothing may run for it any more;
- orphans: Polyflow's pods with no op run at all (a run or pipeline deleted,
  another database), or of an attempt its op run will never make (the op run
  ended at an earlier attempt). They are logged and returned, not deleted:
  finished ones go with the POD_TTL clean-up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ..statuses import OP_FINAL, OP_SUBMITTED, OpStatus
from .manifests import ATTEMPT_LABEL, COMPONENT_LABEL, OP_LABEL, RUN_LABEL, TRIAL_LABEL

logger = logging.getLogger("polyflow.backends.kubernetes")


@dataclass
class ReconcileReport:
    adopted: list[str] = field(default_factory=list)  # pod names now recorded as handles
    resubmit: list[str] = field(default_factory=list)  # pod names the tick submits again
    lost: list[str] = field(default_factory=list)  # recorded handles without a pod
    unrecorded: list[str] = field(default_factory=list)  # pods of attempts not recorded yet
    orphans: list[str] = field(default_factory=list)  # pods with no op run to answer for them
    stray: list[str] = field(default_factory=list)  # pods still running for op runs that ended: deleted
    workspaces: list[str] = field(default_factory=list)  # claims of ended runs deleted (kube_workspaces.py)

    def lines(self) -> list[str]:
        return [f"{name}: {', '.join(items)}" for name, items in vars(self).items() if items]


def _labels(pod) -> dict:
    return (pod.get("metadata") or {}).get("labels") or {}


def reconcile(backend) -> ReconcileReport:
    from ..models import BuildWaiter, OperationRun

    pods = backend.client.list_pods()
    report = ReconcileReport()
    # (run, op, trial, attempt) -> pod; the trial is "" for a pod of an op that is no trial.
    by_attempt: dict[tuple[str, str, str, str], str] = {}
    for name, pod in pods.items():
        labels = _labels(pod)
        if labels.get(COMPONENT_LABEL, "op") != "op" or RUN_LABEL not in labels:
            continue
        by_attempt[(labels[RUN_LABEL], labels.get(OP_LABEL, ""), labels.get(TRIAL_LABEL, ""),
                    labels.get(ATTEMPT_LABEL, ""))] = name

    # Recorded op runs of this backend that something runs for (or should).
    recorded = OperationRun.objects.filter(
        backend=backend.name, status__in=OP_SUBMITTED | {OpStatus.STOPPING},
    ).values_list("pk", "run__uuid", "name", "trial", "attempt", "status", "handle")
    adopt = {}
    lost = []
    for pk, run_uuid, name, trial, attempt, status, handle in recorded:
        pod = by_attempt.get((str(run_uuid), name, _trial(trial), str(attempt)))
        name = name if trial is None else f"{name}[{trial}]"
        if not handle:
            if status == OpStatus.SCHEDULED and pod:
                adopt[pk] = pod
            elif status == OpStatus.SCHEDULED:
                report.resubmit.append(f"{name} of run {run_uuid} attempt {attempt}")
        elif handle not in pods:
            lost.append(handle)
    if lost:
        waiting = set(BuildWaiter.objects.filter(pod__in=lost).values_list("pod", flat=True))
        report.lost = [handle for handle in lost if handle not in waiting]
    for pk, pod in adopt.items():
        if OperationRun.objects.filter(pk=pk, status=OpStatus.SCHEDULED, handle="").update(handle=pod):
            report.adopted.append(pod)

    # Every op pod against the op runs of its run: one query for all of them.
    uuids = {run for run, _, _, _ in by_attempt}
    known = {}
    if uuids:
        for run_uuid, name, trial, attempt, status, handle in OperationRun.objects.filter(
                run__uuid__in=uuids).values_list("run__uuid", "name", "trial", "attempt", "status", "handle"):
            known[(str(run_uuid), name, _trial(trial))] = (attempt, status, handle)
    for (run_uuid, op, trial, attempt), pod in sorted(by_attempt.items(), key=lambda item: item[1]):
        record = known.get((run_uuid, op, trial))
        if record is None:
            report.orphans.append(pod)
            continue
        recorded_attempt, status, handle = record
        if status in OP_FINAL and attempt == str(recorded_attempt) and _active(pods[pod]):
            report.stray.append(pod)  # its op run ended (stopped, timed out): nothing may run for it
            continue
        if pod == handle or not attempt.isdigit() or int(attempt) < recorded_attempt:
            continue  # the current attempt's pod, or an earlier attempt's
        if int(attempt) == recorded_attempt and status == OpStatus.SCHEDULED:
            continue  # being adopted, or resubmitted under this very name
        if status in OP_FINAL:
            report.orphans.append(pod)
        else:
            report.unrecorded.append(pod)

    for line in report.lines():
        (logger.warning if line.startswith(("orphans", "lost", "stray")) else logger.info)("reconcile: %s", line)
    return report


def _trial(index: int | None) -> str:
    """A trial index as its pod label spells it; "" for an op run that is no trial."""
    return "" if index is None else str(index)


def _active(pod) -> bool:
    """Pending or running, and not being deleted already."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return ((pod.get("status") or {}).get("phase") or "Pending") in ("Pending", "Running")
