"""String-level clean-up of answers and the exact fast path for plain numbers.

Most answers in practice are numbers (``42``, ``-3/4``, ``\\frac{1}{2}``, ``0.25``, ``50\\%``).
Comparing those needs no SymPy at all: exact rational arithmetic on a bounded-size string is
microseconds, cannot blow up, and is the main reason this verifier is faster than Math-Verify.
Everything else goes to the budgeted SymPy worker (:mod:`soarkit_math.budget`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

#: Longest answer (after extraction) the verifier looks at; longer is "invalid".
MAX_ANSWER_CHARS = 400
#: Deepest bracket nesting accepted before parsing (deeper is "invalid": ANTLR recursion).
MAX_NESTING = 24
#: Digits allowed in one literal, and the largest decimal exponent in ``1e400``.
MAX_DIGITS = 400

_SPACING = re.compile(
    r"(?<!\\)\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big|displaystyle|textstyle|!|,|;|:| |quad|qquad)"
    r"(?![a-zA-Z])"
)
_UNITS = (
    "cm|mm|km|m|kg|mg|g|s|sec|second|seconds|min|minute|minutes|h|hr|hrs|hour|hours|day|days|"
    "week|weeks|month|months|year|years|dollar|dollars|cent|cents|degree|degrees|unit|units|"
    "inch|inches|in|foot|feet|ft|mile|miles|mph|meter|meters|metre|metres|sq|square|cubic|"
    "liter|liters|l|ml|point|points|people|students|apples|ways|times|percent|percentage|pct"
)
_TEXT_UNIT = re.compile(
    r"\\(?:text|textrm|mathrm|mbox|textbf|mathbf)\{\s*(?:" + _UNITS + r")"
    r"(?:\s*\^?\{?\d\}?)?\s*\}(?:\^\{?\d\}?)?"
)
_PLAIN_UNIT = re.compile(r"(?<=[\d}])\s*(?:" + _UNITS + r")(?:\^?\d)?\.?$")
_QUAD = re.compile(r"\\q?quad")  # also when glued to a letter: "\\quadx_2" is "\\quad x_2"
_ESCAPED_COMMAND = re.compile(r"(?<!\\)\\\\(?=[a-zA-Z])")  # "\\\\le": a doubled backslash
_THIN_COMMA = re.compile(r",\s*\\!\s*")  # 11,\! 111 is 11,111 (a thousands group)
#: ``1000,99``, ``1,22``, ``0,111``: one comma, at least two digits after it, and not a
#: thousands group (``1,234``). A single digit after it (``0,3``, ``-2,1``) is a list.
_DECIMAL_COMMA = re.compile(r"^(-?)(0|\d{4,}|\d+(?=,\d\d$)),(\d{2,})$")
_LIST_WORD = re.compile(
    r"\s*,?\s*\\text\{\s*(?:and|or)\s*\}\s*"
    r"|(?<=[\d)\]}])\s*,?\s*(?:and|or)(?=\s|[-+\d(\[{\\A-Z])\s*"
)
_TEXT_WRAP = re.compile(r"^\\(?:text|textrm|mathrm|mbox|textbf|mathbf)\{([^{}]*)\}$")
_DEGREES = re.compile(r"\^\s*\{?\\circ\}?|°|\\degree")
_DFRAC = re.compile(r"\\[dtc]frac(?![a-zA-Z])")

_INT = r"\d+"
_DEC = r"(?:\d+\.\d*|\.\d+)"
_NUM = re.compile(
    r"^([+-]?)(\d+|\d{1,3}(?:,\d{3})+(?:\.\d*)?|\d+\.\d*|\.\d+)(?:[eE]([+-]?\d{1,4}))?$"
)
_TIMES_TEN = re.compile(r"^(.+?)\s*\\times\s*10\^\{?([+-]?\d{1,4})\}?$")
_FRAC = re.compile(
    r"^([+-]?)\\frac(?:\{\s*([+-]?(?:" + _DEC + "|" + _INT + r"))\s*\}|(\d))"
    r"(?:\{\s*([+-]?(?:" + _DEC + "|" + _INT + r"))\s*\}|(\d))$"
)
_SLASH = re.compile(r"^([+-]?)\(?\s*(\d+)\s*\)?\s*/\s*\(?\s*(\d+)\s*\)?$")
_REPEATING = re.compile(r"^([+-]?)(\d*)\.(\d*)\\overline\{(\d{1,20})\}$")
_MIXED = re.compile(r"^([+-]?)(\d+)\s*\\frac\{(\d+)\}\{(\d+)\}$")


def strip_math(s: str) -> str:
    """Remove what never changes an answer's value: delimiters, spacing, units, degrees; and
    rewrite the separators Math-Verify's suite reads as such (see docs/math.md): a decimal comma
    (``1000,99``), ``,\\!`` inside a number, "and"/"or" and ``;`` between answers."""
    s = s.strip()
    for a, b in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if s.startswith(a) and s.endswith(b) and len(s) >= len(a) + len(b):
            s = s[len(a) : len(s) - len(b)].strip()
    if "\\begin" not in s:  # a matrix's row break may be followed by a letter; elsewhere not
        s = _ESCAPED_COMMAND.sub(r"\\", s)
    s = s.replace("\\$", "").replace("$", "")
    s = _THIN_COMMA.sub(",", s)
    s = s.replace("\\!", "")  # a negative thin space: 10,\!000 is 10,000
    s = _QUAD.sub(" ", s)
    s = _SPACING.sub(" ", s)
    s = _DFRAC.sub(r"\\frac", s)
    s = _DEGREES.sub("", s)
    s = _TEXT_UNIT.sub("", s)
    s = s.replace("{,}", ",").replace("\\%", "%")
    s = " ".join(s.split())
    while s.startswith("{") and s.endswith("}") and _outer_group(s):
        s = s[1:-1].strip()  # \boxed{{42}}
    m = _TEXT_WRAP.match(s)
    if m:
        s = m.group(1).strip()
    s = _PLAIN_UNIT.sub("", s).strip()
    s = _LIST_WORD.sub(", ", s)
    s = _semicolons(s)
    m = _DECIMAL_COMMA.match(s)
    if m:  # not a thousands group and not a pair of small numbers (-2,1): a decimal comma
        s = f"{m.group(1)}{m.group(2)}.{m.group(3)}"
    # a sentence's full stop, a trailing "\\" line break; "3." is the number 3 anyway
    return s.rstrip(" .\\")


def has_degrees(s: str) -> bool:
    """Does the answer carry a degree mark (``30^\\circ``, ``30°``)?"""
    return _DEGREES.search(s) is not None


def _semicolons(s: str) -> str:
    """``;`` separates answers at the top level (``-12;-11``; ``p=5,q=2;p=7,q=2`` is two
    solutions) and coordinates inside brackets (``(0;-2;6)``)."""
    if ";" not in s:
        return s
    parts, depth, start, inner = [], 0, 0, []
    for i, c in enumerate(s):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == ";":
            if depth == 0:
                parts.append(s[start:i])
                start = i + 1
            else:
                inner.append(i)
    chars = list(s)
    for i in inner:
        chars[i] = ","
    s = "".join(chars)
    if not parts:
        return s
    parts.append(s[start:])
    out = []
    for part in (x.strip() for x in parts):
        top_comma = _depth_zero(part, ",")
        out.append(f"({part})" if top_comma else part)
    return ", ".join(out)


def _depth_zero(s: str, char: str) -> bool:
    depth = 0
    for c in s:
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == char and depth == 0:
            return True
    return False


def _outer_group(s: str) -> bool:
    """Is ``s`` a single ``{...}`` group (so that its outer braces can go)?"""
    depth = 0
    for i, c in enumerate(s):
        escaped = i > 0 and s[i - 1] == "\\"
        if c == "{" and not escaped:
            depth += 1
        elif c == "}" and not escaped:
            depth -= 1
            if depth == 0 and i != len(s) - 1:
                return False
    return depth == 0


def nesting_depth(s: str) -> int:
    """Deepest bracket nesting of ``s`` (any of ``({[``), counted without parsing."""
    depth = best = 0
    for c in s:
        if c in "({[":
            depth += 1
            if depth > best:
                best = depth
        elif c in ")}]":
            depth -= 1
    return best


@dataclass(frozen=True)
class Num:
    """A plain number read exactly. ``decimals`` is None for exact forms (ints, fractions)."""

    value: Fraction
    decimals: int | None
    percent: bool


def _read_decimal(sign: str, digits: str, exp: str | None) -> Num | None:
    digits = digits.replace(",", "")
    if len(digits) > MAX_DIGITS:
        return None
    e = int(exp) if exp else 0
    if abs(e) > MAX_DIGITS:
        return None
    value = Fraction(digits) * (Fraction(10) ** e)
    if sign == "-":
        value = -value
    decimals = None
    if "." in digits or e < 0:
        decimals = max(0, (len(digits.split(".")[1]) if "." in digits else 0) - e)
    return Num(value, decimals, False)


_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"
).split()
NUMBER_WORDS = {w: i for i, w in enumerate(_WORDS)}


def read_number(s: str) -> Num | None:
    """``s`` (already :func:`strip_math`-ed) as an exact number, or None if it is not one."""
    word = NUMBER_WORDS.get(s.strip().lower())
    if word is not None:  # small models write "five" for 5
        return Num(Fraction(word), None, False)
    if re.search(r",\s", s):
        return None  # "32, 349" is a list of two numbers; "32,349" and "32,\\!349" are one
    s = s.replace(" ", "")
    if not s or len(s) > MAX_DIGITS + 20:
        return None
    percent = s.endswith("%")
    if percent:
        s = s[:-1]
    num = _read(s)
    if num is None:
        return None
    if percent:
        return Num(num.value / 100, None if num.decimals is None else num.decimals + 2, True)
    return num


def _read(s: str) -> Num | None:
    m = _NUM.match(s)
    if m:
        return _read_decimal(m.group(1), m.group(2), m.group(3))
    m = _TIMES_TEN.match(s)
    if m:
        base = _read(m.group(1))
        if base is None:
            return None
        e = int(m.group(2))
        shown = (base.decimals or 0) - e  # 3.6 \times 10^{7} is exact: no places left
        dec = None if shown <= 0 else shown
        return Num(base.value * Fraction(10) ** e, dec, False)
    m = _FRAC.match(s)
    if m:
        top = _read(m.group(2) or m.group(3))
        bot = _read(m.group(4) or m.group(5))
        if top is None or bot is None or bot.value == 0:
            return None
        v = top.value / bot.value
        exact = top.decimals is None and bot.decimals is None
        return Num(-v if m.group(1) == "-" else v, None if exact else 12, False)
    m = _SLASH.match(s)
    if m:
        if len(m.group(2)) > MAX_DIGITS or len(m.group(3)) > MAX_DIGITS or int(m.group(3)) == 0:
            return None
        v = Fraction(int(m.group(2)), int(m.group(3)))
        return Num(-v if m.group(1) == "-" else v, None, False)
    m = _REPEATING.match(s)
    if m and len(m.group(2)) + len(m.group(3)) <= MAX_DIGITS:
        sign, whole, fixed, rep = m.groups()
        v = Fraction(int(whole or "0")) + Fraction(int(fixed or "0"), 10 ** len(fixed))
        v += Fraction(int(rep), (10 ** len(rep) - 1) * 10 ** len(fixed))  # 0.1(6) = 1/10 + 6/90
        return Num(-v if sign == "-" else v, None, False)
    m = _MIXED.match(s)
    if m:
        if int(m.group(4)) == 0 or max(len(g) for g in m.groups()[1:]) > MAX_DIGITS:
            return None
        v = int(m.group(2)) + Fraction(int(m.group(3)), int(m.group(4)))
        return Num(-v if m.group(1) == "-" else v, None, False)
    return None


def _sig_digits(value: Fraction, decimals: int) -> int:
    """Significant digits a decimal with ``decimals`` places shows for ``value``."""
    if value == 0:
        return decimals
    mag = len(str(abs(value.numerator) // max(1, abs(value.denominator))))
    # 12.5 shows 2 + 1 digits; 0.0125 shows 4 places of which 1 is a leading zero
    lead = mag if abs(value) >= 1 else -_leading_zeros(abs(value))
    return lead + decimals


def _leading_zeros(v: Fraction) -> int:
    n = 0
    while v < Fraction(1, 10) and n < MAX_DIGITS:
        v *= 10
        n += 1
    return n


def numbers_match(
    gold: Fraction, gold_dec: int | None, pred: Fraction, pred_dec: int | None
) -> bool:
    """Equality of two numbers with the tolerance decimals deserve.

    Exact forms compare exactly, and an exact-form *prediction* is never rounded: ``3.85`` as
    the gold does not accept ``\\frac{27}{7}``. A decimal prediction matches when it is within
    a relative 1e-9, or when it is the other value rounded to the places it shows and shows at
    least 3 significant digits (``0.333`` for 1/3; ``0.67`` does not count for 2/3), or when a
    decimal gold is its rounding (``3.14`` accepts ``3.14159``).
    """
    if pred_dec is None:
        return gold == pred
    if abs(gold - pred) <= Fraction(1, 10**9) * max(1, abs(gold)):
        return True
    for approx, dec, other in ((pred, pred_dec, gold), (gold, gold_dec, pred)):
        if dec is None or dec > 30:
            continue
        if _sig_digits(approx, dec) >= 3 and abs(other - approx) < Fraction(1, 2 * 10**dec):
            return True
    return False


def alternatives(n: Num) -> list[tuple[Fraction, int | None]]:
    """Values a number may stand for: ``50%`` is 0.5 but also "50" (percent as a unit)."""
    out = [(n.value, n.decimals)]
    if n.percent:
        out.append((n.value * 100, None if n.decimals is None else max(0, n.decimals - 2)))
    return out


def numbers_equal(gold: Num, pred: Num) -> bool:
    """Gold vs predicted number, percentages read either way."""
    return any(
        numbers_match(g, gd, p, pd) for g, gd in alternatives(gold) for p, pd in alternatives(pred)
    )
