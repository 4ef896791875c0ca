"""What the API server refuses in a pod: the OpenAPI schema (through
kubernetes-validate, strict: unknown fields are errors) and the checks the
server adds on top (DNS-1123 names, label syntax, required fields, unique
container names, known volumes, ...).

Every problem is a `Cause` (field, message, reason) as found in the
`details.causes` of a 422 Invalid `Status`.
"""

from __future__ import annotations

import functools
import json
import posixpath
import re
from dataclasses import dataclass

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
ENV_VAR_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")

LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
QUALIFIED_MESSAGE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
VALUE_MESSAGE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
ANNOTATIONS_LIMIT = 256 * 1024
RESTART_POLICIES = ("Always", "OnFailure", "Never")
# The fieldRefs of a downwardAPI volume item (Kubernetes' validVolumeDownwardAPIFieldPathExpressions).
DOWNWARD_VOLUME_FIELDS = ("metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace",
                          "metadata.uid")


@dataclass(frozen=True)
class Cause:
    field: str
    message: str
    reason: str = "FieldValueInvalid"

    def as_dict(self) -> dict:
        return {"reason": self.reason, "message": self.message, "field": self.field}


def dns1123_label_errors(value: str) -> list[str]:
    problems = []
    if len(value) > 63:
        problems.append("must be no more than 63 characters")
    if not DNS1123_LABEL.match(value):
        problems.append(LABEL_MESSAGE)
    return problems


def dns1123_subdomain_errors(value: str) -> list[str]:
    problems = []
    if len(value) > 253:
        problems.append("must be no more than 253 characters")
    if not DNS1123_SUBDOMAIN.match(value):
        problems.append(SUBDOMAIN_MESSAGE)
    return problems


def label_key_errors(key: str) -> list[str]:
    """Problems of a label or annotation key: `[prefix/]name`, prefix a DNS-1123 subdomain, name ≤ 63."""
    if not isinstance(key, str):
        return ["must be a string"]
    prefix, slash, name = key.rpartition("/")
    problems = []
    if slash and not prefix:
        problems.append("prefix part must be non-empty")
    elif slash:
        problems.extend(f"prefix part {problem}" for problem in dns1123_subdomain_errors(prefix))
    if not name:
        problems.append("name part must be non-empty")
    else:
        if len(name) > 63:
            problems.append("name part must be no more than 63 characters")
        if not QUALIFIED_NAME.match(name):
            problems.append(QUALIFIED_MESSAGE)
    return problems


def label_value_errors(value: object) -> list[str]:
    if not isinstance(value, str):
        return ["must be a string"]
    problems = []
    if len(value) > 63:
        problems.append("must be no more than 63 characters")
    if value and not QUALIFIED_NAME.match(value):
        problems.append(VALUE_MESSAGE)
    return problems


def _invalid(field: str, value: object, detail: str) -> Cause:
    return Cause(field, f"Invalid value: {json.dumps(value)}: {detail}")


def _required(field: str, detail: str = "") -> Cause:
    return Cause(field, "Required value" + (f": {detail}" if detail else ""), "FieldValueRequired")


# -- the schema, through kubernetes-validate ---------------------------------


def _schemas():
    """kubernetes-validate's `utils`, or MissingExtra naming the extra that brings it."""
    try:
        from kubernetes_validate import utils
    except ImportError:
        # Imported only here: the simulator imports no Django (polyflow.extras does).
        from ...extras import MissingExtra

        raise MissingExtra("kube-simulator", "the Kubernetes API simulator") from None
    return utils


def kube_version() -> str:
    """The newest Kubernetes version (major.minor) whose schemas kubernetes-validate ships."""
    utils = _schemas()
    return utils.major_minor(utils.latest_version())


@functools.lru_cache(maxsize=4)
def _pod_validator(version: str):
    """A jsonschema validator of strict v1 Pods, built from kubernetes-validate's schemas (cached).

    `kubernetes_validate.validate` reports only the first error; the server
    lists them all, so the same schema files are loaded here to iterate over
    every error. None when that layout is not there (then `validate` is used).
    """
    utils = _schemas()
    import jsonschema  # both come with kubernetes-validate
    from referencing import Registry, Resource

    matching = [v for v in utils.all_versions() if utils.major_minor(v) == version]
    if not matching:
        return None
    directory = f"kubernetes-json-schema/v{matching[-1]}-local-strict"
    try:
        schema = utils.schema_contents(f"{directory}/pod-v1.json", version)
        definitions = utils.schema_contents(f"{directory}/_definitions.json", version)
    except Exception:  # noqa: BLE001 - another layout: fall back to validate()
        return None
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _field_path(path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _schema_causes(error) -> list[Cause]:
    field = _field_path(error.absolute_path)
    prefix = f"{field}." if field else ""
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set((error.schema or {}).get("properties") or {})
        unknown = [name for name in error.instance if name not in known]
        if unknown:
            return [Cause(prefix + name, f'unknown field "{prefix}{name}"', "FieldValueNotSupported")
                    for name in unknown]
    if error.validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        if missing:
            return [_required(prefix + missing[0])]
    if error.validator == "enum":
        return [Cause(field, f"Unsupported value: {json.dumps(error.instance)}: {error.message}",
                      "FieldValueNotSupported")]
    return [Cause(field or "<root>", f"Invalid value: {error.message}", "FieldValueTypeInvalid")]


def schema_causes(pod: dict, version: str) -> list[Cause]:
    """The schema errors of `pod` for Kubernetes `version`, strict (unknown fields are errors)."""
    validator = _pod_validator(version)
    if validator is not None:
        errors = sorted(validator.iter_errors(pod), key=lambda e: [str(p) for p in e.absolute_path])
        causes: list[Cause] = []
        for error in errors:
            # anyOf/oneOf (int-or-string quantities): report the most precise sub-error.
            if error.context:
                error = max(error.context, key=lambda e: len(list(e.absolute_path)))
            for cause in _schema_causes(error):
                if cause not in causes:
                    causes.append(cause)
        return causes
    utils = _schemas()
    try:
        utils.validate(pod, version, strict=True)
    except utils.ValidationError as error:
        return _schema_causes(error)
    return []


# -- the server's own checks --------------------------------------------------


def _check_labels(field: str, mapping: object, causes: list[Cause], values: bool) -> None:
    if mapping is None:
        return
    if not isinstance(mapping, dict):
        causes.append(_invalid(field, mapping, "must be an object"))
        return
    for key, value in mapping.items():
        for problem in label_key_errors(key):
            causes.append(_invalid(field, key, problem))
        if values:
            for problem in label_value_errors(value):
                causes.append(_invalid(f"{field}", value, problem))
        elif not isinstance(value, str):
            causes.append(_invalid(f"{field}[{key}]", value, "must be a string"))


def _check_containers(spec: dict, causes: list[Cause], volume_names: set[str]) -> None:
    seen: set[str] = set()
    for kind in ("initContainers", "containers"):
        containers = spec.get(kind)
        if kind == "containers" and not containers:
            causes.append(_required("spec.containers"))
        if not isinstance(containers, list):
            continue
        for index, container in enumerate(containers):
            where = f"spec.{kind}[{index}]"
            if not isinstance(container, dict):
                continue
            name = container.get("name")
            if not name:
                causes.append(_required(f"{where}.name"))
            elif isinstance(name, str):
                for problem in dns1123_label_errors(name):
                    causes.append(_invalid(f"{where}.name", name, problem))
                if name in seen:
                    causes.append(Cause(f"{where}.name", f"Duplicate value: {json.dumps(name)}", "FieldValueDuplicate"))
                seen.add(name)
            if not container.get("image"):
                causes.append(_required(f"{where}.image"))
            for env_index, variable in enumerate(container.get("env") or []):
                if not isinstance(variable, dict):
                    continue
                env_name = variable.get("name")
                if not env_name:
                    causes.append(_required(f"{where}.env[{env_index}].name"))
                elif isinstance(env_name, str) and not ENV_VAR_NAME.match(env_name):
                    causes.append(_invalid(
                        f"{where}.env[{env_index}].name", env_name,
                        "a valid environment variable name must consist of alphabetic characters, digits, '_', "
                        "'-', or '.', and must not start with a digit",
                    ))
                if "value" in variable and "valueFrom" in variable:
                    causes.append(_invalid(
                        f"{where}.env[{env_index}].valueFrom", "",
                        "may not be specified when `value` is not empty",
                    ))
            mount_paths: set[str] = set()
            for mount_index, mount in enumerate(container.get("volumeMounts") or []):
                if not isinstance(mount, dict):
                    continue
                at = f"{where}.volumeMounts[{mount_index}]"
                if mount.get("name") not in volume_names:
                    causes.append(Cause(f"{at}.name", f"Not found: {json.dumps(mount.get('name'))}",
                                        "FieldValueNotFound"))
                mount_path = mount.get("mountPath")
                if not mount_path:
                    causes.append(_required(f"{at}.mountPath"))
                elif mount_path in mount_paths:
                    causes.append(_invalid(f"{at}.mountPath", mount_path, "must be unique"))
                mount_paths.add(mount_path)
                if isinstance(mount.get("subPath"), str) and mount["subPath"]:
                    causes.extend(_local_path_causes(f"{at}.subPath", mount["subPath"]))
                    if mount.get("subPathExpr"):
                        causes.append(_invalid(f"{at}.subPathExpr", mount["subPathExpr"],
                                               "subPathExpr and subPath are mutually exclusive"))
            policy = container.get("terminationMessagePolicy")
            if policy is not None and policy not in ("File", "FallbackToLogsOnError"):
                causes.append(Cause(
                    f"{where}.terminationMessagePolicy", f'Unsupported value: {json.dumps(policy)}: supported '
                    'values: "File", "FallbackToLogsOnError"', "FieldValueNotSupported",
                ))


def _local_path_causes(field: str, path: str, reserved: bool = False) -> list[Cause]:
    """A path that must stay inside its directory (a subPath, a downwardAPI item's path)."""
    causes = []
    if path.startswith("/"):
        causes.append(_invalid(field, path, "must be a relative path"))
    if ".." in path.split("/"):
        causes.append(_invalid(field, path, "must not contain '..'"))
    if reserved and posixpath.normpath(path).startswith(".."):
        causes.append(_invalid(field, path, "must not start with '..'"))
    return causes


def _check_volumes(volumes: list, causes: list[Cause]) -> None:
    seen: set[str] = set()
    for index, volume in enumerate(volumes):
        if not isinstance(volume, dict):
            continue
        where = f"spec.volumes[{index}]"
        name = volume.get("name")
        if isinstance(name, str):
            for problem in dns1123_label_errors(name):
                causes.append(_invalid(f"{where}.name", name, problem))
            if name in seen:
                causes.append(Cause(f"{where}.name", f"Duplicate value: {json.dumps(name)}", "FieldValueDuplicate"))
            seen.add(name)
        sources = [key for key in volume if key != "name"]
        if len(sources) > 1:
            causes.append(Cause(f"{where}.{sources[1]}", "Forbidden: may not specify more than 1 volume type",
                                "FieldValueForbidden"))
        downward = volume.get("downwardAPI")
        if not isinstance(downward, dict):
            continue
        for item_index, item in enumerate(downward.get("items") or []):
            if not isinstance(item, dict):
                continue
            at = f"{where}.downwardAPI.items[{item_index}]"
            path = item.get("path")
            if not path:
                causes.append(_required(f"{at}.path"))
            elif isinstance(path, str):
                causes.extend(_local_path_causes(f"{at}.path", path, reserved=True))
            field_ref = item.get("fieldRef")
            if isinstance(field_ref, dict):
                field_path = field_ref.get("fieldPath")
                subscript = re.match(r"^(.*)\['(.*)'\]$", field_path) if isinstance(field_path, str) else None
                if not field_path:
                    causes.append(_required(f"{at}.fieldRef.fieldPath"))
                elif subscript and subscript.group(1) not in ("metadata.labels", "metadata.annotations"):
                    causes.append(_invalid(f"{at}.fieldRef.fieldPath", field_path, "does not support subscript"))
                elif not subscript and field_path not in DOWNWARD_VOLUME_FIELDS:
                    supported = ", ".join(json.dumps(f) for f in DOWNWARD_VOLUME_FIELDS)
                    causes.append(Cause(f"{at}.fieldRef.fieldPath", f"Unsupported value: {json.dumps(field_path)}: "
                                        f"supported values: {supported}", "FieldValueNotSupported"))
                if "resourceFieldRef" in item:
                    causes.append(_invalid(at, "resource", "fieldRef and resourceFieldRef can not be specified "
                                                           "simultaneously"))
            elif "resourceFieldRef" not in item:
                causes.append(_required(at, "one of fieldRef and resourceFieldRef is required"))
            mode = item.get("mode")
            if isinstance(mode, int) and not 0 <= mode <= 0o777:
                causes.append(_invalid(f"{at}.mode", mode, "must be a number between 0 and 0777 (octal), both "
                                                           "inclusive"))


def server_causes(pod: dict) -> list[Cause]:
    """The checks the API server's pod validation adds to the schema."""
    causes: list[Cause] = []
    metadata = pod.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
    name = metadata.get("name")
    if not name and not metadata.get("generateName"):
        causes.append(_required("metadata.name", "name or generateName is required"))
    elif isinstance(name, str) and name:
        for problem in dns1123_subdomain_errors(name):
            causes.append(_invalid("metadata.name", name, problem))
    _check_labels("metadata.labels", metadata.get("labels"), causes, values=True)
    annotations = metadata.get("annotations")
    _check_labels("metadata.annotations", annotations, causes, values=False)
    if isinstance(annotations, dict):
        size = sum(len(str(k)) + len(str(v)) for k, v in annotations.items())
        if size > ANNOTATIONS_LIMIT:
            causes.append(Cause("metadata.annotations", f"Too long: must have at most {ANNOTATIONS_LIMIT} bytes",
                                "FieldValueTooLong"))
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        causes.append(_required("spec"))
        return causes
    volumes = spec.get("volumes") or []
    volume_names = {v.get("name") for v in volumes if isinstance(v, dict)}
    _check_volumes(volumes, causes)
    _check_containers(spec, causes, volume_names)
    policy = spec.get("restartPolicy")
    if policy is not None and policy not in RESTART_POLICIES:
        causes.append(Cause("spec.restartPolicy", f'Unsupported value: {json.dumps(policy)}: supported values: '
                            '"Always", "OnFailure", "Never"', "FieldValueNotSupported"))
    deadline = spec.get("activeDeadlineSeconds")
    if isinstance(deadline, int) and deadline <= 0:
        causes.append(_invalid("spec.activeDeadlineSeconds", deadline, "must be greater than or equal to 1"))
    grace = spec.get("terminationGracePeriodSeconds")
    if isinstance(grace, int) and grace < 0:
        causes.append(_invalid("spec.terminationGracePeriodSeconds", grace, "must be greater than or equal to 0"))
    account = spec.get("serviceAccountName")
    if isinstance(account, str) and account:
        for problem in dns1123_subdomain_errors(account):
            causes.append(_invalid("spec.serviceAccountName", account, problem))
    selector = spec.get("nodeSelector")
    if isinstance(selector, dict):
        _check_labels("spec.nodeSelector", selector, causes, values=True)
    return causes


def pod_causes(pod: dict, version: str) -> list[Cause]:
    """Every reason the API server would refuse to create `pod` (empty: it is valid)."""
    causes = schema_causes(pod, version)
    for cause in server_causes(pod):
        if cause not in causes:
            causes.append(cause)
    return causes


def object_causes(obj: dict, version: str) -> list[tuple[str, str]]:
    """(field, message) of the schema errors of another core/v1 object (a PersistentVolumeClaim,
    ConfigMap, Secret) for Kubernetes `version`, strict; the first one, as kubernetes-validate
    reports it, and a Secret's data that is not base64."""
    import base64
    import binascii

    utils = _schemas()
    causes: list[tuple[str, str]] = []
    try:
        utils.validate(obj, version, strict=True)
    except utils.ValidationError as error:
        causes += [(cause.field, cause.message) for cause in _schema_causes(error)]
    if obj.get("kind") == "Secret" and isinstance(obj.get("data"), dict):
        for key, value in obj["data"].items():
            try:
                base64.b64decode(str(value), validate=True)
            except (binascii.Error, ValueError):
                causes.append((f"data[{key}]", "Invalid value: not base64"))
    return causes
