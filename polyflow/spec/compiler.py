"""Cross-document checks and the compilation of pipelines into plans.

Input: documents that passed their schema. Output: plans, actions and events,
or every error found, each with the path of the offending value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ..matrix.kinds import kind_of
from . import builders
from .errors import PathPart, SpecError, SpecValidationError, choices_text, describe, format_path, suggest
from .graph import CycleError, topological_order
from .limits import DEFAULT_LIMITS
from .matrix_checks import lacking, mapping_output_problem, matrix_problems
from .plan import (
    ActionRef,
    ActionSpec,
    EventSpec,
    IOSpec,
    MatrixSpec,
    OpSpec,
    Plan,
    TemplateSpec,
    WorkspaceSpec,
    freeze,
)
from .references import GLOBAL_TYPES, GLOBALS, ExpressionError, Reference, references_in, walk_strings
from .types import STRING_TYPES, reference_compatible, value_error

# The most trials a matrix may have: POLYFLOW['MAX_TRIALS']'s default (callers pass the setting).
DEFAULT_MAX_TRIALS = DEFAULT_LIMITS.trials


@dataclass(frozen=True)
class Document:
    """One validated document and where it came from (for error messages)."""

    source: str
    kind: str
    data: dict


class Registry:
    """What the compiler may look up beyond the given documents.

    The base registry knows nothing, so references to it stay unresolved; the
    database registry of the apply service subclasses it.
    """

    def action(self, name: str, version: int | None) -> ActionSpec | None:
        return None

    def action_names(self) -> Sequence[str]:
        return ()

    def has_event(self, name: str) -> bool:
        return False


@dataclass(frozen=True)
class Compilation:
    pipelines: tuple[Plan, ...] = ()
    actions: tuple[ActionSpec, ...] = ()
    events: tuple[EventSpec, ...] = ()
    # References to the registry that neither the documents nor the registry resolved.
    external_actions: Mapping[ActionRef, tuple[str, ...]] = field(default_factory=dict)
    external_events: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)  # pipeline name -> source


class _Errors:
    """Collects (path, message) pairs for one document."""

    def __init__(self, source: str):
        self.source = source
        self.items: list[SpecError] = []

    def add(self, path: Iterable[PathPart], message: str) -> None:
        self.items.append(SpecError(self.source, format_path(path), message))


def compile_documents(
    documents: Sequence[Document],
    registry: Registry | None = None,
    require_registry: bool = False,
    *,
    max_trials: int = DEFAULT_MAX_TRIALS,
) -> Compilation:
    """Check the documents against each other and compile every pipeline.

    With `require_registry`, a reference that neither the documents nor the
    registry resolve is an error (apply); without it, it is listed as external
    (validate). `max_trials` bounds a matrix's trials. Raises
    SpecValidationError with every error found.
    """
    registry = registry or Registry()
    errors: list[SpecError] = []
    actions = _local_actions(documents, errors)
    events = _local_events(documents, errors)
    resolver = _ActionResolver(actions, registry)
    for document in documents:
        if document.kind == "action":
            collector = _Errors(document.source)
            _check_template_expressions(document.data["template"], ("template",), collector)
            errors.extend(collector.items)

    plans, sources = [], {}
    external_actions: dict[ActionRef, list[str]] = {}
    external_events: dict[str, list[str]] = {}
    for document in documents:
        if document.kind != "pipeline":
            continue
        collector = _Errors(document.source)
        name = document.data["name"]
        if name in sources:
            collector.add(("name",), f"pipeline {name!r} is also defined in {sources[name]}")
        plan = _PipelineCompiler(document.data, resolver, collector, require_registry, max_trials).compile()
        for index, subscription in enumerate(document.data.get("events") or ()):
            event = subscription["name"]
            if event in events or registry.has_event(event):
                continue
            if require_registry:
                collector.add(("events", index, "name"), f"unknown event {event!r}")
            else:
                external_events.setdefault(event, []).append(name)
        errors.extend(collector.items)
        if plan is not None and name not in sources:
            plans.append(plan)
            sources[name] = document.source
            for ref in plan.unresolved_actions:
                external_actions.setdefault(ref, []).append(name)
    if errors:
        raise SpecValidationError(errors)
    return Compilation(
        pipelines=tuple(plans),
        actions=tuple(spec for spec, _ in actions.values()),
        events=tuple(events.values()),
        external_actions={ref: tuple(users) for ref, users in external_actions.items()},
        external_events={event: tuple(users) for event, users in external_events.items()},
        sources=sources,
    )


def _local_actions(documents, errors) -> dict[tuple[str, int | None], tuple[ActionSpec, str]]:
    actions: dict[tuple[str, int | None], tuple[ActionSpec, str]] = {}
    for document in documents:
        if document.kind != "action":
            continue
        spec = builders.action_spec(document.data)
        key = (spec.name, spec.version)
        if key in actions:
            version = "without a version" if spec.version is None else f"version {spec.version}"
            errors.append(SpecError(
                document.source, "name",
                f"action {spec.name!r} {version} is also defined in {actions[key][1]}",
            ))
            continue
        actions[key] = (spec, document.source)
    return actions


def _local_events(documents, errors) -> dict[str, EventSpec]:
    events: dict[str, EventSpec] = {}
    sources: dict[str, str] = {}
    for document in documents:
        if document.kind != "event":
            continue
        spec = builders.event_spec(document.data)
        if spec.name in events:
            errors.append(SpecError(
                document.source, "name", f"event {spec.name!r} is also defined in {sources[spec.name]}"
            ))
            continue
        events[spec.name], sources[spec.name] = spec, document.source
    return events


class _ActionResolver:
    """Actions given with the documents win over the registry: apply stores them first."""

    def __init__(self, local: Mapping[tuple[str, int | None], tuple[ActionSpec, str]], registry: Registry):
        self.local = {key: spec for key, (spec, _) in local.items()}
        self.registry = registry

    def resolve(self, ref: ActionRef) -> ActionSpec | None:
        if ref.version is not None:
            return self.local.get((ref.name, ref.version)) or self.registry.action(ref.name, ref.version)
        versions = [spec for (name, _), spec in self.local.items() if name == ref.name]
        if versions:
            # An action without a version becomes the next one, so it is the newest.
            return max(versions, key=lambda spec: float("inf") if spec.version is None else spec.version)
        return self.registry.action(ref.name, None)

    def known_names(self) -> list[str]:
        return sorted({name for name, _ in self.local} | set(self.registry.action_names()))


def _check_template_expressions(template: Mapping, path: tuple, errors: _Errors) -> None:
    """`{{ params.X }}` in a template's command/args must name one of its inputs."""
    inputs = [io["name"] for io in template.get("inputs") or ()]
    container = template.get("container") or {}
    for key in ("command", "args"):
        for index, text in enumerate(container.get(key) or ()):
            where = path + ("container", key, index)
            try:
                refs = list(references_in(text))
            except ExpressionError as error:
                errors.add(where, str(error))
                continue
            for ref in refs:
                if ref.namespace == "params" and ref.name not in inputs:
                    errors.add(where, f"unknown param {ref.name!r}{suggest(ref.name, inputs)} "
                                      f"(inputs: {choices_text(inputs)})")
                elif ref.namespace == "globals" and ref.name not in GLOBALS:
                    errors.add(where, _unknown_global(ref))
                elif ref.namespace == "ops":
                    errors.add(where, f"'{{{{ {ref} }}}}' is only allowed in op params: "
                                      "a template does not know the ops around it")


def _unknown_global(ref: Reference) -> str:
    return f"unknown global {ref.name!r}{suggest(ref.name, GLOBALS)} (globals: {choices_text(GLOBALS)})"


class _PipelineCompiler:
    def __init__(self, data: dict, resolver: _ActionResolver, errors: _Errors, require_registry: bool,
                 max_trials: int = DEFAULT_MAX_TRIALS):
        self.data = data
        self.resolver = resolver
        self.errors = errors
        self.require_registry = require_registry
        self.max_trials = max_trials
        self.ops_data = data["ops"]
        self.op_names = [op["name"] for op in self.ops_data]
        # Lookups by name: a list scan here would make compiling quadratic in the ops.
        self.op_index = {name: index for index, name in reversed(list(enumerate(self.op_names)))}
        self.templates: dict[str, TemplateSpec] = {}
        self._templates_of: dict[str, TemplateSpec | None] = {}

    def compile(self) -> Plan | None:
        self._collect_templates()
        self._check_unique_op_names()
        schedule = builders.schedule_spec(self.data.get("schedule"))
        ops = [self._op(index, op, schedule) for index, op in enumerate(self.ops_data)]
        order = self._order(ops)
        if self.errors.items:
            return None
        return Plan(
            name=self.data["name"],
            ops=tuple(ops),
            order=order,
            description=self.data.get("description", ""),
            tags=tuple(self.data.get("tags") or ()),
            schedule=schedule,
            concurrency=self.data.get("concurrency"),
            timeout=self.data.get("timeout"),
            events=tuple(event["name"] for event in self.data.get("events") or ()),
            workspace=WorkspaceSpec(**self.data["workspace"]) if self.data.get("workspace") else None,
        )

    def _collect_templates(self) -> None:
        for index, template in enumerate(self.data.get("templates") or ()):
            name = template["name"]
            if name in self.templates:
                self.errors.add(("templates", index, "name"), f"duplicate template name {name!r}")
                continue
            _check_template_expressions(template, ("templates", index), self.errors)
            self.templates[name] = builders.template_spec(template)

    def _check_unique_op_names(self) -> None:
        seen = set()
        for index, name in enumerate(self.op_names):
            if name in seen:
                self.errors.add(("ops", index, "name"), f"duplicate op name {name!r}")
            seen.add(name)
        # A trial's pods and directories are named `<op>-t<index>-...`: an op named like one
        # would share their names (and a backend would take one for the other).
        groups = {op.get("name") for op in self.ops_data if isinstance(op, dict) and op.get("matrix")}
        for index, name in enumerate(self.op_names):
            head, _, tail = str(name).rpartition("-t")
            if head in groups and tail.isdigit():
                self.errors.add(("ops", index, "name"), f"op name {name!r} is the name of a trial of matrix op "
                                                        f"{head!r}: choose another name")

    def _template(self, index: int, ref: dict) -> tuple[TemplateSpec | None, ActionRef | None]:
        path = ("ops", index, "template")
        if "name" in ref:
            template = self.templates.get(ref["name"])
            if template is None:
                names = list(self.templates)
                self.errors.add(path + ("name",), f"unknown template {ref['name']!r}"
                                f"{suggest(ref['name'], names)} (templates: {choices_text(names)})")
            return template, None
        action = ActionRef(ref["action"], ref.get("version"))
        spec = self.resolver.resolve(action)
        if spec is None and self.require_registry:
            names = self.resolver.known_names()
            if action.version and action.name in names:
                message = f"unknown version {action.version} of action {action.name!r}"
            else:
                message = f"unknown action {action.name!r}{suggest(action.name, names)}"
            self.errors.add(path + ("action",), f"{message} (actions: {choices_text(names)})")
        if spec is not None and action.version is None and spec.version is not None:
            action = ActionRef(action.name, spec.version)  # record the version used
        return (spec.template if spec else None), action

    def _op(self, index: int, data: dict, schedule) -> OpSpec:
        template, action = self._template(index, data["template"])
        dependencies = self._dependencies(index, data)
        matrix = builders.matrix_spec(data.get("matrix"))
        params = self._params(index, data, template, dependencies, matrix)
        if matrix is not None:
            self._matrix(index, data, matrix, template, dependencies)
        environment_retries = template.environment.max_restarts if template else None
        return OpSpec(
            name=data["name"],
            template_name=data["template"].get("name"),
            action=action,
            template=template,
            dependencies=tuple(dependencies),
            params=freeze(params),
            trigger=data["trigger"],
            skip_on_upstream_skip=data["skip_on_upstream_skip"],
            depends_on_past=data["depends_on_past"] or bool(schedule and schedule.depends_on_past),
            max_retries=_first_given(data.get("max_retries"), environment_retries),
            retry_delay=data["retry_delay"],
            retry_exp_backoff=data["retry_exp_backoff"],
            max_retry_delay=data["max_retry_delay"],
            timeout=data.get("timeout"),
            concurrency=data.get("concurrency"),
            matrix=matrix,
            cache=bool(data["cache"] if data.get("cache") is not None else self.data.get("cache", False)),
        )

    def _dependencies(self, index: int, data: dict) -> list[str]:
        dependencies = []
        for position, name in enumerate(data.get("dependencies") or ()):
            path = ("ops", index, "dependencies", position)
            if name == data["name"]:
                self.errors.add(path, f"op {name!r} cannot depend on itself")
            elif name not in self.op_index:
                self.errors.add(path, self._unknown_op(name))
            elif name in dependencies:
                self.errors.add(path, f"duplicate dependency {name!r}")
            else:
                dependencies.append(name)
        return dependencies

    def _unknown_op(self, name: str) -> str:
        return f"unknown op {name!r}{suggest(name, self.op_names)} (ops: {choices_text(self.op_names)})"

    def _params(self, index, data, template, dependencies, matrix: MatrixSpec | None) -> dict:
        """Check params against the template's inputs; add dependencies for output references.

        Defaults fill the inputs that neither params nor a matrix space give; a required
        input is also given when every trial of the matrix gives it (a mapping read at run
        time is checked then).
        """
        params = dict(data.get("params") or {})
        path = ("ops", index, "params")
        for name, value in params.items():
            refs = self._references(path + (str(name),), data["name"], value, dependencies)
            if template is None or refs is None:
                continue
            declared = template.input(name) if isinstance(name, str) else None
            if declared is None:
                names = [io.name for io in template.inputs]
                self.errors.add(path + (str(name),), f"unknown param {name!r} for template "
                                f"{template.name!r}{suggest(name, names)} (inputs: {choices_text(names)})")
                continue
            self._check_value(path + (name,), declared, value, refs)
        if template is None:
            return params
        spaces = matrix.params if matrix else {}
        given = kind_of(matrix).given(matrix) if matrix else frozenset()
        for declared in template.inputs:
            if declared.name in params or declared.name in spaces:
                continue
            if declared.has_default:
                params[declared.name] = declared.default
            elif not declared.is_optional and given is not None and declared.name not in given:
                self.errors.add(path, f"missing required input {declared.name!r} "
                                f"of template {template.name!r}{lacking(matrix, declared.name)}")
        return params

    def _matrix(self, index, data, matrix: MatrixSpec, template, dependencies) -> None:
        path = ("ops", index, "matrix")
        for inner, message in matrix_problems(matrix, template, data.get("params") or {}, self.max_trials):
            self.errors.add(path + inner, message)
        if isinstance(matrix.values, str):
            self._mapping_reference(path + ("values",), data["name"], matrix.values, dependencies)

    def _mapping_reference(self, path, op_name, text: str, dependencies) -> None:
        """A mapping's values by reference: one upstream output that is a list of param mappings."""
        try:
            refs = list(references_in(text))
        except ExpressionError as error:
            self.errors.add(path, str(error))
            return
        if len(refs) != 1 or not refs[0].whole or refs[0].namespace != "ops" or refs[0].part != "outputs":
            self.errors.add(path, "expected a list of param mappings or one '{{ ops.OP.outputs.NAME }}', "
                                  f"got {describe(text)}")
            return
        ref = refs[0]
        if not self._check_reference(path, op_name, ref):
            return
        if ref.op not in dependencies:
            dependencies.append(ref.op)
        template = self._template_of(ref.op)
        output = template.output(ref.name) if template else None
        if output is not None and (problem := mapping_output_problem(ref, output, self._has_matrix(ref.op))):
            self.errors.add(path, problem)

    def _matrix_of(self, op_name: str) -> dict | None:
        """The matrix of another op as its schema loaded it."""
        return self.ops_data[self.op_index[op_name]].get("matrix")

    def _has_matrix(self, op_name: str) -> bool:
        return self._matrix_of(op_name) is not None

    def _references(self, path, op_name, value, dependencies) -> list[Reference] | None:
        """The expressions of a param value, or None when any of them is wrong."""
        if value.__class__ in _NO_TEXT or (value.__class__ is str and "{{" not in value):
            return []  # most values: nothing to walk
        refs, valid = [], True
        for inner, text in walk_strings(value):
            try:
                found = list(references_in(text))
            except ExpressionError as error:
                self.errors.add(path + inner, str(error))
                valid = False
                continue
            for ref in found:
                if not self._check_reference(path + inner, op_name, ref):
                    valid = False
                    continue
                refs.append(ref)
                if ref.namespace == "ops" and ref.op not in dependencies:
                    dependencies.append(ref.op)
        return refs if valid else None

    def _check_reference(self, path, op_name, ref: Reference) -> bool:
        if ref.namespace == "globals":
            if ref.name not in GLOBALS:
                self.errors.add(path, _unknown_global(ref))
                return False
            return True
        if ref.namespace == "params":
            self.errors.add(path, f"'{{{{ {ref} }}}}' is only allowed in a template's command "
                            "and args; an op param takes a value or '{{ ops.OP.outputs.NAME }}'")
            return False
        if ref.op == op_name:
            own = f"output {ref.name!r}" if ref.part == "outputs" else "best trial"
            self.errors.add(path, f"op {op_name!r} cannot use its own {own}")
            return False
        if ref.op not in self.op_index:
            self.errors.add(path, self._unknown_op(ref.op))
            return False
        if ref.part != "outputs" and (problem := self._best_problem(ref)):
            self.errors.add(path, problem)
            return False
        template = self._template_of(ref.op)
        if ref.part != "best.params" and template is not None and template.output(ref.name) is None:
            names = [io.name for io in template.outputs]
            self.errors.add(path, f"op {ref.op!r} has no output {ref.name!r}"
                            f"{suggest(ref.name, names)} (outputs: {choices_text(names)})")
            return False
        return True

    def _best_problem(self, ref: Reference) -> str | None:
        """`best.*` needs a matrix with a metric; `best.params.P` an input P of its template."""
        matrix = self._matrix_of(ref.op)
        if matrix is None:
            return f"op {ref.op!r} has no matrix: '{{{{ {ref} }}}}' needs a matrix op with a metric"
        if "metric" not in matrix:
            return f"the matrix of op {ref.op!r} has no metric: '{{{{ {ref} }}}}' needs one to rank its trials"
        template = self._template_of(ref.op)
        if ref.part == "best.params" and template is not None and template.input(ref.name) is None:
            names = [io.name for io in template.inputs]
            return (f"op {ref.op!r} has no param {ref.name!r}{suggest(ref.name, names)} "
                    f"(params: {choices_text(names)})")
        return None

    def _template_of(self, op_name: str) -> TemplateSpec | None:
        # Memoised: references read the templates of upstream ops again and again.
        try:
            return self._templates_of[op_name]
        except KeyError:
            pass
        ref = self.ops_data[self.op_index[op_name]]["template"]
        if "name" in ref:
            template = self.templates.get(ref["name"])
        else:
            spec = self.resolver.resolve(ActionRef(ref["action"], ref.get("version")))
            template = spec.template if spec else None
        self._templates_of[op_name] = template
        return template

    def _check_value(self, path, declared, value, refs: list[Reference]) -> None:
        if (problem := self._artifact_problem(declared, value, refs)) is not None:
            self.errors.add(path, problem)
            return
        if len(refs) == 1 and refs[0].whole:
            problem = self._reference_type_problem(refs[0], declared)
            if problem:
                self.errors.add(path, problem)
            return
        if refs:
            if isinstance(value, str) and declared.type in STRING_TYPES | {"any"} and not declared.is_list:
                return  # the string is only known once its expressions are filled in
            if not isinstance(value, str):
                return  # expressions inside a list or mapping: checked at submit time
        error = value_error(declared.type, value, declared.is_list, declared.options)
        if error:
            self.errors.add(path, error)

    def _artifact_problem(self, declared: IOSpec, value, refs: list[Reference]) -> str | None:
        """An input of type `path` that references a `path` output is an artifact, downloaded
        before the op starts (DESIGN section 10): it must be that one reference, to one artifact.
        Other inputs may take a path output's URI as text (`str`, `uri`, `any`): not downloaded."""
        if declared.type != "path":
            return None
        artifacts = [ref for ref in refs if self._is_path_output(ref)]
        if not artifacts:
            return None
        ref = artifacts[0]
        if len(refs) != 1 or not ref.whole or not isinstance(value, str):
            return (f"input {declared.name!r} (type path) takes an artifact as the whole value "
                    f"'{{{{ {ref} }}}}': an artifact is downloaded as one file or directory, it cannot be "
                    f"part of a longer value")
        if ref.part == "outputs" and self._has_matrix(ref.op):
            best = f"'{{{{ ops.{ref.op}.best.outputs.{ref.name} }}}}' (a matrix with a metric)"
            return (f"output {ref.name!r} of matrix op {ref.op!r} is a list of artifacts (one per trial), "
                    f"but input {declared.name!r} (type path) takes one: use {best}")
        if declared.is_list:
            return f"input {declared.name!r} is a list: an artifact input takes one artifact"
        return None

    def _is_path_output(self, ref: Reference) -> bool:
        if ref.namespace != "ops" or ref.part == "best.params":
            return False
        template = self._template_of(ref.op)
        output = template.output(ref.name) if template else None
        return output is not None and output.type == "path"

    def _reference_type_problem(self, ref: Reference, declared: IOSpec) -> str | None:
        """Whether a whole-value reference fits the input: a group's outputs are lists over its
        trials, its best trial's outputs and params have their declared types."""
        if ref.namespace == "globals":
            given, what = GLOBAL_TYPES[ref.name], f"global {ref.name!r}"
        else:
            template = self._template_of(ref.op)
            if ref.part == "best.params":
                io, what = (template.input(ref.name) if template else None), f"best param {ref.name!r}"
            else:
                io = template.output(ref.name) if template else None
                what = f"{'best ' if ref.part == 'best.outputs' else ''}output {ref.name!r}"
            given, what = (io.type if io else "any"), f"{what} of op {ref.op!r}"
            if ref.part == "outputs" and self._has_matrix(ref.op):
                if (declared.type in ("list", "any") and not declared.is_list) or (
                        declared.is_list and reference_compatible(given, declared.type)):
                    return None
                expects = f"a list of {declared.type}" if declared.is_list else declared.type
                return (f"{what} is a list (one {given} per trial), but input {declared.name!r} "
                        f"expects {expects}")
        if given == "path" and declared.type == "uri":
            return None  # an artifact's URI, as text
        if not reference_compatible(given, declared.type):
            return f"{what} has type {given}, but input {declared.name!r} expects {declared.type}"
        return None

    def _order(self, ops: list[OpSpec]) -> tuple[str, ...]:
        if self.errors.items:
            return ()
        try:
            return topological_order(self.op_names, [(up, op.name) for op in ops for up in op.dependencies])
        except CycleError as error:
            self.errors.add(("ops",), f"dependency cycle: {error}")
            return ()


_NO_TEXT = frozenset({int, float, bool, type(None)})


def _first_given(value, fallback):
    """The op's own setting, else the template's, else none (0)."""
    if value is not None:
        return value
    return 0 if fallback is None else fallback
