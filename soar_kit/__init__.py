"""soar-kit: SOAR teacher-student curricula (arXiv 2601.18778) as a plugin toolkit."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import pluggy

#: Decorator for plugin functions implementing :mod:`soar_kit.hookspecs`.
hookimpl = pluggy.HookimplMarker("soar_kit")

try:
    __version__ = version("soar-kit")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "hookimpl"]
