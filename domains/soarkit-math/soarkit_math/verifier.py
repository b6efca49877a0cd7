"""Is a predicted answer the same as the gold one? Fast exact path first, SymPy under budget.

Order of work, cheapest first:

1. size/shape guards on the raw string (length, bracket depth): hostile input stops here;
2. string equality after :func:`~soarkit_math.normalize.strip_math` (delimiters, spacing,
   units, degrees removed);
3. plain numbers on both sides (ints, decimals, fractions, percentages, ``\\frac``) compared
   with exact rational arithmetic -- no SymPy;
4. everything else (expressions, equations, sets, tuples, intervals, matrices) in a killable
   SymPy helper process with a deadline (:mod:`soarkit_math.budget`).

The comparison is gold-first (asymmetric, as in Math-Verify): the gold answer's kind decides
which rule applies, e.g. a gold ``x = 3`` accepts ``3`` but a gold ``3`` does not accept
``x = 4 - 1 = 3`` unless the prediction's last value is 3.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from soarkit_math.budget import HelperPool, default_pool
from soarkit_math.extract import answer_text
from soarkit_math.normalize import (
    MAX_ANSWER_CHARS,
    MAX_NESTING,
    has_degrees,
    nesting_depth,
    numbers_equal,
    read_number,
    strip_math,
)

Status = Literal["equal", "different", "invalid", "timeout"]

#: Default seconds one SymPy comparison may take before it is "timeout".
DEFAULT_TIMEOUT_S = 3.0

_CHOICE = re.compile(r"^\(?([A-E])\)$|^([A-E])$|^\\text\{\(?([A-E])\)?\}$")
_WORD = re.compile(r"^[A-Za-z][A-Za-z ]{1,40}$")
_DECIMALS = re.compile(r"\d\.(\d+)")


@dataclass(frozen=True)
class Check:
    """Outcome of one comparison. ``detail`` says why for anything but "equal"."""

    status: Status
    detail: str = ""

    @property
    def equal(self) -> bool:
        return self.status == "equal"


def _choice(s: str) -> str | None:
    m = _CHOICE.match(s)
    return next((g for g in m.groups() if g), None) if m else None


def _radians(s: str) -> str:
    """An answer in degrees as the same angle in radians (``30^\\circ`` -> ``(30)\\pi/180``)."""
    return "\\frac{(" + strip_math(s) + ")\\pi}{180}"


def _pred_decimals(s: str) -> int | None:
    found = _DECIMALS.findall(s)
    return max(len(d) for d in found) if found else None


class Verifier:
    """Compares answers; safe to share between threads (the helper pool is)."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT_S, pool: HelperPool | None = None):
        self.timeout = timeout
        self._pool = pool
        # bounded: keys are at most 2 x 1,600 characters, so at most ~25 MB
        self._cached = lru_cache(maxsize=8192)(self._compare)

    @property
    def pool(self) -> HelperPool:
        return self._pool if self._pool is not None else default_pool()

    def compare(self, gold: str, pred: str) -> Check:
        """Gold-first equivalence of two answer strings (never raises)."""
        if len(pred) > 4 * MAX_ANSWER_CHARS or len(gold) > 4 * MAX_ANSWER_CHARS:
            return Check("invalid", "too long")  # before hashing a 1 MB key into the cache
        return self._cached(gold, pred)

    def _compare(self, gold: str, pred: str) -> Check:
        gold, pred = answer_text(gold), answer_text(pred)
        check = self._compare_once(gold, pred)
        if check.status == "different" and has_degrees(gold) and not has_degrees(pred):
            # a gold 30^\circ is the number 30 (Math-Verify's reading, tried first) and also
            # the angle pi/6. Gold-first: a gold pi/6 is a number, and a predicted 30^\circ is
            # read as Math-Verify reads it, 30.
            again = self._compare_once(_radians(gold), pred)
            if again.equal:
                return again
        return check

    def _compare_once(self, gold: str, pred: str) -> Check:
        g, p = strip_math(gold), strip_math(pred)
        if not p:
            return Check("invalid", "empty")
        if len(p) > MAX_ANSWER_CHARS:
            return Check("invalid", "too long")
        if nesting_depth(p) > MAX_NESTING:
            return Check("invalid", "nested too deeply")
        if g == p or g.replace(" ", "") == p.replace(" ", ""):
            return Check("equal")
        gc = _choice(g)
        if gc is not None:
            pc = _choice(p)
            return Check("equal" if pc == gc else "different", "" if pc else "not a choice")
        if _WORD.match(g) and " " in g.strip():
            same = g.lower().split() == p.lower().split()
            return Check("equal" if same else "different")
        gn = read_number(g)
        pn = read_number(p)
        if gn is not None and pn is not None:
            return Check("equal" if numbers_equal(gn, pn) else "different")
        answer = self.pool.call(
            {"op": "compare", "gold": gold, "pred": pred, "decimals": _pred_decimals(p)},
            self.timeout,
        )
        if answer is None:
            return Check("timeout", f"over {self.timeout:g}s")
        return Check(answer["status"], answer.get("detail", ""))

    def parseable(self, answer: str) -> Check:
        """Can this (teacher) answer be used as a reference? ``equal`` means yes."""
        if len(answer) > 4 * MAX_ANSWER_CHARS:
            return Check("invalid", "too long")
        s = strip_math(answer)
        if not s:
            return Check("invalid", "empty")
        if len(s) > MAX_ANSWER_CHARS:
            return Check("invalid", "too long")
        if nesting_depth(s) > MAX_NESTING:
            return Check("invalid", "nested too deeply")
        if read_number(s) is not None or _choice(s) is not None:
            return Check("equal")
        answer_ = self.pool.call({"op": "parseable", "text": answer}, self.timeout)
        if answer_ is None:
            return Check("timeout", f"over {self.timeout:g}s")
        if answer_["status"] == "ok":
            return Check("equal")
        return Check("invalid", answer_.get("detail", ""))


_default: Verifier | None = None


def default_verifier() -> Verifier:
    """A process-wide verifier with the default timeout (a cache, like the helper pool)."""
    global _default
    if _default is None:
        _default = Verifier()
    return _default


def is_equivalent(gold: str, pred: str) -> bool:
    """Convenience: ``True`` iff ``pred`` is the same answer as ``gold``."""
    return default_verifier().compare(gold, pred).equal
