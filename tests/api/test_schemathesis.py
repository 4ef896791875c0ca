"""Schemathesis over the whole OpenAPI schema, against the live server.

One test per operation (the schema is generated at collection, in this
process, from the same Django app that the live server serves;
test_the_live_server_serves_this_schema checks that it is byte for byte the
schema the live server answers with). Every operation gets bounded,
derandomized examples (stable in CI) of its query and body, valid and invalid
ones, sent over HTTP with the token of alice, who owns the project that the
path parameters name, and every check of schemathesis: no 5xx, every answer
as the schema says, schema-valid data never a 400, invalid data a 4xx. Then
sequences of calls chained by the links between operations (stateful).

Path parameters are pointed at real objects: random names would only ever find
nothing, which tests/api/test_errors.py covers. Each operation gets a fresh
database (live_server's transactional tests empty it after each test), so one
operation's deletes and renames cannot starve the next.

(schemathesis.pytest.from_fixture, which would load the schema from the live
server at test time, does not run under pytest 9: schemathesis 4.32 sets
`request.node._nodeid`, which pytest 9 no longer has.)
"""

from __future__ import annotations

import pytest
import requests
import schemathesis
from django.contrib.auth import get_user_model
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import FlakyStrategyDefinition
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from polyflow.services.apply import apply_text
from polyflow.services.projects import add_member, create_project
from polyflow.services.registry import apply_owner_text
from polyflow.services.runs import stop_run, trigger_run

SCHEMA_PATH = "/api/v1/schema/?format=json"
MAX_EXAMPLES = 25

# The action, the event and the pipeline are all named `train`, so that every `{name}` finds one.
REGISTRY = """\
version: 1
kind: event
name: train
inputs: [{name: size, type: int, is_optional: true}]
---
kind: action
name: train
template:
  kind: job
  name: train
  container: {image: busybox}
"""

PIPELINE = """\
version: 1
kind: pipeline
name: train
events: [{name: train}]
ops:
  - {name: prepare, template: {name: step}}
  - {name: fit, template: {action: train}, dependencies: [prepare]}
templates:
  - kind: job
    name: step
    inputs: [{name: size, type: int, default: 3}]
    container: {image: busybox, command: [sh, -c, 'echo {{ params.size }}']}
"""

schema = schemathesis.openapi.from_wsgi(
    SCHEMA_PATH,
    get_wsgi_application(),
    config=schemathesis.Config.from_dict({
        "seed": 20260601,
        "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        # A body of the schema's shape that the pipeline's own rules refuse (an unknown input,
        # an op without a template) is a 422 (docs/api.md): an answer to schema-valid data.
        "checks": {"positive_data_acceptance": {"expected-statuses": [
            "2xx", "3xx", "401", "403", "404", "409", "422", "429"]}},
    }),
)


@pytest.fixture
def target(live_server):
    """alice's token, and path parameters that name her objects: a project (where
    ed is a viewer) with the pipeline `train`, a stopped run and an active one."""
    model = get_user_model()
    alice = model.objects.create_user("alice", password="pw")
    model.objects.create_user("ed", password="pw")
    apply_owner_text(alice, REGISTRY)
    project = create_project(alice, "vision")
    add_member(project, "ed", "viewer")
    pipeline = apply_text(project, PIPELINE).pipelines[0][0]
    stop_run(trigger_run(pipeline, user=alice))
    run = trigger_run(pipeline, user=alice)
    # `prepare` has no trials: a trial's endpoints answer 404 naming that (tests/api/test_metrics.py has trials).
    parameters = {"owner": "alice", "project": "vision", "uuid": str(run.uuid), "op": "prepare",
                  "name": "train", "user": "ed", "index": "0"}
    return Token.objects.create(user=alice).key, parameters


# One test per operation, by plain parametrization: schemathesis' own (`schema.parametrize()`)
# collects a single item in a pytest-xdist worker, which ran a fraction of the operations.
OPERATIONS = {operation.label: operation for operation in (result.ok() for result in schema.get_all_operations())}


def export_exclusions(label: str) -> list:
    """The export's options belong to one target each (`executor` to airflow, `name` to argo): OpenAPI
    cannot say that a query parameter goes with one value of another, so a schema-valid
    `?to=argo&executor=` is a 400 naming the option, which the positive-data check would count as a
    rejection."""
    return [positive_data_acceptance] if label.endswith("/export/") else []


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_api(label, target, live_server):
    token, parameters = target
    operation = OPERATIONS[label]
    path_parameters = {parameter.name: parameters[parameter.name] for parameter in operation.path_parameters}
    # Valid and invalid requests alike; the fixture is set up once for all of them: on purpose.
    cases = st.one_of(*(operation.as_strategy(generation_mode=mode, path_parameters=path_parameters or None)
                        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)))

    excluded = export_exclusions(label)

    @settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(case=cases)
    def check(case):
        case.call_and_validate(base_url=live_server.url, headers={"Authorization": f"Token {token}"},
                               excluded_checks=excluded)

    check()


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def test_the_live_server_serves_this_schema(live_server, client):
    served = requests.get(live_server.url + SCHEMA_PATH, timeout=30)
    assert served.status_code == 200
    assert served.json() == client.get(SCHEMA_PATH).json() == schema.raw_schema


STATEFUL_EXAMPLES = 15
STATEFUL_STEPS = 6


def test_api_statefully(target, live_server):
    """Sequences of calls chained by the links schemathesis finds between the operations
    (a project created, then read, changed and deleted; a run triggered, then stopped), with
    every check, derandomized and bounded as above."""
    token, parameters = target
    calls = []
    # Every string an answer held: a path parameter with one of these values came through a
    # link from an earlier answer and is kept; any other was drawn at random and would only
    # find nothing, so it is pointed at alice's objects, as above.
    answered = set(parameters.values())

    class Workflow(schema.as_state_machine()):
        def before_call(self, case):
            for name, value in (case.path_parameters or {}).items():
                if value not in answered and name in parameters:
                    case.path_parameters[name] = parameters[name]
            # On the case, not the transport: the authentication checks then know which header
            # carries the credentials when they send the request again without them.
            case.headers = {**(case.headers or {}), "Authorization": f"Token {token}"}

        def get_call_kwargs(self, case):
            return {"base_url": live_server.url}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            # Every check but one: ignored_auth's probes, sent again from the state machine, came
            # back with the run's credentials still on (200), where the same requests without them
            # get a 401 over HTTP; test_api runs it on every operation, and tests/api/
            # test_permissions.py the permission matrix.
            # And, as in test_api, the positive-data check on the export (its options go with one target).
            excluded = [ignored_auth, *export_exclusions(case.operation.label)]
            try:
                case.validate_response(response, additional_checks=additional_checks, excluded_checks=excluded,
                                       transport_kwargs=kwargs or None)
            except Exception as failure:
                failures.append(failure)
                raise

        def after_call(self, response, case):
            calls.append((case.method, case.path, response.status_code))
            try:
                answered.update(_strings(response.json()))
            except ValueError:
                pass

    failures: list[Exception] = []
    try:
        Workflow.run(settings=settings(max_examples=STATEFUL_EXAMPLES, stateful_step_count=STATEFUL_STEPS,
                                       derandomize=True, database=None, deadline=None,
                                       suppress_health_check=list(HealthCheck)))
    except FlakyStrategyDefinition:
        # The live server's state outlives each example (what one created, the next one lists), so the
        # links a replay can follow may differ: the harness's nondeterminism, not the API's. It counts
        # only when no check failed; a failed check is the failure, whatever hypothesis did after it.
        if failures:
            raise failures[0] from None
    # The links were followed: sequences of several calls, some of them answered with objects.
    assert len(calls) > 2 * STATEFUL_EXAMPLES, calls
    assert sum(200 <= status < 300 for _, _, status in calls) > STATEFUL_EXAMPLES, calls
