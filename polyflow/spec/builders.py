"""Turn validated document data (dicts from the schemas) into plan dataclasses."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from .plan import (
    ActionSpec,
    BuildSpec,
    ContainerSpec,
    EarlyStoppingSpec,
    EnvironmentSpec,
    EventSpec,
    IOSpec,
    MatrixSpec,
    MetricSpec,
    ScheduleSpec,
    SpaceSpec,
    TemplateSpec,
    freeze,
)


def io_spec(data: dict) -> IOSpec:
    options = data.get("options")
    return IOSpec(
        name=data["name"],
        type=data["type"],
        default=freeze(data.get("default")),
        has_default=data.get("default") is not None,
        is_optional=data["is_optional"],
        is_list=data["is_list"],
        options=None if options is None else freeze(options),
        description=data.get("description", ""),
    )


def template_spec(data: dict) -> TemplateSpec:
    container = data.get("container") or {}
    build = data.get("build")
    return TemplateSpec(
        kind=data["kind"],
        name=data["name"],
        description=data.get("description", ""),
        inputs=tuple(map(io_spec, data.get("inputs") or ())),
        outputs=tuple(map(io_spec, data.get("outputs") or ())),
        container=ContainerSpec(
            image=container.get("image"),
            command=tuple(container.get("command") or ()),
            args=tuple(container.get("args") or ()),
            env=freeze({var["name"]: var["value"] for var in container.get("env") or ()}),
            working_dir=container.get("working_dir"),
            volume_mounts=freeze(container.get("volume_mounts") or ()),
        ),
        build=None if build is None else BuildSpec(**freeze(build)),
        environment=EnvironmentSpec(**freeze(data.get("environment") or {})),
    )


def action_spec(data: dict) -> ActionSpec:
    return ActionSpec(
        name=data["name"],
        version=data.get("version"),
        template=template_spec(data["template"]),
        description=data.get("description", ""),
    )


def event_spec(data: dict) -> EventSpec:
    return EventSpec(
        name=data["name"],
        description=data.get("description", ""),
        inputs=tuple(map(io_spec, data.get("inputs") or ())),
    )


def _aware(moment: dt.datetime | None, zone: str) -> dt.datetime | None:
    """Naive times are read in the schedule's time zone (UTC unless a cron says otherwise)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=zoneinfo.ZoneInfo(zone))


def schedule_spec(data: dict | None) -> ScheduleSpec | None:
    if data is None:
        return None
    zone = data.get("timezone", "UTC")
    values = dict(data)
    values["start_at"] = _aware(data.get("start_at"), zone)
    values["end_at"] = _aware(data.get("end_at"), zone)
    return ScheduleSpec(**values)


def matrix_spec(data: dict | None) -> MatrixSpec | None:
    if data is None:
        return None
    metric = data.get("metric")
    spaces = {name: SpaceSpec(space["kind"], freeze(space["value"]))
              for name, space in (data.get("params") or {}).items()}
    return MatrixSpec(
        kind=data["kind"],
        params=freeze(spaces),
        values=freeze(data.get("values")),
        num_runs=data.get("num_runs"),
        seed=data.get("seed"),
        concurrency=data.get("concurrency"),
        metric=None if metric is None else MetricSpec(**metric),
        early_stopping=tuple(EarlyStoppingSpec(**policy) for policy in data.get("early_stopping") or ()),
    )
