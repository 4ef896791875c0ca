"""A tiny YAML highlighter for the pipeline page: spans with CSS classes, on the server.

Not a YAML parser: it colours what a reader scans for (keys, strings, numbers,
booleans, comments, `{{ templates }}`) line by line, and always gives back the
text exactly (HTML-escaped). Lines inside block scalars (`|`, `>`) are shown as
strings.
"""

from __future__ import annotations

import re

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

_KEY = re.compile(r"""(?P<key>"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'"""  # a quoted key,
                  r"""|[^\s#'"{}\[\],&*!|>%@`-][^#:{}\[\],]*?|-[^\s#:{}\[\],][^#:{}\[\],]*?)"""  # or a plain one
                  r"""(?P<colon>:)(?=\s|$)""")
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<comment>(?<![^\s])\#.*)
  | (?P<dq>"(?:[^"\\]|\\.)*"?)
  | (?P<sq>'(?:[^']|'')*'?)
  | (?P<punct>[{}\[\],]|:(?=\s|$)|[|>][-+0-9]*(?=\s*$))
  | (?P<anchor>[&*!][^\s{}\[\],]*)
  | (?P<plain>(?:[^\s{}\[\],:\#]|:(?!\s|$)|(?<!\s)\#)+(?:[ \t]+(?:[^\s{}\[\],:\#]|:(?!\s|$)|(?<!\s)\#)+)*)
  | (?P<other>.)
""", re.VERBOSE)
_NUMBER = re.compile(r"[-+]?(\d[\d_]*(\.\d*)?([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?|0x[0-9a-fA-F]+|\.inf|\.nan)$")
_CONSTANT = re.compile(r"(true|false|yes|no|on|off|null|~)$", re.IGNORECASE)
_TEMPLATE = re.compile(r"\{\{.*?\}\}")


def _span(css: str, text: str) -> str:
    return f'<span class="y-{css}">{escape(text)}</span>' if text else ""


def _scalar(css: str, text: str) -> str:
    """A string or plain scalar, with `{{ ... }}` templates marked inside it."""
    out, last = [], 0
    for match in _TEMPLATE.finditer(text):
        out.append(_span(css, text[last:match.start()]))
        out.append(_span("tpl", match.group()))
        last = match.end()
    out.append(_span(css, text[last:]))
    return "".join(out)


def _value(text: str) -> str:
    out = []
    position = 0
    flow: list[str] = []  # open brackets
    expect_key = False  # just after "{" or "," in a flow mapping
    while position < len(text):
        match = _TOKEN.match(text, position)
        kind, token = match.lastgroup, match.group()
        position = match.end()
        if kind == "space":
            out.append(escape(token))
            continue
        if kind == "comment":
            out.append(_span("comment", token))
        elif kind in ("dq", "sq", "plain"):
            if expect_key and flow[-1] == "{" and text.startswith(":", position):
                out.append(_span("key", token))
            elif kind == "plain":
                css = "num" if _NUMBER.match(token) else "const" if _CONSTANT.match(token) else "str"
                out.append(_scalar(css, token))
            else:
                out.append(_scalar("str", token))
        elif kind == "punct":
            if token in "{[":
                flow.append(token)
            elif token in "}]" and flow:
                flow.pop()
            out.append(_span("punct", token))
        elif kind == "anchor":
            out.append(_span("anchor", token))
        else:
            out.append(escape(token))
        expect_key = bool(flow) and token in ("{", ",")
    return "".join(out)


def _line(line: str) -> tuple[str, bool]:
    """The highlighted line, and whether a block scalar starts after it."""
    stripped = line.lstrip()
    indent = line[: len(line) - len(stripped)]
    if stripped.startswith("#"):
        return escape(indent) + _span("comment", stripped), False
    if stripped in ("---", "...") or stripped.startswith("--- "):
        return escape(indent) + _span("doc", stripped), False
    out = [escape(indent)]
    rest = stripped
    while rest.startswith("- ") or rest == "-":
        out.append(_span("punct", "-"))
        spaces = len(rest[1:]) - len(rest[1:].lstrip())
        out.append(rest[1:1 + spaces])
        rest = rest[1 + spaces:]
    key = _KEY.match(rest)
    if key is not None:
        out.append(_span("key", key.group("key")) + _span("punct", ":"))
        rest = rest[key.end():]
    out.append(_value(rest))
    block = bool(re.search(r"(^|\s)[|>][-+0-9]*\s*(#.*)?$", rest))
    return "".join(out), block


def highlight_yaml(text: str) -> SafeString:
    """The text as HTML: one line per line, spans with classes y-key, y-str, y-num, y-const, y-comment,
    y-punct, y-anchor, y-doc, y-tpl."""
    lines = text.split("\n")
    out = []
    block_indent: int | None = None  # inside a block scalar: lines indented deeper than its key
    key_indent = 0
    for line in lines:
        indent = len(line) - len(line.lstrip())
        if block_indent is not None:
            if not line.strip() or indent > key_indent:
                out.append(escape(line[:indent]) + _scalar("str", line[indent:]))
                continue
            block_indent = None
        html, block = _line(line)
        out.append(html)
        if block:
            block_indent, key_indent = indent + 1, indent
    return mark_safe("\n".join(out))  # noqa: S308 - everything is escaped by _span or escape
