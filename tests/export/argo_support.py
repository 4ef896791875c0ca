"""Argo's published JSON schema (as hera's models of Argo 4.0 give it), strict, and readers of an export."""

from __future__ import annotations

import functools
import re

import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate.utils import latest_version

from polyflow.export import exporter

KUBE_VERSION = latest_version()


def _strict(schema: object) -> object:
    """Unknown fields are errors, as `argo lint` (strict by default) makes them: an object with
    declared properties and no word on others gets additionalProperties false."""
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        if schema.get("type") == "object" and "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


@functools.cache
def validator(kind: str) -> jsonschema.Draft202012Validator:
    from hera.workflows import models

    schema = getattr(models, kind).model_json_schema(by_alias=True, mode="validation")
    return jsonschema.Draft202012Validator(_strict(schema))


def schema_errors(document: dict) -> list[str]:
    errors = validator(document["kind"]).iter_errors(document)
    # An optional field is `anyOf: [its schema, null]`: the deepest error says what is wrong.
    deepest = [jsonschema.exceptions.best_match([error]) for error in errors]
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message[:300]}" for error in deepest]


def validate_argo(document: dict) -> None:
    """Against the JSON schema, then through hera's model itself (what its Python users would load)."""
    from hera.workflows import models

    errors = schema_errors(document)
    assert not errors, "\n".join(errors)
    getattr(models, document["kind"]).model_validate(document)


def validate_kube(manifest: dict) -> None:
    kubernetes_validate.validate(manifest, KUBE_VERSION, strict=True)


_POD_KEYS = ("nodeSelector", "affinity", "tolerations", "serviceAccountName", "activeDeadlineSeconds", "volumes")


def pod_of(template: dict) -> dict:
    """The pod Argo makes of a container template, as far as the template says it (Argo adds
    its own containers and volumes): checked with kubernetes-validate."""
    spec = {"restartPolicy": "Never", "containers": [template["container"]]}
    spec.update({key: template[key] for key in _POD_KEYS if key in template})
    metadata = {"name": template["name"], **template.get("metadata", {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def export_documents(plan, **options):
    result = exporter("argo")(plan, **options)
    return list(yaml.safe_load_all(result.text)), result


def workflow_spec(document: dict) -> dict:
    return document["spec"]["workflowSpec"] if document["kind"] == "CronWorkflow" else document["spec"]


def templates_by_name(document: dict) -> dict[str, dict]:
    return {template["name"]: template for template in workflow_spec(document)["templates"]}


def dag_tasks(document: dict) -> dict[str, dict]:
    spec = workflow_spec(document)
    entry = templates_by_name(document)[spec["entrypoint"]]
    return {task["name"]: task for task in entry["dag"]["tasks"]}


_DEPENDS_ATOM = re.compile(r"([a-z0-9][-a-z0-9]*)\.(AnySucceeded|AllFailed|Succeeded|Failed|Errored|Skipped|Omitted)")
_WHEN_ATOM = re.compile(r"\{\{tasks\.([a-z0-9][-a-z0-9]*)\.status\}\} == (\w+)")


def depends_tasks(expression: str) -> set[str]:
    return {match.group(1) for match in _DEPENDS_ATOM.finditer(expression)}


def _python(expression: str) -> str:
    return expression.replace("&&", " and ").replace("||", " or ").replace("!", " not ")


def eval_depends(expression: str, phases: dict[str, str]) -> bool:
    """Argo's depends over the tasks' phases (Succeeded, Failed, Error, Skipped, Omitted)."""

    def atom(match: re.Match) -> str:
        phase = phases[match.group(1)]
        result = {"Succeeded": phase == "Succeeded", "AnySucceeded": phase == "Succeeded",
                  "Failed": phase == "Failed", "AllFailed": phase == "Failed", "Errored": phase == "Error",
                  "Skipped": phase == "Skipped", "Omitted": phase == "Omitted"}[match.group(2)]
        return str(result)

    return bool(eval(_python(_DEPENDS_ATOM.sub(atom, expression)), {}))  # noqa: S307 - our own test input


def eval_when(expression: str, phases: dict[str, str]) -> bool:
    text = _WHEN_ATOM.sub(lambda match: str(phases[match.group(1)] == match.group(2)), expression)
    return bool(eval(_python(text), {}))  # noqa: S307
