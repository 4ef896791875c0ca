"""The IO types of template inputs and outputs (polyflow.spec.types)."""

import pytest

from polyflow.spec.types import IO_TYPES, STRING_TYPES, reference_compatible, type_error, value_error

DIGEST = "sha256:" + "0123456789abcdef" * 4

VALID = [
    ("str", "hello"),
    ("str", ""),
    ("int", 0),
    ("int", -7),
    ("int", 10**20),
    ("float", 0.5),
    ("float", 3),  # an int is a number
    ("float", -1e-9),
    ("bool", True),
    ("bool", False),
    ("dict", {}),
    ("dict", {"a": [1, 2]}),
    ("list", []),
    ("list", [1, "a", None]),
    ("list", (1, 2)),
    ("uri", "https://host/path"),
    ("uri", "file:///tmp/data.csv"),
    ("uri", "postgresql+psycopg://user@db:5432/name"),
    ("path", "/data/train.csv"),
    ("path", "relative/dir"),
    ("s3_path", "s3://bucket"),
    ("s3_path", "s3://my.bucket-1/some/key.parquet"),
    ("s3_path", "s3a://bucket/key"),
    ("gcs_path", "gs://bucket/object"),
    ("gcs_path", "gs://my_bucket.example"),
    ("azure_path", "wasbs://container@account.blob.core.windows.net/key"),
    ("azure_path", "abfss://fs@account.dfs.core.windows.net/dir/file"),
    ("azure_path", "az://container/blob"),
    ("image", "python"),
    ("image", "python:3.11-slim"),
    ("image", "polyaxon/deep-wide-model:1.0"),
    ("image", "registry.example.com/team/model"),
    ("image", "registry.example.com:5000/team/model:1.0"),
    ("image", "localhost:5000/model"),
    ("image", f"python@{DIGEST}"),
    ("image", f"gcr.io/project/trainer:v2@{DIGEST}"),
    ("date", "2019-06-24"),
    ("datetime", "2019-06-24T21:20:07+00:00"),
    ("datetime", "2019-06-24T21:20:07Z"),
    ("datetime", "2019-06-24T21:20:07"),
    ("any", None),
    ("any", {"a": 1}),
]

INVALID = [
    ("str", 1),
    ("str", None),
    ("str", ["a"]),
    ("int", True),  # a bool is not an int, although Python says it is
    ("int", False),
    ("int", 1.0),
    ("int", "1"),
    ("float", True),
    ("float", "0.5"),
    ("float", None),
    ("bool", 0),
    ("bool", "true"),
    ("bool", "yes"),
    ("dict", []),
    ("dict", "a: 1"),
    ("list", {}),
    ("list", "a,b"),
    ("uri", "host/path"),
    ("uri", "https://"),
    ("uri", "https://host/with space"),
    ("uri", 42),
    ("path", ""),
    ("path", None),
    ("s3_path", "s3://"),
    ("s3_path", "s3://bu"),  # bucket names have at least 3 characters
    ("s3_path", "s3://Bucket/key"),  # and no capitals
    ("s3_path", "gs://bucket/key"),
    ("s3_path", "bucket/key"),
    ("gcs_path", "s3://bucket/key"),
    ("gcs_path", "gs://Bucket"),
    ("azure_path", "https://account.blob.core.windows.net/container"),
    ("azure_path", "s3://bucket"),
    ("image", ""),
    ("image", "Python:3.11"),  # repository names are lowercase
    ("image", "python:"),
    ("image", "python:3.11 slim"),
    ("image", "python@sha256:abc"),  # a digest is at least 32 hex digits
    ("image", "registry:port/model"),
    ("date", "2019-02-30"),
    ("date", "24/06/2019"),
    ("date", "yesterday"),
    ("datetime", "2019-06-24T25:00:00"),
    ("datetime", "2019-06-24 at noon"),
    ("datetime", 1561411207),
]


def test_every_type_has_examples():
    assert {io_type for io_type, _ in VALID} == set(IO_TYPES)
    assert {io_type for io_type, _ in INVALID} == set(IO_TYPES) - {"any"}


@pytest.mark.parametrize("io_type, value", VALID)
def test_valid_values(io_type, value):
    assert type_error(io_type, value) is None
    assert value_error(io_type, value) is None


@pytest.mark.parametrize("io_type, value", INVALID)
def test_invalid_values(io_type, value):
    error = type_error(io_type, value)
    assert error is not None and error.startswith("expected ") and f"(type {io_type})" in error
    assert value_error(io_type, value) == error


@pytest.mark.parametrize(
    "io_type, value, message",
    [
        ("int", True, "expected an integer (type int), got true"),
        ("float", "0.5", "expected a number (type float), got '0.5'"),
        ("bool", 0, "expected true or false (type bool), got 0"),
        ("str", None, "expected a string (type str), got null"),
        ("dict", [1], "expected a mapping (type dict), got a list"),
        ("list", {"a": 1}, "expected a list (type list), got a mapping"),
        ("s3_path", "gs://bucket/key",
         "expected an S3 path such as 's3://bucket/key' (type s3_path), got 'gs://bucket/key'"),
        ("image", "Python:3.11",
         "expected an image such as 'python:3.11-slim' (type image), got 'Python:3.11'"),
        ("date", "2019-02-30",
         "expected an ISO 8601 date such as '2019-06-24' (type date), got '2019-02-30'"),
        # Long values are cut short (and a string keeps its closing quote).
        ("int", "x" * 100, f"expected an integer (type int), got '{'x' * 35}...'"),
        ("str", 12345678901234567890123456789012345678901234567890,
         "expected a string (type str), got 1234567890123456789012345678901234567..."),
    ],
)
def test_messages(io_type, value, message):
    assert type_error(io_type, value) == message


@pytest.mark.parametrize(
    "io_type, value, message",
    [
        ("int", [1, 2, 3], None),
        ("int", [], None),
        ("int", (1, 2), None),
        ("int", [1, "2"], "item 1: expected an integer (type int), got '2'"),
        ("int", [1, True], "item 1: expected an integer (type int), got true"),
        ("int", 1, "expected a list of int, got 1"),
        ("str", "a", "expected a list of str, got 'a'"),
        ("s3_path", ["s3://bucket/a", "s3://bucket/b"], None),
        ("s3_path", ["s3://bucket/a", "/local"],
         "item 1: expected an S3 path such as 's3://bucket/key' (type s3_path), got '/local'"),
    ],
)
def test_lists(io_type, value, message):
    assert value_error(io_type, value, is_list=True) == message


@pytest.mark.parametrize(
    "io_type, value, options, is_list, message",
    [
        ("str", "fast", ["fast", "full"], False, None),
        ("str", "slow", ["fast", "full"], False, "'slow' is not one of the options ('fast', 'full')"),
        ("int", 2, [1, 2, 3], False, None),
        ("int", 4, [1, 2, 3], False, "4 is not one of the options (1, 2, 3)"),
        # The type is checked before the options.
        ("int", "2", [1, 2, 3], False, "expected an integer (type int), got '2'"),
        ("float", 1, [1.0, 2.5], False, None),
        ("str", ["fast", "full"], ["fast", "full"], True, None),
        ("str", ["fast", "slow"], ["fast", "full"], True,
         "item 1: 'slow' is not one of the options ('fast', 'full')"),
        # true is not 1 and 0 is not false, for options as for types.
        ("any", True, [1, 2], False, "true is not one of the options (1, 2)"),
        ("any", 0, [False, True], False, "0 is not one of the options (false, true)"),
        ("any", [True], [[1]], False, "a list is not one of the options (a list)"),
        ("any", False, [False, "no"], False, None),
        # Options are frozen into tuples in a plan; a YAML list still matches.
        ("list", [1, 2], ((1, 2), (3,)), False, None),
        ("list", [1, 2], [[1, 2], [3]], False, None),
        ("dict", {"k": 1}, [{"k": 1}], False, None),
        ("dict", {"k": True}, [{"k": 1}], False, "a mapping is not one of the options (a mapping)"),
    ],
)
def test_options(io_type, value, options, is_list, message):
    assert value_error(io_type, value, is_list=is_list, options=options) == message


@pytest.mark.parametrize(
    "output_type, input_type, compatible",
    [
        ("int", "int", True),
        ("int", "float", True),
        ("float", "int", False),
        ("bool", "int", False),
        ("int", "bool", False),
        ("any", "int", True),
        ("dict", "any", True),
        ("s3_path", "str", True),
        ("image", "str", True),
        ("datetime", "str", True),
        ("str", "s3_path", False),  # a string is not known to be an S3 path
        ("gcs_path", "s3_path", False),
        ("int", "str", False),
        ("list", "dict", False),
    ],
)
def test_reference_compatible(output_type, input_type, compatible):
    assert reference_compatible(output_type, input_type) is compatible


@pytest.mark.parametrize("io_type", sorted(STRING_TYPES))
def test_every_string_type_feeds_a_str_input(io_type):
    assert reference_compatible(io_type, "str")
