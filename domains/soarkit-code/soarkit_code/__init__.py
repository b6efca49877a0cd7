"""soar-kit code domain: Python function problems judged by tests in a process sandbox."""

from soarkit_code.domain import CodeDomain

__all__ = ["CodeDomain"]
