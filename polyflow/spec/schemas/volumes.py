"""Volumes (DESIGN section 10): `environment.volumes`, `container.volume_mounts` and a pipeline's
`workspace`.

A volume is written as Kubernetes writes it, `{name, <source>: {...}}` with the source in
Kubernetes' own camelCase (`persistentVolumeClaim: {claimName: data}`), as `affinity` is taken:
a volume copied from a Kubernetes manifest works as it is. Polyflow's own fields around it are
snake_case (`volume_mounts`, `mount_path`, `read_only`, `sub_path`). The core install has no
Kubernetes schema, so the shapes and required fields of the sources Polyflow accepts are checked
here; the tests check the pods they make with kubernetes-validate.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping

from marshmallow import ValidationError

from .. import fields as f
from ..errors import choices_text, describe, suggest
from .base import StrictSchema, validates_always

ACCESS_MODES = ("ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod", "ReadOnlyMany")
HOST_PATH_TYPES = ("", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice",
                   "BlockDevice")

_STR, _BOOL, _INT, _MODE, _QUANTITY, _STRMAP, _ITEMS, _REF = ("string", "boolean", "integer", "mode",
                                                               "quantity", "string map", "items", "reference")
# Each source: {field: (kind, required)}. Only these sources, with only these fields.
SOURCES: dict[str, dict[str, tuple[str, bool]]] = {
    "persistentVolumeClaim": {"claimName": (_STR, True), "readOnly": (_BOOL, False)},
    "configMap": {"name": (_STR, True), "items": (_ITEMS, False), "defaultMode": (_MODE, False),
                  "optional": (_BOOL, False)},
    "secret": {"secretName": (_STR, True), "items": (_ITEMS, False), "defaultMode": (_MODE, False),
               "optional": (_BOOL, False)},
    "emptyDir": {"medium": (_STR, False), "sizeLimit": (_QUANTITY, False)},
    "hostPath": {"path": (_STR, True), "type": (_STR, False)},
    "nfs": {"server": (_STR, True), "path": (_STR, True), "readOnly": (_BOOL, False)},
    "csi": {"driver": (_STR, True), "readOnly": (_BOOL, False), "fsType": (_STR, False),
            "volumeAttributes": (_STRMAP, False), "nodePublishSecretRef": (_REF, False)},
}
_ITEM_FIELDS = {"key": (_STR, True), "path": (_STR, True), "mode": (_MODE, False)}


def _relative_path_error(path: str) -> str | None:
    if path.startswith("/"):
        return f"{path!r} must be a relative path"
    if ".." in path.split("/"):
        return f"{path!r} must not contain '..'"
    return None


def _value_error(kind: str, value: object) -> str | None:
    if kind == _STR:
        return None if isinstance(value, str) else f"expected a string, got {describe(value)}"
    if kind == _BOOL:
        return None if isinstance(value, bool) else f"expected true or false, got {describe(value)}"
    if kind == _MODE:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0o777:
            return f"expected a file mode from 0 to 0777 (511), got {describe(value)}"
        return None
    if kind == _QUANTITY:
        if isinstance(value, bool) or not isinstance(value, int | str) or not f.QUANTITY.match(str(value)):
            return f"{value!r} is not a Kubernetes quantity such as '1Gi'"
        return None
    if kind == _STRMAP:
        if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
            return f"expected a mapping of strings, got {describe(value)}"
        return None
    if kind == _REF:
        if not isinstance(value, Mapping) or set(value) != {"name"} or not isinstance(value["name"], str):
            return f"expected {{name: <secret>}}, got {describe(value)}"
        return None
    return None


def _fields_errors(data: Mapping, spec: Mapping[str, tuple[str, bool]], what: str) -> dict:
    errors: dict = {}
    for key in data:
        if key not in spec:
            errors[str(key)] = (f"unknown field {key!r} in {what}{suggest(str(key), spec)} "
                                f"(fields: {choices_text(sorted(spec))})")
    for key, (kind, required) in spec.items():
        if key not in data:
            if required:
                errors[key] = f"required field is missing in {what}"
            continue
        value = data[key]
        if kind == _ITEMS:
            if not isinstance(value, list):
                errors[key] = f"expected a list of {{key, path, mode}}, got {describe(value)}"
                continue
            for index, item in enumerate(value):
                item_errors = (_fields_errors(item, _ITEM_FIELDS, "an item") if isinstance(item, Mapping)
                               else f"expected a mapping, got {describe(item)}")
                if not item_errors and (error := _relative_path_error(item["path"])):
                    item_errors = {"path": error}
                if item_errors:
                    errors.setdefault(key, {})[index] = item_errors
        elif error := _value_error(kind, value):
            errors[key] = error
    return errors


def volume_errors(volume: object) -> dict | str:
    """What is wrong with one volume, {} when nothing is."""
    if not isinstance(volume, Mapping):
        return f"expected a mapping {{name, <source>}}, got {describe(volume)}"
    errors: dict = {}
    name = volume.get("name")
    if name is None:
        errors["name"] = "required field is missing"
    elif not isinstance(name, str) or (error := f.dns1123_label_error(name)):
        errors["name"] = error if isinstance(name, str) else f"expected a string, got {describe(name)}"
    sources = [key for key in volume if key != "name"]
    unknown = [key for key in sources if key not in SOURCES]
    for key in unknown:
        errors[str(key)] = (f"unknown volume source {key!r}{suggest(str(key), SOURCES)} "
                            f"(sources: {choices_text(list(SOURCES))})")
    known = [key for key in sources if key in SOURCES]
    if not sources:
        errors["name" if "name" not in errors else "source"] = (
            f"volume {name!r} has no source: give one of {choices_text(list(SOURCES))}")
    elif len(known) > 1:
        errors[known[1]] = f"a volume has one source; {name!r} has {', '.join(known)}"
    for key in known[:1]:
        source = volume[key]
        if source is None and key == "emptyDir":
            continue
        if not isinstance(source, Mapping):
            errors[key] = f"expected a mapping, got {describe(source)}"
            continue
        source_errors = _fields_errors(source, SOURCES[key], key)
        if key == "hostPath" and "path" not in source_errors:
            if not source["path"].startswith("/"):
                source_errors["path"] = f"{source['path']!r} must be an absolute path"
            if source.get("type") not in (None, *HOST_PATH_TYPES):
                source_errors["type"] = f"unknown type {source['type']!r} (types: {choices_text(HOST_PATH_TYPES[1:])})"
        if key == "emptyDir" and source.get("medium") not in (None, "", "Memory"):
            source_errors["medium"] = f"unknown medium {source['medium']!r} (media: '' or 'Memory')"
        if source_errors:
            errors[key] = source_errors
    return errors


class VolumesField(f.List):
    """`environment.volumes`: a list of Kubernetes volumes, names unique."""

    def __init__(self, **kwargs):
        super().__init__(f.Raw(), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        items = super()._deserialize(value, attr, data, **kwargs)
        errors: dict = {}
        names = []
        for index, volume in enumerate(items):
            error = volume_errors(volume)
            if error:
                errors[index] = error
                continue
            if volume["name"] in names:
                errors[index] = {"name": f"duplicate volume {volume['name']!r}"}
            names.append(volume["name"])
        if errors:
            raise ValidationError(errors)
        return [{key: ({} if item is None else item) for key, item in volume.items()} for volume in items]

    def fast_checker(self):
        return None


def _absolute_path_error(path: str) -> str | None:
    if not path.startswith("/"):
        return f"{path!r} must be an absolute path"
    if posixpath.normpath(path) == "/":
        return "cannot mount over /"
    return None


class VolumeMountSchema(StrictSchema):
    what = "volume mount"

    name = f.Str(required=True)
    mount_path = f.Str(required=True)
    read_only = f.Bool(load_default=False)
    sub_path = f.Str()

    @validates_always
    def _check_paths(self, data, **kwargs):
        errors = {}
        if "mount_path" in data and (error := _absolute_path_error(data["mount_path"])):
            errors["mount_path"] = error
        if "sub_path" in data and (error := _relative_path_error(data["sub_path"])):
            errors["sub_path"] = error
        if errors:
            raise ValidationError(errors)


def mount_errors(mounts: list, volumes: list, reserved: tuple[str, ...] = ()) -> dict:
    """Mounts naming no volume (the error names both), mount paths given twice or taken by Polyflow."""
    names = [volume.get("name") for volume in volumes or ()]
    errors: dict = {}
    seen = []
    for index, mount in enumerate(mounts or ()):
        name, path = mount.get("name"), mount.get("mount_path")
        if name is not None and name not in names:
            errors[index] = {"name": f"volume mount {name!r} names no volume of environment.volumes"
                                     f"{suggest(name, names)} (volumes: {choices_text(names)})"}
        elif path is not None:
            normal = posixpath.normpath(path)
            if normal in seen:
                errors[index] = {"mount_path": f"{path!r} is mounted twice"}
            elif any(normal == taken or normal.startswith(taken + "/") or taken.startswith(normal + "/")
                     for taken in reserved):
                errors[index] = {"mount_path": f"{path!r} overlaps a path Polyflow mounts "
                                               f"({choices_text(reserved)})"}
            seen.append(normal)
    return errors


class WorkspaceSchema(StrictSchema):
    what = "workspace"

    size = f.Quantity(load_default="1Gi")
    storage_class = f.Str()
    access_mode = f.Choice(ACCESS_MODES, what="access mode", load_default="ReadWriteOnce")
    mount_path = f.Str(load_default="/polyflow/workspace")

    @validates_always
    def _check_mount_path(self, data, **kwargs):
        if "mount_path" in data and (error := _absolute_path_error(data["mount_path"])):
            raise ValidationError({"mount_path": error})
