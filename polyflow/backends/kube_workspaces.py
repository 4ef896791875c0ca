"""Runs' workspaces on Kubernetes (DESIGN section 10): a PersistentVolumeClaim per run.

- `ensure`: before a run's op pod is created, its claim `polyflow-ws-<run short uuid>` is
  created (409 AlreadyExists is success: every op of the run asks, and so may a second
  scheduler); a claim this process made is not asked for again.
- `release`: `Backend.end_run` deletes the claim (404 is success).
- `sweep`: the reconciliation deletes the claims of runs that are final, or that no longer
  exist, so that a delete that failed when the run ended is done later.
"""

from __future__ import annotations

import logging

from .base import Submission
from .kube_client import ApiError, KubeClient, submit_error
from .manifests import COMPONENT_LABEL, RUN_LABEL, SELECTOR
from .pod_volumes import WORKSPACE_COMPONENT, workspace_claim, workspace_claim_name

logger = logging.getLogger("polyflow.backends.kubernetes")

WORKSPACE_SELECTOR = f"{SELECTOR},{COMPONENT_LABEL}={WORKSPACE_COMPONENT}"


class Workspaces:
    def __init__(self, client: KubeClient):
        self.client = client
        self._made: set[str] = set()

    def ensure(self, submission: Submission) -> None:
        """The run's claim exists when its first pod is created. Raises SubmitError."""
        if submission.workspace is None:
            return
        name = workspace_claim_name(submission.run_uuid)
        if name in self._made:
            return
        manifest = workspace_claim(submission.run_uuid, submission.workspace, self.client.namespace,
                                   submission.pipeline)
        try:
            self.client.create_claim(manifest)
        except ApiError as error:
            raise submit_error(error) from error
        self._made.add(name)

    def release(self, run_uuid: str) -> None:
        """Delete the run's claim. Raises ApiError (the sweep deletes it later)."""
        name = workspace_claim_name(run_uuid)
        self._made.discard(name)
        self.client.delete_claim(name)

    def sweep(self) -> list[str]:
        """Delete the claims of runs that ended (or are gone); the names deleted. Never raises."""
        from ..models import PipelineRun
        from ..statuses import RUN_FINAL

        try:
            claims = self.client.list_claims(WORKSPACE_SELECTOR)
        except ApiError as error:
            logger.warning("workspaces: %s", error)
            return []
        runs = {name: ((claim.get("metadata") or {}).get("labels") or {}).get(RUN_LABEL, "")
                for name, claim in claims.items()}
        uuids = [uuid for uuid in runs.values() if uuid]
        live = set()
        if uuids:
            try:
                live = {str(uuid) for uuid in PipelineRun.objects.filter(uuid__in=uuids).exclude(
                    status__in=RUN_FINAL).values_list("uuid", flat=True)}
            except Exception as error:  # noqa: BLE001 - a bad label must not stop the reconciliation
                logger.warning("workspaces: cannot read the runs of the claims: %s", error)
                return []
        deleted = []
        for name, uuid in sorted(runs.items()):
            if uuid and uuid not in live:
                try:
                    self.client.delete_claim(name)
                except ApiError as error:
                    logger.warning("workspaces: %s (deleted at the next reconciliation)", error)
                    continue
                self._made.discard(name)
                deleted.append(name)
        if deleted:
            logger.info("workspaces: deleted the claims of ended runs: %s", ", ".join(deleted))
        return deleted
