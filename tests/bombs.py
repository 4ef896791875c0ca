"""Hostile spec texts, each over one of the input limits at their defaults (docs/security.md),
and the setting whose name its refusal must give. Shared by the CLI and the API tests."""

from __future__ import annotations

from collections.abc import Callable

from polyflow.conf import DEFAULTS


def alias_bomb(levels: int = 9, width: int = 10, indent: str = "") -> str:
    """A "billion laughs": a few hundred bytes that expand to width**levels nodes."""
    lines = ["a0: &a0 [" + ", ".join(["x"] * width) + "]"]
    lines += [f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * width) + "]" for level in range(1, levels)]
    return "".join(f"{indent}{line}\n" for line in lines)


TEMPLATE = "templates: [{kind: job, name: t, inputs: [{name: x, type: any}], container: {image: busybox}}]\n"


def pipeline(body: str = "", ops: str = "ops: [{name: a, template: {name: t}, params: {x: 1}}]\n") -> str:
    return "version: 1\nkind: pipeline\nname: bomb\n" + TEMPLATE + body + ops


def _alias_in_a_param() -> str:
    # The file: nine levels of ten aliases inside a param of type `any`.
    return pipeline(ops="ops:\n  - name: a\n    template: {name: t}\n    params:\n      x:\n"
                        + alias_bomb(indent="        "))


def _alias_under_an_unknown_key() -> str:
    return pipeline("unknown:\n" + alias_bomb(indent="  "))


def _many_ops() -> str:
    limit = DEFAULTS["MAX_SPEC_BYTES"] - 100
    line = "  - {name: o%d, template: {name: t}}\n"
    head, ops, size = pipeline(ops="ops:\n"), [], 0
    while size + len(line) + 8 < limit - len(head):
        ops.append(line % len(ops))
        size += len(ops[-1])
    return head + "".join(ops)


def _long_description() -> str:
    return pipeline(f"description: {'x' * (DEFAULTS['MAX_SPEC_BYTES'] - 1000)}\n")


def _deep_nesting() -> str:
    return "a: " + "[" * (DEFAULTS["MAX_SPEC_BYTES"] // 2)


def _many_documents() -> str:
    return "---\nkind: event\n" * (DEFAULTS["MAX_SPEC_BYTES"] // 20)


def _too_big() -> str:
    return pipeline("# " + "x" * DEFAULTS["MAX_SPEC_BYTES"] + "\n")


# name: (the text, the setting its refusal names)
BOMBS: dict[str, tuple[Callable[[], str], str]] = {
    "alias-in-a-param": (_alias_in_a_param, "MAX_EXPANDED_NODES"),
    "alias-under-an-unknown-key": (_alias_under_an_unknown_key, "MAX_EXPANDED_NODES"),
    "many-ops": (_many_ops, "MAX_OPS"),
    "long-description": (_long_description, "MAX_STRING_LENGTH"),
    "deep-nesting": (_deep_nesting, "MAX_NESTING"),
    "many-documents": (_many_documents, "MAX_DOCUMENTS"),
    "too-big": (_too_big, "MAX_SPEC_BYTES"),
}
