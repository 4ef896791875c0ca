"""The compiled plan: immutable plain data that the scheduler consumes.

A plan never refers back to the documents: templates are resolved (inline or
snapshotted from the registry), defaults are filled in and the order is fixed.
`to_dict`/`from_dict` give a JSON-safe form for storing a plan in the database.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType

# Values that freeze returns as they are, checked by exact type first: isinstance with an
# abstract class is slow, and a large plan freezes hundreds of thousands of values.
_PLAIN = frozenset({str, int, float, bool, type(None)})


def freeze(value: object) -> object:
    kind = value.__class__
    if kind in _PLAIN:
        return value
    if kind is dict or isinstance(value, Mapping):
        return MappingProxyType({key: freeze(item) for key, item in value.items()})
    if kind is list or kind is tuple or isinstance(value, list | tuple):
        return tuple([freeze(item) for item in value])
    return value


def thaw(value: object) -> object:
    if dataclasses.is_dataclass(value):
        return {
            item.name: _THAW.get((type(value), item.name), thaw)(getattr(value, item.name))
            for item in dataclasses.fields(value)
            if item.init
        }
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(item) for item in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


EMPTY = MappingProxyType({})


def _empty_mapping():
    # A field default must be hashable; a read-only view is shared safely.
    return field(default_factory=lambda: EMPTY)


@dataclass(frozen=True)
class IOSpec:
    name: str
    type: str = "any"
    default: object = None
    has_default: bool = False
    is_optional: bool = False
    is_list: bool = False
    options: tuple | None = None
    description: str = ""

    @property
    def required(self) -> bool:
        return not self.has_default and not self.is_optional


@dataclass(frozen=True)
class ContainerSpec:
    image: str | None = None
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = _empty_mapping()
    working_dir: str | None = None
    # {name, mount_path, read_only, sub_path} each, naming environment.volumes (DESIGN section 10).
    volume_mounts: tuple[Mapping, ...] = ()


@dataclass(frozen=True)
class BuildSpec:
    dockerfile: str = "Dockerfile"
    context: str | None = None
    image: str | None = None
    build_args: Mapping[str, str] = _empty_mapping()
    # Set at apply time, never by a spec (docs/kubernetes.md "Build contexts"): the packed
    # context in the artifact store (its URI and digest), and a sub-directory of the context
    # (packed or named by URL) to build in.
    packed_uri: str | None = None
    packed_digest: str | None = None
    context_sub_path: str | None = None


@dataclass(frozen=True)
class EnvironmentSpec:
    node_selector: Mapping[str, str] = _empty_mapping()
    affinity: Mapping = _empty_mapping()
    tolerations: tuple[Mapping, ...] = ()
    service_account: str | None = None
    image_pull_secrets: tuple[str, ...] = ()
    secret_refs: tuple[str, ...] = ()
    config_map_refs: tuple[str, ...] = ()
    resources: Mapping[str, Mapping[str, str]] = _empty_mapping()
    labels: Mapping[str, str] = _empty_mapping()
    annotations: Mapping[str, str] = _empty_mapping()
    max_restarts: int | None = None
    # Kubernetes volumes as Kubernetes writes them: {name, <source>: {...}} (camelCase inside).
    volumes: tuple[Mapping, ...] = ()


@dataclass(frozen=True)
class WorkspaceSpec:
    """A pipeline's `workspace` (DESIGN section 10): one volume per run that every op mounts."""

    size: str = "1Gi"
    storage_class: str | None = None
    access_mode: str = "ReadWriteOnce"
    mount_path: str = "/polyflow/workspace"


@dataclass(frozen=True)
class TemplateSpec:
    kind: str
    name: str
    description: str = ""
    inputs: tuple[IOSpec, ...] = ()
    outputs: tuple[IOSpec, ...] = ()
    container: ContainerSpec = field(default_factory=ContainerSpec)
    build: BuildSpec | None = None
    environment: EnvironmentSpec = field(default_factory=EnvironmentSpec)

    def input(self, name: str) -> IOSpec | None:
        return self._inputs_by_name.get(name)

    def output(self, name: str) -> IOSpec | None:
        return self._outputs_by_name.get(name)

    # The first of each name, as a scan would find (the schema refuses a name given twice).
    @cached_property
    def _inputs_by_name(self) -> Mapping[str, IOSpec]:
        return MappingProxyType({io.name: io for io in reversed(self.inputs)})

    @cached_property
    def _outputs_by_name(self) -> Mapping[str, IOSpec]:
        return MappingProxyType({io.name: io for io in reversed(self.outputs)})


@dataclass(frozen=True)
class ActionRef:
    name: str
    version: int | None = None  # None: the latest version

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name} v{self.version}"


@dataclass(frozen=True)
class ActionSpec:
    name: str
    version: int | None  # None until the registry assigns the next version
    template: TemplateSpec
    description: str = ""


@dataclass(frozen=True)
class EventSpec:
    name: str
    description: str = ""
    inputs: tuple[IOSpec, ...] = ()


@dataclass(frozen=True)
class ScheduleSpec:
    kind: str
    start_at: dt.datetime | None = None
    end_at: dt.datetime | None = None
    frequency: int | None = None
    cron: str | None = None
    timezone: str = "UTC"
    limit: int | None = None
    max_runs: int | None = None
    depends_on_past: bool = False
    catchup: bool = False
    max_active_runs: int = 1


@dataclass(frozen=True)
class SpaceSpec:
    """One param's space in a matrix (DESIGN section 9): `choice`, `range`, `uniform`, ...

    `value` is normalised by the spec loader: a tuple of options for `choice`, a tuple of
    (option, probability) pairs for `pchoice`, and the numbers of the other kinds in their
    documented order: (start, stop, step) for `range`, (start, stop, num) for `linspace`,
    `logspace` and `geomspace`, (low, high[, q]) for the uniform kinds, (loc, scale[, q]) for
    the normal kinds. Bounds are values, never exponents (docs/matrix.md).
    polyflow.matrix.spaces knows each kind.
    """

    kind: str
    value: object = None

    @property
    def discrete(self) -> bool:
        """Enumerable: what a grid takes."""
        return self.kind in DISCRETE_SPACES


DISCRETE_SPACES = frozenset({"choice", "pchoice", "range", "linspace", "logspace", "geomspace"})


@dataclass(frozen=True)
class MetricSpec:
    """The metric that ranks a group's trials: a reported metric or a declared output."""

    name: str
    optimization: str = "maximize"  # or "minimize"


@dataclass(frozen=True)
class EarlyStoppingSpec:
    """One early-stopping policy of a matrix.

    kinds: `metric_early_stopping` (metric, value, optimization: a trial reached the value),
    `failure_early_stopping` (percent: that share of the trials failed),
    `median_early_stopping` (metric, optimization, min_samples, min_steps: a running trial
    worse than the median of the finished ones is stopped).
    """

    kind: str
    metric: str | None = None
    value: float | None = None
    optimization: str = "maximize"
    percent: float | None = None
    min_samples: int = 3
    min_steps: int = 0


@dataclass(frozen=True)
class MatrixSpec:
    """An op's matrix: one op run per trial (DESIGN section 9).

    `params` are in declaration order (a grid's trial order follows it; the JSON form is a
    list to keep it). `values` is a mapping's list of param sets (a tuple of mappings), or a
    reference string `{{ ops.X.outputs.Y }}` read when X has succeeded.
    """

    kind: str  # grid | random | mapping (hyperband, bayes: later kinds)
    params: Mapping[str, SpaceSpec] = _empty_mapping()
    values: tuple[Mapping, ...] | str | None = None
    num_runs: int | None = None
    seed: int | None = None
    concurrency: int | None = None
    metric: MetricSpec | None = None
    early_stopping: tuple[EarlyStoppingSpec, ...] = ()

    @property
    def is_search(self) -> bool:
        """A search succeeds when one trial did; a mapping only when every item did."""
        return self.kind != "mapping"


@dataclass(frozen=True)
class OpSpec:
    name: str
    # Where the template came from: inline by name, or an action of the registry.
    template_name: str | None
    action: ActionRef | None
    # None only for an action not resolved yet (`polyflow validate` without it).
    template: TemplateSpec | None
    dependencies: tuple[str, ...] = ()
    params: Mapping[str, object] = _empty_mapping()
    trigger: str = "all_succeeded"
    skip_on_upstream_skip: bool = False
    depends_on_past: bool = False
    max_retries: int = 0
    retry_delay: int = 60
    retry_exp_backoff: bool = False
    max_retry_delay: int = 3600
    timeout: int | None = None
    concurrency: int | None = None
    matrix: MatrixSpec | None = None
    # `cache: true` (or the pipeline's `cache`): an earlier succeeded op run of the project with
    # the same template, resolved params and input artifacts is reused (scheduler/caching.py).
    cache: bool = False


@dataclass(frozen=True)
class Plan:
    name: str
    ops: tuple[OpSpec, ...]  # in declaration order
    order: tuple[str, ...]  # a topological order of the op names
    description: str = ""
    tags: tuple[str, ...] = ()
    schedule: ScheduleSpec | None = None
    concurrency: int | None = None
    timeout: int | None = None
    events: tuple[str, ...] = ()
    workspace: WorkspaceSpec | None = None

    @cached_property
    def edges(self) -> tuple[tuple[str, str], ...]:
        return tuple((upstream, op.name) for op in self.ops for upstream in op.dependencies)

    @cached_property
    def _by_name(self) -> Mapping[str, OpSpec]:
        return MappingProxyType({op.name: op for op in self.ops})

    def op(self, name: str) -> OpSpec:
        return self._by_name[name]

    def downstream(self, name: str) -> tuple[str, ...]:
        return tuple(down for up, down in self.edges if up == name)

    @property
    def unresolved_actions(self) -> tuple[ActionRef, ...]:
        return tuple(dict.fromkeys(op.action for op in self.ops if op.template is None))

    def to_dict(self) -> dict:
        return thaw(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> Plan:
        return _build(cls, data)


def _io(data) -> IOSpec:
    return _build(IOSpec, data)


def template_from_dict(data: Mapping) -> TemplateSpec:
    return _build(TemplateSpec, data)


def _datetime(value):
    return None if value is None else dt.datetime.fromisoformat(value)


def _spaces_to_dict(params: Mapping[str, SpaceSpec]) -> list[dict]:
    # A list, not a mapping: PostgreSQL's jsonb keeps no key order, and a grid's trial order
    # (and a random search's draws) follow the order the params are declared in.
    return [{"name": name, **thaw(space)} for name, space in params.items()]


def _spaces_from_dict(data: Sequence[Mapping] | Mapping[str, Mapping]) -> Mapping[str, SpaceSpec]:
    if isinstance(data, Mapping):  # a mapping of name -> space is read too
        data = [{"name": name, **space} for name, space in data.items()]
    return MappingProxyType({item["name"]: _build(SpaceSpec, item) for item in data})


# Fields whose JSON form is not the generic one (see thaw).
_THAW = {(MatrixSpec, "params"): _spaces_to_dict}


# How to rebuild the nested dataclass fields from their JSON form.
_NESTED = {
    (Plan, "ops"): lambda items: tuple(_build(OpSpec, item) for item in items),
    (Plan, "schedule"): lambda data: data and _build(ScheduleSpec, data),
    (Plan, "workspace"): lambda data: data and _build(WorkspaceSpec, data),
    (OpSpec, "template"): lambda data: data and template_from_dict(data),
    (OpSpec, "action"): lambda data: data and _build(ActionRef, data),
    (TemplateSpec, "inputs"): lambda items: tuple(map(_io, items)),
    (TemplateSpec, "outputs"): lambda items: tuple(map(_io, items)),
    (TemplateSpec, "container"): lambda data: _build(ContainerSpec, data),
    (TemplateSpec, "build"): lambda data: data and _build(BuildSpec, data),
    (TemplateSpec, "environment"): lambda data: _build(EnvironmentSpec, data),
    (ActionSpec, "template"): template_from_dict,
    (EventSpec, "inputs"): lambda items: tuple(map(_io, items)),
    (OpSpec, "matrix"): lambda data: data and _build(MatrixSpec, data),
    (MatrixSpec, "params"): _spaces_from_dict,
    (MatrixSpec, "metric"): lambda data: data and _build(MetricSpec, data),
    (MatrixSpec, "early_stopping"): lambda items: tuple(_build(EarlyStoppingSpec, item) for item in items),
    (ScheduleSpec, "start_at"): _datetime,
    (ScheduleSpec, "end_at"): _datetime,
}


def _build(cls, data: Mapping):
    names = {item.name for item in dataclasses.fields(cls) if item.init}
    kwargs = {}
    for key, value in data.items():
        if key in names:
            convert = _NESTED.get((cls, key))
            kwargs[key] = convert(value) if convert else freeze(value)
    return cls(**kwargs)


def action_from_dict(data: Mapping) -> ActionSpec:
    return _build(ActionSpec, data)


def event_from_dict(data: Mapping) -> EventSpec:
    return _build(EventSpec, data)
