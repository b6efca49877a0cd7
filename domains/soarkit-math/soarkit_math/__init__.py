"""soar-kit math domain: prompts, a budgeted SymPy verifier, procedural problem sets."""

from soarkit_math.domain import MathDomain, MathOptions
from soarkit_math.verifier import Check, Verifier, is_equivalent

__all__ = ["Check", "MathDomain", "MathOptions", "Verifier", "is_equivalent"]
