"""Entry point of the math domain: registers :class:`~soarkit_math.domain.MathDomain`."""

from __future__ import annotations

from soar_kit import hookimpl
from soarkit_math.domain import MathDomain


@hookimpl
def soarkit_register_domains(register) -> None:  # type: ignore[no-untyped-def]
    register(MathDomain())
