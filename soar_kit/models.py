"""Deprecated: moved to ``soar_kit.contracts.model`` / ``soar_kit.components`` (removed in 0.3)."""

from soar_kit._moved import forward

__getattr__ = forward(__name__, 'soar_kit.contracts.model', 'soar_kit.components')
