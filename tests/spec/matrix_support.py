"""Templates and helpers shared by the matrix tests of the spec."""

from __future__ import annotations

import textwrap

from .support import errors_of, pipeline

TEMPLATES = """\
templates:
  - kind: job
    name: train
    inputs:
      - {name: lr, type: float}
      - {name: depth, type: int, default: 2}
      - {name: dropout, type: float, default: 0.1}
      - {name: act, type: str, options: [relu, tanh], default: relu}
      - {name: layers, type: int, is_list: true, default: [8]}
    outputs:
      - {name: accuracy, type: float}
      - {name: steps, type: int}
      - {name: model, type: s3_path}
      - {name: scores, type: float, is_list: true}
      - {name: info, type: dict}
    container: {image: 'python:3.11'}
  - kind: experiment
    name: exp
    inputs: [{name: lr, type: float}]
    container: {image: 'python:3.11'}
  - kind: job
    name: process
    inputs: [{name: shard, type: str}, {name: bucket, type: str, default: b}]
    outputs: [{name: rows, type: int}, {name: part, type: dict}]
    container: {image: 'python:3.11'}
  - kind: job
    name: lister
    outputs:
      - {name: shards, type: list}
      - {name: count, type: int}
      - {name: parts, type: dict, is_list: true}
      - {name: names, type: str, is_list: true}
      - {name: anything}
    container: {image: 'python:3.11'}
  - kind: job
    name: sink
    inputs:
      - {name: x, type: any, is_optional: true}
      - {name: f, type: float, is_optional: true}
      - {name: s, type: str, is_optional: true}
      - {name: l, type: list, is_optional: true}
      - {name: fs, type: float, is_list: true, is_optional: true}
    container: {image: 'python:3.11'}
"""


def ops(*items: str) -> str:
    """An `ops:` list from op bodies written as indented YAML blocks."""
    return "ops:\n" + "".join(textwrap.indent(textwrap.dedent(item).strip("\n"), "  ").replace("  ", "- ", 1) + "\n"
                              for item in items)


def matrix_errors(*items: str, **kwargs) -> list[str]:
    return errors_of(pipeline(ops(*items), TEMPLATES), **kwargs)


def grid_op(matrix: str, name: str = "tune", template: str = "train", extra: str = "") -> str:
    """A `tune` op of template `train` with the given matrix body (YAML under `matrix:`)."""
    return (f"name: {name}\ntemplate: {{name: {template}}}\n{extra}matrix:\n"
            + textwrap.indent(textwrap.dedent(matrix).strip("\n"), "  "))
