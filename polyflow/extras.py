"""The optional parts of Polyflow and the packages each needs (the extras of pyproject.toml).

The default install runs the embedded default only (SQLite, local processes, no
broker). Whatever needs more imports its package through `require`, or checks
for it with `check` where importing it now would only slow start-up down, so
that a missing package is one line naming the extra that brings it:

    the kubernetes backend needs the 'kubernetes' extra: pip install 'polyflow[kubernetes]'

(`Error: ...` on the command line, exit status 1, as every configuration error
there), never an ImportError traceback from deep inside.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from django.core.exceptions import ImproperlyConfigured


# An ImproperlyConfigured, as Django reports configurations it cannot work with;
# an ImportError too, so that code which already treats "not installed" as an
# ImportError (a backend looked up to read old logs, say) goes on doing so.
class MissingExtra(ImproperlyConfigured, ImportError):
    def __init__(self, extra: str, what: str, detail: str = ""):
        self.extra = extra
        self.what = what
        message = f"{what} needs the '{extra}' extra: pip install 'polyflow[{extra}]'"
        if detail:
            message += f" ({detail})"
        super().__init__(message)

    def __str__(self) -> str:
        return self.args[0]


def require(extra: str, module: str, what: str) -> ModuleType:
    """`module`, imported; MissingExtra naming `extra` when it is not installed.

    `what` is the part of Polyflow that needs it, as the message's subject
    ("the kubernetes backend").
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingExtra(extra, what, _broken(module, error)) from None


def check(extra: str, *modules: str, what: str) -> None:
    """MissingExtra unless one of the top-level `modules` is installed; imports nothing.

    For start-up paths (settings modules, constructors): the package is
    imported only when it is used, and its absence is still told at once.
    """
    for module in modules:
        try:
            if importlib.util.find_spec(module) is not None:
                return
        except (ImportError, ValueError):  # a module half set up, or set to None in sys.modules
            pass
    raise MissingExtra(extra, what)


def _broken(module: str, error: ImportError) -> str:
    """What else failed, when the extra's package is there but something it imports is not."""
    missing = error.name or ""
    if not missing or missing.partition(".")[0] == module.partition(".")[0]:
        return ""
    return str(error)
