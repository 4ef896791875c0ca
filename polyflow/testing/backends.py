"""A backend that runs nothing: every attempt finishes as soon as it is synced.

For tests and benchmarks of the scheduler itself (its decisions, queries and
hand-off delays), without processes or pods. Outcomes are scripted per op name:
`InstantBackend(fail={"train": 2})` fails the first two attempts of `train`,
`outputs={"train": {"accuracy": 0.9}}` publishes outputs. A matrix trial is
scripted by `op[index]` (`fail={"tune[2]": 1}`), or by its op name; an outputs
entry may be a function of the submission (`lambda s: {"accuracy": s.params["lr"]}`).
Every submission is recorded, so tests can count them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping

from django.utils import timezone

from ..backends.base import FAILED, LOST, PENDING, RUNNING, SUCCEEDED, Backend, Observation, Submission


class InstantBackend(Backend):
    name = "instant"

    def __init__(self, fail: Mapping[str, int] | None = None, outputs: Mapping[str, Mapping] | None = None,
                 hold: Iterable[str] = (), store=None):
        self.fail = dict(fail or {})  # op -> how many attempts fail
        self.outputs = dict(outputs or {})
        self.hold = set(hold)  # ops that stay running until released
        self.submissions: list[Submission] = []
        self.states: dict[str, str] = {}
        self.stopped: list[str] = []
        self.finished_at: dict[str, object] = {}
        # Monotonic clock readings, for measuring hand-off delays.
        self.submitted_clock: dict[str, float] = {}
        self.finished_clock: dict[str, float] = {}
        self._by_key: dict[str, Submission] = {}
        # An artifact store (polyflow.artifacts.store.Store): a succeeded attempt then stores its path
        # outputs there (a small file each) and its manifest, as a real backend's push does. Without
        # one, nothing is stored (the scheduler finds no manifest for a template with path outputs).
        self.store = store
        self._pushed: set[str] = set()
        self._lock = threading.Lock()

    def submit(self, submission: Submission) -> str:
        with self._lock:
            if submission.key not in self._by_key:
                self._by_key[submission.key] = submission
                self.submissions.append(submission)
                self.states[submission.key] = PENDING
                self.submitted_clock[submission.key] = time.perf_counter()
        return submission.key

    def release(self, op: str) -> None:
        """Let `op` (or one trial, `op[index]`) finish."""
        self.hold.discard(op)

    def forget(self, key: str) -> None:
        """Lose an attempt, the way a deleted pod or a rebooted machine is lost."""
        self.states[key] = LOST

    def _observe(self, key: str) -> Observation:
        submission = self._by_key.get(key)
        if submission is None or self.states.get(key) == LOST:
            return Observation(LOST, reason="lost", message="the backend has no trace of it")
        if key in self.stopped:
            return Observation(FAILED, exit_code=143, reason="stopped")
        name = submission.op if submission.trial is None else f"{submission.op}[{submission.trial}]"
        if submission.op in self.hold or name in self.hold:
            return Observation(RUNNING)
        if submission.attempt <= self.fail.get(name, self.fail.get(submission.op, 0)):
            return Observation(FAILED, exit_code=1, reason="failed", message="scripted failure")
        self.finished_at.setdefault(key, timezone.now())
        self.finished_clock.setdefault(key, time.perf_counter())
        outputs = self.outputs.get(name, self.outputs.get(submission.op, {}))
        if self.store is not None and submission.manifest_uri and key not in self._pushed:
            self._push(submission)
        return Observation(SUCCEEDED, exit_code=0, outputs=outputs(submission) if callable(outputs) else outputs,
                           finished_at=self.finished_at[key])

    def _push(self, submission: Submission) -> None:
        import tempfile
        from pathlib import Path

        from ..artifacts.transfer import Push, push_all

        with tempfile.TemporaryDirectory() as scratch:
            items = []
            for name, output in submission.artifact_outputs.items():
                Path(scratch, name).write_text(f"{submission.key} {name}\n")
                items.append(Push(name, str(Path(scratch, name)), output.uri, output.optional))
            push_all(self.store, items, submission.manifest_uri, report=lambda line: None)
        self._pushed.add(submission.key)

    def sync(self, handles: Iterable[str]) -> dict[str, Observation]:
        return {handle: self._observe(handle) for handle in handles}

    def stop(self, handles: Iterable[str]) -> None:
        self.stopped.extend(handle for handle in handles if handle not in self.stopped)

    def logs(self, handle: str, tail: int | None = None) -> list[str]:
        submission = self._by_key.get(handle)
        return [f"{submission.op} attempt {submission.attempt}"] if submission else []

    def count(self, op: str | None = None) -> int:
        return sum(1 for s in self.submissions if op is None or s.op == op)
