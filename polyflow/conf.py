"""Polyflow's settings: one ``POLYFLOW`` dict in the Django settings.

Read them the way DRF reads ``REST_FRAMEWORK``::

    from polyflow.conf import polyflow_settings
    polyflow_settings.BACKEND

A host project sets only the keys it changes::

    POLYFLOW = {"BACKEND": "kubernetes", "MAX_CONCURRENCY": 20}

Mistakes fail loudly (``ImproperlyConfigured``) instead of being ignored: a
misspelled key names the key it probably meant, a value of the wrong type names
the type expected.
"""

import difflib
import json
import os
from collections.abc import Mapping
from typing import Any

# Only the exception at import: `polyflow validate` reads POLYFLOW_* variables
# through this module without loading Django's settings machinery.
from django.core.exceptions import ImproperlyConfigured

DEFAULTS: dict[str, Any] = {
    # str. Where the embedded SQLite database (the standalone project's) and the
    # local backend's run directories live. A leading "~" is expanded when read.
    "HOME": "~/.polyflow",
    # str, one of BACKEND_CHOICES. What runs ops: "local" runs them as
    # subprocesses on this machine (the embedded default), "kubernetes" as pods,
    # "airflow" hands each run to an Airflow 3 (the AIRFLOW_* settings below).
    "BACKEND": "local",
    # int >= 0. The most op runs running at once across all pipelines; 0 means
    # no limit. Pipelines and ops may set lower limits of their own.
    "MAX_CONCURRENCY": 0,
    # int >= 1, seconds. How often the scheduler ticks: the period of the beat
    # entry and of a looping tick.
    "TICK_INTERVAL": 5,
    # int >= 1. How many active runs a worker claims at once (SELECT ... FOR UPDATE
    # SKIP LOCKED LIMIT n): other workers take the next ones, and a stop or retry
    # request waits at most for one batch's database work.
    "TICK_BATCH_SIZE": 50,
    # int >= 1, seconds. How long a worker's claim on a batch of runs lasts while
    # it talks to the backend with no lock held; renewed as it goes, and taken
    # over by another worker once it lapses (the worker died).
    "RUN_LEASE": 120,
    # bool. Whether a Celery worker follows the backend (the local runner's
    # signal, the Kubernetes pod watch) and advances a run the moment one of its
    # attempts ends, rather than at the next beat (which stays the safety net).
    "HANDOFF": True,
    # bool. Whether a run created or retried by a request (API, CLI, event) is
    # handed to a Celery worker at once (the `polyflow.advance_runs` task) rather
    # than waiting for the next beat. Set it where a broker is configured; the
    # standalone project does when CELERY_BROKER_URL is set.
    "WAKE_WORKERS": False,
    # int >= 1. The most trials one matrix op may have (docs/matrix.md): a grid's
    # product of spaces, a random search's num_runs, a mapping's items. Checked when
    # a pipeline is validated or applied, and again when a mapping reads its items.
    "MAX_TRIALS": 1000,
    # bool. Whether the scheduler reads the metrics ops report in their logs
    # (`polyflow:metrics {...}` lines, docs/metrics.md) while they run, at each
    # tick, and stores them on the op runs.
    "COLLECT_METRICS": True,
    # int >= 1. The most metric points kept per read of one op run's log: above
    # it, that read's points are thinned evenly (each metric's last one kept).
    "MAX_METRIC_POINTS": 1000,
    # -- Input limits (docs/security.md) ------------------------------------------
    # Each bounds what one spec text, request or value may cost to read, so that a
    # small hostile input cannot pin a core or fill the memory; each is refused at
    # once with a message naming the limit and the value (a 422 or 413, exit 1).
    # int >= 1, bytes. The largest spec text: a file given to the CLI, a YAML body.
    "MAX_SPEC_BYTES": 3_145_728,
    # int >= 1. The most documents one spec text may hold.
    "MAX_DOCUMENTS": 1000,
    # int >= 1. The most nodes a spec text may stand for once its YAML aliases are
    # expanded (a "billion laughs" is a few hundred bytes).
    "MAX_EXPANDED_NODES": 1_000_000,
    # int >= 1. The deepest nesting of lists and mappings in a document, params or a payload.
    "MAX_NESTING": 64,
    # int >= 1, characters. The longest string in a document, params or a payload
    # (a description is copied into every run's plan).
    "MAX_STRING_LENGTH": 65_536,
    # int >= 1. The most ops one pipeline may have.
    "MAX_OPS": 10_000,
    # int >= 1, bytes. The largest request body the API reads (a 413 above it).
    "MAX_REQUEST_BYTES": 8_388_608,
    # -- The kubernetes backend (docs/kubernetes.md) ------------------------------
    # str. The API server's URL, used as it is, without credentials, e.g.
    # "http://127.0.0.1:8001" (kubectl proxy, the simulator). "" (the default):
    # the kubeconfig KUBE_CONFIG when set, else the in-cluster service account
    # when KUBERNETES_SERVICE_HOST is set, else $KUBECONFIG or ~/.kube/config.
    "KUBE_HOST": "",
    # str. A kubeconfig file (its current context); "" means none in particular.
    "KUBE_CONFIG": "",
    # str. The namespace op and build pods are created in (it must exist).
    "KUBE_NAMESPACE": "default",
    # int >= 1, seconds. How long one request to the API server may take
    # before it counts as failed (and is retried).
    "KUBE_REQUEST_TIMEOUT": 10,
    # int >= 0, seconds. Finished pods (ops and builds) are deleted this long
    # after they ended, their logs archived first; 0 never deletes them.
    "POD_TTL": 3600,
    # int >= 1, seconds. How often a scheduler reconciles the pods with the
    # op runs it has recorded (and once when it starts).
    "RECONCILE_INTERVAL": 300,
    # str. Where built images are pushed: "<BUILD_REGISTRY>/<pipeline>-<template>:<hash>"
    # (e.g. "registry.example.com/ml"). Needed by templates with a build that
    # does not name its `image`.
    "BUILD_REGISTRY": "",
    # str. The kaniko executor image that builds images.
    "BUILD_EXECUTOR_IMAGE": "gcr.io/kaniko-project/executor:v1.23.2",
    # str. A secret of type kubernetes.io/dockerconfigjson with the registry's
    # credentials, mounted at /kaniko/.docker in build pods; "" mounts none.
    "BUILD_CREDENTIALS_SECRET": "",
    # str. kaniko's --context for a build whose spec was applied with no directory
    # (over the API without an upload or a named context; `polyflow apply` packs the
    # spec's directory instead), e.g. "git://github.com/org/repo.git#refs/heads/main",
    # "s3://bucket/ctx.tar.gz"; a build's relative `context` is a sub-path of it.
    "BUILD_CONTEXT": "",
    # int >= 1, bytes. The largest build context (a tar.gz) the API takes
    # (POST .../contexts/, docs/api.md); a larger upload is a 413.
    "MAX_CONTEXT_BYTES": 268_435_456,
    # -- artifacts, workspaces, caching (docs/artifacts.md) -------------------------
    # str, a URL. Where ops' `path` outputs and build contexts are stored: "file:///dir",
    # "s3://bucket/prefix", "gs://bucket/prefix", "az://container/prefix" (fsspec's
    # file systems; s3, gs and az need the s3, gcs and azure extras). "" (the default):
    # the directory "artifacts" under HOME.
    "ARTIFACTS_STORE": "",
    # dict. fsspec storage options of the store's file system, as they are, e.g.
    # {"endpoint_url": "http://minio:9000", "client_kwargs": {"region_name": "eu-west-1"}}
    # for S3. Keep credentials out of it: the processes that talk to the store read them
    # from their environment (AWS_ACCESS_KEY_ID, GOOGLE_APPLICATION_CREDENTIALS, ...).
    "ARTIFACTS_STORE_OPTIONS": {},
    # str. A Kubernetes Secret whose keys become the environment of the containers
    # that move artifacts in op pods (e.g. AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY);
    # "" gives them none (a file store, or credentials from the node or service account).
    "ARTIFACTS_CREDENTIALS_SECRET": "",
    # str. The image of the containers that download and upload artifacts in op pods:
    # one with this version of Polyflow installed (`python -m polyflow.artifacts`).
    "ARTIFACTS_IMAGE": "polyflow/polyflow:latest",
    # int >= 0, seconds. How old an op run may be for a cached op (`cache: true`) to
    # reuse its outputs; 0: cached results never expire.
    "CACHE_TTL": 0,
    # -- host integration ----------------------------------------------------------
    # list of str, dotted paths of DRF authentication classes. How Polyflow's API
    # authenticates requests, whatever the host's REST_FRAMEWORK defaults are. The
    # first class's challenge answers a request without credentials (Token: a 401).
    # Keep SessionAuthentication: the dashboard's buttons call the API with the session.
    "AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # list of str, dotted paths of DRF permission classes. Who may call the API at
    # all; what each user may do in a project is Polyflow's own rule (owner, members'
    # roles, staff) on top of these.
    "PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # -- The airflow backend (docs/interop.md, "The Airflow backend") -------------
    # str. The Airflow API server's URL, e.g. "http://airflow-api:8080"; needed by
    # BACKEND "airflow". Polyflow talks to its REST API v2 (Airflow 3).
    "AIRFLOW_URL": "",
    # str. The user and password a token is asked for with (POST /auth/token).
    "AIRFLOW_USERNAME": "",
    "AIRFLOW_PASSWORD": "",
    # str. The DAG folder Airflow's DAG processor reads (a volume both can reach):
    # Polyflow writes each run's DAG file there. Needed by BACKEND "airflow".
    "AIRFLOW_DAGS_FOLDER": "",
    # str, "kubernetes" or "local". What the DAG files' tasks are: the pods Polyflow
    # would create (KubernetesPodOperator), or the ops' commands on Airflow's
    # workers (BashOperator), as `polyflow export airflow --executor` says.
    "AIRFLOW_EXECUTOR": "kubernetes",
    # int >= 1, seconds. How long one request to Airflow's API may take.
    "AIRFLOW_REQUEST_TIMEOUT": 10,
    # -- observability (docs/observability.md) -------------------------------------
    # str, one of LOG_FORMAT_CHOICES. How Polyflow's processes (`polyflow server`,
    # Celery workers) write their logs: "text" lines, or "json", one JSON object per
    # line. Either way scheduler and backend lines carry the run's uuid, pipeline,
    # op and attempt where known.
    "LOG_FORMAT": "text",
    # bool. Whether `polyflow server` logs one line per request (method, path,
    # status, duration) to the logger "polyflow.access".
    "ACCESS_LOG": True,
    # int >= 0, a TCP port. A Celery worker's main process serves its workers'
    # Prometheus metrics (ticks, batches, hand-offs, backend requests) on this
    # port, at /metrics; 0 serves none (the web processes' /metrics has them when
    # they share PROMETHEUS_MULTIPROC_DIR with the workers).
    "WORKER_METRICS_PORT": 0,
}

BACKEND_CHOICES = ("local", "kubernetes", "airflow")
AIRFLOW_EXECUTOR_CHOICES = ("kubernetes", "local")
LOG_FORMAT_CHOICES = ("text", "json")
_CHOICES: dict[str, tuple[str, ...]] = {"BACKEND": BACKEND_CHOICES, "LOG_FORMAT": LOG_FORMAT_CHOICES,
                                        "AIRFLOW_EXECUTOR": AIRFLOW_EXECUTOR_CHOICES}
_MINIMUMS: dict[str, int] = {"MAX_CONCURRENCY": 0, "TICK_INTERVAL": 1, "TICK_BATCH_SIZE": 1, "RUN_LEASE": 1,
                             "KUBE_REQUEST_TIMEOUT": 1, "MAX_CONTEXT_BYTES": 1, "POD_TTL": 0,
                             "RECONCILE_INTERVAL": 1, "MAX_METRIC_POINTS": 1, "MAX_TRIALS": 1,
                             **dict.fromkeys(("MAX_SPEC_BYTES", "MAX_DOCUMENTS", "MAX_EXPANDED_NODES", "MAX_NESTING",
                                              "MAX_STRING_LENGTH", "MAX_OPS", "MAX_REQUEST_BYTES"), 1),
                             "WORKER_METRICS_PORT": 0, "CACHE_TTL": 0, "AIRFLOW_REQUEST_TIMEOUT": 1}

# Imported where they are used; polyflow/checks.py reports one that cannot be.
_DOTTED_PATH_LISTS = frozenset({"AUTHENTICATION_CLASSES", "PERMISSION_CLASSES"})

_TYPE_NAMES = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    dict: "a mapping",
    list: "a list",
}

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _problem(key: str, value: Any) -> str | None:
    """What is wrong with ``value`` for ``key``, or None when it is acceptable."""
    expected = type(DEFAULTS[key])
    # bool is a subclass of int: True must not pass as a concurrency of 1, nor 1
    # as a boolean.
    if isinstance(value, bool) != (expected is bool):
        return f"expected {_TYPE_NAMES[expected]}"
    if expected is float:
        type_ok = isinstance(value, int | float)
    else:
        type_ok = isinstance(value, expected)
    if not type_ok:
        return f"expected {_TYPE_NAMES[expected]}"
    if key in _CHOICES and value not in _CHOICES[key]:
        return f"expected one of {', '.join(_CHOICES[key])}"
    if key in _MINIMUMS and value < _MINIMUMS[key]:
        return f"expected at least {_MINIMUMS[key]}"
    if key in _DOTTED_PATH_LISTS and not all(isinstance(item, str) and item for item in value):
        return "expected a list of dotted paths (strings)"
    return None


def _unknown_key_message(key: Any, where: str) -> str:
    message = f"Unknown key {key!r} in {where}"
    # Compare upper-cased: "max_concurrency" should still find MAX_CONCURRENCY.
    close = difflib.get_close_matches(str(key).upper(), DEFAULTS, n=1)
    if close:
        message += f"; did you mean {close[0]!r}?"
    return f"{message} (valid keys: {', '.join(sorted(DEFAULTS))})"


def validate_settings(user_settings: Any) -> dict[str, Any]:
    """Check a POLYFLOW dict and return it; raise ImproperlyConfigured on the first error."""
    if not isinstance(user_settings, Mapping):
        raise ImproperlyConfigured(
            f"settings.POLYFLOW must be a dict, not {type(user_settings).__name__}"
        )
    for key, value in user_settings.items():
        if key not in DEFAULTS:
            raise ImproperlyConfigured(_unknown_key_message(key, "settings.POLYFLOW"))
        problem = _problem(key, value)
        if problem:
            raise ImproperlyConfigured(f"settings.POLYFLOW[{key!r}] = {value!r}: {problem}")
    return dict(user_settings)


class PolyflowSettings:
    """Attribute access to POLYFLOW with defaults filled in.

    Values are cached on first access; ``reload()`` forgets them (called when a
    test overrides ``POLYFLOW``). ``user_settings`` may be given to read a dict
    other than ``settings.POLYFLOW``.
    """

    def __init__(self, user_settings: Mapping[str, Any] | None = None):
        self._explicit = user_settings
        self._user_settings: dict[str, Any] | None = None
        self._cached: set[str] = set()

    @property
    def user_settings(self) -> dict[str, Any]:
        if self._user_settings is None:
            raw = self._explicit
            if raw is None:
                from django.conf import settings

                raw = getattr(settings, "POLYFLOW", {})
            self._user_settings = validate_settings(raw)
        return self._user_settings

    def __getattr__(self, attr: str) -> Any:
        # Only reached for attributes not set yet, i.e. uncached settings.
        if attr not in DEFAULTS:
            raise AttributeError(f"Invalid Polyflow setting: {attr!r}")
        value = self.user_settings.get(attr, DEFAULTS[attr])
        if attr == "HOME":
            value = os.path.expanduser(value)
        self._cached.add(attr)
        setattr(self, attr, value)
        return value

    def reload(self) -> None:
        for attr in self._cached:
            delattr(self, attr)
        self._cached.clear()
        self._user_settings = None


polyflow_settings = PolyflowSettings()


def reload_polyflow_settings(*, setting: str, **kwargs: Any) -> None:
    """A receiver of Django's `setting_changed` (connected by PolyflowConfig.ready)."""
    if setting == "POLYFLOW":
        polyflow_settings.reload()


def parse_bool(raw: str) -> bool:
    """Parse true/false, 1/0, yes/no, on/off (any case); raise ValueError otherwise."""
    word = raw.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(raw)


def _parse_env(expected: type, raw: str) -> Any:
    """Parse ``raw`` as ``expected``; raise ValueError with the expectation on failure."""
    try:
        if expected is bool:
            return parse_bool(raw)
        if expected is int:
            return int(raw.strip())
        if expected is float:
            return float(raw.strip())
    except ValueError:
        raise ValueError(f"expected {_TYPE_NAMES[expected]}") from None
    if expected in (dict, list):
        json_name = "a JSON object" if expected is dict else "a JSON array"
        try:
            value = json.loads(raw)
        except ValueError:
            raise ValueError(f"expected {json_name}") from None
        if not isinstance(value, expected):
            raise ValueError(f"expected {json_name}")
        return value
    return raw


def settings_from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    """Build a POLYFLOW dict from ``POLYFLOW_<KEY>`` environment variables.

    Each key of DEFAULTS can be set this way (``POLYFLOW_BACKEND=kubernetes``),
    parsed by the type of its default: integers, booleans (true/false, 1/0,
    yes/no, on/off), strings as they are, dicts and lists as JSON. An empty
    variable counts as unset, so ``POLYFLOW_BACKEND=`` means the default.

    Other ``POLYFLOW_*`` variables are ignored, not errors: the standalone
    project reads a few of its own (``POLYFLOW_SECRET_KEY``, ``POLYFLOW_DEBUG``,
    ``POLYFLOW_ALLOWED_HOSTS``) and ops see ``POLYFLOW_PARAMS_FILE`` and the like
    at run time, so unknown names are expected in the environment.
    """
    result: dict[str, Any] = {}
    for key in DEFAULTS:
        value = _from_environ(key, environ)
        if value is not _UNSET:
            result[key] = value
    return result


_UNSET = object()


def _from_environ(key: str, environ: Mapping[str, str]) -> Any:
    """``POLYFLOW_<KEY>`` parsed and checked, or _UNSET when it is unset or empty."""
    name = f"POLYFLOW_{key}"
    raw = environ.get(name, "")
    if raw == "":
        return _UNSET
    try:
        value = _parse_env(type(DEFAULTS[key]), raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r}: {exc}") from None
    problem = _problem(key, value)
    if problem:
        raise ImproperlyConfigured(f"{name}={raw!r}: {problem}")
    return value


def environ_setting(key: str, environ: Mapping[str, str] | None = None) -> Any:
    """One setting from ``POLYFLOW_<KEY>``, else its default: for commands that load no
    Django settings (``polyflow validate``). Other variables are not read."""
    value = _from_environ(key, os.environ if environ is None else environ)
    return DEFAULTS[key] if value is _UNSET else value
