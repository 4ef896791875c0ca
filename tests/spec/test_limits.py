"""The bounds on what a spec text may cost (polyflow/spec/limits.py), each given small."""

from __future__ import annotations

import dataclasses

import pytest

from polyflow.conf import DEFAULTS
from polyflow.spec import SpecValidationError, check, parse_yaml, read_file
from polyflow.spec.limits import DEFAULT_LIMITS, Limits, limits_from

PIPELINE = """\
version: 1
kind: pipeline
name: p
description: {description}
templates: [{{kind: job, name: t, container: {{image: busybox}}}}]
ops:
{ops}
"""


def pipeline(ops: int = 1, description: str = "short") -> str:
    return PIPELINE.format(description=description, ops="".join(f"  - {{name: o{i}, template: {{name: t}}}}\n"
                                                                 for i in range(ops)))


def errors(text: str, **limits) -> list[str]:
    given = dataclasses.replace(DEFAULT_LIMITS, **limits)
    try:
        check(parse_yaml(text, "f.yaml", given), limits=given)
    except SpecValidationError as error:
        return [str(item) for item in error.errors]
    return []


def test_every_limit_is_the_setting_of_its_name_with_the_same_default():
    assert limits_from(DEFAULTS.__getitem__) == DEFAULT_LIMITS
    assert {Limits.setting_of(field.name) for field in dataclasses.fields(Limits)} <= set(DEFAULTS)


def test_the_size_of_a_text():
    text = pipeline()
    assert errors(text, spec_bytes=len(text)) == []
    assert errors(text, spec_bytes=len(text) - 1) == [
        f"f.yaml: the text is {len(text):,} bytes, more than the limit of {len(text) - 1:,} "
        "(POLYFLOW['MAX_SPEC_BYTES']): refused"]


def test_bytes_not_characters_are_counted():
    text = pipeline(description="é" * 20)  # two bytes each
    size = len(text.encode())
    assert errors(text, spec_bytes=size) == []
    assert errors(text, spec_bytes=size - 1)[0].startswith(f"f.yaml: the text is {size:,} bytes")


def test_a_file_over_the_limit_is_refused_without_being_read(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text(pipeline() + "#" + "x" * 5000 + "\n")
    with pytest.raises(SpecValidationError) as caught:
        read_file(str(path), dataclasses.replace(DEFAULT_LIMITS, spec_bytes=1000))
    assert [str(e) for e in caught.value.errors] == [
        f"{path}: the file is {path.stat().st_size:,} bytes, more than the limit of 1,000 "
        "(POLYFLOW['MAX_SPEC_BYTES']): refused"]


def test_documents_per_text():
    text = "---\n".join([pipeline()] + [f"kind: event\nversion: 1\nname: e{i}\n" for i in range(3)])
    assert errors(text, documents=4) == []
    assert errors(text, documents=3) == [
        "f.yaml: too many YAML documents, more than the limit of 3 (POLYFLOW['MAX_DOCUMENTS']): refused"]


def test_documents_are_counted_on_the_slow_path_too():
    # A merge key sends the text through PyYAML's constructor rather than the event fast path.
    text = "a: &a {x: 1}\nb: {<<: *a}\n---\nc: 1\n---\nd: 1\n"
    assert len(parse_yaml(text, "f.yaml", dataclasses.replace(DEFAULT_LIMITS, documents=3))) == 3
    with pytest.raises(SpecValidationError, match="too many YAML documents"):
        parse_yaml(text, "f.yaml", dataclasses.replace(DEFAULT_LIMITS, documents=2))


def test_expanded_nodes():
    text = "a: &a [x, x, x, x]\nb: [*a, *a, *a]\n"
    assert parse_yaml(text, "f.yaml", dataclasses.replace(DEFAULT_LIMITS, expanded_nodes=30))
    with pytest.raises(SpecValidationError, match=r"to 14 nodes at alias '\*a', more than the limit of 10 "):
        parse_yaml(text, "f.yaml", dataclasses.replace(DEFAULT_LIMITS, expanded_nodes=10))


def test_nesting():
    text = pipeline().replace("description: short", "description: short\ntags: [[[[x]]]]")
    assert "nested more than" not in " ".join(errors(text, nesting=5))
    assert errors(text, nesting=4) == [
        "f.yaml: tags[0][0][0]: nested more than 4 levels deep (POLYFLOW['MAX_NESTING']): refused"]


def test_the_length_of_a_string():
    assert errors(pipeline(description="x" * 100), string_length=100) == []
    assert errors(pipeline(description="x" * 101), string_length=100) == [
        "f.yaml: description: a string of 101 characters, more than the limit of 100 "
        "(POLYFLOW['MAX_STRING_LENGTH']): refused"]


def test_a_long_key_is_named_by_its_start():
    text = pipeline().replace("description: short", "description: short\n" + "k" * 200 + ": 1")
    assert errors(text, string_length=100) == [
        "f.yaml: ['" + "k" * 57 + "...']: key: a string of 200 characters, more than the limit of 100 "
        "(POLYFLOW['MAX_STRING_LENGTH']): refused"]


def test_ops_per_pipeline_are_counted_before_any_op_is_checked():
    assert errors(pipeline(ops=3), ops=3) == []
    # The ops are broken too: only the count is reported, since checking them is the cost bounded.
    assert errors(pipeline(ops=4).replace("template: {name: t}", "template: {name: nope}"), ops=3) == [
        "f.yaml: ops: 4 ops, more than the limit of 3 (POLYFLOW['MAX_OPS']): refused"]


def test_trials_are_bounded_by_the_same_limits():
    text = pipeline().replace("template: {name: t}}", "template: {name: t}, matrix: {kind: mapping, "
                                                      "values: [{}, {}, {}]}}")
    assert errors(text, trials=3) == []
    assert any("above the limit of 2 (POLYFLOW['MAX_TRIALS'])" in error for error in errors(text, trials=2))
