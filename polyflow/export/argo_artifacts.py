"""Path artifacts in the Argo export: Argo's own artifacts, in Polyflow's store (pure but for settings).

An output of `type: path` is an output artifact of the op's template: the op
writes it at `$POLYFLOW_OUTPUTS_DIR/<name>` (`/polyflow/outputs`, an emptyDir,
as in Polyflow's pods), and Argo's wait container archives it (Argo's default:
tar + gzip, a file and a directory alike) and uploads it to the store:

    <prefix>/argo/{{workflow.name}}/{{workflow.uid}}/<op>[/<trial>]/<name>.tgz

where `<prefix>` is the path of POLYFLOW["ARTIFACTS_STORE"] (`s3://bucket/prefix`)
and `<trial>` a matrix op's trial: `{{inputs.parameters.polyflow-trial}}`
(withItems: the trial's index, as in Polyflow's layout) or `{{pod.name}}`
(withParam: its items carry no index). An input of `type: path` given one
output's reference (`'{{ ops.X.outputs.Y }}'`) is an input artifact `from:
{{tasks.X.outputs.artifacts.Y}}` that Argo downloads and unpacks at
`/polyflow/inputs/<name>` before the op starts; the op gets that local path
(its param, `$POLYFLOW_PARAM_*`, params.json, commands), as Polyflow's pods do.

The location comes from the store's URL: s3 (with ARTIFACTS_STORE_OPTIONS'
endpoint_url and region_name, ARTIFACTS_CREDENTIALS_SECRET's
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), gs, az (with the options'
account_name). A file:// store is one machine's: refused.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..artifacts.store import StoreError, store_url
from ..backends.pod_artifacts import INPUTS_DIR, OUTPUTS_DIR

OUTPUTS_VOLUME = "polyflow-artifact-outputs"
ARCHIVE_SUFFIX = ".tgz"
KEY_ROOT = "argo"
WORKFLOW_KEY = "{{workflow.name}}/{{workflow.uid}}"
AWS_ENDPOINT = "s3.amazonaws.com"
ACCESS_KEY, SECRET_KEY = "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"
AZURE_ACCOUNT_KEY = "AZURE_STORAGE_ACCOUNT_KEY"
# What each kind of store reads of ARTIFACTS_STORE_OPTIONS; other keys are warned not carried.
_S3_OPTIONS = {"endpoint_url", "client_kwargs"}
_S3_CLIENT_OPTIONS = {"endpoint_url", "region_name"}
_AZURE_OPTIONS = {"account_name"}


def input_path(name: str) -> str:
    return f"{INPUTS_DIR}/{name}"


def output_path(name: str) -> str:
    return f"{OUTPUTS_DIR}/{name}"


@dataclass(frozen=True)
class Settings:
    """POLYFLOW["ARTIFACTS_STORE"], its options and the credentials' Secret, as the export reads them."""

    store: str  # "" is the default store, a directory under `home`
    options: Mapping = field(default_factory=dict)
    credentials_secret: str = ""
    home: str = "~/.polyflow"


def settings_of(options: Mapping[str, object]) -> Settings:
    """The export options `artifacts_store`, `artifacts_store_options`, `artifacts_credentials_secret`,
    each by default the setting: Django's POLYFLOW where Django's settings are loaded (the API),
    else $POLYFLOW_ARTIFACTS_* (as `airflow.kube_namespace` reads the namespace)."""
    from django.conf import settings

    from ..conf import environ_setting, polyflow_settings

    def given(option: str | None, key: str) -> object:
        value = options.get(option) if option else None
        if value is not None:
            return value
        return getattr(polyflow_settings, key) if settings.configured else environ_setting(key)

    return Settings(str(given("artifacts_store", "ARTIFACTS_STORE") or ""),
                    dict(given("artifacts_store_options", "ARTIFACTS_STORE_OPTIONS") or {}),
                    str(given("artifacts_credentials_secret", "ARTIFACTS_CREDENTIALS_SECRET") or ""),
                    str(given(None, "HOME")))


@dataclass(frozen=True)
class Location:
    """Where the artifacts go: Argo's artifact location fields but the key, and the store's prefix."""

    kind: str  # "s3", "gcs", "azure": the artifact's key holding them
    fields: Mapping  # bucket, endpoint, secrets...
    prefix: str  # the key prefix under the bucket (or container), "" at its root
    key_field: str = "key"  # "blob" for azure
    warnings: tuple[str, ...] = ()

    def at(self, key: str) -> dict:
        full = f"{self.prefix}/{key}" if self.prefix else key
        return {self.kind: {**copy.deepcopy(dict(self.fields)), self.key_field: full}}


class StoreRefused(Exception):
    """The store cannot be Argo's artifact location: the message says why."""


def location(settings: Settings) -> Location:
    """Argo's location for the store; StoreRefused when Argo cannot reach it."""
    try:
        url = store_url(settings.store, settings.home)
    except StoreError as error:
        raise StoreRefused(str(error)) from None
    scheme, rest = url.split("://", 1)
    bucket, _, prefix = rest.partition("/")
    prefix = prefix.strip("/")
    options = dict(settings.options or {})
    secret = settings.credentials_secret
    if scheme == "file":
        raise StoreRefused(f"ARTIFACTS_STORE is {url!r}, a directory of one machine: Argo's pods cannot reach "
                           "it. Export with an object store (s3://, gs://, az://) as ARTIFACTS_STORE (or the "
                           "artifacts_store option)")
    if not bucket:
        raise StoreRefused(f"ARTIFACTS_STORE {url!r} names no bucket")
    if scheme in ("s3", "s3a"):
        return _s3(bucket, prefix, options, secret)
    if scheme in ("gs", "gcs"):
        warnings = [_not_carried(sorted(options))] if options else []
        if secret:
            warnings.append(f"ARTIFACTS_CREDENTIALS_SECRET {secret!r} is not used: Argo's gcs artifacts read a "
                            "service account's key file from a Secret's key (serviceAccountKeySecret), not "
                            "environment variables; the pods use the credentials of their service account "
                            "(Workload Identity)")
        return Location("gcs", {"bucket": bucket}, prefix, warnings=tuple(warnings))
    if scheme in ("az", "abfs", "abfss"):
        return _azure(url, bucket, prefix, options, secret)
    raise StoreRefused(f"ARTIFACTS_STORE {url!r}: Argo has no artifact location for {scheme}:// "
                       "(s3://, gs:// and az:// are carried)")


def _not_carried(keys: list[str]) -> str:
    return (f"ARTIFACTS_STORE_OPTIONS {', '.join(keys)}: not carried to Argo's artifact locations (Argo's "
            "executor does not read fsspec options)")


def _s3(bucket: str, prefix: str, options: dict, secret: str) -> Location:
    client = dict(options.get("client_kwargs") or {})
    ignored = sorted(set(options) - _S3_OPTIONS) + [f"client_kwargs.{key}" for key in
                                                    sorted(set(client) - _S3_CLIENT_OPTIONS)]
    endpoint_url = options.get("endpoint_url") or client.get("endpoint_url")
    fields: dict = {"bucket": bucket}
    if endpoint_url:
        parts = urlsplit(str(endpoint_url))
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
            raise StoreRefused(f"ARTIFACTS_STORE_OPTIONS endpoint_url {endpoint_url!r}: Argo's s3 endpoint is a "
                               "host[:port] reached over http or https, with no path")
        fields["endpoint"] = parts.netloc
        fields["insecure"] = parts.scheme == "http"
    else:
        fields["endpoint"] = AWS_ENDPOINT
        fields["insecure"] = False
    if client.get("region_name"):
        fields["region"] = str(client["region_name"])
    if secret:
        fields["accessKeySecret"] = {"name": secret, "key": ACCESS_KEY}
        fields["secretKeySecret"] = {"name": secret, "key": SECRET_KEY}
    else:
        # As Polyflow's artifact containers without a Secret: the SDK's chain (IRSA, the node's role).
        fields["useSDKCreds"] = True
    return Location("s3", fields, prefix, warnings=(_not_carried(ignored),) if ignored else ())


def _azure(url: str, container: str, prefix: str, options: dict, secret: str) -> Location:
    account = options.get("account_name")
    if not account:
        raise StoreRefused(f"ARTIFACTS_STORE {url!r}: Argo's azure artifacts need the storage account's "
                           "endpoint, and ARTIFACTS_STORE_OPTIONS gives no account_name (an account from the "
                           "environment or a connection string is not known at export)")
    fields: dict = {"endpoint": f"https://{account}.blob.core.windows.net", "container": container}
    if secret:
        fields["accountKeySecret"] = {"name": secret, "key": AZURE_ACCOUNT_KEY}
    else:
        fields["useSDKCreds"] = True
    ignored = sorted(set(options) - _AZURE_OPTIONS)
    return Location("azure", fields, prefix, key_field="blob",
                    warnings=(_not_carried(ignored),) if ignored else ())


def output_key(op: str, name: str, trial: str | None) -> str:
    """The key of an op's output under the store's prefix: unique per workflow run, op and trial."""
    parts = [KEY_ROOT, WORKFLOW_KEY, op] + ([trial] if trial else []) + [name + ARCHIVE_SUFFIX]
    return "/".join(parts)


def from_task(task: str, output: str) -> str:
    return f"{{{{tasks.{task}.outputs.artifacts.{output}}}}}"
