"""Entry point of the code domain: registers :class:`~soarkit_code.domain.CodeDomain`."""

from __future__ import annotations

from soar_kit import hookimpl
from soar_kit.hookspecs import Register
from soarkit_code.domain import CodeDomain


@hookimpl
def soarkit_register_domains(register: Register) -> None:
    register(CodeDomain())
