"""Params in shell scripts: the `shell_quote` filter and the warnings of spec/shell.py."""

from __future__ import annotations

import subprocess

import pytest

from polyflow.spec import check, parse_yaml
from polyflow.spec.references import ExpressionError, parse_expression, references_in, render
from polyflow.spec.shell import shell_warnings

HOSTILE = "s3://x; touch MARKER 'q' $(id) `id`"


def test_a_filter_is_part_of_the_reference():
    (ref,) = references_in("echo {{ params.bucket | shell_quote }}")
    assert (ref.namespace, ref.name, ref.filters, ref.whole) == ("params", "bucket", ("shell_quote",), False)
    (ref,) = references_in("{{ops.a.outputs.x|shell_quote}}")
    assert (ref.op, ref.name, ref.filters) == ("a", "x", ("shell_quote",))


def test_an_unknown_filter_names_the_known_ones():
    with pytest.raises(ExpressionError, match=r"unknown filter 'upper' \(filters: shell_quote\)"):
        parse_expression("params.bucket | upper")
    with pytest.raises(ExpressionError, match="cannot read"):
        parse_expression("params | shell_quote")


@pytest.mark.parametrize("value", [HOSTILE, "", "plain", "it's", "a\nb", 42, None, ["a b", 1], {"k": "v w"}])
def test_a_quoted_value_is_one_word_of_the_shell_whatever_it_holds(value, tmp_path):
    script = render("printf '%s' {{ params.v | shell_quote }}", lambda ref: value)
    result = subprocess.run(["sh", "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True)
    expected = render("{{ params.v }}x", lambda ref: value)[:-1]  # the value's text, unfiltered
    assert result.stdout == expected
    assert not (tmp_path / "MARKER").exists()


def test_a_whole_filtered_expression_is_text():
    assert render("{{ params.n | shell_quote }}", lambda ref: 5) == "5"
    assert render("{{ params.n }}", lambda ref: 5) == 5


PIPELINE = """\
version: 1
kind: pipeline
name: p
ops: [{{name: a, template: {{name: t}}, params: {{bucket: 's3://x', n: 1}}}}]
templates:
  - kind: job
    name: t
    inputs: [{{name: bucket, type: str}}, {{name: n, type: int}}]
    container: {{image: busybox, {container}}}
"""


def warnings(container: str) -> list[str]:
    return [str(warning) for warning in shell_warnings(check(parse_yaml(PIPELINE.format(container=container),
                                                                        "f.yaml")))]


WARNING = ("f.yaml: template 't' {path}: '{{{{ params.bucket }}}}' is pasted into a shell script: a value such as "
           "'x; rm -rf ~' would run as a command. Write '{{{{ params.bucket | shell_quote }}}}', or read "
           "\"$POLYFLOW_PARAM_BUCKET\" in the script")


@pytest.mark.parametrize(("container", "path"), [
    ("command: [sh, -c, 'echo {{ params.bucket }}']", "container.command[2]"),
    ("command: [/bin/bash, -ec, 'aws s3 cp \"{{ params.bucket }}\" .']", "container.command[2]"),
    ("command: [bash], args: [-x, -c, 'echo {{ params.bucket }}']", "container.args[2]"),
    ("command: [sh, -c], args: ['echo ''{{ params.bucket }}''']", "container.args[0]"),
    ("command: [bash, --login, -c, 'echo {{ params.bucket }}']", "container.command[3]"),
])
def test_a_param_in_a_shell_script_is_warned_of(container, path):
    assert warnings(container) == [WARNING.format(path=path)]


@pytest.mark.parametrize("container", [
    "command: [sh, -c, 'echo {{ params.bucket | shell_quote }} {{ params.n }}']",  # filtered; an int
    "command: [sh, -c, 'echo \"$POLYFLOW_PARAM_BUCKET\"', '{{ params.bucket }}']",  # $0 of the script: data
    "command: [echo, '{{ params.bucket }}']",  # no shell: one argument whatever it holds
    "command: [sh, --, -c, 'echo {{ params.bucket }}']",  # after --, -c is an operand: no script
    "command: [python, -c, 'print(\"{{ params.bucket }}\")']",  # not a shell (its own quoting problem)
])
def test_no_warning(container):
    assert warnings(container) == []


def test_each_template_is_warned_of_once():
    text = PIPELINE.format(container="command: [sh, -c, 'echo {{ params.bucket }}']").replace(
        "ops: [{name: a, template: {name: t}, params: {bucket: 's3://x', n: 1}}]",
        "ops: [{name: a, template: {name: t}, params: {bucket: x, n: 1}},"
        " {name: b, template: {name: t}, params: {bucket: y, n: 1}}]")
    assert len(shell_warnings(check(parse_yaml(text, "f.yaml")))) == 1
