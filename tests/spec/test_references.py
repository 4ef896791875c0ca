"""`{{ ... }}` expressions: parsing, finding, walking and rendering (polyflow.spec.references)."""

from types import MappingProxyType

import pytest

from polyflow.spec.references import (
    GLOBAL_TYPES,
    GLOBALS,
    ExpressionError,
    Reference,
    parse_expression,
    references_in,
    render,
    walk_strings,
)


def expected_error(expression: str) -> str:
    return (
        f"cannot read '{{{{ {expression} }}}}': expected '{{{{ params.NAME }}}}', '{{{{ globals.NAME }}}}', "
        "'{{ ops.OP.outputs.NAME }}', '{{ ops.OP.best.params.NAME }}' or '{{ ops.OP.best.outputs.NAME }}'"
    )


@pytest.mark.parametrize(
    "expression, reference",
    [
        ("params.lr", Reference("params", "lr")),
        ("params.input-bucket", Reference("params", "input-bucket")),
        ("params._private", Reference("params", "_private")),
        ("globals.run_uuid", Reference("globals", "run_uuid")),
        ("globals.unknown", Reference("globals", "unknown")),  # the compiler checks the name
        ("ops.train.outputs.accuracy", Reference("ops", "accuracy", op="train")),
        ("ops.deep-wide.outputs.model_path", Reference("ops", "model_path", op="deep-wide")),
        ("ops.tune.best.params.lr", Reference("ops", "lr", op="tune", part="best.params")),
        ("ops.tune.best.outputs.accuracy", Reference("ops", "accuracy", op="tune", part="best.outputs")),
        ("ops.best.outputs.x", Reference("ops", "x", op="best")),
        ("globals.trial", Reference("globals", "trial")),
    ],
)
def test_parse_expression(expression, reference):
    assert parse_expression(expression) == reference
    assert str(reference) == expression


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "lr",
        "params",
        "params.",
        "params.lr.x",
        "params.1lr",
        "param.lr",
        "Params.lr",
        "globals.run uuid",
        "ops.train",
        "ops.train.accuracy",
        "ops.train.outputs",
        "ops.train.inputs.lr",
        "ops.tune.best.lr",
        "ops.tune.best.inputs.lr",
        "ops.tune.best.params",
        "ops.tune.params.lr",
        "ops..outputs.x",
        "param.lr | shell_quote",  # a known filter of no known value
    ],
)
def test_malformed_expression(expression):
    with pytest.raises(ExpressionError) as caught:
        parse_expression(expression)
    assert str(caught.value) == expected_error(expression.split(" |")[0])


def test_an_unknown_filter():
    with pytest.raises(ExpressionError) as caught:
        parse_expression("params.lr | upper")
    assert str(caught.value) == "cannot read '{{ params.lr | upper }}': unknown filter 'upper' (filters: shell_quote)"


@pytest.mark.parametrize(
    "text, references",
    [
        ("no expressions", []),
        ("", []),
        ("{ not } { an expression }", []),
        ("x }} y", []),  # a lone '}}' is plain text
        ("{{ ops.a.outputs.b }}", [Reference("ops", "b", op="a", whole=True)]),
        ("{{ops.a.outputs.b}}", [Reference("ops", "b", op="a", whole=True)]),
        ("{{   params.lr   }}", [Reference("params", "lr", whole=True)]),
        ("x {{ ops.a.outputs.b }}", [Reference("ops", "b", op="a")]),
        (" {{ params.lr }}", [Reference("params", "lr")]),
        ("{{ params.lr }}\n", [Reference("params", "lr")]),
        ("--lr={{ params.lr }}", [Reference("params", "lr")]),
        ("{{ globals.run_uuid }}-{{ params.name }}",
         [Reference("globals", "run_uuid"), Reference("params", "name")]),
        ("{{ params.a }}{{ params.b }}", [Reference("params", "a"), Reference("params", "b")]),
    ],
)
def test_references_in(text, references):
    assert list(references_in(text)) == references


@pytest.mark.parametrize(
    "text, message",
    [
        ("{{ foo }}", expected_error("foo")),
        ("--lr={{ params.lr }} --x={{ ops.a.b }}", expected_error("ops.a.b")),
        ("{{}}", expected_error("")),
        ("{{ {{ params.lr }} }}", expected_error("{{ params.lr")),
        # A '{{' that nothing closes must not reach the container as it is.
        ("--lr={{ params.lr }", "cannot read '{{ params.lr }': '{{' without a closing '}}'"),
        ("{{ params.a }} and {{ params.b", "cannot read '{{ params.b': '{{' without a closing '}}'"),
        ("{{ " + "x" * 60, f"cannot read '{{{{ {'x' * 33}...': '{{{{' without a closing '}}}}'"),
    ],
)
def test_malformed_text(text, message):
    with pytest.raises(ExpressionError) as caught:
        list(references_in(text))
    assert str(caught.value) == message


def test_walk_strings():
    value = {"a": [1, "x", {"b": "y"}], 2: "z", "n": None, "t": ("u",)}
    assert list(walk_strings(value)) == [
        (("a", 1), "x"),
        (("a", 2, "b"), "y"),
        (("2",), "z"),
        (("t", 0), "u"),
    ]
    assert list(walk_strings("top")) == [((), "top")]
    assert list(walk_strings(3)) == []
    assert list(walk_strings(MappingProxyType({"k": ["v"]}), ("params",))) == [
        (("params", "k", 0), "v")
    ]


VALUES = {
    "params.n": 3,
    "params.lr": 0.05,
    "params.flag": True,
    "params.off": False,
    "params.none": None,
    "params.s": "hi",
    "params.d": {"b": 1, "a": [1, 2]},
    "params.frozen": MappingProxyType({"b": (1, None), "a": MappingProxyType({"c": True})}),
    "params.l": [True, None, "x"],
    "ops.train.outputs.accuracy": 0.9,
}


def lookup(reference: Reference):
    return VALUES[str(reference)]


@pytest.mark.parametrize(
    "value, rendered",
    [
        # A whole expression takes the value with its own type.
        ("{{ params.n }}", 3),
        ("{{params.lr}}", 0.05),
        ("{{ params.flag }}", True),
        ("{{ params.none }}", None),
        ("{{ params.d }}", {"b": 1, "a": [1, 2]}),
        ("{{ ops.train.outputs.accuracy }}", 0.9),
        # Embedded expressions are formatted into the string, in JSON's spelling.
        ("n={{ params.n }}", "n=3"),
        ("{{ params.n }}{{ params.n }}", "33"),
        ("--lr={{ params.lr }} --acc={{ ops.train.outputs.accuracy }}", "--lr=0.05 --acc=0.9"),
        ("f={{ params.flag }},{{ params.off }}", "f=true,false"),
        ("x={{ params.none }}", "x=null"),
        ("d={{ params.d }}", 'd={"a": [1, 2], "b": 1}'),
        ("d={{ params.frozen }}", 'd={"a": {"c": true}, "b": [1, null]}'),
        ("l={{ params.l }}", 'l=[true, null, "x"]'),
        ("say {{ params.s }}!", "say hi!"),
        # Strings without expressions, and other values, are left alone.
        ("plain", "plain"),
        (5, 5),
        (None, None),
        (True, True),
        # Containers are walked; tuples come back as lists.
        (["{{ params.n }}", {"k": "{{ params.s }}!"}], [3, {"k": "hi!"}]),
        (("{{ params.s }}",), ["hi"]),
        (MappingProxyType({"k": "{{ params.flag }}"}), {"k": True}),
    ],
)
def test_render(value, rendered):
    result = render(value, lookup)
    assert result == rendered
    assert type(result) is type(rendered)


def test_render_looks_up_each_reference():
    seen = []

    def record(reference):
        seen.append(reference)
        return "v"

    assert render({"a": "{{ params.x }}/{{ globals.op_name }}"}, record) == {"a": "v/v"}
    assert seen == [Reference("params", "x"), Reference("globals", "op_name")]


def test_render_rejects_malformed_expressions():
    with pytest.raises(ExpressionError):
        render(["ok", "{{ nope }}"], lookup)


def test_render_hands_the_part_to_the_lookup():
    seen = []

    def lookup(ref):
        seen.append(ref)
        return {"best.params": 0.1, "best.outputs": 0.9, "outputs": [0.5, 0.9]}[ref.part]

    assert render({"lr": "{{ ops.tune.best.params.lr }}", "all": "{{ ops.tune.outputs.acc }}",
                   "text": "best {{ ops.tune.best.outputs.acc }}"}, lookup) == {
        "lr": 0.1, "all": [0.5, 0.9], "text": "best 0.9"}
    assert [str(ref) for ref in seen] == [
        "ops.tune.best.params.lr", "ops.tune.outputs.acc", "ops.tune.best.outputs.acc"]


def test_the_trial_global_is_an_int():
    assert GLOBAL_TYPES["trial"] == "int"
    assert GLOBALS == ("run_uuid", "schedule_at", "op_name", "attempt", "trial")
