"""Deprecated: moved to ``soar_kit.contracts.executor`` / ``soar_kit.students`` / ``soar_kit.scoring`` (removed in 0.3)."""

from soar_kit._moved import forward

__getattr__ = forward(__name__, 'soar_kit.contracts.executor', 'soar_kit.students', 'soar_kit.scoring')
