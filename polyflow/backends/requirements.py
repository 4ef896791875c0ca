"""What a backend needs from the settings to run a pipeline, checked when it is applied
(docs/kubernetes.md "Settings a pipeline needs"): `polyflow apply`, `polyflow validate
--backend kubernetes` and the API all call `missing_settings`, and report every missing
setting at once instead of failing a run later, one setting per run. On the airflow backend,
what its DAG files cannot carry is reported the same way (docs/interop.md).

`missing_settings` is pure: it reads plans and a `BackendSettings`. `settings_now` (Django's
POLYFLOW dict) and `environ_settings` (POLYFLOW_* variables, for `validate`) make one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..spec.build_context import needs_directory
from ..spec.plan import Plan, TemplateSpec

PATH_TYPE = "path"


@dataclass(frozen=True)
class BackendSettings:
    backend: str
    build_registry: str = ""
    build_context: str = ""
    store_url: str = ""
    store_problem: str = ""  # why the artifact store cannot be used; "" when it can
    airflow_executor: str = "kubernetes"  # the airflow backend's DAG tasks (AIRFLOW_EXECUTOR)


@dataclass(frozen=True)
class Missing:
    pipeline: str
    ops: tuple[str, ...]  # the ops whose template needs it
    template: str
    setting: str  # BUILD_REGISTRY, BUILD_CONTEXT (a context), ARTIFACTS_STORE
    message: str
    path: str = ""  # where in the document: ops[i]

    def __str__(self) -> str:
        return f"pipeline {self.pipeline}: {self.where}: {self.message}"

    @property
    def where(self) -> str:
        if not self.template:
            return self.path  # the whole pipeline's: what a backend cannot carry
        ops = ", ".join(self.ops)
        return f"template {self.template!r} (op{'s' if len(self.ops) > 1 else ''} {ops})"

    def as_error(self, source: str = "") -> dict:
        message = f"{self.where}: {self.message}" if self.template else self.message
        return {"source": source, "path": self.path, "message": message}


def _uses_path_artifacts(template: TemplateSpec) -> bool:
    return any(io.type == PATH_TYPE for io in (*template.inputs, *template.outputs))


def _template_needs(template: TemplateSpec, settings: BackendSettings, directory_packed: bool) -> list[tuple[str, str]]:
    """(setting, message) of everything `template` lacks on `settings.backend`."""
    needs: list[tuple[str, str]] = []
    build = template.build
    if settings.backend == "kubernetes" and build is not None:
        if not build.image and not settings.build_registry:
            needs.append(("BUILD_REGISTRY", "build: POLYFLOW['BUILD_REGISTRY'] is not set and the build names no "
                                            "`image` to push (the image is <BUILD_REGISTRY>/<pipeline>-<template>)"))
        unpacked = needs_directory(build)
        if unpacked and not directory_packed and not settings.build_context:
            needs.append(("BUILD_CONTEXT", "build: no context: the spec's directory was not packed (apply the file "
                                           "with `polyflow apply`, or over the API upload the directory or name a "
                                           "git:// or s3:// context), the build names none, and "
                                           "POLYFLOW['BUILD_CONTEXT'] is not set"))
        packed = bool(build.packed_uri) or (unpacked and directory_packed)
        if packed and settings.store_problem:
            needs.append(("ARTIFACTS_STORE", f"build: the packed context goes through the artifact store, which "
                                             f"cannot be used: {settings.store_problem}"))
    if _uses_path_artifacts(template) and settings.store_problem:
        needs.append(("ARTIFACTS_STORE", f"path inputs and outputs go through the artifact store, which cannot be "
                                         f"used: {settings.store_problem}"))
    return needs


def missing_settings(plans: Iterable[Plan], settings: BackendSettings, directory_packed: bool = False) -> list[Missing]:
    """Every setting `settings.backend` lacks for `plans`, once per template and setting.

    `directory_packed`: a build whose context is the spec's directory will have it packed
    (`polyflow apply` and `polyflow run` do; `polyflow validate` is told so).
    """
    missing: list[Missing] = []
    for plan in plans:
        if settings.backend == "airflow":
            missing += _not_carried_by_airflow(plan, settings.airflow_executor)
        users: dict[str, list[int]] = {}
        templates: dict[str, TemplateSpec] = {}
        for index, op in enumerate(plan.ops):
            if op.template is None:
                continue
            name = op.template.name
            # Ops of one template share its needs; an action's template may differ by version.
            key = f"{name}@{op.action}" if op.action is not None else name
            users.setdefault(key, []).append(index)
            templates.setdefault(key, op.template)
        for key, template in templates.items():
            indexes = users[key]
            for setting, message in _template_needs(template, settings, directory_packed):
                missing.append(Missing(plan.name, tuple(plan.ops[i].name for i in indexes), template.name, setting,
                                       message, f"ops[{indexes[0]}]"))
    return missing


def _not_carried_by_airflow(plan: Plan, executor: str) -> list[Missing]:
    """What the airflow backend cannot run of `plan`: what its DAG file cannot carry (the export's
    refusals, each at its place: searches, builds, the workspace...)."""
    from ..export import NotCarried, exporter
    from .airflow import plan_for_run

    if plan.unresolved_actions:
        return []  # `validate` without the registry: the export needs every template
    try:
        exporter("airflow")(plan_for_run(plan, {}), executor=executor, airflow_version="3", namespace="default")
    except NotCarried as error:
        return [Missing(plan.name, (), "", "BACKEND", f"not carried to Airflow: {item.message}", item.where)
                for item in error.problems]
    return []


def store_problem(url: str, options: Mapping) -> str:
    """Why the store at `url` cannot be opened here ("" when it can): not a URL, its
    implementation not installed. Nothing is sent over the network."""
    from ..artifacts.store import Store, StoreError

    try:
        Store(url, options).fs  # noqa: B018 - opening is the check
    except StoreError as error:
        return str(error)
    return ""


def _store(configured: str, home: str, options: Mapping) -> tuple[str, str]:
    from ..artifacts.store import StoreError, store_url

    try:
        url = store_url(configured, home)
    except StoreError as error:
        return configured, str(error)
    return url, store_problem(url, options)


def settings_now(backend: str | None = None) -> BackendSettings:
    """The settings of this process (Django's POLYFLOW dict)."""
    from ..conf import polyflow_settings as values

    url, problem = _store(values.ARTIFACTS_STORE, values.HOME, values.ARTIFACTS_STORE_OPTIONS)
    return BackendSettings(backend or values.BACKEND, values.BUILD_REGISTRY, values.BUILD_CONTEXT, url, problem,
                           values.AIRFLOW_EXECUTOR)


def environ_settings(backend: str, environ: Mapping[str, str] | None = None) -> BackendSettings:
    """The settings from POLYFLOW_* variables, for commands that load no Django (`validate`)."""
    from ..conf import environ_setting

    def value(name):
        return environ_setting(name, environ)

    url, problem = _store(value("ARTIFACTS_STORE"), value("HOME"), value("ARTIFACTS_STORE_OPTIONS"))
    return BackendSettings(backend, value("BUILD_REGISTRY"), value("BUILD_CONTEXT"), url, problem,
                           value("AIRFLOW_EXECUTOR"))
