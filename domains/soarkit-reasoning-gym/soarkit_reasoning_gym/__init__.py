"""Every reasoning-gym task as a soar-kit domain (``--domain reasoning-gym`` or ``rg:NAME``)."""

from soarkit_reasoning_gym.domain import ReasoningGymDomain, RGOptions

__all__ = ["RGOptions", "ReasoningGymDomain"]
