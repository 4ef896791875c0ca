"""DRF classes named in the POLYFLOW settings, as a view's class attribute.

Read at each access, not when the view class is defined: DRF's own defaults are
frozen at import, which would leave `override_settings(POLYFLOW=...)` (and any
settings read later than the URLconf) without effect.
"""

from __future__ import annotations

from functools import lru_cache

from django.utils.module_loading import import_string

from ..conf import polyflow_settings


@lru_cache(maxsize=32)
def _imported(paths: tuple[str, ...]) -> tuple[type, ...]:
    return tuple(import_string(path) for path in paths)


def imported_classes(key: str) -> list[type]:
    """The classes of POLYFLOW[key], imported (an ImportError names the path that failed)."""
    return list(_imported(tuple(getattr(polyflow_settings, key))))


class FromSettings:
    """`authentication_classes = FromSettings("AUTHENTICATION_CLASSES")`: the list DRF expects."""

    def __init__(self, key: str):
        self.key = key

    def __get__(self, instance, owner) -> list[type]:
        return imported_classes(self.key)
