"""What the Airflow export refuses (NotCarried, every problem at once, each with its place) and what
it carries with a warning; the options. Pure: no Airflow needed (the other files load the DAGs)."""

from __future__ import annotations

import ast

import pytest

from polyflow.export import NotCarried, exporter
from tests.export.airflow_support import ROOT, plans_of, plans_of_texts
from tests.spec.matrix_support import TEMPLATES

export = exporter("airflow")


def plan_of(body: str, templates: str = TEMPLATES):
    (plan,) = plans_of_texts("version: 1\nkind: pipeline\nname: p\n" + body + templates)
    return plan


def refusals(plan, **options) -> list[tuple[str, str]]:
    with pytest.raises(NotCarried) as caught:
        export(plan, **options)
    assert caught.value.target == "airflow"
    return [(problem.where, problem.message) for problem in caught.value.problems]


def warnings_of(plan, **options) -> dict[str, str]:
    """Where -> the messages of the warnings there, joined."""
    found: dict[str, list[str]] = {}
    for warning in export(plan, **options).warnings:
        found.setdefault(warning.where, []).append(warning.message)
    return {where: " | ".join(messages) for where, messages in found.items()}


A = "  - {name: a, template: {name: lister}}\n"

REFUSED = {
    "repeatable schedule": ("schedule: {kind: repeatable, limit: 3}\nops:\n" + A,
                            "schedule", "repeatable schedule"),
    "cron with max_runs": ("schedule: {kind: cron, cron: '@daily', start_at: '2026-01-01T00:00:00', max_runs: 3}\n"
                           "ops:\n" + A, "schedule.max_runs", "give end_at instead"),
    "grid search": ("ops:\n  - {name: tune, template: {name: train}, matrix: {kind: grid, params: "
                    "{lr: {kind: choice, value: [0.1, 0.2]}}}}\n", "ops.tune.matrix", "grid search"),
    "random search": ("ops:\n  - {name: tune, template: {name: train}, matrix: {kind: random, num_runs: 2, "
                      "params: {lr: {kind: uniform, value: [0.1, 0.2]}}}}\n", "ops.tune.matrix", "random search"),
    "best trial reference": (
        "ops:\n  - {name: tune, template: {name: train}, matrix: {kind: grid, params: "
        "{lr: {kind: choice, value: [0.1, 0.2]}}, metric: {name: accuracy}}}\n"
        "  - {name: use, template: {name: sink}, params: {f: '{{ ops.tune.best.outputs.accuracy }}'}}\n",
        "ops.use.params.f", "best trial"),
    "mapping over a group": (
        "ops:\n  - {name: many, template: {name: lister}, matrix: {kind: mapping, values: [{}, {}]}}\n"
        "  - {name: fan, template: {name: process}, matrix: {kind: mapping, "
        "values: '{{ ops.many.outputs.anything }}'}}\n",
        "ops.fan.matrix.values", "matrix op 'many'"),
    "mappings over two outputs": (
        "ops:\n" + A.replace("name: a", "name: src")
        + "  - {name: one, template: {name: process}, matrix: {kind: mapping, values: '{{ ops.src.outputs.parts }}'}}\n"
          "  - {name: two, template: {name: sink}, matrix: {kind: mapping, values: '{{ ops.src.outputs.shards }}'}}\n",
        "ops.src.outputs", "several of its outputs"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_what_airflow_cannot_express_is_refused_naming_it(case):
    body, where, words = REFUSED[case]
    problems = refusals(plan_of(body))
    assert any(found == where and words in message for found, message in problems), problems


def test_a_build_is_refused_and_so_is_an_unresolved_action():
    (plan,) = plans_of(ROOT / "examples" / "test-pipeline.yaml")  # without the action's file
    assert [where for where, _ in refusals(plan)] == ["ops.job1.template.build", "ops.deep-wide-experiment.template"]


def test_every_problem_is_listed_at_once():
    plan = plan_of("schedule: {kind: repeatable, limit: 2}\nops:\n"
                   "  - {name: tune, template: {name: train}, matrix: {kind: grid, params: "
                   "{lr: {kind: choice, value: [0.1]}}}}\n")
    with pytest.raises(NotCarried) as caught:
        export(plan)
    assert [problem.where for problem in caught.value.problems] == ["schedule", "ops.tune.matrix"]
    assert str(caught.value).startswith("cannot export to airflow: schedule: a repeatable schedule")


def test_the_local_executor_refuses_a_template_without_a_command():
    plan = plan_of("ops:\n" + A)  # the matrix templates have images and no commands
    assert export(plan, executor="kubernetes")
    (problem,) = refusals(plan, executor="local")
    assert problem[0] == "ops.a.template.container.command" and "runs no image" in problem[1]


STEP = """\
templates:
  - kind: job
    name: t
    inputs: [{name: n, type: int, default: 1}]
    container: {image: busybox, command: [echo, '{{ params.n }}']}
"""


WARNED = {
    "events": ("events: [{name: ready}]\nops:\n  - {name: a, template: {name: t}}\n---\nversion: 1\nkind: event\n"
               "name: ready\n", "events", "trigger the DAG through Airflow"),
    "pipeline concurrency": ("concurrency: 2\nops:\n  - {name: a, template: {name: t}}\n", "concurrency",
                             "all active runs of the DAG together"),
    "pipeline timeout": ("timeout: 60\nops:\n  - {name: a, template: {name: t}}\n", "timeout",
                         "marks its running tasks skipped"),
    "no start_at": ("schedule: {kind: cron, cron: '@daily'}\nops:\n  - {name: a, template: {name: t}}\n",
                    "schedule.start_at", "the DAG starts at the export's time"),
    "interval max_runs": ("schedule: {kind: interval, frequency: 60, start_at: '2026-01-01T00:00:00Z', max_runs: 3}\n"
                          "ops:\n  - {name: a, template: {name: t}}\n", "schedule.max_runs",
                          "end_date 2026-01-01T00:02:00+00:00"),
    "interval on Airflow 2.10": ("schedule: {kind: interval, frequency: 60, start_at: '2026-01-01T00:00:00Z'}\n"
                                 "ops:\n  - {name: a, template: {name: t}}\n", "schedule.frequency",
                                 "Airflow 2.10 has no DeltaTriggerTimetable"),
    "one_succeeded": ("ops:\n  - {name: a, template: {name: t}}\n  - {name: b, template: {name: t}, "
                      "dependencies: [a], trigger: one_succeeded}\n", "ops.b.trigger", "every upstream was skipped"),
    "one_done": ("ops:\n  - {name: a, template: {name: t}}\n  - {name: b, template: {name: t}, "
                 "dependencies: [a], trigger: one_done}\n", "ops.b.trigger", "a skipped upstream is final there"),
    "skip_on_upstream_skip": ("ops:\n  - {name: a, template: {name: t}}\n  - {name: b, template: {name: t}, "
                              "dependencies: [a], trigger: all_done, skip_on_upstream_skip: true}\n",
                              "ops.b.skip_on_upstream_skip", "skips itself if one was skipped"),
    "depends_on_past": ("schedule: {kind: cron, cron: '@daily', start_at: '2026-01-01T00:00:00Z', "
                        "depends_on_past: true}\nops:\n  - {name: a, template: {name: t}}\n",
                        "schedule.depends_on_past", "holds manual runs too"),
    "an op's depends_on_past": ("ops:\n  - {name: a, template: {name: t}, depends_on_past: true}\n",
                                "ops.a.depends_on_past", "holds only runs of a slot"),
    "exponential backoff": ("ops:\n  - {name: a, template: {name: t}, max_retries: 2, retry_exp_backoff: true}\n",
                            "ops.a.retry_exp_backoff", "jitter"),
    "matrix with op concurrency": ("ops:\n  - {name: a, template: {name: t}, concurrency: 1, matrix: {kind: mapping, "
                                   "values: [{n: 1}, {n: 2}]}}\n", "ops.a.concurrency", "each trial"),
}


@pytest.mark.parametrize("case", sorted(WARNED))
def test_what_airflow_only_emulates_is_a_warning_naming_it(case):
    body, where, words = WARNED[case]
    (plan,) = plans_of_texts("version: 1\nkind: pipeline\nname: p\n" + STEP + body) if case == "events" else (
        plan_of(body, STEP),)
    found = warnings_of(plan)
    assert words in found.get(where, ""), found
    if case == "interval on Airflow 2.10":
        assert where not in warnings_of(plan, airflow_version="3")


def test_a_plain_pipeline_has_no_warning():
    """all_success skips on a skipped upstream by itself: skip_on_upstream_skip needs no emulation there."""
    plan = plan_of("ops:\n  - {name: a, template: {name: t}}\n  - {name: b, template: {name: t}, dependencies: [a], "
                   "skip_on_upstream_skip: true}\n  - {name: c, template: {name: t}, dependencies: [b], "
                   "trigger: one_failed}\n", STEP)
    # But that c may run after a failure, and end the DAG run succeeded where Polyflow's run fails.
    for warnings in (export(plan).warnings, export(plan, executor="local").warnings):
        assert [(w.where, w.message.split(":")[0]) for w in warnings] == [("ops.c.trigger",
                                                                          "c may run after a failure")]
        assert "Airflow judges a DAG run by its last tasks" in warnings[0].message


def test_the_file_is_python_named_after_the_pipeline_and_pins_the_backoff_when_asked():
    plan = plan_of("ops:\n  - {name: a, template: {name: t}, max_retries: 1, retry_exp_backoff: true}\n", STEP)
    exported = export(plan)
    assert (exported.target, exported.filename, exported.media_type) == ("airflow", "p.py", "text/x-python")
    ast.parse(exported.text)
    assert "EXPONENTIAL_BACKOFF = 2.0 if AIRFLOW_3 else True" in exported.text
    assert "EXPONENTIAL_BACKOFF = True\n" in export(plan, airflow_version="2.10").text
    assert "EXPONENTIAL_BACKOFF = 2.0\n" in export(plan, airflow_version="3.1").text


@pytest.mark.parametrize("options", [{"executor": "celery"}, {"airflow_version": "1.10"}])
def test_bad_options_are_value_errors(options):
    plan = plan_of("ops:\n  - {name: a, template: {name: t}}\n", STEP)
    with pytest.raises(ValueError):
        export(plan, **options)
