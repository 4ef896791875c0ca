"""Applying documents: pipelines created or updated by name, action versions
added, events created or updated. Everything a set of documents holds is
applied in one transaction, or nothing is."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import yaml
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from ..backends.requirements import missing_settings, settings_now
from ..conf import polyflow_settings
from ..exceptions import Conflict, InvalidSpec, MissingSettings, NotFound, Unprocessable
from ..models import Action, Event, EventSubscription, Operation, Pipeline, PipelineSpecVersion
from ..spec import ActionSpec, Plan, RawDocument, Registry, SpecValidationError, check, parse_yaml
from ..spec.limits import Limits, limits_from
from ..spec.plan import ScheduleSpec, template_from_dict, thaw
from ..spec.schemas.documents import MAX_ACTION_VERSION
from ..spec.shell import shell_warnings
from .build_contexts import Supplies, supply_action_template, supply_plan


class DatabaseRegistry(Registry):
    """The actions and events of one owner."""

    def __init__(self, owner):
        self.owner = owner

    def action(self, name: str, version: int | None) -> ActionSpec | None:
        rows = Action.objects.filter(owner=self.owner, name=name)
        row = rows.filter(version=version).first() if version else rows.order_by("-version").first()
        if row is None:
            return None
        return ActionSpec(row.name, row.version, template_from_dict(row.template), row.description)

    def action_names(self):
        return sorted(set(Action.objects.filter(owner=self.owner).values_list("name", flat=True)))

    def has_event(self, name: str) -> bool:
        return Event.objects.filter(owner=self.owner, name=name).exists()


@dataclass
class ApplyResult:
    pipelines: list[tuple[Pipeline, bool]] = field(default_factory=list)  # (pipeline, created)
    actions: list[Action] = field(default_factory=list)
    events: list[tuple[Event, bool]] = field(default_factory=list)
    # What is valid but likely wrong: params pasted into shell scripts (spec/shell.py).
    warnings: list = field(default_factory=list)


def spec_limits() -> Limits:
    """The POLYFLOW settings that bound a spec text (docs/security.md)."""
    return limits_from(lambda name: getattr(polyflow_settings, name))


def parse_body(text: str, source: str = "body") -> list[RawDocument]:
    """A YAML (or JSON, which is YAML) text of one or more documents."""
    try:
        return parse_yaml(text, source, spec_limits())
    except SpecValidationError as error:
        raise InvalidSpec.from_spec_errors(error.errors) from None


def apply_text(project, text: str, **kwargs) -> ApplyResult:
    raws = parse_body(text, kwargs.pop("source", "body"))
    contents = {raws[0].source: text} if len(raws) == 1 else {}
    return apply_documents(project, raws, contents=contents, **kwargs)


def apply_documents(
    project,
    raws: list[RawDocument],
    *,
    user=None,
    expect_kind: str | None = None,
    mode: str = "apply",
    expect_name: str | None = None,
    contents: dict[str, str] | None = None,
    now=None,
    supplies: Supplies | None = None,
) -> ApplyResult:
    """Validate documents against the owner's registry and store them.

    `expect_kind` restricts the body to a single document of that kind (the
    pipeline and action endpoints). `mode` is "apply" (create or update),
    "create" (409 when the pipeline exists) or "update" (404 when it does not,
    and the document must keep `expect_name`). `supplies` are the spec directories of builds
    that need theirs (services/build_contexts.py). Every setting the backend lacks to run the
    pipelines is a MissingSettings naming them all (backends/requirements.py).
    """
    if expect_kind is not None:
        kinds = [raw.data.get("kind") if isinstance(raw.data, dict) else None for raw in raws]
        if kinds != [expect_kind]:
            # Unprocessable: a body of the schema's shape may carry it as its `content` text.
            raise Unprocessable(f"expected one {expect_kind} document, got {len(raws)} document(s)"
                               f" of kind {', '.join(map(str, kinds))}")
    owner = project.owner
    try:
        compilation = check(raws, registry=DatabaseRegistry(owner), require_registry=True,
                            limits=spec_limits())
    except SpecValidationError as error:
        raise InvalidSpec.from_spec_errors(error.errors) from None
    now = now or timezone.now()
    contents = contents or {}
    result = ApplyResult(warnings=shell_warnings(compilation))
    raw_by_source = {raw.source: raw for raw in raws}
    supplies = supplies or {}
    action_sources = {spec.name: raw_for(raws, "action", spec.name).source for spec in compilation.actions}
    actions = [dataclasses.replace(spec, template=supply_action_template(spec.template, action_sources[spec.name],
                                                                         supplies))
               for spec in compilation.actions]
    plans = [supply_plan(plan, compilation.sources[plan.name], supplies, action_sources)
             for plan in compilation.pipelines]
    check_settings(plans, compilation.sources)
    try:
        with transaction.atomic():
            versions = {}
            for spec in actions:
                action = _store_action(owner, spec, _content(raw_for(raws, "action", spec.name), contents), user)
                versions[spec.name] = max(versions.get(spec.name, 0), action.version)
                result.actions.append(action)
            for spec in compilation.events:
                result.events.append(_store_event(owner, spec, _content(raw_for(raws, "event", spec.name), contents)))
            for plan in plans:
                plan = _pin_action_versions(plan, versions)
                source = compilation.sources[plan.name]
                if expect_name is not None and plan.name != expect_name:
                    raise Unprocessable(f"the document's name {plan.name!r} does not match the pipeline "
                                       f"{expect_name!r}; renaming is not supported")
                result.pipelines.append(_store_pipeline(
                    project, plan, _content(raw_by_source[source], contents), user, mode, now))
    except IntegrityError:
        raise Conflict("another request changed the same objects at the same time; try again") from None
    return result


def check_settings(plans, sources: Mapping[str, str], directory_packed: bool = False) -> None:
    """Raise MissingSettings with everything this server's backend lacks to run `plans`."""
    settings = settings_now()
    missing = missing_settings(plans, settings, directory_packed)
    if missing:
        count = len(missing)
        what = "problem" if any(item.setting == "BACKEND" for item in missing) else "setting"
        raise MissingSettings(
            f"{count} {what}{'s' if count != 1 else ''} {'for' if what == 'problem' else 'missing for'} the "
            f"{settings.backend} backend: "
            + "; ".join(str(item) for item in missing),
            [item.as_error(sources.get(item.pipeline, "")) for item in missing])


def raw_for(raws, kind: str, name: str) -> RawDocument:
    return next(raw for raw in raws if isinstance(raw.data, dict)
                and raw.data.get("kind") == kind and raw.data.get("name") == name)


def _content(raw: RawDocument, contents: dict[str, str]) -> str:
    if raw.source in contents:
        return contents[raw.source]
    return yaml.safe_dump(raw.data, sort_keys=False, allow_unicode=True)


def _pin_action_versions(plan: Plan, versions: dict[str, int]) -> Plan:
    """Actions stored with this apply got their version now: record it in the plan."""
    ops = tuple(
        dataclasses.replace(op, action=dataclasses.replace(op.action, version=versions[op.action.name]))
        if op.action is not None and op.action.version is None and op.action.name in versions else op
        for op in plan.ops
    )
    return dataclasses.replace(plan, ops=ops)


def _store_action(owner, spec: ActionSpec, content: str, user) -> Action:
    template = thaw(spec.template)
    existing = Action.objects.select_for_update().filter(owner=owner, name=spec.name)
    if spec.version is not None:
        same = existing.filter(version=spec.version).first()
        if same is not None:
            # Read back through the plan's form: a version stored before a field was added is the same.
            if thaw(template_from_dict(same.template)) != template:
                raise Conflict(f"action {spec.name!r} version {spec.version} exists with another template; "
                               "an action version never changes: give a new version (or none for the next)")
            return same
        version = spec.version
    else:
        version = (existing.aggregate(latest=Max("version"))["latest"] or 0) + 1
        if version > MAX_ACTION_VERSION:
            raise Conflict(f"action {spec.name!r} is at version {MAX_ACTION_VERSION}, the last there can be")
    return Action.objects.create(owner=owner, name=spec.name, version=version, description=spec.description,
                                 template=template, content=content, created_by=user)


def _store_event(owner, spec, content: str) -> tuple[Event, bool]:
    return Event.objects.update_or_create(
        owner=owner, name=spec.name,
        defaults={"description": spec.description, "inputs": thaw(spec.inputs), "content": content},
    )


def _store_pipeline(project, plan: Plan, content: str, user, mode: str, now) -> tuple[Pipeline, bool]:
    pipeline = Pipeline.objects.select_for_update().filter(project=project, name=plan.name).first()
    if pipeline is None and mode == "update":
        raise NotFound(f"pipeline {plan.name!r} not found")
    if pipeline is not None and mode == "create":
        raise Conflict(f"pipeline {plan.name!r} already exists in {project}; update it instead")
    created = pipeline is None
    plan_data = plan.to_dict()
    old_schedule = None if created else pipeline.plan.get("schedule")
    if created:
        pipeline = Pipeline(project=project, name=plan.name, created_by=user)
    if created or old_schedule != plan_data["schedule"]:
        # An edited schedule goes on after the slots already created or dropped (docs/scheduler.md):
        # the runs, the counters and the newest slot stay, and the next tick decides the next slot.
        pipeline.schedule_start_at = schedule_anchor(old_schedule, plan.schedule, pipeline.schedule_start_at, now)
        pipeline.last_slot_at = newest_slot(pipeline.last_slot_at, None if created else _newest_run_slot(pipeline))
        pipeline.next_slot_at = None
        pipeline.schedule_done = False
    pipeline.description = plan.description
    changed = created or pipeline.content != content
    pipeline.content = content
    pipeline.plan = plan_data
    pipeline.save()
    if changed:
        keep_spec_version(pipeline, content, user, first=created)
    _sync_operations(pipeline, plan, plan_data["ops"], created)
    _sync_subscriptions(pipeline, plan, created)
    return pipeline, created


def keep_spec_version(pipeline: Pipeline, content: str, user, first: bool = False) -> PipelineSpecVersion:
    """The text just applied as the pipeline's next version (under the pipeline's row lock, which
    _store_pipeline holds: two applies never take the same number); `first`: a new pipeline's."""
    latest = 0 if first else pipeline.spec_versions.aggregate(latest=Max("version"))["latest"] or 0
    return PipelineSpecVersion.objects.create(pipeline=pipeline, version=latest + 1, content=content,
                                              created_by=user)


def schedule_anchor(old_schedule: Mapping | None, schedule: ScheduleSpec | None, anchor: dt.datetime | None,
                    now: dt.datetime) -> dt.datetime | None:
    """Where the pipeline's schedule starts: its start_at, or else when it was applied.

    An update of a schedule that had no start_at before either keeps the time
    it was first applied: editing the frequency does not move the slots' origin
    to the time of the edit.
    """
    if schedule is None:
        return None
    if schedule.start_at is not None:
        return schedule.start_at
    if old_schedule is not None and old_schedule.get("start_at") is None and anchor is not None:
        return anchor
    return now


def newest_slot(*slots: dt.datetime | None) -> dt.datetime | None:
    return max((slot for slot in slots if slot is not None), default=None)


def _newest_run_slot(pipeline: Pipeline) -> dt.datetime | None:
    return pipeline.runs.aggregate(newest=Max("schedule_at"))["newest"]


def _sync_operations(pipeline: Pipeline, plan: Plan, specs: list[dict], created: bool) -> None:
    """The pipeline's Operation rows and edges as the plan has them; `specs` are its ops as stored
    in the pipeline's plan (made once). A pipeline just created has none to read or delete."""
    position = {name: index for index, name in enumerate(plan.order)}
    existing = {}
    if not created:
        pipeline.operations.exclude(name__in=position).delete()
        existing = {op.name: op for op in pipeline.operations.all()}
    new, kept = [], []
    for op, spec in zip(plan.ops, specs, strict=True):
        row = existing.get(op.name)
        if row is None:
            row = existing[op.name] = Operation(pipeline=pipeline, name=op.name)
            new.append(row)
        else:
            kept.append(row)
        row.position, row.spec = position[op.name], spec
    Operation.objects.bulk_create(new)
    Operation.objects.bulk_update(kept, ["position", "spec"])
    edges = Operation.upstream.through
    if not created:
        edges.objects.filter(from_operation__pipeline=pipeline).delete()
    edges.objects.bulk_create([
        edges(from_operation_id=existing[down].pk, to_operation_id=existing[up].pk) for up, down in plan.edges
    ])


def _sync_subscriptions(pipeline: Pipeline, plan: Plan, created: bool) -> None:
    events = Event.objects.filter(owner=pipeline.project.owner, name__in=plan.events)
    if not created:
        pipeline.subscriptions.exclude(event__in=events).delete()
    EventSubscription.objects.bulk_create(
        [EventSubscription(event=event, pipeline=pipeline) for event in events], ignore_conflicts=True
    )

