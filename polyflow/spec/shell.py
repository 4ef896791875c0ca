"""Warnings for params pasted into shell scripts.

`command: [sh, -c, 'echo {{ params.bucket }}']` hands the shell whatever text the
param holds: a trigger's or an event's `s3://x; touch MARKER` runs `touch`. The
spec stays valid (a team may trust its params), but `polyflow validate` says so,
and what to write instead: the `shell_quote` filter, or the param's environment
variable, which the shell never parses as code.
"""

from __future__ import annotations

from collections.abc import Iterator

from .compiler import Compilation
from .errors import SpecError, format_path
from .plan import TemplateSpec
from .references import ExpressionError, env_var_name, references_in

SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "ash"})
# A value of these types is a number or a boolean: it cannot carry shell syntax.
_INERT_TYPES = frozenset({"int", "float", "bool"})


def shell_scripts(template: TemplateSpec) -> Iterator[tuple[tuple, str]]:
    """(path, script) of each `SHELL [options] -c SCRIPT` in the template's command and args,
    which the container runs as one list of words."""
    words = [(("container", "command", i), word) for i, word in enumerate(template.container.command)]
    words += [(("container", "args", i), word) for i, word in enumerate(template.container.args)]
    for index, (_, word) in enumerate(words):
        if word.rsplit("/", 1)[-1] not in SHELLS:
            continue
        for option_index in range(index + 1, len(words) - 1):
            option = words[option_index][1]
            if not option.startswith("-") or option == "--":
                break  # the operands begin: no -c before them
            if option.startswith("--"):
                continue  # bash's --login, --norc
            if "c" in option[1:]:  # -c, -ec, -xc: the next word is the script
                yield words[option_index + 1]
                break


def template_warnings(template: TemplateSpec) -> Iterator[tuple[tuple, str]]:
    """(path, message) of each unfiltered param reference inside a shell script."""
    types = {io.name: io.type for io in template.inputs}
    for path, script in shell_scripts(template):
        try:
            refs = list(references_in(script))
        except ExpressionError:
            continue  # an error, reported by the checks
        for ref in refs:
            if ref.namespace != "params" or ref.filters or types.get(ref.name) in _INERT_TYPES:
                continue
            yield path, (f"'{{{{ {ref} }}}}' is pasted into a shell script: a value such as 'x; rm -rf ~' would "
                         f"run as a command. Write '{{{{ {ref} | shell_quote }}}}', or read "
                         f"\"${env_var_name(ref.name)}\" in the script")


def shell_warnings(compilation: Compilation) -> list[SpecError]:
    """Every template's warnings, each template once, as `source: PATH: message`."""
    warnings, seen = [], set()
    for plan in compilation.pipelines:
        source = compilation.sources.get(plan.name, plan.name)
        for op in plan.ops:
            key = (source, op.template_name, op.action)
            if op.template is None or key in seen:
                continue
            seen.add(key)
            where = f"template {op.template.name!r}" if op.action is None else f"action {op.action.name!r}"
            for path, message in template_warnings(op.template):
                warnings.append(SpecError(source, f"{where} {format_path(path)}", message))
    for action in compilation.actions:
        for path, message in template_warnings(action.template):
            warnings.append(SpecError(f"action {action.name}", f"template {format_path(path)}", message))
    return warnings
