"""Old import paths of modules that moved in 0.2 (see CHANGELOG.md), kept for one release.

Each old module is a two-line shim whose module-level ``__getattr__`` (PEP 562) finds a name in
its new home and warns once per use site with a :class:`DeprecationWarning` naming it, so a
third-party domain keeps working while its author is told where to import from.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any


def forward(old: str, *new: str) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``old`` that serves names from the modules ``new``."""

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        found = [
            (target, getattr(module, name))
            for target in new
            if hasattr(module := importlib.import_module(target), name)
        ]
        if not found:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        # name the module that defines it, not one that merely imports it
        target, obj = next(
            ((t, o) for t, o in found if getattr(o, "__module__", None) == t), found[0]
        )
        warnings.warn(
            f"{old}.{name} moved to {target}.{name}; the old path goes away in 0.3",
            DeprecationWarning,
            stacklevel=2,
        )
        return obj

    return __getattr__
