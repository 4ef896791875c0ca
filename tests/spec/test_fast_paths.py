"""The fast paths of reading and validating give what the usual paths give: the same data,
in the same order, the same plans and the same errors.

YAML: plain documents are built from libyaml's events (polyflow.spec.loader); the usual
path is libyaml's nodes with PyYAML's constructor, and the pure-Python loader for errors.
Schemas: valid objects are loaded by functions compiled from the fields
(polyflow.spec.fields); the usual path is marshmallow's. Each pair is compared on
generated inputs, most of them invalid, and on the benchmark's pipeline.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from types import MappingProxyType

import pytest
import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError, pre_load

from bench.spec_bench import generate
from polyflow.spec import RawDocument, SpecValidationError, check, fields, loader, parse_yaml, validate_raw
from polyflow.spec.plan import freeze
from polyflow.spec.references import _EXPRESSION, ExpressionError, parse_expression, references_in, walk_strings
from polyflow.spec.schemas.base import StrictSchema
from polyflow.spec.schemas.documents import ActionSchema, EventSchema
from polyflow.spec.schemas.matrix import MatrixSchema, SpaceField
from polyflow.spec.schemas.pipeline import TRIGGER_RULES, OpSchema, PipelineSchema, TemplateRefSchema
from polyflow.spec.schemas.template import TAINT_EFFECTS, TemplateSchema
from polyflow.spec.types import IO_TYPES

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def typed(value: object) -> object:
    """`value` with every type spelled out (1, 1.0 and true differ; nan equals nan) and
    shared or recursive containers marked, to compare loaded data exactly."""
    seen: dict[int, int] = {}

    def walk(item):
        if isinstance(item, dict | list):
            if id(item) in seen:
                return ("same as", seen[id(item)])
            seen[id(item)] = len(seen)
            if isinstance(item, dict):
                return ("dict", [(walk(key), walk(inner)) for key, inner in item.items()])
            return ("list", [walk(inner) for inner in item])
        if isinstance(item, float):
            return ("float", repr(item))
        return (type(item).__name__, item)

    return walk(value)


# --- YAML -------------------------------------------------------------------------------


def reference_load_all(text: str, max_documents: int, max_ops: int | None = None) -> list:
    """loader._load_all without the fast path (the texts here are far from the limits; `max_ops`, which
    the fast path applies while it builds, is checking.py's to refuse here)."""
    try:
        return list(yaml.load_all(text, Loader=loader._FastLoader))
    except yaml.YAMLError:
        return list(yaml.load_all(text, Loader=loader._SpecLoader))


def parsed(text: str, reference: bool = False) -> object:
    with pytest.MonkeyPatch.context() as patch:
        if reference:
            patch.setattr(loader, "_load_all", reference_load_all)
        try:
            return [(raw.source, typed(raw.data)) for raw in parse_yaml(text, "f.yaml")]
        except SpecValidationError as error:
            return [str(item) for item in error.errors]
        except Exception as error:  # `!!bool maybe` escapes as a KeyError, on either path
            return repr(error)


def assert_parsed_alike(text: str) -> None:
    assert parsed(text) == parsed(text, reference=True)


_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=6),
    st.sampled_from(["yes", "No", "0x1F", "017", "1_000", "1:20", "21:20:07", "2019-06-24", "~", "", "=", "<<",
                     ".inf", "1e3", "{{ ops.a.outputs.b }}", "a: b", "- x", "#", "'", '"']),
)
_DATA = st.recursive(
    _SCALARS,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.one_of(st.text(max_size=4), st.integers(), st.booleans(), st.none()), children, max_size=4),
    max_leaves=20,
)


@SETTINGS
@given(documents=st.lists(_DATA, min_size=1, max_size=3), flow=st.sampled_from([None, True, False]),
       unicode=st.booleans(), start=st.booleans())
def test_dumped_documents_load_alike(documents, flow, unicode, start):
    text = yaml.safe_dump_all(documents, default_flow_style=flow, allow_unicode=unicode, sort_keys=False,
                              explicit_start=start)
    assert_parsed_alike(text)


# Pieces of YAML, many of them tricky or wrong: the texts made of them are mostly invalid.
_KEYS = ["a", "b", "a", "name", "1", "true", "~", "<<", "=", "? [1]", "*x", "&k a", "&x a", "!!str 1", "'q'", "",
         "[a]"]
_VALUES = [
    "1", "0x1F", "017", "0o17", "0b11", "1_000", "+5", "-0", "1.5", "1_0.5", "1e3", "1.5e+3", ".inf", "-.Inf",
    ".NaN", "~", "null", "", "yes", "No", "on", "Off", "2019-06-24", "2019-06-24T21:20:07Z", "21:20", "1:20:30",
    "=", "<<", "'quoted'", '"dq \\x41 \\u00e9"', "! 12", "!!str 12", "!!int 12", "!!int 0x1f", "!!int 1:20",
    "!!float 1", "!!bool yes", "!!bool maybe", "!!null ''", "!!binary aGk=", "!!set {a}",
    "!!timestamp 2019-01-01", "!custom x", "!!map {a: 1}", "!!seq [1]", "!!str [1]", "!!omap [a: 1]", "[1, 2]",
    "{a: 1}", "{a: 1, a: 2}", "{1: x, true: y}", "&x 5", "*x", "&y [1, 2]", "*y", "&z {p: 1}", "*z", "[*z, *z]",
    "{<<: *z, q: 2}", "&r [*r]", "[", "]", "'open", "\x07", "a: b", "- 1", "|\n  text", ">-\n  folded",
    "1" * 5000,
]


@st.composite
def yaml_texts(draw) -> str:
    lines = []
    for _ in range(draw(st.integers(1, 8))):
        if draw(st.integers(0, 9)) == 0:
            lines.append(draw(st.sampled_from(["---", "...", "--- !!map", "%YAML 1.1\n---", "# a comment"])))
            continue
        indent = "  " * draw(st.integers(0, 2))
        value = draw(st.sampled_from(_VALUES))
        if draw(st.booleans()):
            lines.append(f"{indent}- {value}")
        else:
            lines.append(f"{indent}{draw(st.sampled_from(_KEYS))}: {value}")
    return "\n".join(lines) + "\n"


@SETTINGS
@given(yaml_texts())
@example("a: &x [1, 2]\nb: *x\nc: *x\n")  # an alias is the same list
@example("defaults: &d {x: 1, y: 2}\nop:\n  <<: *d\n  y: 3\n")  # a merge key
@example("a: &r [1, *r]\n")  # a recursive list
@example("a: &r {b: *r}\n")  # a recursive mapping: an error
@example("a: &x 1\nb: &x 2\n")  # a duplicate anchor
@example("&x a: &x 1\n")  # one on a key too
@example("&x a: 1\nb: *x\n")
@example("a: *nowhere\n")
@example("a: 1\nb: 2\na: 3\n")
@example("x: " + "[" * 150 + "]" * 150 + "\n")  # deeper than the fast path goes
@example("x: " + "[" * 2000 + "]" * 2000 + "\n")
@example("n: " + "9" * 5000 + "\n")  # int() refuses more than 4300 digits
@example("a: 1\n---\n---\nb: [\n")
@example("")
@example("---\n...\n")
def test_yaml_texts_load_alike(text):
    outcome = parsed(text)
    event("loaded" if outcome and isinstance(outcome[0], tuple) else "refused")
    assert_parsed_alike(text)


def test_an_alias_is_the_same_object():
    data = parse_yaml("a: &x {b: [1]}\nc: *x\n", "f.yaml")[0].data
    assert data["a"] is data["c"]


def test_plain_documents_never_take_the_usual_path(monkeypatch):
    def usual(*args, **kwargs):
        raise AssertionError("PyYAML's constructor ran")

    monkeypatch.setattr(yaml, "load_all", usual)
    assert len(parse_yaml(generate(50), "bench-50.yaml")[0].data["ops"]) == 50


# --- schemas ----------------------------------------------------------------------------


def validated(data: object, fast: bool) -> object:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fields, "FAST_PATH", fast)
        try:
            return typed(validate_raw(RawDocument("f.yaml", data)).data)
        except SpecValidationError as error:
            return [str(item) for item in error.errors]


def assert_validated_alike(data: object) -> None:
    fast = validated(data, fast=True)
    event("valid" if not isinstance(fast, list) else "invalid")
    assert fast == validated(data, fast=False)


# A third of the examples draw only valid values (the fast path's part); the others wrong
# ones now and then, rarely (one wrong value: where both paths part) or often, and keys
# no schema knows (marshmallow's part).
_MESSY = st.shared(st.sampled_from([0, 10, 3]), key="messy")
# Wrong values of every kind.
_JUNK = st.sampled_from([None, 0, 1, -1, True, False, 1.5, math.inf, "", "x", "Bad Name", [], {}, [1], {"a": 1},
                         2**31, 10**12])
_KEY_JUNK = st.sampled_from([None, 0, 1, True, 1.5, "", "Bad Name"])  # keys: hashable


@st.composite
def _mostly(draw, valid, junk=_JUNK):
    """A valid value; in a messy example, now and then a wrong one."""
    odds = draw(_MESSY)
    if odds and draw(st.integers(1, odds)) == 1:
        return draw(junk)
    return draw(valid)


def _keys(valid) -> st.SearchStrategy:
    return _mostly(valid, _KEY_JUNK)


def _some(*values, wrong=(), key=False) -> st.SearchStrategy:
    junk = _KEY_JUNK if key else _JUNK
    return _mostly(st.sampled_from(values), st.one_of(st.sampled_from(wrong), st.sampled_from(wrong), junk)
                   if wrong else junk)


def _lists(items, max_size=3) -> st.SearchStrategy:
    return _mostly(st.lists(items, max_size=max_size))


@st.composite
def _object(draw, required: dict | None = None, **optional):
    """A mapping with some of the optional keys (and in a messy example, now and then, a
    key no schema knows), in the given or the reversed order."""
    if draw(_MESSY) == 3:
        optional["unknown_key"] = _JUNK
    data = draw(st.fixed_dictionaries(required or {}, optional=optional))
    return dict(reversed(data.items())) if draw(st.booleans()) else data


_NAMES = _some("a", "b", "op-1", "train", "t", "prepare", "a" * 63, wrong=("Bad", "-a", "a_b", "a" * 64))
_IDENTIFIERS = st.sampled_from(["n", "x", "lr", "_y", "data-set"])
_TEXTS = st.sampled_from(["x", "python", "a b", "{{ params.n }}", "s3://b/k", "--n={{ params.n }}"])
_STRINGS = _mostly(_TEXTS)
_INTS = _some(1, 2, 60, 1000, wrong=(0, 1001, 2**31 - 1, 2**31, 315360000, 315360001, -5))
_BOOLS = _mostly(st.booleans())
_VALUES_ = _mostly(st.one_of(st.integers(-3, 3), st.floats(allow_nan=False), _TEXTS,
                             st.lists(st.integers(0, 3), max_size=2), st.just({"a": [1]})))
_QUANTITIES = _some(2, 0.5, "500m", "1Gi", "1e3", "+1", wrong=("1x", "-1", "m"))

_TEMPLATE_REFS = _mostly(st.sampled_from([{"name": "t"}, {"name": "prepare"}, {"action": "a"}, {"action": "a",
                                                                                                  "version": 2}])
                         | _object(name=_NAMES, action=_NAMES, version=_INTS))
_MATRICES = _some(
    {"kind": "grid", "params": {"n": {"kind": "choice", "value": [1, 2]}}},
    {"kind": "random", "params": {"lr": {"kind": "uniform", "value": [0, 1]}}, "num_runs": 3, "seed": 1},
    {"kind": "mapping", "values": [{"n": 1}, {"n": 2}]},
    {"kind": "grid", "params": {"n": {"kind": "range", "value": "1:5:1"}}, "metric": {"name": "score"},
     "early_stopping": [{"kind": "failure_early_stopping", "percent": 50}]},
    {"kind": "mapping", "values": "{{ ops.a.outputs.rows }}"},
    wrong=({"kind": "grid"}, {"kind": "hyperband"}, {"kind": "random", "values": []}),
)
_OPS = _object(
    {"name": _NAMES, "template": _TEMPLATE_REFS},
    dependencies=_lists(_NAMES), params=_mostly(st.dictionaries(_keys(_IDENTIFIERS), _VALUES_, max_size=3)),
    trigger=_some(*TRIGGER_RULES, wrong=("all_success",)), skip_on_upstream_skip=_BOOLS, depends_on_past=_BOOLS,
    retry_exp_backoff=_BOOLS, max_retries=_INTS, retry_delay=_INTS, max_retry_delay=_INTS, timeout=_INTS,
    concurrency=_INTS, matrix=_MATRICES,
)
_IOS = _mostly(st.sampled_from([
    {"name": "n", "type": "int", "default": 1}, {"name": "x", "type": "str", "default": "a", "options": ["a", "b"]},
    {"name": "lr", "type": "float", "is_optional": True}, {"name": "l", "type": "int", "is_list": True},
    {"name": "d", "type": "dict", "default": {"a": 1}, "description": "a mapping"}, {"name": "u", "type": "s3_path"},
]) | _object(name=_mostly(_IDENTIFIERS), type=_some(*IO_TYPES, wrong=("string",)), default=_VALUES_,
             is_optional=_BOOLS, is_list=_BOOLS, options=_lists(_VALUES_), description=_STRINGS))
_ENV_VARS = _object({"name": _some("A", "LOG_LEVEL", "B_2", wrong=("1x", "a b")), "value": _STRINGS})
_REQUESTS_LIMITS = _object(requests=_QUANTITIES, limits=_QUANTITIES)
_ENVIRONMENTS = _object(
    node_selector=_mostly(st.dictionaries(_keys(_TEXTS), _STRINGS, max_size=2)),
    affinity=_mostly(st.dictionaries(_keys(_TEXTS), _VALUES_, max_size=2)),
    tolerations=_lists(_object(key=_STRINGS, operator=_some("Exists", "Equal"), value=_STRINGS,
                               effect=_some(*TAINT_EFFECTS), toleration_seconds=_INTS), max_size=2),
    service_account=_some("default", "a.b", wrong=("Bad_Name",)),
    image_pull_secrets=_lists(_NAMES, 2), secret_refs=_lists(_NAMES, 2), config_map_refs=_lists(_NAMES, 2),
    resources=_object(cpu=_REQUESTS_LIMITS, memory=_REQUESTS_LIMITS, gpu=_REQUESTS_LIMITS),
    labels=_mostly(st.dictionaries(_some("team", "a.b/c", wrong=("Bad Key", "x" * 64), key=True),
                                   _some("ml", "", wrong=("a b", "y" * 64)), max_size=2)),
    annotations=_mostly(st.dictionaries(_some("note", "a/b", wrong=("-x",), key=True), _STRINGS, max_size=2)),
    max_restarts=_INTS,
)
_CONTAINERS = _object(
    {"image": _some("python:3.11", "registry.example.com:5000/a/b:1", wrong=("Bad Image",))},
    command=_lists(_STRINGS), args=_lists(_STRINGS), env=_lists(_ENV_VARS), working_dir=_STRINGS,
)
_BUILDS = _object(dockerfile=_STRINGS, context=_STRINGS, image=_STRINGS,
                  build_args=_mostly(st.dictionaries(_keys(_TEXTS), _STRINGS, max_size=2)))
_TEMPLATES = st.one_of(
    _object({"kind": _some("job", "experiment"), "name": _NAMES, "container": _CONTAINERS},
            description=_STRINGS, inputs=_lists(_IOS), outputs=_lists(_IOS, 2), environment=_ENVIRONMENTS),
    _object({"kind": _some("job", "experiment"), "name": _NAMES, "build": _BUILDS},
            inputs=_lists(_IOS), container=_object(command=_lists(_STRINGS)), environment=_ENVIRONMENTS),
)
_PIPELINES = _object(
    {"version": _some(1), "kind": st.just("pipeline"), "name": _NAMES, "ops": _mostly(st.lists(_OPS, max_size=4))},
    templates=_lists(_TEMPLATES, 2), schedule=_some({"kind": "interval", "frequency": 60}, {"kind": "cron",
                                                                                              "cron": "x"}),
    concurrency=_INTS, timeout=_INTS, description=_STRINGS, tags=_lists(_STRINGS, 2),
    events=_lists(_object({"name": _NAMES}), 2),
)
_ACTIONS = _object({"kind": st.just("action"), "name": _NAMES, "template": _TEMPLATES},
                   version=_INTS, description=_STRINGS)
_EVENTS = _object({"version": st.just(1), "kind": st.just("event"), "name": _NAMES},
                  inputs=_lists(_IOS), description=_STRINGS)


@SETTINGS
@given(_PIPELINES)
@example({"version": 1, "kind": "pipeline", "name": "p", "ops": [{"name": "a", "template": {"name": "t"}}]})
def test_pipelines_validate_alike(document):
    assert_validated_alike(document)


@SETTINGS
@given(st.lists(_OPS, min_size=1, max_size=3))
def test_ops_validate_alike(ops):
    assert_validated_alike({"version": 1, "kind": "pipeline", "name": "p", "ops": ops})


@SETTINGS
@given(_TEMPLATES)
def test_templates_validate_alike(template):
    ops = [{"name": "a", "template": {"name": "t"}}]
    assert_validated_alike({"version": 1, "kind": "pipeline", "name": "p", "ops": ops, "templates": [template]})


@SETTINGS
@given(st.one_of(_ACTIONS, _EVENTS))
def test_actions_and_events_validate_alike(document):
    assert_validated_alike(document)


def _schemas(base: type = StrictSchema) -> list[type]:
    found = []
    for schema in base.__subclasses__():
        found += [schema, *_schemas(schema)]
    return found


def _inner(where: str, field) -> list[tuple[str, object]]:
    """The field, and the fields of its items, keys and values."""
    found = [(where, field)]
    if isinstance(field, fields.List):
        found += _inner(f"{where}[]", field.inner)
    if isinstance(field, fields.MappingField):
        found += _inner(f"{where}.key", field.key_field) + _inner(f"{where}.value", field.value_field)
    return found


# Every field of every schema that has a fast path (and those of items), by where it is.
FIELDS = {where: inner for schema in _schemas() for name, field in schema().load_fields.items()
          for where, inner in _inner(f"{schema.__name__}.{name}", field) if fields.field_checker(inner) is not None}


def _near(field) -> list:
    """Values at the edges of what `field` accepts."""
    values = []
    for bound in ("minimum", "maximum", "above"):
        limit = getattr(field, bound, None)
        if limit is not None:
            values += [limit - 1, limit, limit + 1, float(limit), limit + 0.5]
    for choice in getattr(field, "choices", ()):
        values += [choice, choice.upper(), choice + " "]
    if isinstance(field, SpaceField):
        values += [{"kind": "choice", "value": [1, 2]}, {"kind": "range", "value": "1:5:1"}, {"kind": "choice"},
                   {"kind": "range", "value": [1, 5, 0]}, {"kind": "uniform", "value": [0, 1]}, {"kind": "x"},
                   {"kind": "pchoice", "value": [[1, 0.5], [2, 0.5]]}, {"kind": "choice", "value": []},
                   {"kind": "logspace", "value": "0.001:0.1:3"}, {"kind": "normal", "value": {"loc": 0}}]
    if isinstance(field, fields.DateTime):
        values += ["2019-06-24", "2019-06-24T21:20:07+02:00", "0001-12-31T23:59:59", "0002-01-01", "9998-12-31",
                   "9999-01-01T00:00:00", "2019-13-01", "today"]
    if getattr(field, "schemas", None):  # a KindField's
        values += [{"kind": "nope"}, {"kind": 1}, {"frequency": 60}]
    for kind in getattr(field, "schemas", ()):
        values += [{"kind": kind}, {"kind": kind, "frequency": 60}, {"kind": kind, "metric": "loss", "value": 1},
                   {"kind": kind, "percent": 50}, {"kind": kind, "limit": 2}, {"kind": kind, "cron": "@daily"},
                   {"kind": kind, "metric": "loss", "min_samples": 0}, {"kind": kind, "start_at": "2019-06-24"}]
    return values


_LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(-2, 2), st.integers(), st.floats(), st.sampled_from(
        ["", "a", "op-1", "a" * 63, "a" * 64, "Bad", "_x", "x-1", "1x", "a\n", "500m", "1Gi", "+1", "1e3", "m",
         "python:3.11", "Exists", "job", "grid", "choice"]), st.text(max_size=4),
)
_FIELD_VALUES = st.recursive(_LEAVES, lambda children: st.lists(children, max_size=3)
                             | st.dictionaries(st.one_of(st.text(max_size=3), st.integers(0, 2)), children,
                                               max_size=3), max_leaves=8)


def field_outcomes(field, value) -> tuple[object, object]:
    try:
        usual = typed(field.deserialize(value))
    except ValidationError:
        usual = "refused"
    try:
        fast = typed(fields.field_checker(field)(value))
    except fields.Slow:
        fast = "declined"
    return usual, fast


@pytest.mark.parametrize("where", sorted(FIELDS))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_each_field_accepts_on_the_fast_path_what_it_accepts_and_loads_it_alike(where, data):
    field = FIELDS[where]
    near = _near(field)
    value = data.draw(st.one_of(st.sampled_from(near), _FIELD_VALUES) if near else _FIELD_VALUES)
    usual, fast = field_outcomes(field, value)
    if isinstance(field, fields.Nested | fields.List) and fast == "declined":
        return  # a nested object may hold a field without a fast path (a schedule's times)
    assert fast == ("declined" if usual == "refused" else usual)


def test_every_kind_of_field_of_the_schemas_has_a_fast_path():
    kinds = {type(field).__name__ for field in FIELDS.values()}
    assert kinds >= {"Str", "Name", "Identifier", "Int", "Count", "Seconds", "Number", "Bool", "Choice", "Raw",
                     "MappingField", "StrMap", "List", "StrList", "Nested", "Quantity", "SpaceField", "KindField",
                     "ScheduleField", "DateTime"}


@pytest.mark.parametrize("schema", [PipelineSchema, OpSchema, TemplateRefSchema, TemplateSchema, ActionSchema,
                                    EventSchema, MatrixSchema])
def test_the_schemas_of_large_documents_have_a_fast_path(schema):
    assert fields.schema_loader(schema) is not None


def test_a_field_that_loads_differently_has_no_fast_path_until_it_says_how():
    class Shouting(fields.Str):
        def _deserialize(self, value, attr, data, **kwargs):
            return super()._deserialize(value, attr, data, **kwargs).upper()

    assert fields.field_checker(fields.Str()) is not None
    assert fields.field_checker(Shouting()) is None
    assert fields.field_checker(fields.Str(validate=lambda value: True)) is None
    assert fields.field_checker(fields.Str(data_key="other")) is None


def test_a_schema_with_processors_has_no_fast_path():
    class Processed(StrictSchema):
        name = fields.Str()

        @pre_load
        def _lower(self, data, **kwargs):
            return {key: value.lower() for key, value in data.items()}

    assert fields.schema_loader(Processed) is None


# --- plans ------------------------------------------------------------------------------

# sha256 of the JSON of the plan of bench/spec_bench.py's 500-op pipeline (seed 20190624),
# as the spec compiled it before it had fast paths. A change to the generator, or to what
# plans hold, changes it: compare with the tests above before writing the new one here.
# Issue 12 added the plan's `workspace` and the templates' `volumes` and `volume_mounts` and `cache` (all
# empty or off here: fast and slow paths still agree).
BENCH_500_PLAN_SHA256 = "1b0a1a731d97a6298908773191c3f2f69db4038ae6bc1aa3d9ae3d52e5fb93b6"


def plan_json(text: str, fast: bool) -> str:
    with pytest.MonkeyPatch.context() as patch:
        if not fast:
            patch.setattr(loader, "_load_all", reference_load_all)
            patch.setattr(fields, "FAST_PATH", False)
        plan = check(parse_yaml(text, "bench-500.yaml")).pipelines[0]
    return json.dumps(plan.to_dict(), separators=(",", ":"))


def test_the_plan_of_a_large_pipeline_is_the_one_compiled_before_the_fast_paths():
    text = generate(500)
    fast = plan_json(text, fast=True)
    assert fast == plan_json(text, fast=False)
    assert hashlib.sha256(fast.encode()).hexdigest() == BENCH_500_PLAN_SHA256


@pytest.mark.parametrize("replacements", [
    # Schema errors: the documents' own.
    {"trigger: all_done": "trigger: all_dne", "max_retries: 2": "max_retries: '2'",
     "name: op-00150": "name: op_00150", "retry_exp_backoff: true": "retry_exp_backoff: yes please"},
    # Compiler errors: unknown ops, outputs and params.
    {"[op-00003": "[op-0003", "outputs.rows": "outputs.row", '"limit"': '"limits"', "name: op-00150": "name: op-00151"},
])
def test_an_invalid_large_pipeline_has_the_same_errors_on_both_paths(replacements):
    text = generate(300)
    for old, new in replacements.items():
        assert old in text
        text = text.replace(old, new)

    def errors(fast: bool) -> list[str]:
        with pytest.MonkeyPatch.context() as patch:
            if not fast:
                patch.setattr(loader, "_load_all", reference_load_all)
                patch.setattr(fields, "FAST_PATH", False)
            with pytest.raises(SpecValidationError) as caught:
                check(parse_yaml(text, "bench-300.yaml"))
        return [str(error) for error in caught.value.errors]

    found = errors(fast=True)
    assert len(found) > 10
    assert found == errors(fast=False)


# The compiler's helpers before their fast paths (isinstance checks only), as references.


def reference_freeze(value):
    if isinstance(value, Mapping):
        return MappingProxyType({key: reference_freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(reference_freeze(item) for item in value)
    return value


def reference_walk_strings(value, path=()):
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from reference_walk_strings(item, path + (str(key),))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from reference_walk_strings(item, path + (index,))


class Text(str):
    pass


_PARAM_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8), st.builds(Text),
              st.sampled_from(["{{ ops.a.outputs.b }}", "x {{ globals.run_uuid }}", "{{ params.n }", "{{ 1 }}"])),
    lambda children: st.lists(children, max_size=3) | st.lists(children, max_size=3).map(tuple)
    | st.dictionaries(st.text(max_size=3), children, max_size=3)
    | st.dictionaries(st.text(max_size=3), children, max_size=3).map(MappingProxyType),
    max_leaves=15,
)


def frozen(value):
    """A frozen value with its types, to compare two freezes exactly."""
    if isinstance(value, MappingProxyType):
        return ("proxy", [(key, frozen(item)) for key, item in value.items()])
    if isinstance(value, tuple):
        return ("tuple", [frozen(item) for item in value])
    return typed(value)


@SETTINGS
@given(_PARAM_VALUES)
def test_freeze_and_walk_strings_agree_with_the_references(value):
    assert frozen(freeze(value)) == frozen(reference_freeze(value))
    assert list(walk_strings(value)) == list(reference_walk_strings(value))


def reference_references_in(text):
    matches = list(_EXPRESSION.finditer(text))
    whole = len(matches) == 1 and matches[0].span() == (0, len(text))
    for match in matches:
        yield parse_expression(match.group(1), whole=whole)
    if "{{" in text:
        rest = text[matches[-1].end():] if matches else text
        if "{{" in rest:
            fragment = rest[rest.index("{{"):]
            fragment = fragment if len(fragment) <= 40 else fragment[:36] + "..."
            raise ExpressionError(f"cannot read '{fragment}': '{{{{' without a closing '}}}}'")


def expressions(find, text):
    try:
        return list(find(text))
    except ExpressionError as error:
        return str(error)


@SETTINGS
@given(st.text(alphabet="{} ab.", max_size=12) | st.sampled_from(["{{ ops.a.outputs.b }}", "x {{ y", "{{ params.n }"]))
def test_references_in_agrees_with_the_reference(text):
    assert expressions(references_in, text) == expressions(reference_references_in, text)
