"""The simulator's other core/v1 objects: PersistentVolumeClaims, ConfigMaps and Secrets.

Each is validated (kubernetes-validate, strict, and its name), stored with the fields a server
sets (`uid`, `creationTimestamp`, `resourceVersion`; a Secret's `stringData` folded into
`data`, base64, and `type: Opaque`; a claim `Bound` at once, with its requested size as its
capacity and a `volumeName`), listed with label selectors, replaced (PUT) and deleted. Pods
read them: envFrom, valueFrom and configMap/secret volumes (runtime.py, volumes.py), and a
claim is a directory shared by the pods that mount it, removed with the claim.
"""

from __future__ import annotations

import base64
import copy
import os
import shutil
import uuid

from .errors import ApiError, not_found, now
from .selectors import parse_label_selector
from .validation import dns1123_subdomain_errors, object_causes

STORE_KINDS = {"PersistentVolumeClaim": "persistentVolumeClaim", "ConfigMap": "configMap", "Secret": "secret"}


class ObjectStore:
    """PersistentVolumeClaims, ConfigMaps and Secrets by (store kind, namespace, name). The
    simulator's lock guards it; `bump` gives the next resourceVersion."""

    def __init__(self, sim):
        self.sim = sim
        self.items: dict[tuple[str, str, str], dict] = {}

    def claim_directory(self, namespace: str, name: str) -> str:
        return os.path.join(self.sim.workdir, "claims", namespace, name)

    def get(self, kind: str, namespace: str, name: str) -> dict | None:
        with self.sim.lock:
            found = self.items.get((STORE_KINDS[kind], namespace, name))
            return None if found is None else copy.deepcopy(found)

    def find(self, store_kind: str, namespace: str, name: str) -> dict | None:
        """The stored object (not a copy; under the lock), by the pods' name of its kind."""
        return self.items.get((store_kind, namespace, name))

    def list(self, kind: str, namespace: str | None, label_selector: str | None = None) -> list[dict]:
        labels = parse_label_selector(label_selector)
        store_kind = STORE_KINDS[kind]
        with self.sim.lock:
            return [copy.deepcopy(obj) for key, obj in sorted(self.items.items())
                    if key[0] == store_kind and (namespace is None or key[1] == namespace)
                    and labels((obj.get("metadata") or {}).get("labels") or {})]

    def _checked(self, kind: str, namespace: str, body: object) -> dict:
        if not isinstance(body, dict):
            raise ApiError(400, "the body of the request is not a JSON object")
        obj = copy.deepcopy(body)
        obj.setdefault("apiVersion", "v1")
        obj.setdefault("kind", kind)
        if obj["apiVersion"] != "v1" or obj["kind"] != kind:
            raise ApiError(400, f"the kind in the data ({obj['kind']}) does not match the expected kind ({kind})")
        metadata = obj.setdefault("metadata", {})
        if not isinstance(metadata, dict):
            raise ApiError(400, "metadata must be an object")
        if metadata.get("namespace") not in (None, "", namespace):
            raise ApiError(400, "the namespace of the provided object does not match the namespace sent on "
                                "the request")
        for server_field in ("uid", "resourceVersion", "creationTimestamp", "managedFields", "selfLink"):
            metadata.pop(server_field, None)
        obj.pop("status", None)
        causes = object_causes(obj, self.sim.kube_version)
        name = metadata.get("name")
        if not name:
            causes.append(("metadata.name", "Required value: name or generateName is required"))
        elif isinstance(name, str):
            causes += [("metadata.name", f"Invalid value: {name!r}: {error}")
                       for error in dns1123_subdomain_errors(name)]
        if causes:
            summary = "; ".join(f"{field}: {message}" for field, message in causes)
            raise ApiError(422, f'{kind} "{name or ""}" is invalid: {summary}',
                           details={"name": name or "", "kind": kind.lower() + "s",
                                    "causes": [{"field": f, "message": m, "reason": "FieldValueInvalid"}
                                               for f, m in causes]})
        with self.sim.lock:
            if namespace not in self.sim._namespaces:
                raise not_found(namespace, "namespaces")
        return obj

    def create(self, kind: str, namespace: str, body: object, dry_run: bool = False) -> dict:
        obj = self._checked(kind, namespace, body)
        _defaults(kind, obj)
        metadata = obj["metadata"]
        key = (STORE_KINDS[kind], namespace, metadata["name"])
        with self.sim.lock:
            if key in self.items:
                raise ApiError(409, f'{kind.lower()}s "{metadata["name"]}" already exists',
                               details={"name": metadata["name"], "kind": kind.lower() + "s"})
            metadata.update(namespace=namespace, uid=str(uuid.uuid4()), creationTimestamp=now(),
                            resourceVersion=str(self.sim._bump()))
            if kind == "PersistentVolumeClaim":
                _bind(obj)
            if dry_run:
                return copy.deepcopy(obj)
            self.items[key] = obj
            self.sim.changed.notify_all()
            return copy.deepcopy(obj)

    def replace(self, kind: str, namespace: str, name: str, body: object) -> dict:
        if kind == "PersistentVolumeClaim":
            raise ApiError(405, "the simulator does not replace persistentvolumeclaims")
        obj = self._checked(kind, namespace, body)
        if obj["metadata"]["name"] != name:
            raise ApiError(400, "the name of the object does not match the name on the URL")
        _defaults(kind, obj)
        key = (STORE_KINDS[kind], namespace, name)
        with self.sim.lock:
            old = self.items.get(key)
            if old is None:
                raise not_found(name, kind.lower() + "s")
            obj["metadata"].update(namespace=namespace, uid=old["metadata"]["uid"],
                                   creationTimestamp=old["metadata"]["creationTimestamp"],
                                   resourceVersion=str(self.sim._bump()))
            self.items[key] = obj
            return copy.deepcopy(obj)

    def delete(self, kind: str, namespace: str, name: str) -> dict:
        key = (STORE_KINDS[kind], namespace, name)
        with self.sim.lock:
            obj = self.items.pop(key, None)
            if obj is None:
                raise not_found(name, kind.lower() + "s")
            self.sim._bump()
            self.sim.changed.notify_all()
        if kind == "PersistentVolumeClaim":
            # The volume goes with its claim (reclaim policy Delete, as dynamically provisioned ones).
            shutil.rmtree(self.claim_directory(namespace, name), ignore_errors=True)
        obj["metadata"]["deletionTimestamp"] = now()
        return obj


def _defaults(kind: str, obj: dict) -> None:
    if kind == "Secret":
        obj.setdefault("type", "Opaque")
        string_data = obj.pop("stringData", None) or {}
        data = obj.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
    if kind == "PersistentVolumeClaim":
        spec = obj.setdefault("spec", {})
        spec.setdefault("volumeMode", "Filesystem")


def _bind(obj: dict) -> None:
    spec = obj["spec"]
    spec["volumeName"] = f"pvc-{obj['metadata']['uid']}"
    spec.setdefault("storageClassName", "standard")
    obj["status"] = {"phase": "Bound", "accessModes": list(spec.get("accessModes") or []),
                     "capacity": dict((spec.get("resources") or {}).get("requests") or {})}
