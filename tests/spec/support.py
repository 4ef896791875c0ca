"""Helpers for spec tests: YAML in, errors or plans out, through the public API."""

from __future__ import annotations

import textwrap

from polyflow.spec import SpecValidationError, check, parse_yaml

PIPELINE_HEAD = """\
version: 1
kind: pipeline
name: p
"""

TEMPLATE = """\
templates:
  - kind: job
    name: t
    inputs:
      - {name: n, type: int, default: 1}
    outputs:
      - {name: score, type: float}
      - {name: path, type: s3_path}
    container: {image: 'python:3.11', command: [python, -c, pass]}
"""


def compile_texts(*texts: str, **kwargs):
    raws = [doc for index, text in enumerate(texts)
            for doc in parse_yaml(textwrap.dedent(text), f"f{index}.yaml")]
    return check(raws, **kwargs)


def errors_of(*texts: str, **kwargs) -> list[str]:
    """The errors of the documents as 'PATH: message' (the file of the first text dropped)."""
    try:
        compile_texts(*texts, **kwargs)
    except SpecValidationError as error:
        return [str(item).removeprefix("f0.yaml: ") for item in error.errors]
    return []


def pipeline(body: str, templates: str = TEMPLATE) -> str:
    return PIPELINE_HEAD + textwrap.dedent(body) + templates
