"""Reading YAML files into raw documents, and raw documents into validated ones.

The YAML loader is stricter than PyYAML's SafeLoader: a key given twice is an
error (SafeLoader keeps the last one silently), and dates and times (also
`21:20`, a base-60 number to YAML 1.1) stay strings so that they are checked by
the field that expects them and stay JSON-safe.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import yaml
from marshmallow import ValidationError
from yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from .compiler import Document
from .errors import SpecError, SpecValidationError, document_position, flatten_messages, format_path
from .gcpause import gc_paused
from .limits import DEFAULT_LIMITS, Limits, over_limit
from .schemas.documents import load_document


class _SpecLoader(yaml.SafeLoader):
    """The pure-Python loader: its error messages are the ones users see."""


# libyaml's parser is several times faster; a text it rejects is read again by
# _SpecLoader so that errors are worded the same with or without libyaml.
class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    pass

_MERGE_TAG = "tag:yaml.org,2002:merge"


def _construct_mapping(loader, node: yaml.MappingNode, deep: bool = False):
    # Merge keys (`<<: *defaults`) are flattened below; explicit keys win over
    # merged ones, as in YAML, so only explicit keys are checked for duplicates.
    seen = {}
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG:
            continue
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


def _construct_timestamp_as_text(loader, node: yaml.ScalarNode) -> str:
    # `!!timestamp 2019-06-24` stays a string too, like an untagged date.
    return loader.construct_scalar(node)


def _reject_tag(loader, node: yaml.Node):
    # Values must stay JSON-safe: bytes and sets would break storing the plan.
    raise yaml.constructor.ConstructorError(
        None, None, f"the tag {node.tag.replace('tag:yaml.org,2002:', '!!')} is not supported",
        node.start_mark,
    )


_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


def _resolver(tag: str, regexp: re.Pattern) -> tuple[str, re.Pattern]:
    # YAML 1.1 reads `21:20` as the base-60 number 1280; a time of day stays a string.
    if tag in _NUMBER_TAGS:
        return tag, re.compile("(?!.*:)" + regexp.pattern, regexp.flags)
    return tag, regexp


_RESOLVERS = {
    first: [_resolver(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

for _loader in (_SpecLoader, _FastLoader):
    _loader.yaml_implicit_resolvers = _RESOLVERS
    _loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
    _loader.add_constructor(_TIMESTAMP_TAG, _construct_timestamp_as_text)
    for _tag in ("binary", "set", "omap", "pairs"):
        _loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _reject_tag)


# --- the fast path ----------------------------------------------------------------------
#
# PyYAML builds a graph of nodes for each document (with two marks per node: 70 MB for a
# 2 MB file of 10,000 ops) and then constructs the data from it through generic, recursive
# machinery. Most documents hold only plain mappings, lists and scalars: for them, the data
# is built straight from libyaml's events, resolving plain scalars with the same table.
# Anything else (merge keys, tags, keys given twice, recursive aliases, very deep nesting,
# any error) makes the whole text go through _FastLoader and _SpecLoader as before, so that
# the data and every error message stay theirs.

_STR_TAG = yaml.resolver.BaseResolver.DEFAULT_SCALAR_TAG
_SEQ_TAG = yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG
_MAP_TAG = yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG
_NULL_TAG, _BOOL_TAG, _INT_TAG, _FLOAT_TAG = (f"tag:yaml.org,2002:{name}" for name in ("null", "bool", "int", "float"))
# Plain scalars' implicit tags by first character, as _FastLoader resolves them.
_IMPLICIT = {first: tuple(resolvers) for first, resolvers in _RESOLVERS.items()}
assert None not in _IMPLICIT and not _FastLoader.yaml_path_resolvers, "resolving needs only the value"
_BOOLS = yaml.SafeLoader.bool_values
# Deeper documents take PyYAML's constructor, whose recursion limit decides as before.
_FAST_DEPTH = 100


class _Unusual(Exception):
    """Something the fast path leaves to PyYAML."""


class _TooManyOps(Exception):
    """A document's top-level `ops` list is longer than MAX_OPS: refused before the rest is built."""


class _TooManyDocuments(Exception):
    """More documents than the limit: reading stops there, whatever follows."""


_PLAIN_CACHE = 10_000  # distinct plain scalars whose value one text keeps


def _load_events(text: str, max_documents: int, max_ops: int | None = None) -> list:
    """What `list(yaml.load_all(text, Loader=_FastLoader))` gives, for texts of plain
    documents; raises _Unusual (or libyaml's error) for any other, and _TooManyDocuments
    past `max_documents`."""
    parser = _FastLoader(text)
    get_event = parser.get_event
    anchors: dict[str, object] = {}  # per document, as the composer's
    building = object()

    # A plain scalar's value depends on its text alone: keys and common values repeat (`name`,
    # `template`), and resolving each again (a regex per candidate tag) was a third of the cost.
    plain: dict[str, object] = {}

    def scalar(event):
        value, tag = event.value, event.tag
        if tag is None and event.implicit[0]:
            found = plain.get(value, plain)
            if found is not plain:
                return found
            result = resolve(value, tag, event)
            if len(plain) < _PLAIN_CACHE:
                plain[value] = result  # values are immutable: str, int, float, bool, None
            return result
        return resolve(value, tag, event)

    def resolve(value, tag, event):
        if tag is None or tag == "!":
            if not event.implicit[0]:
                return value  # quoted, or a non-specific tag: a string
            resolved = _STR_TAG
            for candidate, regexp in _IMPLICIT.get(value[:1], ()):
                if regexp.match(value):
                    resolved = candidate
                    break
            tag = resolved
        if tag == _STR_TAG:
            return value
        if tag == _INT_TAG:
            if value.isdigit() and value.isascii() and (value[0] != "0" or value == "0"):
                return int(value)
            return parser.construct_yaml_int(yaml.ScalarNode(tag, value))
        if tag == _NULL_TAG:
            return None
        if tag == _BOOL_TAG:
            result = _BOOLS.get(value.lower())
            if result is None:
                raise _Unusual
            return result
        if tag == _FLOAT_TAG:
            return parser.construct_yaml_float(yaml.ScalarNode(tag, value))
        raise _Unusual  # merge keys, other tags

    def build(event, depth):
        kind = event.__class__
        if kind is ScalarEvent:
            value = scalar(event)
        elif kind is AliasEvent:
            value = anchors.get(event.anchor, building)
            if value is building:  # undefined (an error), or recursive
                raise _Unusual
            return value
        elif depth > _FAST_DEPTH:
            raise _Unusual
        elif kind is MappingStartEvent:
            if event.tag not in (None, "!", _MAP_TAG):
                raise _Unusual
            if event.anchor is not None:
                if event.anchor in anchors:
                    raise _Unusual  # a duplicate anchor: the composer's error
                anchors[event.anchor] = building
            value, pairs = {}, 0
            depth += 1
            while (item := get_event()).__class__ is not MappingEndEvent:
                if item.__class__ is not ScalarEvent or item.anchor is not None:
                    raise _Unusual  # a key that is a list, a mapping or an alias, or has an anchor
                key = scalar(item)
                if depth == 1 and key == "ops" and max_ops is not None:
                    value[key] = ops_list(get_event(), depth)
                else:
                    value[key] = build(get_event(), depth)
                pairs += 1
            if len(value) != pairs:
                raise _Unusual  # a key given twice
        elif kind is SequenceStartEvent:
            if event.tag not in (None, "!", _SEQ_TAG):
                raise _Unusual
            if event.anchor is not None:
                if event.anchor in anchors:
                    raise _Unusual
                anchors[event.anchor] = building
            value = []
            depth += 1
            while (item := get_event()).__class__ is not SequenceEndEvent:
                value.append(build(item, depth))
        else:
            raise _Unusual
        if event.anchor is not None:
            if kind is ScalarEvent and event.anchor in anchors:
                raise _Unusual
            anchors[event.anchor] = value
        return value

    def ops_list(event, depth):
        """A pipeline's ops, built only up to MAX_OPS: a list of 80,000 would take a second to build
        only to be refused (checking.py words the refusal of a list the limit allows but for this)."""
        if event.__class__ is not SequenceStartEvent or event.anchor is not None:
            return build(event, depth)
        if event.tag not in (None, "!", _SEQ_TAG):
            raise _Unusual
        items = []
        while (item := get_event()).__class__ is not SequenceEndEvent:
            if len(items) == max_ops:
                raise _TooManyOps(max_ops + _count_rest(item))
            items.append(build(item, depth + 1))
        return items

    def _count_rest(item) -> int:
        """The items of the list from `item` on, counted on the events alone (nothing is built)."""
        count, open_ = 0, 0
        while True:
            kind = item.__class__
            if open_ == 0:
                if kind is SequenceEndEvent:
                    return count
                count += 1
            if kind is MappingStartEvent or kind is SequenceStartEvent:
                open_ += 1
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                open_ -= 1
            item = get_event()

    try:
        documents = []
        get_event()  # StreamStartEvent
        while get_event().__class__ is not StreamEndEvent:  # DocumentStartEvent
            if len(documents) == max_documents:
                raise _TooManyDocuments
            documents.append(build(get_event(), 0))
            get_event()  # DocumentEndEvent
            anchors.clear()
        return documents
    finally:
        parser.dispose()


# A few hundred bytes of nested aliases (a "billion laughs") would otherwise expand to a
# tree that every later walk pays for, for minutes and gigabytes: POLYFLOW['MAX_EXPANDED_NODES'].
_COLLECTION_ENDS = (MappingEndEvent, SequenceEndEvent)


def _expanded_size_error(text: str, max_nodes: int) -> str | None:
    """Why the text expands to too many nodes, or None: counted on the parser's events alone
    (each alias counts the nodes of what it names), so the refusal costs the text's size."""
    if "&" not in text or "*" not in text:
        return None  # no anchor or no alias: nothing expands
    sizes: dict[str, int] = {}
    open_nodes: list[list] = []  # [nodes so far, anchor] of each collection being read
    total = 0
    try:
        for event in yaml.parse(text, Loader=_FastLoader):
            kind = event.__class__
            if kind is MappingStartEvent or kind is SequenceStartEvent:
                open_nodes.append([1, event.anchor])
                total += 1
                continue
            if kind is ScalarEvent:
                nodes = 1
                if event.anchor is not None:
                    sizes[event.anchor] = 1
            elif kind is AliasEvent:
                nodes = sizes.get(event.anchor, 1)
            elif kind in _COLLECTION_ENDS:
                nodes, anchor = open_nodes.pop()
                if anchor is not None:
                    sizes[anchor] = nodes
                if open_nodes:
                    open_nodes[-1][0] += nodes
                continue
            else:
                continue
            total += nodes
            if open_nodes:
                open_nodes[-1][0] += nodes
            if total > max_nodes:
                return over_limit(f"the YAML expands through its aliases to {total:,} nodes at alias "
                                  f"'*{event.anchor}'", max_nodes, "MAX_EXPANDED_NODES")
    except yaml.YAMLError:
        return None  # the loader reports it, with its line
    return None


_LIBYAML_TOO_DEEP = "exceeded maximum nesting depth"  # libyaml's words (its limit: 1000 levels)


def _load_all(text: str, max_documents: int, max_ops: int | None = None) -> list:
    def documents(loader) -> list:
        loaded = list(itertools.islice(yaml.load_all(text, Loader=loader), max_documents + 1))
        if len(loaded) > max_documents:
            raise _TooManyDocuments
        return loaded

    try:
        try:
            return _load_events(text, max_documents, max_ops)
        except (yaml.YAMLError, _TooManyDocuments, _TooManyOps):
            raise  # libyaml refused the text: so would _FastLoader
        except Exception:  # _Unusual, or an error that PyYAML's constructor words (int(), ...)
            return documents(_FastLoader)
    except yaml.YAMLError as error:
        if getattr(error, "problem", None) == _LIBYAML_TOO_DEEP:
            # PyYAML's own parser would take a second to find the same (a RecursionError).
            raise RecursionError(error.problem) from None
        return documents(_SpecLoader)


@dataclass(frozen=True)
class RawDocument:
    source: str  # "file.yaml", or "file.yaml (document 2)" in a multi-document file
    data: object


def _yaml_error(source: str, error: yaml.YAMLError, text: str) -> SpecError:
    mark = getattr(error, "problem_mark", None)
    if mark:
        where = f"line {mark.line + 1}, column {mark.column + 1}"
    elif isinstance(error, yaml.reader.ReaderError):
        # The reader knows only the offset of the character it refused.
        line = text.count("\n", 0, error.position) + 1
        column = error.position - (text.rfind("\n", 0, error.position) + 1) + 1
        where = f"line {line}, column {column}"
    else:
        where = ""
    if isinstance(error, yaml.reader.ReaderError) and isinstance(error.character, int):
        problem = f"unacceptable character #x{error.character:04x}: {error.reason}"
    else:
        problem = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    message = f"invalid YAML: {problem}" + (f" ({context})" if context and context != problem else "")
    return SpecError(source, where, message)


def _size_error(text: str, limits: Limits) -> str | None:
    # A character is at most four bytes: most texts are decided without encoding them.
    if len(text) * 4 <= limits.spec_bytes:
        return None
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limits.spec_bytes:
        return over_limit(f"the text is {size:,} bytes", limits.spec_bytes, "MAX_SPEC_BYTES")
    return None


def parse_yaml(text: str, source: str, limits: Limits = DEFAULT_LIMITS) -> list[RawDocument]:
    """Split a YAML text into its documents; empty documents are skipped.

    In a file of several documents, each is labelled with its position in the
    file (empty ones count), so that `f.yaml (document 3)` is the third. A text
    over one of `limits` is refused before it is built into data.
    """
    refusal = _size_error(text, limits) or _expanded_size_error(text, limits.expanded_nodes)
    if refusal:
        raise SpecValidationError([SpecError(source, "", refusal)])
    try:
        with gc_paused():
            datas = [(index, data) for index, data in enumerate(_load_all(text, limits.documents, limits.ops), 1)
                     if data is not None]
    except _TooManyOps as many:
        raise SpecValidationError([SpecError(source, "ops", over_limit(
            f"{many.args[0]:,} ops", limits.ops, "MAX_OPS"))]) from None
    except _TooManyDocuments:
        raise SpecValidationError([SpecError(source, "", over_limit(
            "too many YAML documents", limits.documents, "MAX_DOCUMENTS"))]) from None
    except yaml.YAMLError as error:
        raise SpecValidationError([_yaml_error(source, error, text)]) from None
    except (ValueError, RecursionError) as error:
        # Python's int() refuses numbers of more than 4300 digits; very deep
        # nesting exhausts the stack. Neither is a YAMLError.
        reason = (over_limit("nested too deeply", limits.nesting, "MAX_NESTING")
                  if isinstance(error, RecursionError) else str(error))
        raise SpecValidationError([SpecError(source, "", f"invalid YAML: {reason}")]) from None
    except KeyError as error:
        # PyYAML's bool constructor looks an explicitly tagged value up in its table
        # (`!!bool maybe`) and lets the KeyError out.
        raise SpecValidationError([SpecError(source, "", f"invalid YAML: {error.args[0]!r} is not a value of "
                                                         "its tag")]) from None
    if not datas:
        raise SpecValidationError([SpecError(source, "", "no documents found")])
    if len(datas) == 1:
        return [RawDocument(source, datas[0][1])]
    return [RawDocument(f"{source} (document {index})", data) for index, data in datas]


def read_file(path: str, limits: Limits = DEFAULT_LIMITS) -> list[RawDocument]:
    try:
        with open(path, encoding="utf-8") as handle:
            # Read no more than the limit allows: a file of gigabytes costs no memory.
            text = handle.read(limits.spec_bytes + 1)
            if len(text) > limits.spec_bytes:
                size = os.fstat(handle.fileno()).st_size
                raise SpecValidationError([SpecError(path, "", over_limit(
                    f"the file is {size:,} bytes", limits.spec_bytes, "MAX_SPEC_BYTES"))])
    except UnicodeDecodeError as error:
        raise SpecValidationError([SpecError(path, "", f"not a UTF-8 text file ({error.reason})")]) from None
    except OSError as error:
        raise SpecValidationError([SpecError(path, "", f"cannot read: {error.strerror}")]) from None
    return parse_yaml(text, path, limits)


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


def read_files(paths: Sequence[str], limits: Limits = DEFAULT_LIMITS) -> tuple[list[RawDocument], list[SpecError]]:
    raws, errors = [], []
    for path in paths:
        try:
            raws.extend(read_file(path, limits))
        except SpecValidationError as error:
            errors.extend(error.errors)
    return raws, errors
