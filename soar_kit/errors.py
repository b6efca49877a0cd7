"""Exceptions with a message a user can act on.

Every error the CLI shows is a :class:`SoarKitError`: its ``str`` is one line that names the
culprit (file, field, plugin) so that ``soarkit`` can print it and exit non-zero without a
traceback.
"""

from __future__ import annotations


class SoarKitError(Exception):
    """Base of all user-facing errors: the message is shown as is, on one line."""


class ConfigError(SoarKitError):
    """A run configuration could not be read or failed validation."""


class PluginError(SoarKitError):
    """A plugin failed to load or registered something invalid."""


class UnknownNameError(SoarKitError):
    """A domain/trainer/reward/backend name that no loaded plugin provides."""


class ProblemRejected(SoarKitError):
    """A teacher output is malformed or its answer is unusable; the loop resamples.

    Raised by :meth:`soar_kit.contracts.domain.Domain.parse_teacher_output`. ``reason`` is short and
    stable (e.g. ``"missing <answer>"``) because the loop counts rejections by reason.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidInput(SoarKitError):
    """User input (a problem file, a reference answer) that a domain cannot use."""
