"""Process sandbox for untrusted Python: a pool of fork-server zygotes (see ``zygote.py``)."""

from soarkit_code.sandbox.pool import Limits, RawRun, SandboxError, SandboxPool, shared_pool

__all__ = ["Limits", "RawRun", "SandboxError", "SandboxPool", "shared_pool"]
