"""Deprecated: moved to ``soar_kit.commands.evaluate`` / ``soar_kit.scoring`` / ``soar_kit.runstore`` (removed in 0.3)."""

from soar_kit._moved import forward

__getattr__ = forward(__name__, 'soar_kit.commands.evaluate', 'soar_kit.scoring', 'soar_kit.runstore')
