"""Records that cross a boundary between the core, plugins and the run store.

They are pydantic models so that a plugin that hands back a malformed record fails at the
boundary (with the field named) instead of deep inside the loop, and so that every record
round-trips through JSON lines in a run directory.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Problem(BaseModel):
    """One question with its reference answer, as a domain understands it.

    ``answer`` is the reference the verifier compares against (for math a LaTeX/plain answer,
    for code the test source). ``data`` holds whatever else the domain needs (a function
    signature, tests, a difficulty level) and must be JSON-serialisable so problems can be saved.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    answer: str
    domain: str = Field(min_length=1)
    data: dict[str, Any] = Field(default_factory=dict)
    source: str = "unknown"


class Verdict(BaseModel):
    """The verifier's judgement of one completion.

    ``correct`` is the ground truth used for accuracy and pass@k; ``reward`` is the shaped
    student reward (SOAR.md: 1.2 / 0.2 / 0.1 / 0 for math). Keeping both lets reward shaping
    change without changing what "solved" means.
    """

    model_config = ConfigDict(frozen=True)

    correct: bool
    reward: float
    reason: str = ""
