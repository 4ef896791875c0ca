"""What an attempt's container runs, shared by the local and Kubernetes backends.

Pure functions of a `Submission` (DESIGN section 2): the command and args with
`{{ params.<name> }}` and `{{ globals.<name> }}` substituted, and the
environment variables an op finds its inputs in. Files (`$POLYFLOW_PARAMS_FILE`,
`$POLYFLOW_OUTPUTS_FILE`) are the backend's business: each adds their paths.

Values become text the way a shell user expects: strings as they are, numbers
with `str`, booleans `true`/`false`, dicts and lists as JSON, datetimes in ISO
8601, and None (an optional input left empty) as the empty string.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Mapping

from ..spec.references import ENV_PREFIX, ExpressionError, Reference, env_var_name, render  # noqa: F401
from .base import Submission, SubmitError

# Kubernetes expands `$(VAR)` in a container's command, args and env values with the variables
# defined for it, and reads `$$` as `$`: https://kubernetes.io/docs/tasks/inject-data-application/
# define-interdependent-environment-variables/
_KUBE_REFERENCE = re.compile(r"\$\$|\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)")


def kube_expand(text: str, variables: Mapping[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: defined references are replaced, `$$` is `$`, others stay."""

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return variables[name] if name in variables else match.group(0)

    return _KUBE_REFERENCE.sub(replace, text)


def kube_literal(text: str) -> str:
    """`text` as it must be written for Kubernetes' expansion to give it back unchanged: a param's
    value is data, and `key=$(API_KEY)` in it must not become the template's secret."""
    return text.replace("$", "$$")


def jsonable(value: object) -> object:
    """`value` with read-only mappings, tuples and datetimes made JSON-safe."""
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def localized(submission: Submission, inputs_dir: str) -> Submission:
    """The submission as the op sees it: each artifact input's URI replaced by the path the
    backend downloads it to, `<inputs_dir>/<input name>`, in its params (and so in its command
    and environment)."""
    if not submission.artifact_inputs:
        return submission
    params = dict(submission.params)
    for name in submission.artifact_inputs:
        params[name] = f"{inputs_dir.rstrip('/')}/{name}"
    return dataclasses.replace(submission, params=params)


def as_text(value: object) -> str:
    """A value as the text a command line or an environment variable holds."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Mapping | list | tuple):
        # Sorted like the references module formats embedded values.
        return json.dumps(jsonable(value), sort_keys=True)
    return str(value)


def global_values(submission: Submission) -> dict[str, object]:
    """run_uuid, schedule_at, op_name, attempt and trial, from the globals or the submission."""
    values: dict[str, object] = {
        "run_uuid": submission.run_uuid,
        "schedule_at": None,
        "op_name": submission.op,
        "attempt": submission.attempt,
        "trial": submission.trial,
    }
    values.update(submission.globals)
    return values


def _lookup(submission: Submission):
    globals_ = global_values(submission)
    template = submission.template

    def lookup(ref: Reference) -> str:
        if ref.namespace == "params":
            if ref.name in submission.params:
                return kube_literal(as_text(submission.params[ref.name]))
            if template.input(ref.name) is not None:
                return ""  # an optional input without a value
            known = ", ".join(io.name for io in template.inputs) or "none"
            raise SubmitError(
                f"template {template.name!r}: unknown param {ref.name!r} in its command (inputs: {known})",
                permanent=True,
            )
        if ref.namespace == "globals":
            if ref.name not in globals_:
                raise SubmitError(
                    f"template {template.name!r}: unknown global {ref.name!r} in its command "
                    f"(globals: {', '.join(globals_)})",
                    permanent=True,
                )
            return kube_literal(as_text(globals_[ref.name]))
        raise SubmitError(
            f"template {template.name!r}: '{{{{ {ref} }}}}' is only allowed in op params, not in a command",
            permanent=True,
        )

    return lookup


def render_command(submission: Submission) -> tuple[list[str], list[str]]:
    """The container's command and args with every expression substituted, as a container spec
    holds them: the values put in are written for Kubernetes' `$(VAR)` expansion (`$` as `$$`),
    so that they reach the process as they are (`as_received`).

    Raises SubmitError(permanent=True) for an expression that cannot be filled
    in (the compiler rejects them, so only a hand-made plan reaches this).
    """
    container = submission.template.container
    lookup = _lookup(submission)
    try:
        command = [as_text(render(part, lookup)) for part in container.command]
        args = [as_text(render(part, lookup)) for part in container.args]
    except ExpressionError as error:
        raise SubmitError(f"template {submission.template.name!r}: {error}", permanent=True) from None
    return command, args


def as_received(argv: list[str], env: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
    """The argv and env a container's process gets from those of its spec: Kubernetes expands
    each env value with the variables defined before it, then the command and args with all of
    them. The local backend applies it too, so that an op sees the same values on both."""
    received: dict[str, str] = {}
    for name, value in env.items():
        received[name] = kube_expand(value, received)
    return [kube_expand(part, received) for part in argv], received


def param_env(submission: Submission) -> dict[str, str]:
    """The environment an op sees: the container's own env, then Polyflow's variables.

    Polyflow's come last, so a template cannot mask them. Params absent from
    the submission (optional inputs without a value) have no variable; a
    param whose value is None has an empty one.
    """
    env = {str(name): as_text(value) for name, value in submission.template.container.env.items()}
    for name, value in submission.params.items():
        env[env_var_name(name)] = kube_literal(as_text(value))
    globals_ = global_values(submission)
    env["POLYFLOW_RUN_UUID"] = as_text(globals_["run_uuid"])
    env["POLYFLOW_OP_NAME"] = as_text(globals_["op_name"])
    env["POLYFLOW_ATTEMPT"] = as_text(globals_["attempt"])
    env["POLYFLOW_SCHEDULE_AT"] = as_text(globals_["schedule_at"])
    if globals_.get("trial") is not None:
        env["POLYFLOW_TRIAL"] = as_text(globals_["trial"])
    return env
