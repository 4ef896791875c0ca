"""The local backend's artifact moves (DESIGN section 10): the steps the runner runs
before and after the op's command, written into the attempt's spec.json.

Each step is `python -m polyflow.artifacts pull|push` (transfer.py, the same code
the pods' artifact containers run), a process of its own whose progress lines go
to the op's log as they come: the runner stays standard library only. Before the
command, `pull` fetches each artifact input into `<attempt dir>/inputs/<name>`;
after the command exited 0, `push` uploads what the op wrote in
`<attempt dir>/outputs/<name>` and then the attempt's manifest. A step that fails
fails the attempt with reason `artifacts` (local_runner.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from . import local_runner as files
from .base import Submission


def transfer_steps(submission: Submission, directory: Path) -> dict:
    """{"pull": step, "push": step} for the attempt, each only when it has something to move."""
    steps = {}
    if not (submission.artifact_inputs or submission.artifact_outputs):
        return steps
    env = store_env()
    python = sys.executable or "python3"
    if submission.artifact_inputs:
        items = [{"name": name, "uri": item.uri, "path": str(directory / files.INPUTS / name), "kind": item.kind}
                 for name, item in submission.artifact_inputs.items()]
        steps["pull"] = {"argv": [python, "-m", "polyflow.artifacts", "pull", "--items", json.dumps(items)],
                         "env": env, "what": "download the input artifacts"}
    if submission.artifact_outputs and submission.manifest_uri:
        items = [{"name": name, "path": str(directory / files.OUTPUTS_DIR / name), "uri": item.uri,
                  "optional": item.optional} for name, item in submission.artifact_outputs.items()]
        steps["push"] = {"argv": [python, "-m", "polyflow.artifacts", "push", "--items", json.dumps(items),
                                  "--manifest", submission.manifest_uri],
                         "env": env, "what": "upload the output artifacts"}
    return steps


def store_env() -> dict[str, str]:
    """The store's settings as the transfer process reads them (it loads no Django settings)."""
    from ..artifacts.store import settings_store

    store = settings_store()
    return {"POLYFLOW_ARTIFACTS_STORE": store.url,
            "POLYFLOW_ARTIFACTS_STORE_OPTIONS": json.dumps(store.options, sort_keys=True)}
