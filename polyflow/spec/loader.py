"""Reading YAML files into raw documents, and raw documents into validated ones.

The YAML loader is stricter than PyYAML's SafeLoader: a key given twice is an
error (SafeLoader keeps the last one silently), and dates and times stay
strings so that they are checked by the field that expects them and stay
JSON-safe.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import yaml
from marshmallow import ValidationError

from .compiler import Document
from .errors import SpecError, SpecValidationError, document_position, flatten_messages, format_path
from .schemas.documents import load_document


class _SpecLoader(yaml.SafeLoader):
    pass


_SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader: _SpecLoader, node: yaml.MappingNode, deep: bool = False):
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {seen[key] + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain value, not a list or mapping",
                key_node.start_mark,
            ) from None
    loader.flatten_mapping(node)
    return dict(loader.construct_pairs(node, deep=deep))


_SpecLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


@dataclass(frozen=True)
class RawDocument:
    source: str  # "file.yaml", or "file.yaml (document 2)" in a multi-document file
    data: object


def _yaml_error(source: str, error: yaml.YAMLError) -> SpecError:
    mark = getattr(error, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    message = f"invalid YAML: {problem}" + (f" ({context})" if context and context != problem else "")
    return SpecError(source, where, message)


def parse_yaml(text: str, source: str) -> list[RawDocument]:
    """Split a YAML text into its documents; empty documents are skipped."""
    try:
        datas = [data for data in yaml.load_all(text, Loader=_SpecLoader) if data is not None]
    except yaml.YAMLError as error:
        raise SpecValidationError([_yaml_error(source, error)]) from None
    if not datas:
        raise SpecValidationError([SpecError(source, "", "no documents found")])
    if len(datas) == 1:
        return [RawDocument(source, datas[0])]
    return [RawDocument(f"{source} (document {index})", data) for index, data in enumerate(datas, 1)]


def read_file(path: str) -> list[RawDocument]:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except UnicodeDecodeError as error:
        raise SpecValidationError([SpecError(path, "", f"not a UTF-8 text file ({error.reason})")]) from None
    except OSError as error:
        raise SpecValidationError([SpecError(path, "", f"cannot read: {error.strerror}")]) from None
    return parse_yaml(text, path)


def validate_raw(raw: RawDocument) -> Document:
    """Check one document against its schema; raises with every error it has."""
    try:
        data = load_document(raw.data)
    except ValidationError as error:
        pairs = flatten_messages(error.messages)
        # A stable sort: errors at one path keep the order the checks made them.
        pairs.sort(key=lambda pair: document_position(raw.data, pair[0]))
        raise SpecValidationError(
            [SpecError(raw.source, format_path(parts), message) for parts, message in pairs]
        ) from None
    return Document(raw.source, data["kind"], data)


def validate_all(raws: Iterable[RawDocument]) -> tuple[list[Document], list[SpecError]]:
    """Every document that passed its schema, and the errors of the others."""
    documents, errors = [], []
    for raw in raws:
        try:
            documents.append(validate_raw(raw))
        except SpecValidationError as error:
            errors.extend(error.errors)
    return documents, errors


def read_files(paths: Sequence[str]) -> tuple[list[RawDocument], list[SpecError]]:
    raws, errors = [], []
    for path in paths:
        try:
            raws.extend(read_file(path))
        except SpecValidationError as error:
            errors.extend(error.errors)
    return raws, errors
