"""Templates: what one op runs (inputs, outputs, container, build, environment)."""

from __future__ import annotations

import re

from marshmallow import ValidationError, validates_schema

from .. import fields as f
from ..types import IO_TYPES, type_error, value_error
from .base import StrictSchema, validates_always
from .volumes import VolumeMountSchema, VolumesField, mount_errors

# Paths a pod of Polyflow's mounts itself (docs/kubernetes.md): no volume mount may overlap them.
RESERVED_MOUNT_PATHS = ("/polyflow/params.json", "/polyflow/inputs", "/polyflow/outputs", "/polyflow/status",
                        "/dev/termination-log")

TEMPLATE_KINDS = ("job", "experiment")
TOLERATION_OPERATORS = ("Exists", "Equal")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
RESOURCE_NAMES = ("cpu", "memory", "gpu")
# Kubernetes label values: at most 63 of alphanumerics, '-', '_', '.'.
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class IOSchema(StrictSchema):
    what = "input/output"

    name = f.Identifier(required=True)
    type = f.Choice(IO_TYPES, what="type", load_default="any")
    default = f.Raw()
    is_optional = f.Bool(load_default=False)
    is_list = f.Bool(load_default=False)
    options = f.List(f.Raw())
    description = f.Str(allow_empty=True)

    @validates_always
    def _check_default_and_options(self, data, **kwargs):
        io_type, is_list = data.get("type", "any"), data.get("is_list", False)
        errors = {}
        for index, option in enumerate(data.get("options") or ()):
            error = value_error(io_type, option)
            if error:
                errors.setdefault("options", {})[index] = error
        if "default" in data and data["default"] is not None and not errors:
            error = value_error(io_type, data["default"], is_list, data.get("options"))
            if error:
                errors["default"] = error
        if errors:
            raise ValidationError(errors)


class EnvVarSchema(StrictSchema):
    what = "env var"

    name = f.Str(required=True)
    value = f.Str(allow_empty=True, required=True)

    @validates_always
    def _check_name(self, data, **kwargs):
        if "name" in data and not f.ENV_NAME.match(data["name"]):
            raise ValidationError(
                {"name": f"{data['name']!r} is not a valid environment variable name"}
            )


class ContainerSchema(StrictSchema):
    what = "container"

    image = f.Str()
    command = f.StrList()
    args = f.StrList(f.Str(allow_empty=True))
    env = f.List(f.Nested(EnvVarSchema))
    working_dir = f.Str()
    volume_mounts = f.List(f.Nested(VolumeMountSchema))

    @validates_always
    def _check_container(self, data, **kwargs):
        errors = {}
        if "image" in data and (error := type_error("image", data["image"])):
            errors["image"] = error
        names = [var.get("name") for var in data.get("env") or ()]
        for index, name in enumerate(names):
            if name is not None and name in names[:index]:
                errors.setdefault("env", {})[index] = {"name": f"duplicate env var {name!r}"}
        if errors:
            raise ValidationError(errors)


class BuildSchema(StrictSchema):
    what = "build"

    dockerfile = f.Str(load_default="Dockerfile")
    context = f.Str()
    image = f.Str()
    build_args = f.StrMap()


class TolerationSchema(StrictSchema):
    what = "toleration"

    key = f.Str()
    operator = f.Choice(TOLERATION_OPERATORS, what="operator", load_default="Equal")
    value = f.Str(allow_empty=True)
    effect = f.Choice(TAINT_EFFECTS, what="effect")
    toleration_seconds = f.Seconds(minimum=0)

    @validates_always
    def _check_operator(self, data, **kwargs):
        if data.get("operator") == "Exists" and data.get("value"):
            raise ValidationError({"value": "must be empty when operator is 'Exists'"})
        if data.get("operator") == "Equal" and "key" not in data:
            raise ValidationError({"key": "required when operator is 'Equal'"})


class RequestsLimitsSchema(StrictSchema):
    what = "resource"

    requests = f.Quantity()
    limits = f.Quantity()


class ResourcesSchema(StrictSchema):
    what = "resources"

    cpu = f.Nested(RequestsLimitsSchema)
    memory = f.Nested(RequestsLimitsSchema)
    gpu = f.Nested(RequestsLimitsSchema)


def _label_map_errors(labels: dict, what: str) -> dict:
    errors = {}
    for key, value in labels.items():
        prefix, _, name = key.rpartition("/")
        if not (name and len(name) <= 63 and _LABEL_VALUE.match(name)) or (
            prefix and _subdomain_error(prefix)
        ):
            errors[key] = f"{key!r} is not a valid Kubernetes {what} key"
        elif what == "label" and not (len(value) <= 63 and _LABEL_VALUE.match(value)):
            errors[key] = f"{value!r} is not a valid Kubernetes label value (at most 63 characters)"
    return errors


class EnvironmentSchema(StrictSchema):
    what = "environment"

    node_selector = f.StrMap()
    affinity = f.MappingField()
    tolerations = f.List(f.Nested(TolerationSchema))
    service_account = f.Str()
    image_pull_secrets = f.StrList()
    secret_refs = f.StrList()
    config_map_refs = f.StrList()
    resources = f.Nested(ResourcesSchema)
    labels = f.StrMap()
    annotations = f.StrMap()
    max_restarts = f.Count(minimum=0, maximum=1000)
    volumes = VolumesField()

    @validates_always
    def _check_kubernetes_names(self, data, **kwargs):
        errors = {}
        for field in ("labels", "annotations"):
            field_errors = _label_map_errors(data.get(field) or {}, field[:-1])
            if field_errors:
                errors[field] = field_errors
        for field in ("image_pull_secrets", "secret_refs", "config_map_refs"):
            for index, name in enumerate(data.get(field) or ()):
                error = _subdomain_error(name)
                if error:
                    errors.setdefault(field, {})[index] = error
        if data.get("service_account"):
            error = _subdomain_error(data["service_account"])
            if error:
                errors["service_account"] = error
        if errors:
            raise ValidationError(errors)


def _subdomain_error(name: str) -> str | None:
    if len(name) <= 253 and _SUBDOMAIN.match(name):
        return None
    return f"{name!r} is not a valid Kubernetes object name (lowercase letters, digits, '-' and '.')"


class TemplateSchema(StrictSchema):
    what = "template"

    kind = f.Choice(TEMPLATE_KINDS, what="template kind", required=True)
    name = f.Name(required=True)
    description = f.Str(allow_empty=True)
    inputs = f.List(f.Nested(IOSchema))
    outputs = f.List(f.Nested(IOSchema))
    container = f.Nested(ContainerSchema)
    build = f.Nested(BuildSchema)
    environment = f.Nested(EnvironmentSchema)

    @validates_schema
    def _check_template(self, data, **kwargs):
        errors = {}
        for field in ("inputs", "outputs"):
            names = [io["name"] for io in data.get(field) or ()]
            for index, name in enumerate(names):
                if name in names[:index]:
                    errors.setdefault(field, {})[index] = {"name": f"duplicate {field[:-1]} {name!r}"}
        container = data.get("container") or {}
        if not container.get("image") and "build" not in data:
            where = "container" if "container" in data else "_schema"
            errors.setdefault(where, []).append(
                "a template needs container.image, or a build section that makes the image"
            )
        if container.get("image") and "build" in data:
            errors.setdefault("container", []).append(
                "container.image and build are exclusive: the build makes the image"
            )
        volumes = (data.get("environment") or {}).get("volumes") or []
        mounts = mount_errors(container.get("volume_mounts") or [], volumes, RESERVED_MOUNT_PATHS)
        if mounts:
            previous = errors.get("container")
            errors["container"] = {"volume_mounts": mounts, **({"_schema": previous} if previous else {})}
        if errors:
            raise ValidationError(errors)

