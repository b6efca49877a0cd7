"""Entry point: the generic ``reasoning-gym`` domain and one ``rg:NAME`` domain per task.

The per-task names cost nothing to register (the task list is static and reasoning-gym is
imported only when a domain is used), and they make every task a domain on its own for the
commands that take no options, e.g. ``soarkit check-plugin rg:chain_sum``.
"""

from __future__ import annotations

from soar_kit import hookimpl
from soarkit_reasoning_gym.domain import ReasoningGymDomain, RGOptions
from soarkit_reasoning_gym.tasks import TASKS


@hookimpl
def soarkit_register_domains(register) -> None:  # type: ignore[no-untyped-def]
    register(ReasoningGymDomain())
    for task in TASKS:
        register(ReasoningGymDomain(RGOptions(task=task), short=True))
