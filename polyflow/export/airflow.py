"""`polyflow export airflow`: a plan as one Airflow DAG file (issue 13).

plan -> `airflow_dag.describe` (the DAG in plain data, with what is emulated
and what cannot be carried) -> `airflow_render.render` (the Python source).
What each Polyflow feature becomes is in docs/interop.md.
"""

from __future__ import annotations

from dataclasses import replace

from .. import __version__
from ..spec.plan import Plan
from .airflow_dag import EXECUTORS, describe
from .airflow_render import render
from .base import Export, NotCarried

__all__ = ["EXECUTORS", "export"]

AIRFLOW_VERSIONS = ("2", "3")  # the major versions a DAG file can be pinned to


def kube_namespace() -> str:
    """POLYFLOW['KUBE_NAMESPACE'] where Django's settings are loaded (the API), else $POLYFLOW_KUBE_NAMESPACE."""
    from django.conf import settings

    from ..conf import environ_setting, polyflow_settings

    return polyflow_settings.KUBE_NAMESPACE if settings.configured else environ_setting("KUBE_NAMESPACE")


def export(plan: Plan, *, executor: str = "kubernetes", airflow_version: str | None = None,
           namespace: str | None = None, dag_id: str | None = None, **unknown) -> Export:
    """The DAG file for `plan`. `executor`: "kubernetes" (a KubernetesPodOperator per op, the pod Polyflow
    would create) or "local" (a BashOperator per op, run as the local backend runs it). `airflow_version`
    ("2.10", "3"): pin the file to one Airflow; by default it adapts to the Airflow that loads it.
    `dag_id`: the DAG's id and file name (default: the pipeline's name).

    Raises NotCarried listing every feature Airflow cannot express; ValueError for a bad option.
    """
    if unknown:
        names = sorted(unknown)
        raise ValueError(f"unknown option{'s' if len(names) > 1 else ''} of the airflow export: {', '.join(names)} "
                         f"(options: executor, airflow_version, namespace)")
    major = None if airflow_version is None else str(airflow_version).split(".")[0]
    if major is not None and major not in AIRFLOW_VERSIONS:
        raise ValueError(f"airflow_version {airflow_version!r}: the DAG file is written for Airflow 2.10 or 3.x")
    if namespace is None:
        namespace = kube_namespace()
    description, findings = describe(plan, executor, namespace=namespace)
    if plan.schedule is not None and plan.schedule.kind == "interval" and major != "3":
        findings.warn("schedule.frequency", "Airflow 2.10 has no DeltaTriggerTimetable (2.11 and 3 do): there the "
                                            "DAG falls back to DeltaDataIntervalTimetable, whose run for a slot "
                                            "starts one interval after it")
    if findings.problems:
        raise NotCarried("airflow", findings.problems)
    if dag_id is not None:
        description = replace(description, dag_id=dag_id)
    header = (f"Airflow DAG of Polyflow pipeline {plan.name!r} ({executor} executor), "
              f"exported by polyflow {__version__}.")
    text = render(description, airflow_version=None if airflow_version is None else str(airflow_version),
                  header=header)
    return Export(target="airflow", text=text, filename=f"{description.dag_id}.py", media_type="text/x-python",
                  warnings=tuple(findings.warnings))
