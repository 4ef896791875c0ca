"""Each field rule of the documents, with the exact error an invalid value gets."""

import pytest

from .support import PIPELINE_HEAD, errors_of, pipeline

OPS = "ops:\n  - {name: a, template: {name: t}}\n"


@pytest.mark.parametrize(
    "body, error",
    [
        ("ops: []\n", "ops: a pipeline needs at least one op"),
        ("description: x\n", "ops: required field is missing"),
        ("concurrency: '3'\n" + OPS, "concurrency: expected an integer, got '3'"),
        ("concurrency: 0\n" + OPS, "concurrency: must be positive, got 0"),
        ("timeout: 1.5\n" + OPS, "timeout: expected an integer, got 1.5"),
        ("tags: [1]\n" + OPS, "tags[0]: expected a string, got 1"),
        ("tags: x\n" + OPS, "tags: expected a list, got 'x'"),
        ("ops: {a: 1}\n", "ops: expected a list, got a mapping"),
        ("ops: [a]\n", "ops[0]: expected a mapping, got 'a'"),
        (
            "opz: []\n" + OPS,
            "opz: unknown field 'opz' in pipeline; did you mean 'ops'? (fields: cache, concurrency, "
            "description, events, kind, name, ops, schedule, tags, templates, timeout, version, workspace)",
        ),
    ],
)
def test_pipeline_fields(body, error):
    assert error in errors_of(pipeline(body))


def test_pipeline_name_must_be_a_dns_label():
    text = pipeline(OPS).replace("name: p\n", "name: My_Pipeline\n", 1)
    assert errors_of(text) == [
        "name: 'My_Pipeline' is not a valid name: use lowercase letters, digits and '-', "
        "starting and ending with a letter or digit"
    ]


def test_names_longer_than_63_characters_are_refused():
    text = pipeline("ops:\n  - {name: " + "a" * 64 + ", template: {name: t}}\n")
    assert errors_of(text) == ["ops[0].name: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' "
                               "is too long for a name (64 characters, at most 63)"]


@pytest.mark.parametrize(
    "version, error",
    [
        ("2", "version: unsupported spec version 2 (supported: 1)"),
        ("'1'", "version: unsupported spec version '1' (supported: 1)"),
    ],
)
def test_spec_version(version, error):
    text = pipeline(OPS).replace("version: 1", f"version: {version}")
    assert errors_of(text) == [error]


def test_missing_kind_and_unknown_kind():
    assert errors_of("version: 1\nname: p\n") == [
        "kind: required field is missing (kinds: pipeline, action, event)"
    ]
    assert errors_of("version: 1\nkind: pipelines\nname: p\n") == [
        "kind: unknown kind 'pipelines'; did you mean 'pipeline'? (kinds: pipeline, action, event)"
    ]


@pytest.mark.parametrize(
    "op, error",
    [
        ("{name: a}", "ops[0].template: required field is missing"),
        ("{name: a, template: {}}",
         "ops[0].template: give exactly one of 'name' (an inline template) or 'action' (from the registry)"),
        ("{name: a, template: {name: t, action: x}}",
         "ops[0].template: give exactly one of 'name' (an inline template) or 'action' (from the registry)"),
        ("{name: a, template: {name: t, version: 2}}",
         "ops[0].template.version: only an action reference takes a version"),
        ("{name: a, template: {action: x, version: 0}}", "ops[0].template.version: must be positive, got 0"),
        ("{name: a, template: {name: t}, trigger: all_success}",
         "ops[0].trigger: unknown trigger rule 'all_success'; did you mean 'all_succeeded'? (trigger rules: "
         "all_succeeded, all_failed, all_done, one_succeeded, one_failed, one_done, none_failed)"),
        ("{name: a, template: {name: t}, max_retries: -1}", "ops[0].max_retries: must be at least 0, got -1"),
        ("{name: a, template: {name: t}, retry_delay: '60'}", "ops[0].retry_delay: expected an integer, got '60'"),
        ("{name: a, template: {name: t}, max_retry_delay: 0}", "ops[0].max_retry_delay: must be positive, got 0"),
        ("{name: a, template: {name: t}, retry_exp_backoff: 'yes'}",
         "ops[0].retry_exp_backoff: expected true or false, got 'yes'"),
        ("{name: a, template: {name: t}, timeout: 0}", "ops[0].timeout: must be positive, got 0"),
        ("{name: a, template: {name: t}, concurrency: -2}", "ops[0].concurrency: must be positive, got -2"),
        ("{name: a, template: {name: t}, depends_on_past: 1}",
         "ops[0].depends_on_past: expected true or false, got 1"),
        ("{name: a, template: {name: t}, skip_on_upstream_skip: null}",
         "ops[0].skip_on_upstream_skip: must not be null"),
        ("{name: a, template: {name: t}, params: [1]}", "ops[0].params: expected a mapping, got a list"),
        ("{name: a, template: {name: t}, dependencies: b}", "ops[0].dependencies: expected a list, got 'b'"),
        ("{name: a, template: {name: t}, retries: 2}",
         "ops[0].retries: unknown field 'retries' in op; did you mean 'max_retries'? (fields: cache, concurrency, "
         "dependencies, depends_on_past, matrix, max_retries, max_retry_delay, name, params, retry_delay, "
         "retry_exp_backoff, skip_on_upstream_skip, template, timeout, trigger)"),
    ],
)
def test_op_fields(op, error):
    assert errors_of(pipeline(f"ops:\n  - {op}\n")) == [error]


def template_errors(template: str) -> list[str]:
    return errors_of(PIPELINE_HEAD + OPS + "templates:\n  - " + template + "\n")


@pytest.mark.parametrize(
    "template, error",
    [
        ("{name: t, container: {image: python}}", "templates[0].kind: required field is missing"),
        ("{kind: jobs, name: t, container: {image: python}}",
         "templates[0].kind: unknown template kind 'jobs'; did you mean 'job'? (template kinds: job, experiment)"),
        ("{kind: job, name: t}",
         "templates[0]: a template needs container.image, or a build section that makes the image"),
        ("{kind: job, name: t, container: {command: [x]}}",
         "templates[0].container: a template needs container.image, or a build section that makes the image"),
        ("{kind: job, name: t, container: {image: python}, build: {dockerfile: D}}",
         "templates[0].container: container.image and build are exclusive: the build makes the image"),
        ("{kind: job, name: t, container: {image: 'Not An Image'}}",
         "templates[0].container.image: expected an image such as 'python:3.11-slim' (type image), "
         "got 'Not An Image'"),
        ("{kind: job, name: t, container: {image: python, command: python}}",
         "templates[0].container.command: expected a list, got 'python'"),
        ("{kind: job, name: t, container: {image: python, args: [1]}}",
         "templates[0].container.args[0]: expected a string, got 1"),
        ("{kind: job, name: t, container: {image: python, env: {A: b}}}",
         "templates[0].container.env: expected a list, got a mapping"),
        ("{kind: job, name: t, container: {image: python, env: [{name: '1 A', value: b}]}}",
         "templates[0].container.env[0].name: '1 A' is not a valid environment variable name"),
        ("{kind: job, name: t, container: {image: python, env: [{name: A, value: b}, {name: A, value: c}]}}",
         "templates[0].container.env[1].name: duplicate env var 'A'"),
        ("{kind: job, name: t, container: {image: python, env: [{name: A, value: 1}]}}",
         "templates[0].container.env[0].value: expected a string, got 1"),
        ("{kind: job, name: t, build: {dockerfile: D, build_args: {A: 1}}}",
         "templates[0].build.build_args.A: expected a string, got 1"),
        ("{kind: job, name: t, build: {dockerfile: D, cache: true}}",
         "templates[0].build.cache: unknown field 'cache' in build (fields: build_args, context, dockerfile, image)"),
        ("{kind: job, name: t, container: {image: python}, inputs: [{name: a, type: int, default: x}]}",
         "templates[0].inputs[0].default: expected an integer (type int), got 'x'"),
        ("{kind: job, name: t, container: {image: python}, inputs: [{name: a, type: int, options: [1, 2], "
         "default: 3}]}",
         "templates[0].inputs[0].default: 3 is not one of the options (1, 2)"),
        ("{kind: job, name: t, container: {image: python}, inputs: [{name: a, type: int, options: [x]}]}",
         "templates[0].inputs[0].options[0]: expected an integer (type int), got 'x'"),
        ("{kind: job, name: t, container: {image: python}, inputs: [{name: a, is_list: true, type: int, "
         "default: [1, x]}]}",
         "templates[0].inputs[0].default: item 1: expected an integer (type int), got 'x'"),
        ("{kind: job, name: t, container: {image: python}, inputs: [{name: a}, {name: a}]}",
         "templates[0].inputs[1].name: duplicate input 'a'"),
        ("{kind: job, name: t, container: {image: python}, outputs: [{name: 'a b'}]}",
         "templates[0].outputs[0].name: 'a b' is not a valid name: use letters, digits, '_' and '-', "
         "starting with a letter or '_'"),
        ("{kind: job, name: t, container: {image: python}, inputs: [{name: a, type: string}]}",
         "templates[0].inputs[0].type: unknown type 'string'; did you mean 'str'? "
         "(types: str, int, float, bool, dict, list, uri, path, s3_path, gcs_path, azure_path, image, date, "
         "datetime, any)"),
    ],
)
def test_template_fields(template, error):
    assert template_errors(template) == [error]


@pytest.mark.parametrize(
    "environment, error",
    [
        ("{node_selector: {a: 1}}", "environment.node_selector.a: expected a string, got 1"),
        ("{tolerations: [{key: k, operator: Exist}]}",
         "environment.tolerations[0].operator: unknown operator 'Exist'; did you mean 'Exists'? "
         "(operators: Exists, Equal)"),
        ("{tolerations: [{operator: Exists, value: v}]}",
         "environment.tolerations[0].value: must be empty when operator is 'Exists'"),
        ("{tolerations: [{value: v}]}", "environment.tolerations[0].key: required when operator is 'Equal'"),
        ("{tolerations: [{key: k, effect: NoSchedul}]}",
         "environment.tolerations[0].effect: unknown effect 'NoSchedul'; did you mean 'NoSchedule'? "
         "(effects: NoSchedule, PreferNoSchedule, NoExecute)"),
        ("{service_account: My_SA}",
         "environment.service_account: 'My_SA' is not a valid Kubernetes object name "
         "(lowercase letters, digits, '-' and '.')"),
        ("{secret_refs: [S3]}",
         "environment.secret_refs[0]: 'S3' is not a valid Kubernetes object name "
         "(lowercase letters, digits, '-' and '.')"),
        ("{resources: {cpu: {requests: lots}}}",
         "environment.resources.cpu.requests: 'lots' is not a Kubernetes quantity such as 2, '500m' or '1Gi'"),
        ("{resources: {gpus: {limits: 1}}}",
         "environment.resources.gpus: unknown field 'gpus' in resources; did you mean 'gpu'? "
         "(fields: cpu, gpu, memory)"),
        ("{labels: {'a/b/c': x}}", "environment.labels['a/b/c']: 'a/b/c' is not a valid Kubernetes label key"),
        ("{labels: {team: 'not ok'}}",
         "environment.labels.team: 'not ok' is not a valid Kubernetes label value (at most 63 characters)"),
        ("{max_restarts: -1}", "environment.max_restarts: must be at least 0, got -1"),
        ("{affinity: []}", "environment.affinity: expected a mapping, got a list"),
    ],
)
def test_environment_fields(environment, error):
    errors = template_errors(f"{{kind: job, name: t, container: {{image: python}}, environment: {environment}}}")
    assert errors == ["templates[0]." + error]


def test_every_error_of_a_document_is_reported_at_once():
    text = pipeline("concurrency: x\nops:\n  - {name: A, template: {name: t}, trigger: nope}\n"
                    "  - {name: b, template: {name: t}, retry_delay: -5}\n")
    assert errors_of(text) == [
        "concurrency: expected an integer, got 'x'",
        "ops[0].name: 'A' is not a valid name: use lowercase letters, digits and '-', "
        "starting and ending with a letter or digit",
        "ops[0].trigger: unknown trigger rule 'nope' (trigger rules: all_succeeded, all_failed, all_done, "
        "one_succeeded, one_failed, one_done, none_failed)",
        "ops[1].retry_delay: must be at least 0, got -5",
    ]


SCHEDULE_DEFAULTS = "ops:\n  - {name: a, template: {name: t}}\n"


@pytest.mark.parametrize(
    "schedule, error",
    [
        ("{kind: interval}", "schedule.frequency: required field is missing"),
        ("{kind: interval, frequency: 0}", "schedule.frequency: must be positive, got 0"),
        ("{kind: interval, frequency: 1000000000000000000000000000000}",
         "schedule.frequency: must be at most 315360000, got 1000000000000000000000000000000"),
        ("{kind: intervals, frequency: 1}",
         "schedule.kind: unknown schedule kind 'intervals'; did you mean 'interval'? "
         "(kinds: interval, cron, exact_time, repeatable)"),
        ("{frequency: 1}", "schedule.kind: required field is missing (kinds: interval, cron, exact_time, repeatable)"),
        ("{kind: interval, frequency: 5, cron: '* * * * *'}",
         "schedule.cron: unknown field 'cron' in interval schedule (fields: catchup, depends_on_past, end_at, "
         "frequency, kind, max_active_runs, max_runs, start_at)"),
        ("{kind: cron, cron: '61 * * * *'}",
         "schedule.cron: '61 * * * *' is not a cron expression: expected five fields "
         "(minute hour day-of-month month day-of-week), e.g. '*/5 * * * *'"),
        ("{kind: cron, cron: '0 0 * * * *'}",
         "schedule.cron: '0 0 * * * *' is not a cron expression: expected five fields "
         "(minute hour day-of-month month day-of-week), e.g. '*/5 * * * *'"),
        ("{kind: cron, cron: '@dayly'}",
         "schedule.cron: unknown cron alias '@dayly'; did you mean '@daily'? "
         "(aliases: @hourly, @daily, @weekly, @monthly, @yearly)"),
        ("{kind: cron, cron: '@daily', timezone: Mars/Olympus}",
         "schedule.timezone: unknown time zone 'Mars/Olympus': use an IANA name such as 'UTC' or 'Europe/Berlin'"),
        ("{kind: exact_time}", "schedule.start_at: required field is missing"),
        ("{kind: exact_time, start_at: '2030-01-01T00:00:00Z', depends_on_past: true}",
         "schedule.depends_on_past: unknown field 'depends_on_past' in exact_time schedule (fields: kind, start_at)"),
        ("{kind: exact_time, start_at: tomorrow}",
         "schedule.start_at: 'tomorrow' is not an ISO 8601 date-time such as '2019-06-24T21:20:07+00:00'"),
        ("{kind: repeatable, limit: 0}", "schedule.limit: must be positive, got 0"),
        ("{kind: repeatable, limit: 2, catchup: true}",
         "schedule.catchup: unknown field 'catchup' in repeatable schedule (fields: depends_on_past, end_at, "
         "kind, limit, start_at)"),
        ("{kind: interval, frequency: 60, max_runs: 0}", "schedule.max_runs: must be positive, got 0"),
        ("{kind: interval, frequency: 60, max_active_runs: 0}", "schedule.max_active_runs: must be positive, got 0"),
        ("{kind: interval, frequency: 60, start_at: '2020-01-02T00:00:00+00:00', end_at: '2020-01-01T00:00:00+00:00'}",
         "schedule.end_at: must be after start_at (2020-01-01T00:00:00+00:00 <= 2020-01-02T00:00:00+00:00)"),
        ("{kind: interval, frequency: 60, start_at: '2020-01-01T00:00:00+00:00', end_at: '2020-01-02T00:00:00'}",
         "schedule.end_at: give time zones on both start_at and end_at, or on neither"),
        ("every minute", "schedule: expected a mapping, got 'every minute'"),
    ],
)
def test_schedule_fields(schedule, error):
    assert errors_of(pipeline(f"schedule: {schedule}\n" + SCHEDULE_DEFAULTS)) == [error]


@pytest.mark.parametrize(
    "schedule",
    [
        "{kind: interval, frequency: 120, start_at: '2019-06-24T21:20:07+00:00', depends_on_past: true}",
        "{kind: cron, cron: '*/5 * * * *', timezone: Europe/Berlin, catchup: true, max_active_runs: 3}",
        "{kind: cron, cron: '@weekly', max_runs: 4, end_at: '2030-01-01T00:00:00'}",
        "{kind: exact_time, start_at: '2030-01-01T00:00:00+02:00'}",
        "{kind: repeatable, limit: 3}",
    ],
)
def test_valid_schedules(schedule):
    assert errors_of(pipeline(f"schedule: {schedule}\n" + SCHEDULE_DEFAULTS)) == []


def test_action_and_event_documents():
    action = "kind: action\nname: Bad\ntemplate: {kind: job, name: x, container: {image: python}}\nversion: 0\n"
    assert errors_of(action) == [
        "name: 'Bad' is not a valid name: use lowercase letters, digits and '-', "
        "starting and ending with a letter or digit",
        "version: must be positive, got 0",
    ]
    assert errors_of("kind: action\nname: a\n") == ["template: required field is missing"]
    event = "version: 1\nkind: event\nname: data-ready\ninputs: [{name: path, type: pathh}]\n"
    assert errors_of(event) == [
        "inputs[0].type: unknown type 'pathh'; did you mean 'path'? (types: str, int, float, bool, dict, list, "
        "uri, path, s3_path, gcs_path, azure_path, image, date, datetime, any)"
    ]
