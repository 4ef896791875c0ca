"""The compiled plan: JSON form, immutability and what compilation fills in (polyflow.spec.plan)."""

import dataclasses
import datetime as dt
import json
import textwrap
from pathlib import Path

import pytest

from polyflow.spec import ActionRef, Plan, Registry, check, parse_yaml, read_files
from polyflow.spec.builders import action_spec

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = [ROOT / "examples/test-pipeline.yaml", ROOT / "examples/actions/deep-wide-model.yaml"]

TEMPLATES = """\
templates:
  - kind: job
    name: t
    inputs:
      - {name: n, type: int, default: 1}
      - {name: tags, type: str, is_list: true, default: [a, b]}
      - {name: conf, type: dict, default: {depth: 2, layers: [8, 4]}}
      - {name: mode, type: str, options: [fast, full], default: fast}
      - {name: note, type: str, is_optional: true}
    outputs:
      - {name: score, type: float}
      - {name: count, type: int}
    container:
      image: 'python:3.11'
      command: [python, -c, pass]
      args: ['--n={{ params.n }}']
      env: [{name: LOG_LEVEL, value: debug}]
      working_dir: /app
    environment:
      max_restarts: 3
      node_selector: {pool: gpu}
      tolerations: [{key: gpu, operator: Exists, effect: NoSchedule}]
      resources: {cpu: {requests: 500m, limits: 2}, memory: {limits: 1Gi}}
      labels: {team: ml}
      secret_refs: [s3-secret]
  - kind: experiment
    name: plain
    container: {image: 'python:3.11'}
  - kind: job
    name: built
    build: {dockerfile: docker/Dockerfile, context: ., build_args: {PY: '3.11'}}
"""


def compile_text(text: str, registry: Registry | None = None, require_registry: bool = False):
    raws = parse_yaml(textwrap.dedent(text), "p.yaml")
    return check(raws, registry=registry, require_registry=require_registry)


def pipeline(ops: str, head: str = "", templates: str = TEMPLATES) -> str:
    return "version: 1\nkind: pipeline\nname: p\n" + head + "ops:\n" + textwrap.dedent(ops) + templates


def plan_of(text: str, **kwargs) -> Plan:
    [plan] = compile_text(text, **kwargs).pipelines
    return plan


RICH = pipeline(
    """\
      - {name: a, template: {name: t}, params: {n: 2, note: hello}, timeout: 600, concurrency: 2}
      - name: b
        template: {name: plain}
        dependencies: [a]
        trigger: all_done
        skip_on_upstream_skip: true
        max_retries: 4
        retry_delay: 10
        retry_exp_backoff: true
        max_retry_delay: 600
      - {name: c, template: {name: built}, depends_on_past: true}
      - {name: d, template: {name: t}, params: {n: '{{ ops.a.outputs.count }}'}}
      - {name: e, template: {action: somewhere-else}, params: {x: [1, {y: 2}]}}
    """,
    head="""\
description: every field that survives to the plan
tags: [nightly, ml]
concurrency: 3
timeout: 7200
events: [{name: data-arrived}]
schedule:
  kind: cron
  cron: '0 3 * * *'
  timezone: Europe/Berlin
  start_at: '2024-07-01T00:00:00'
  end_at: '2024-12-01T00:00:00'
  max_runs: 30
  catchup: true
  max_active_runs: 2
""",
)


def example_plan() -> Plan:
    raws, errors = read_files([str(path) for path in EXAMPLES])
    assert errors == []
    [plan] = check(raws).pipelines
    return plan


@pytest.fixture(params=["examples", "rich"])
def plan(request) -> Plan:
    return example_plan() if request.param == "examples" else plan_of(RICH)


# --- JSON form -------------------------------------------------------------------------


def test_to_dict_is_json_and_from_dict_rebuilds_the_plan(plan):
    data = plan.to_dict()
    text = json.dumps(data)
    rebuilt = Plan.from_dict(json.loads(text))
    assert rebuilt == plan
    assert rebuilt.to_dict() == data
    assert json.dumps(rebuilt.to_dict()) == text
    assert rebuilt.order == plan.order and rebuilt.edges == plan.edges


def test_from_dict_rebuilds_frozen_values():
    rebuilt = Plan.from_dict(json.loads(json.dumps(plan_of(RICH).to_dict())))
    a = rebuilt.op("a")
    assert a.template.inputs[1].default == ("a", "b")
    assert a.template.environment.tolerations[0]["operator"] == "Exists"
    assert a.template.container.env == {"LOG_LEVEL": "debug"}
    with pytest.raises(TypeError):
        a.params["conf"]["depth"] = 3
    assert rebuilt.schedule.start_at == dt.datetime(2024, 6, 30, 22, 0, tzinfo=dt.UTC)
    assert rebuilt.op("e").action == ActionRef("somewhere-else") and rebuilt.op("e").template is None


def test_the_example_plan():
    plan = example_plan()
    assert plan.name == "test-pipeline"
    assert plan.order == ("job1", "deep-wide-experiment")
    job1, experiment = plan.ops
    assert dict(job1.params) == {"input-bucket": "s3://bucket-with-data"}
    assert job1.template.build.dockerfile == "dockerfiles/Dockerfile"
    assert experiment.action == ActionRef("deep-wide-model", 1)
    assert experiment.template.kind == "experiment"
    assert plan.schedule.start_at == dt.datetime(2019, 6, 24, 21, 20, 7, tzinfo=dt.UTC)


# --- Immutability ----------------------------------------------------------------------


def test_the_plan_is_immutable():
    plan = plan_of(RICH)
    a = plan.op("a")
    for obj, name, value in [
        (plan, "name", "other"),
        (plan, "order", ()),
        (plan.schedule, "cron", "@daily"),
        (a, "max_retries", 9),
        (a, "params", {}),
        (a.template, "name", "x"),
        (a.template.container, "image", "evil:latest"),
        (a.template.environment, "max_restarts", 0),
        (a.template.inputs[0], "default", 5),
    ]:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, name, value)
    for mapping in [a.params, a.params["conf"], a.template.environment.node_selector,
                    a.template.environment.resources["cpu"], a.template.container.env]:
        with pytest.raises(TypeError):
            mapping["key"] = "value"
    # Lists are tuples.
    assert isinstance(plan.ops, tuple) and isinstance(plan.tags, tuple)
    assert isinstance(a.params["tags"], tuple) and isinstance(a.params["conf"]["layers"], tuple)
    with pytest.raises(AttributeError):
        a.params["tags"].append("c")


def test_the_plan_does_not_share_state_with_the_document():
    text = pipeline("  - {name: a, template: {name: t}, params: {conf: {depth: 5}}}\n")
    raws = parse_yaml(text, "p.yaml")
    [plan] = check(raws).pipelines
    raws[0].data["ops"][0]["params"]["conf"]["depth"] = 99
    assert plan.op("a").params["conf"]["depth"] == 5


# --- What compilation fills in ---------------------------------------------------------


def test_defaults_of_inputs_are_filled_into_params():
    plan = plan_of(RICH)
    assert dict(plan.op("a").params) == {
        "n": 2,
        "note": "hello",
        "tags": ("a", "b"),
        "conf": {"depth": 2, "layers": (8, 4)},
        "mode": "fast",
    }
    # An optional input without default stays absent; a reference stays as written.
    assert "note" not in plan.op("d").params
    assert plan.op("d").params["n"] == "{{ ops.a.outputs.count }}"
    assert plan.op("d").dependencies == ("a",)
    assert dict(plan.op("b").params) == {}
    # An unresolved action: the params are kept as given, nothing to fill in.
    assert dict(plan.op("e").params) == {"x": (1, {"y": 2})}


def test_the_example_fills_action_defaults():
    experiment = example_plan().op("deep-wide-experiment")
    assert dict(experiment.params) == {"lr": 0.05, "epochs": 5}


@pytest.mark.parametrize(
    "op, max_retries",
    [
        ("{name: a, template: {name: t}}", 3),  # the template's environment.max_restarts
        ("{name: a, template: {name: t}, max_retries: 0}", 0),  # given, even 0, wins
        ("{name: a, template: {name: t}, max_retries: 7}", 7),
        ("{name: a, template: {name: plain}}", 0),  # neither: no retries
        ("{name: a, template: {name: plain}, max_retries: 2}", 2),
        ("{name: a, template: {action: elsewhere}}", 0),  # unresolved action
    ],
)
def test_max_retries_defaults_to_max_restarts(op, max_retries):
    plan = plan_of(pipeline(f"  - {op}\n"))
    assert plan.op("a").max_retries == max_retries


def test_the_example_max_retries():
    plan = example_plan()
    assert plan.op("job1").max_retries == 2
    assert plan.op("deep-wide-experiment").max_retries == 0


@pytest.mark.parametrize(
    "schedule, expected",
    [
        ("", {"a": False, "b": True}),
        ("schedule: {kind: interval, frequency: 60}\n", {"a": False, "b": True}),
        ("schedule: {kind: interval, frequency: 60, depends_on_past: false}\n", {"a": False, "b": True}),
        ("schedule: {kind: interval, frequency: 60, depends_on_past: true}\n", {"a": True, "b": True}),
        ("schedule: {kind: cron, cron: '@daily', depends_on_past: true}\n", {"a": True, "b": True}),
    ],
)
def test_schedule_depends_on_past_sets_every_op(schedule, expected):
    ops = """\
      - {name: a, template: {name: plain}}
      - {name: b, template: {name: plain}, depends_on_past: true}
    """
    plan = plan_of(pipeline(ops, head=schedule))
    assert {op.name: op.depends_on_past for op in plan.ops} == expected


def test_the_example_schedule_depends_on_past():
    assert [op.depends_on_past for op in example_plan().ops] == [True, True]


BERLIN_SUMMER = dt.timezone(dt.timedelta(hours=2))
BERLIN_WINTER = dt.timezone(dt.timedelta(hours=1))


@pytest.mark.parametrize(
    "schedule, start_at, end_at",
    [
        # A naive time of a cron schedule is read in its time zone (with its DST).
        ("{kind: cron, cron: '@daily', timezone: Europe/Berlin, start_at: '2024-07-01T00:00:00',"
         " end_at: '2024-12-01T00:00:00'}",
         dt.datetime(2024, 7, 1, tzinfo=BERLIN_SUMMER), dt.datetime(2024, 12, 1, tzinfo=BERLIN_WINTER)),
        ("{kind: cron, cron: '@daily', timezone: America/New_York, start_at: '2024-01-15T09:30:00'}",
         dt.datetime(2024, 1, 15, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5))), None),
        # Without a time zone, UTC.
        ("{kind: cron, cron: '@daily', start_at: '2024-07-01T00:00:00'}",
         dt.datetime(2024, 7, 1, tzinfo=dt.UTC), None),
        ("{kind: interval, frequency: 60, start_at: '2024-07-01T00:00:00'}",
         dt.datetime(2024, 7, 1, tzinfo=dt.UTC), None),
        ("{kind: exact_time, start_at: '2024-07-01 12:00'}",
         dt.datetime(2024, 7, 1, 12, tzinfo=dt.UTC), None),
        # A time with an offset keeps it, whatever the schedule's time zone.
        ("{kind: cron, cron: '@daily', timezone: Europe/Berlin, start_at: '2024-07-01T00:00:00+00:00'}",
         dt.datetime(2024, 7, 1, tzinfo=dt.UTC), None),
        ("{kind: interval, frequency: 60}", None, None),
    ],
)
def test_schedule_times_are_aware(schedule, start_at, end_at):
    plan = plan_of(pipeline("  - {name: a, template: {name: plain}}\n", head=f"schedule: {schedule}\n"))
    assert plan.schedule.start_at == start_at
    assert plan.schedule.end_at == end_at
    for moment in (plan.schedule.start_at, plan.schedule.end_at):
        assert moment is None or moment.utcoffset() is not None
    if start_at is not None:
        assert plan.schedule.start_at.utcoffset() == start_at.utcoffset()


def test_rich_plan_schedule_and_top_level_fields():
    plan = plan_of(RICH)
    assert plan.schedule.start_at.tzinfo.key == "Europe/Berlin"
    assert (plan.schedule.kind, plan.schedule.cron, plan.schedule.timezone) == ("cron", "0 3 * * *", "Europe/Berlin")
    assert (plan.schedule.max_runs, plan.schedule.catchup, plan.schedule.max_active_runs) == (30, True, 2)
    assert (plan.description, plan.tags) == ("every field that survives to the plan", ("nightly", "ml"))
    assert (plan.concurrency, plan.timeout, plan.events) == (3, 7200, ("data-arrived",))
    b = plan.op("b")
    assert (b.trigger, b.skip_on_upstream_skip, b.retry_delay, b.retry_exp_backoff, b.max_retry_delay) == (
        "all_done", True, 10, True, 600,
    )
    assert (plan.op("a").timeout, plan.op("a").concurrency) == (600, 2)
    assert plan.downstream("a") == ("b", "d")


# --- Action versions -------------------------------------------------------------------


def action(version: int | None, image: str) -> str:
    head = "" if version is None else f"version: {version}\n"
    return (
        f"---\nkind: action\nname: trainer\n{head}"
        f"template: {{kind: job, name: trainer, container: {{image: '{image}'}}}}\n"
    )


USE_LATEST = pipeline("  - {name: a, template: {action: trainer}}\n")
USE_V1 = pipeline("  - {name: a, template: {action: trainer, version: 1}}\n")


@pytest.mark.parametrize(
    "text, image, ref",
    [
        # Without a version, the latest version given with the documents, in any order.
        (USE_LATEST + action(1, "t:1") + action(3, "t:3") + action(2, "t:2"), "t:3", ActionRef("trainer", 3)),
        # An action without a version becomes the next one: it is the newest.
        (USE_LATEST + action(2, "t:2") + action(None, "t:next"), "t:next", ActionRef("trainer")),
        # An explicit version is that version.
        (USE_V1 + action(1, "t:1") + action(2, "t:2"), "t:1", ActionRef("trainer", 1)),
    ],
)
def test_local_action_versions(text, image, ref):
    op = plan_of(text).op("a")
    assert op.template.container.image == image
    assert op.action == ref


class DictRegistry(Registry):
    """A registry holding some versions of 'trainer' (the base class is the extension point)."""

    def __init__(self, *versions: int):
        self.specs = {
            version: action_spec({
                "name": "trainer", "version": version,
                "template": {"kind": "job", "name": "trainer", "container": {"image": f"reg:{version}"}},
            })
            for version in versions
        }

    def action(self, name, version):
        if name != "trainer" or not self.specs:
            return None
        return self.specs.get(max(self.specs) if version is None else version)

    def action_names(self):
        return ["trainer"]


@pytest.mark.parametrize(
    "text, registry, image, ref",
    [
        (USE_LATEST, DictRegistry(1, 2), "reg:2", ActionRef("trainer", 2)),
        (USE_V1, DictRegistry(1, 2), "reg:1", ActionRef("trainer", 1)),
        # Actions given with the documents win over the registry.
        (USE_LATEST + action(1, "local:1"), DictRegistry(1, 5), "local:1", ActionRef("trainer", 1)),
        (USE_V1 + action(2, "local:2"), DictRegistry(1), "reg:1", ActionRef("trainer", 1)),
        # Unknown without a registry: unresolved, recorded as asked.
        (USE_LATEST, None, None, ActionRef("trainer")),
        (USE_V1, DictRegistry(), None, ActionRef("trainer", 1)),
    ],
)
def test_registry_action_versions(text, registry, image, ref):
    compilation = compile_text(text, registry=registry)
    op = compilation.pipelines[0].op("a")
    assert op.action == ref
    assert (op.template.container.image if op.template else None) == image
    assert dict(compilation.external_actions) == ({} if image else {ref: ("p",)})


# --- Matrix ops ----------------------------------------------------------------------------

MATRIX = pipeline(
    """\
      - name: g
        template: {name: t}
        matrix:
          kind: grid
          concurrency: 2
          params:
            note: {kind: choice, value: [a, b]}
            n: {kind: range, value: '1:4:1'}
            mode: {kind: pchoice, value: [[fast, 0.3], [full, 0.7]]}
          metric: {name: score, optimization: minimize}
          early_stopping:
            - {kind: median_early_stopping, metric: score, optimization: minimize}
            - {kind: failure_early_stopping, percent: 25}
      - name: r
        template: {name: t}
        matrix:
          kind: random
          num_runs: 5
          seed: 3
          params:
            n: {kind: quniform, value: [1, 9, 2]}
            conf: {kind: choice, value: [{depth: 1}, {depth: 2, layers: [4]}]}
          early_stopping: [{kind: metric_early_stopping, metric: count, value: 10}]
      - {name: m, template: {name: t}, matrix: {kind: mapping, values: [{n: 1, tags: [x]}, {n: 2}]}}
      - {name: lister, template: {name: lister}}
      - {name: f, template: {name: t}, matrix: {kind: mapping, values: '{{ ops.lister.outputs.items }}'}}
      - {name: down, template: {name: t}, params: {n: '{{ ops.g.best.params.n }}'}}
    """,
    templates=TEMPLATES + """\
  - kind: job
    name: lister
    outputs: [{name: items, type: dict, is_list: true}]
    container: {image: 'python:3.11'}
""",
)


def test_a_matrix_survives_the_json_form():
    plan = plan_of(MATRIX)
    text = json.dumps(plan.to_dict())
    rebuilt = Plan.from_dict(json.loads(text))
    assert rebuilt == plan
    assert json.dumps(rebuilt.to_dict()) == text
    g = rebuilt.op("g").matrix
    assert g.params["mode"].value == (("fast", 0.3), ("full", 0.7))
    assert rebuilt.op("r").matrix.params["conf"].value[1]["layers"] == (4,)
    assert rebuilt.op("m").matrix.values[0]["tags"] == ("x",)
    assert rebuilt.op("f").matrix.values == "{{ ops.lister.outputs.items }}"
    assert rebuilt.op("down").dependencies == ("g",)
    with pytest.raises(TypeError):
        rebuilt.op("m").matrix.values[0]["n"] = 3


def test_the_params_order_survives_a_store_that_sorts_keys():
    # PostgreSQL's jsonb keeps no key order; a grid's trial order is the params' order.
    plan = plan_of(MATRIX)
    stored = json.loads(json.dumps(plan.to_dict(), sort_keys=True))
    assert list(Plan.from_dict(stored).op("g").matrix.params) == ["note", "n", "mode"]
    assert stored["ops"][0]["matrix"]["params"][0] == {"name": "note", "kind": "choice", "value": ["a", "b"]}


def test_params_as_a_mapping_are_read_too():
    data = plan_of(MATRIX).to_dict()
    data["ops"][0]["matrix"]["params"] = {"n": {"kind": "range", "value": [1, 4, 1]}}
    assert Plan.from_dict(data).op("g").matrix.params["n"].value == (1, 4, 1)


def test_ops_without_a_matrix_have_none():
    assert plan_of(MATRIX).op("down").matrix is None
    assert Plan.from_dict(plan_of(RICH).to_dict()).op("a").matrix is None
