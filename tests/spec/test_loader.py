"""Reading YAML into raw documents, and raw documents into validated ones (polyflow.spec.loader)."""

import pytest

from polyflow.spec import (
    RawDocument,
    SpecError,
    SpecValidationError,
    check,
    parse_yaml,
    read_file,
    read_files,
    validate_all,
    validate_raw,
)

PIPELINE = """\
version: 1
kind: pipeline
name: {name}
ops:
  - {{name: a, template: {{name: t}}}}
templates:
  - {{kind: job, name: t, container: {{image: 'python:3.11'}}}}
"""


def errors_of(call, *args) -> list[str]:
    with pytest.raises(SpecValidationError) as caught:
        call(*args)
    return [str(error) for error in caught.value.errors]


# --- parse_yaml ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, error",
    [
        ("a: [1, 2\n",
         "f.yaml: line 2, column 1: invalid YAML: expected ',' or ']', but got '<stream end>' "
         "(while parsing a flow sequence)"),
        ("a: 1\n b: 2\n",
         "f.yaml: line 2, column 3: invalid YAML: mapping values are not allowed here"),
        ("a: 'open\n",
         "f.yaml: line 2, column 1: invalid YAML: found unexpected end of stream "
         "(while scanning a quoted scalar)"),
        ("ops:\n  - name: a\n - name: b\n",
         "f.yaml: line 3, column 2: invalid YAML: expected <block end>, but found '<block sequence start>' "
         "(while parsing a block mapping)"),
        ("a: *nowhere\n", "f.yaml: line 1, column 4: invalid YAML: found undefined alias 'nowhere'"),
        ("x: 1\nname: \x07bell\n",
         "f.yaml: line 2, column 7: invalid YAML: unacceptable character #x0007: "
         "special characters are not allowed"),
        ("a: !!python/object:os.system x\n",
         "f.yaml: line 1, column 4: invalid YAML: could not determine a constructor "
         "for the tag 'tag:yaml.org,2002:python/object:os.system'"),
        # Values must stay JSON-safe: no bytes, no sets.
        ("a: !!binary aGVsbG8=\n", "f.yaml: line 1, column 4: invalid YAML: the tag !!binary is not supported"),
        ("a: !!set {x}\n", "f.yaml: line 1, column 4: invalid YAML: the tag !!set is not supported"),
        # An error in a later document is reported with its line in the file.
        ("a: 1\n---\nb: [\n",
         "f.yaml: line 4, column 1: invalid YAML: expected the node content, but found '<stream end>' "
         "(while parsing a flow node)"),
        ("? [1, 2]\n: x\n",
         "f.yaml: line 1, column 3: invalid YAML: a mapping key must be a plain value, not a list or mapping"),
        ("a: !!bool maybe\n", "f.yaml: invalid YAML: 'maybe' is not a value of its tag"),
    ],
)
def test_invalid_yaml(text, error):
    assert errors_of(parse_yaml, text, "f.yaml") == [error]


@pytest.mark.parametrize(
    "text, error",
    [
        ("a: 1\nb: 2\na: 3\n", "f.yaml: line 3, column 1: invalid YAML: duplicate key 'a' (first at line 1)"),
        ("ops:\n  - name: a\n    params: {x: 1, y: 2, x: 3}\n",
         "f.yaml: line 3, column 26: invalid YAML: duplicate key 'x' (first at line 3)"),
        ("a:\n  b: 1\n\n  b: 2\n", "f.yaml: line 4, column 3: invalid YAML: duplicate key 'b' (first at line 2)"),
        ("1: a\n1: b\n", "f.yaml: line 2, column 1: invalid YAML: duplicate key 1 (first at line 1)"),
        ("kind: pipeline\n---\nkind: action\nname: x\nname: y\n",
         "f.yaml: line 5, column 1: invalid YAML: duplicate key 'name' (first at line 4)"),
        # Explicit keys are checked among themselves; a merged key may be overridden.
        ("m:\n  x: 1\n  <<: {y: 2}\n  x: 3\n",
         "f.yaml: line 4, column 3: invalid YAML: duplicate key 'x' (first at line 2)"),
    ],
)
def test_duplicate_keys(text, error):
    assert errors_of(parse_yaml, text, "f.yaml") == [error]


def test_merge_keys():
    text = """\
defaults: &defaults {node_selector: {pool: cpu}, max_restarts: 2}
gpu:
  <<: *defaults
  max_restarts: 5
both:
  <<: [*defaults, {labels: {team: ml}}]
"""
    [raw] = parse_yaml(text, "f.yaml")
    assert raw.data["gpu"] == {"node_selector": {"pool": "cpu"}, "max_restarts": 5}
    assert raw.data["both"] == {"node_selector": {"pool": "cpu"}, "max_restarts": 2, "labels": {"team": "ml"}}


def test_dates_and_times_stay_strings():
    text = """\
date: 2019-06-24
datetime: 2019-06-24T21:20:07+00:00
spaced: 2019-06-24 21:20:07
tagged: !!timestamp 2019-06-24
time: 21:20
duration: 1:30:00.5
"""
    [raw] = parse_yaml(text, "f.yaml")
    assert raw.data == {
        "date": "2019-06-24",
        "datetime": "2019-06-24T21:20:07+00:00",
        "spaced": "2019-06-24 21:20:07",
        "tagged": "2019-06-24",
        "time": "21:20",  # not YAML 1.1's base-60 int 1280
        "duration": "1:30:00.5",
    }


def test_other_scalars_keep_yaml_types():
    [raw] = parse_yaml("a: yes\nb: 'yes'\nc: 1.5\nd: ~\ne: 0x10\nf: -1_000\ng: .inf\nh: !!int 1:30\n", "f.yaml")
    assert raw.data == {
        "a": True, "b": "yes", "c": 1.5, "d": None, "e": 16, "f": -1000, "g": float("inf"), "h": 90,
    }


@pytest.mark.parametrize(
    "text, sources",
    [
        ("a: 1\n", ["f.yaml"]),
        ("---\na: 1\n", ["f.yaml"]),
        ("a: 1\n---\n", ["f.yaml"]),  # a trailing empty document is no document
        ("---\n---\na: 1\n...\n", ["f.yaml"]),
        ("a: 1\n---\nb: 2\n", ["f.yaml (document 1)", "f.yaml (document 2)"]),
        ("a: 1\n---\nb: 2\n---\nc: 3\n---\n",
         ["f.yaml (document 1)", "f.yaml (document 2)", "f.yaml (document 3)"]),
        # Empty documents are skipped, but they count: 'document 3' is the third in the file.
        ("a: 1\n---\n---\nb: 2\n", ["f.yaml (document 1)", "f.yaml (document 3)"]),
        ("---\n# nothing\n---\na: 1\n---\nb: 2\n", ["f.yaml (document 2)", "f.yaml (document 3)"]),
    ],
)
def test_documents_and_their_sources(text, sources):
    raws = parse_yaml(text, "f.yaml")
    assert [raw.source for raw in raws] == sources
    assert all(raw.data is not None for raw in raws)


def test_a_list_document_is_kept_for_validation_to_reject():
    assert parse_yaml("- a\n- b\n", "f.yaml") == [RawDocument("f.yaml", ["a", "b"])]


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n", "---\n---\n...\n", "~\n"])
def test_no_documents(text):
    assert errors_of(parse_yaml, text, "f.yaml") == ["f.yaml: no documents found"]


# --- read_file / read_files ------------------------------------------------------------


def test_read_file(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE.format(name="p"), encoding="utf-8")
    [raw] = read_file(str(path))
    assert raw.source == str(path)
    assert raw.data["name"] == "p"


def test_read_file_keeps_utf8_text(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_bytes("\ufeffdescription: Übung – 学习\n".encode())
    [raw] = read_file(str(path))
    assert raw.data == {"description": "Übung – 学习"}


@pytest.mark.parametrize(
    "content, message",
    [
        (b"name: \xff\xfe\n", "not a UTF-8 text file (invalid start byte)"),
        ("name: caf\xe9\n".encode("latin-1"), "not a UTF-8 text file (invalid continuation byte)"),
        ("name: x\n".encode("utf-16"), "not a UTF-8 text file (invalid start byte)"),
    ],
)
def test_read_file_that_is_not_utf8(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    assert errors_of(read_file, str(path)) == [f"{path}: {message}"]


def test_read_missing_file_and_directory(tmp_path):
    missing = tmp_path / "missing.yaml"
    assert errors_of(read_file, str(missing)) == [f"{missing}: cannot read: No such file or directory"]
    assert errors_of(read_file, str(tmp_path)) == [f"{tmp_path}: cannot read: Is a directory"]


def test_read_files_reads_what_it_can_and_reports_the_rest(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(PIPELINE.format(name="p1") + "---\n" + PIPELINE.format(name="p2"))
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n")
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [\n")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\x89PNG\r\n")

    raws, errors = read_files([str(good), str(empty), str(broken), str(binary)])

    assert [raw.source for raw in raws] == [f"{good} (document 1)", f"{good} (document 2)"]
    assert [(error.source, error.path) for error in errors] == [
        (str(empty), ""),
        (str(broken), "line 2, column 1"),
        (str(binary), ""),
    ]
    assert errors[0].message == "no documents found"
    assert errors[1].message.startswith("invalid YAML: ")
    assert errors[2].message.startswith("not a UTF-8 text file")
    # The documents that could be read still compile, the earlier errors are kept.
    assert [plan.name for plan in check(raws).pipelines] == ["p1", "p2"]
    with pytest.raises(SpecValidationError) as caught:
        check(raws, earlier_errors=errors)
    assert caught.value.errors == tuple(errors)


# --- validate_raw / validate_all -------------------------------------------------------


@pytest.mark.parametrize(
    "data, error",
    [
        (["version", "kind"], "f.yaml: expected a mapping with 'version' and 'kind', got a list"),
        ("pipeline", "f.yaml: expected a mapping with 'version' and 'kind', got 'pipeline'"),
        (3, "f.yaml: expected a mapping with 'version' and 'kind', got 3"),
        (True, "f.yaml: expected a mapping with 'version' and 'kind', got true"),
        (None, "f.yaml: expected a mapping with 'version' and 'kind', got null"),
        ({"version": 1}, "f.yaml: kind: required field is missing (kinds: pipeline, action, event)"),
        ({"version": 1, "kind": "pipelin"},
         "f.yaml: kind: unknown kind 'pipelin'; did you mean 'pipeline'? (kinds: pipeline, action, event)"),
        ({"version": 1, "kind": "Action"},
         "f.yaml: kind: unknown kind 'Action'; did you mean 'action'? (kinds: pipeline, action, event)"),
        ({"version": 1, "kind": "workflow"},
         "f.yaml: kind: unknown kind 'workflow' (kinds: pipeline, action, event)"),
        ({"version": 1, "kind": 7}, "f.yaml: kind: unknown kind 7 (kinds: pipeline, action, event)"),
        ({"version": 2, "kind": "event", "name": "e"},
         "f.yaml: version: unsupported spec version 2 (supported: 1)"),
    ],
)
def test_validate_raw_errors(data, error):
    assert errors_of(validate_raw, RawDocument("f.yaml", data)) == [error]


def test_validate_raw_with_a_list_as_kind():
    with pytest.raises(SpecValidationError) as caught:
        validate_raw(RawDocument("f.yaml", {"version": 1, "kind": ["pipeline"], "name": "p"}))
    assert [(error.source, error.path) for error in caught.value.errors] == [("f.yaml", "kind")]


def test_validate_raw_with_a_mapping_as_schedule_kind():
    data = parse_yaml(PIPELINE.format(name="p") + "schedule: {kind: {cron: '@daily'}}\n", "f.yaml")[0].data
    with pytest.raises(SpecValidationError) as caught:
        validate_raw(RawDocument("f.yaml", data))
    assert [(error.source, error.path) for error in caught.value.errors] == [("f.yaml", "schedule.kind")]


def test_validate_raw_returns_the_document():
    [raw] = parse_yaml(PIPELINE.format(name="p"), "p.yaml")
    document = validate_raw(raw)
    assert (document.source, document.kind, document.data["name"]) == ("p.yaml", "pipeline", "p")
    assert document.data["ops"][0]["trigger"] == "all_succeeded"  # defaults are filled in


def test_validate_all_keeps_the_good_documents_and_every_error():
    text = (
        PIPELINE.format(name="good")
        + "---\n- not a mapping\n---\n"
        + PIPELINE.format(name="Bad_Name")
        + "---\nversion: 1\nkind: evnt\n"
    )
    documents, errors = validate_all(parse_yaml(text, "f.yaml"))
    assert [document.data["name"] for document in documents] == ["good"]
    assert errors == [
        SpecError("f.yaml (document 2)", "", "expected a mapping with 'version' and 'kind', got a list"),
        SpecError("f.yaml (document 3)", "name",
                  "'Bad_Name' is not a valid name: use lowercase letters, digits and '-', "
                  "starting and ending with a letter or digit"),
        SpecError("f.yaml (document 4)", "kind",
                  "unknown kind 'evnt'; did you mean 'event'? (kinds: pipeline, action, event)"),
    ]


def test_an_alias_bomb_is_refused_at_once_without_being_expanded():
    import time

    from tests.bombs import alias_bomb

    text = alias_bomb()
    assert len(text) < 1000
    started = time.perf_counter()
    assert errors_of(parse_yaml, text, "f.yaml") == [
        "f.yaml: the YAML expands through its aliases to 1,012,351 nodes at alias '*a4', more than the limit "
        "of 1,000,000 (POLYFLOW['MAX_EXPANDED_NODES']): refused"]
    assert time.perf_counter() - started < 1.0  # bounded by the text's size, not its expansion


def test_aliases_that_expand_within_the_limit_are_read():
    from tests.bombs import alias_bomb

    assert parse_yaml(alias_bomb(levels=3), "f.yaml")[0].data["a2"][0][0] == ["x"] * 10


@pytest.mark.parametrize(("value", "message"), [
    (".inf", "f.yaml: ops[0].params.x: inf is not a finite number"),
    ('"\\ud800"', "f.yaml: ops[0].params.x: lone surrogate characters"),
    ("[" * 70 + "]" * 70, "f.yaml: ops[0].params.x"),
])
def test_check_refuses_what_apply_could_not_store(value, message):
    """`validate` and `apply` agree: check() itself refuses what cannot be stored."""
    from polyflow.spec import check

    text = ("version: 1\nkind: pipeline\nname: p\nops:\n  - {name: a, template: {name: t}, params: {x: " + value
            + "}}\ntemplates:\n  - {kind: job, name: t, inputs: [{name: x, type: any}],"
            " container: {image: busybox, command: ['true']}}\n")
    errors = errors_of(check, parse_yaml(text, "f.yaml"))
    assert len(errors) == 1 and errors[0].startswith(message)
