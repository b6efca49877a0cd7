"""SymPy side of the verifier: parse LaTeX with a real parser, guard, then compare.

This module runs inside the budgeted worker process (:mod:`soarkit_math.budget`), which is what
bounds its time and memory. It still refuses obviously explosive input itself (a size estimate
of every number before anything is evaluated) so that hostile text costs a cheap refusal
instead of a killed and respawned worker.

Model text is never ``eval``-ed: parsing goes through ``latex2sympy2_extended``'s ANTLR grammar,
which builds SymPy objects node by node (``evaluate=False``) and has no path to Python code.
"""

from __future__ import annotations

import math
import random
import re
import zlib
from functools import lru_cache
from typing import Any

import sympy
from latex2sympy2_extended import latex2sympy
from latex2sympy2_extended.math_normalization import NormalizationConfig, normalize_latex
from sympy.core.function import AppliedUndef

try:  # two-stage ANTLR parsing needs the converter class (private in latex2sympy2_extended)
    from antlr4.atn.PredictionMode import PredictionMode
    from latex2sympy2_extended.latex2sympy2 import ConversionConfig, _Latex2Sympy
except ImportError:  # pragma: no cover - a different latex2sympy2_extended layout
    _Latex2Sympy = None

from soarkit_math.normalize import MAX_ANSWER_CHARS, MAX_NESTING, nesting_depth, strip_math

#: Most nodes a parsed answer may have.
MAX_NODES = 600
#: Largest number of decimal digits any sub-expression may evaluate to.
MAX_RESULT_DIGITS = 5000

_NORMALIZATION = NormalizationConfig(
    basic_latex=True,
    units=True,
    malformed_operators=False,
    nits=True,
    boxed="all",
    equations=False,
)


class Refused(Exception):
    """The answer is unusable (unparseable, too big); the message is the short reason."""


# -- plain text -> LaTeX ---------------------------------------------------------------------------
_FUNC_PAREN = re.compile(r"(?<![\\a-zA-Z])(sqrt|sin|cos|tan|ln|log|exp)\s*\(")
_PI = re.compile(r"(?<![\\a-zA-Z])pi(?![a-zA-Z])")
_INF = re.compile(r"(?<![\\a-zA-Z])(?:infinity|inf|oo)(?![a-zA-Z])")
_TEX_ONE_TOKEN = re.compile(r"\\(sqrt|frac)\s*([0-9a-zA-Z])(?:\s*([0-9a-zA-Z]))?")
_SCI = re.compile(r"(\d(?:\.\d*)?)[eE]([+-]?\d+)(?![a-zA-Z])")


def _paren_to_brace(s: str, start: int) -> tuple[str, int] | None:
    """The balanced ``(...)`` starting at ``start`` (an index of ``(``) and the end index."""
    depth = 0
    for i in range(start, len(s)):
        if s[i] == "(":
            depth += 1
        elif s[i] == ")":
            depth -= 1
            if depth == 0:
                return s[start + 1 : i], i + 1
    return None


def _brace_tokens(m: re.Match[str]) -> str:
    """TeX's brace-less arguments: ``\\sqrt 2`` is ``\\sqrt{2}``, ``\\frac34`` is 3/4."""
    name, first, second = m.groups()
    if name == "sqrt":
        return "\\sqrt{" + first + "}" + (second or "")
    if second is None:
        return m.group(0)
    return "\\frac{" + first + "}{" + second + "}"


def plain_to_latex(s: str) -> str:
    """Rewrite the plain-text habits of models (``sqrt(2)``, ``x**2``, ``pi``) as LaTeX."""
    s = s.replace("**", "^")
    s = _PI.sub(r"\\pi ", s)
    s = _INF.sub(r"\\infty ", s)
    s = _SCI.sub(r"\1\\times 10^{\2}", s)
    s = _TEX_ONE_TOKEN.sub(_brace_tokens, s)
    out = []
    i = 0
    while True:
        m = _FUNC_PAREN.search(s, i)
        if m is None:
            out.append(s[i:])
            break
        inner = _paren_to_brace(s, m.end() - 1)
        if inner is None:
            out.append(s[i:])
            break
        body, end = inner
        name = m.group(1)
        out.append(s[i : m.start()])
        if name == "sqrt":
            out.append("\\sqrt{" + plain_to_latex(body) + "}")
        else:
            out.append("\\" + name + "{(" + plain_to_latex(body) + ")}")
        i = end
    return "".join(out)


# -- parsing ------------------------------------------------------------------------------------
if _Latex2Sympy is not None:

    class _SLLConverter(_Latex2Sympy):
        """latex2sympy's converter with ANTLR's SLL prediction mode.

        ANTLR's default (full LL) prediction is what makes parsing slow (~60 ms for
        ``(3, -4)`` on a busy core); SLL is 5x faster. SLL can reject input that LL accepts
        but never accepts it with another tree, so the standard two-stage scheme -- SLL first,
        full LL only when SLL reports a syntax error -- gives LL's result at SLL's speed. The
        benchmark corpus (1,389 distinct strings) parses identically both ways.
        """

        def create_parser(self, latex_str: str) -> Any:
            parser = super().create_parser(latex_str)
            parser._interp.predictionMode = PredictionMode.SLL
            return parser


def _latex_to_sympy(s: str) -> Any:
    if _Latex2Sympy is None:  # pragma: no cover
        return latex2sympy(s, normalization_config=_NORMALIZATION)
    s = normalize_latex(s, _NORMALIZATION)
    try:
        return _SLLConverter(config=ConversionConfig()).parse(s)
    except RecursionError:
        raise
    except Exception:  # SLL's syntax errors may be false alarms: ask full LL
        return _Latex2Sympy(config=ConversionConfig()).parse(s)


@lru_cache(maxsize=4096)
def parse(text: str) -> Any:
    """``text`` (an answer, LaTeX or plain) as a SymPy object, or :class:`Refused`.

    Cached because the gold side of a problem is parsed once per completion.
    """
    s = strip_math(text)
    if not s:
        raise Refused("empty")
    if len(s) > MAX_ANSWER_CHARS:
        raise Refused("too long")
    if nesting_depth(s) > MAX_NESTING:
        raise Refused("nested too deeply")
    s = plain_to_latex(s)
    elements = _split_top(s, _is_comma)
    if len(elements) > 1 and any(len(_split_top(e, _is_bare_eq)) > 1 for e in elements):
        return _answer_list([parse(e) for e in elements])
    s = _chain(s)
    if s.count("\\pm") == 1 and s.count("\\mp") == 0:
        # "\frac{3 \pm \sqrt{5}}{2}" is the set of its two values (quadratic roots)
        plus, minus = parse(s.replace("\\pm", "+")), parse(s.replace("\\pm", "-"))
        return sympy.FiniteSet(plus, minus, evaluate=False)
    try:
        expr = _latex_to_sympy(s)
    except RecursionError as exc:
        raise Refused("nested too deeply") from exc
    except Exception as exc:
        raise Refused("unparseable") from exc
    if expr is None:
        raise Refused("unparseable")
    if isinstance(expr, list | tuple):
        expr = sympy.Tuple(*expr) if len(expr) != 1 else expr[0]
    check_size(expr)
    return expr


def _is_comma(s: str, i: int) -> bool:
    return s[i] == ","


def _is_bare_eq(s: str, i: int) -> bool:
    """An ``=`` that is not part of ``<=``, ``>=``, ``!=``, ``==``, ``:=``."""
    return (
        s[i] == "="
        and (i == 0 or s[i - 1] not in "<>!=:\\")
        and (i + 1 == len(s) or s[i + 1] != "=")
    )


def _split_top(s: str, at: Any) -> list[str]:
    """``s`` split where ``at(s, i)`` holds outside every bracket."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(s):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0 and at(s, i):
            parts.append(s[start:i])
            start = i + 1
    parts.append(s[start:])
    return [p.strip() for p in parts]


_APPROX = re.compile(r"\\approx(?![a-zA-Z])")


def _chain(s: str) -> str:
    """An equation chain ``x = 5+5+1 = 11`` is its first and last member (``x = 11``), or the
    last member alone when the first is not a name (``1 = a = 0`` answers 0). ``\\approx``
    ends the exact part: ``x = 1/3 \\approx 0.33`` is ``x = 1/3``, ``x \\approx 11`` is ``x = 11``.
    """
    parts = _APPROX.split(s, maxsplit=1)
    if len(parts) == 2 and parts[0].strip():
        head, tail = parts[0].strip(), parts[1].strip()
        if len(_split_top(head, _is_bare_eq)) == 1 and _names_text(head):
            s = f"{head} = {tail}"
        else:
            s = head
    members = _split_top(s, _is_bare_eq)
    if len(members) < 3 or not all(members):
        return s
    first, last = members[0], members[-1]
    return f"{first} = {last}" if _names_text(first) else last


def _names_text(s: str) -> bool:
    try:
        return _is_named(parse(s))
    except Refused:
        return False


def _is_named(e: Any) -> bool:
    """Is ``e`` a name for a quantity rather than an expression of it: a symbol (``x``,
    ``a_3``), a function value (``f(x)``), a product or ratio of names (``AB``,
    ``\\frac{NO}{BO}``, ``V_1:V_2``), ``|AB|``, or a tuple of names (``(p, q)``)? ``2x``,
    ``a + 3z`` and ``x^2`` are not: ``a + 3z = 0`` is an equation, not an assignment."""
    if isinstance(e, sympy.Symbol | AppliedUndef):
        return True
    if isinstance(e, sympy.Tuple | tuple | list):
        return len(e) > 0 and all(_is_named(a) for a in e)
    if isinstance(e, sympy.Interval):  # "(p, q)" read as an interval of two symbols
        return _is_named(e.start) and _is_named(e.end)
    if isinstance(e, sympy.Abs):
        return _is_named(e.args[0])
    if isinstance(e, sympy.Mul):
        return all(_is_named(a) for a in e.args)
    if isinstance(e, sympy.Pow):
        return e.exp == -1 and _is_named(e.base)
    return False


def _answer_list(items: list[Any]) -> Any:
    """Several answers written with commas, some of them equations.

    ``n = 1, 2, 3`` and ``a=4, -8, -10`` name one quantity's values; so does ``p = -1, p = 2``
    (several assignments to one name): each is the set of the values. Otherwise the set of the
    items (``k = 45, n = 2``; ``(x, y) = (5, 8), (8, 5)``)."""
    first = items[0]
    if _is_assignment(first) and not any(isinstance(i, sympy.Eq) for i in items[1:]):
        return sympy.FiniteSet(first.rhs, *items[1:], evaluate=False)
    if all(_is_assignment(i) for i in items) and len({i.lhs for i in items}) == 1:
        return sympy.FiniteSet(*(i.rhs for i in items), evaluate=False)
    return sympy.FiniteSet(*items, evaluate=False)


def _count_nodes(expr: Any) -> int:
    n = 0
    for _ in sympy.preorder_traversal(expr):
        n += 1
        if n > MAX_NODES:
            raise Refused("too large")
    return n


def _digits(expr: Any, depth: int = 0) -> float:
    """Upper bound on the decimal digits of ``expr`` once evaluated, computed without
    evaluating it: ``9^{9^{9^9}}`` or ``10!!!!`` is refused before SymPy tries to build it."""
    if depth > 60:
        raise Refused("nested too deeply")
    if isinstance(expr, sympy.Integer):
        return max(1, len(str(abs(int(expr)))))
    if isinstance(expr, sympy.Rational):
        return len(str(abs(expr.p))) + len(str(expr.q))
    if isinstance(expr, sympy.Pow):
        base = _digits(expr.base, depth + 1)
        if isinstance(expr.exp, sympy.Rational):
            # the exponent's own value, not a bound on it: 2^{1000} is 302 digits
            if abs(expr.exp) > 10**7:
                return (
                    1 if expr.base in (sympy.S.One, sympy.S.NegativeOne, sympy.S.Zero) else math.inf
                )
            return max(base, 1) * float(abs(expr.exp)) + 1
        exp = _digits(expr.exp, depth + 1)
        if exp <= 15 and expr.exp.is_number:
            # a small numeric exponent (2^{2^{10}}, 10^{(\sqrt{13}-5)/6}): its value, cheaply
            try:
                size = abs(complex(sympy.N(expr.exp, 15)))
            except (TypeError, ValueError):
                size = math.inf
            if size <= 10**7:
                return max(base, 1) * size + 1
        if exp > 6:
            if expr.base in (sympy.S.One, sympy.S.NegativeOne, sympy.S.Zero):
                return 1
            return math.inf
        return max(base, 1) * (10**exp) + 1
    if isinstance(expr, sympy.factorial | sympy.factorial2 | sympy.gamma | sympy.subfactorial):
        arg = _digits(expr.args[0], depth + 1)
        if arg > 5:
            return math.inf
        n = 10**arg
        return n * math.log10(max(n, 2)) + 1
    if isinstance(expr, sympy.exp):
        arg = _digits(expr.args[0], depth + 1)
        # e^a has about 0.43*|a| digits; a bound on |a| is 10^digits(a)
        return math.inf if arg > 6 else 0.5 * 10**arg + 1
    if isinstance(expr, sympy.binomial):
        top = _digits(expr.args[0], depth + 1)
        return math.inf if top > 7 else 0.31 * 10**top + 1  # C(n, k) < 2^n
    if isinstance(expr, sympy.Product | sympy.Sum):
        # sum/product over a range: refuse ranges too long to evaluate term by term
        for limit in expr.limits:
            for bound in limit[1:]:
                if _digits(bound, depth + 1) > 4:
                    return math.inf
        body = _digits(expr.function, depth + 1)
        return body * 10**4 if isinstance(expr, sympy.Product) else body + 4
    if isinstance(expr, sympy.Mul):
        return sum(_digits(a, depth + 1) for a in expr.args) + 1
    if not expr.args:
        return 1
    return max(_digits(a, depth + 1) for a in expr.args) + len(expr.args)


def check_size(expr: Any) -> None:
    """Refuse an expression whose tree or numbers are too large to evaluate safely."""
    if isinstance(expr, sympy.MatrixBase):
        if expr.rows * expr.cols > 100:
            raise Refused("too large")
        for e in expr:
            check_size(e)
        return
    if not isinstance(expr, sympy.Basic):
        raise Refused("unparseable")
    _count_nodes(expr)
    if _digits(expr) > MAX_RESULT_DIGITS:
        raise Refused("number too large")


# -- comparison ---------------------------------------------------------------------------------
def _is_assignment(e: Any) -> bool:
    return isinstance(e, sympy.Eq) and _is_named(e.lhs)


def _unwrap(gold: Any, pred: Any) -> tuple[Any, Any]:
    """``x = 3`` vs ``3``: compare the values (gold-first: the gold's form decides).
    ``x \\in S`` (read as ``x = S``) is the set ``S`` on either side."""
    if _is_assignment(gold) and isinstance(gold.rhs, sympy.Set):
        gold = gold.rhs
    if _is_assignment(pred) and isinstance(pred.rhs, sympy.Set):
        pred = pred.rhs
    if _is_assignment(pred) and not isinstance(gold, sympy.Eq | sympy.And):
        pred = pred.rhs
    if _is_assignment(gold) and not isinstance(pred, sympy.Eq | sympy.And):
        gold = gold.rhs
    return gold, pred


def _as_sequence(e: Any) -> tuple[str, list[Any]] | None:
    if isinstance(e, sympy.FiniteSet):
        return "set", list(e.args)
    if isinstance(e, sympy.Tuple | list | tuple):
        return "tuple", list(e)
    if isinstance(e, sympy.Interval) and e.left_open and e.right_open and e.start.is_finite:
        return "open-interval", [e.start, e.end]
    return None


def equivalent(gold: Any, pred: Any, pred_decimals: int | None) -> bool:
    """Is ``pred`` the same answer as ``gold``? Gold-first: the gold's kind picks the rule."""
    gold, pred = _unwrap(gold, pred)
    if _undefined(gold) or _undefined(pred):
        return False  # 12:00 vs 1:00 are not both "zoo": an undefined value equals nothing
    if gold == pred or _canonical(gold) == _canonical(pred):
        return True
    if isinstance(gold, sympy.MatrixBase) or isinstance(pred, sympy.MatrixBase):
        if not (isinstance(gold, sympy.MatrixBase) and isinstance(pred, sympy.MatrixBase)):
            return False
        if gold.shape != pred.shape:
            return False
        return all(equivalent(a, b, pred_decimals) for a, b in zip(gold, pred, strict=True))
    gs, ps = _as_sequence(gold), _as_sequence(pred)
    if gs is not None:
        if ps is None:
            return False
        gkind, gitems = gs
        _, pitems = ps
        if len(gitems) != len(pitems):
            return False
        if gkind == "set":
            return _match_unordered(gitems, pitems, pred_decimals)
        # A tuple (or "(1, 3)", read as an interval) is ordered and a set is not: a set matches
        # only in its canonical, ascending order -- (1, 3) accepts {1, 3} but (3, 1) does not,
        # as in Math-Verify's suite.
        return all(equivalent(a, b, pred_decimals) for a, b in zip(gitems, pitems, strict=True))
    if isinstance(gold, sympy.Interval):
        if not isinstance(pred, sympy.Interval):
            return False
        return (
            gold.left_open == pred.left_open
            and gold.right_open == pred.right_open
            and _expr_equal(gold.start, pred.start, pred_decimals)
            and _expr_equal(gold.end, pred.end, pred_decimals)
        )
    as_sets = _relation_vs_set(gold, pred)
    if as_sets is not None:
        return as_sets
    if isinstance(gold, sympy.Union | sympy.Intersection | sympy.Complement):
        if not isinstance(pred, sympy.Set):
            return False
        return bool(sympy.simplify(gold.symmetric_difference(pred)) == sympy.S.EmptySet)
    if isinstance(gold, sympy.And):
        if not isinstance(pred, sympy.And) or len(gold.args) != len(pred.args):
            return False
        return _match_unordered(list(gold.args), list(pred.args), pred_decimals)
    if isinstance(gold, sympy.Rel):
        return isinstance(pred, sympy.Rel) and _relation_equal(gold, pred)
    if isinstance(pred, sympy.Rel | sympy.Set | sympy.And):
        return False
    if not isinstance(gold, sympy.Expr) or not isinstance(pred, sympy.Expr):
        return False
    return _expr_equal(gold, pred, pred_decimals)


def _relation_vs_set(gold: Any, pred: Any) -> bool | None:
    """A gold ``1 < x < 3`` (or ``0 < f(x) < 1``, ``1 \\le |z| \\le 2``) against a set answer
    such as ``(1, 3)``: compare the solution set over the reals. Gold-first, as in
    Math-Verify: a gold *set* wants a set, so ``(1, 3)`` as gold does not accept ``1 < x < 3``."""
    if not isinstance(gold, sympy.Rel | sympy.And) or not isinstance(
        pred, sympy.Interval | sympy.Union
    ):
        return None
    if isinstance(gold, sympy.Eq):
        return None
    names = {a for a in gold.atoms(AppliedUndef)} or gold.free_symbols
    if len(names) != 1:
        return None
    t = sympy.Dummy("t", real=True)
    try:
        return bool(gold.xreplace({names.pop(): t}).as_set() == pred)
    except Exception:
        return None


def _canonical(e: Any) -> Any:
    """``e`` rebuilt bottom-up with SymPy's evaluation, which orders sums and products
    (``F_k F_{n-k-1}`` is ``F_{n-k-1} F_k``); structural equality after that is equality."""
    if not isinstance(e, sympy.Basic) or not e.args or isinstance(e, sympy.MatrixBase):
        return e
    try:
        return e.func(*(_canonical(a) for a in e.args))
    except Exception:
        return e


def _match_unordered(gold: list[Any], pred: list[Any], pred_decimals: int | None) -> bool:
    left = list(pred)
    for g in gold:
        for i, p in enumerate(left):
            if equivalent(g, p, pred_decimals):
                del left[i]
                break
        else:
            return False
    return True


_FLIP = {sympy.GreaterThan: sympy.LessThan, sympy.StrictGreaterThan: sympy.StrictLessThan}


def _relation_equal(gold: Any, pred: Any) -> bool:
    """Same relation up to sides and a constant factor (``2x = 4`` is ``x = 2``)."""

    def canon(r: Any) -> tuple[type, Any]:
        kind = type(r)
        if kind in _FLIP:
            return _FLIP[kind], r.rhs - r.lhs
        return kind, r.lhs - r.rhs

    gk, gd = canon(gold)
    pk, pd = canon(pred)
    if gk is not pk:
        return False
    gd, pd = _exact(gd), _exact(pd)
    if pd == 0:
        return gd == 0
    ratio = _constant_ratio(gd, pd)
    if ratio is None:
        return False
    if gk in (sympy.Eq, sympy.Ne):
        return bool(ratio != 0)
    return bool(ratio.is_positive)


def _constant_ratio(a: Any, b: Any) -> Any:
    """``a / b`` when it is a constant, else None ("unknown" counts as not constant).

    Exact for rational functions (the ratio at one integer point, then ``a - r b`` checked
    exactly at random points); otherwise the candidate ratio from a high-precision point and
    :func:`_same` on ``a`` and ``r b`` elsewhere."""
    symbols = sorted(a.free_symbols | b.free_symbols, key=str)
    if symbols and (a.has(*_SYMBOLIC_OPERATORS) or b.has(*_SYMBOLIC_OPERATORS)):
        return None  # sums/integrals over a symbol: not probed (see _expr_equal)
    if not symbols:
        r = (a / b).doit()
        return r if r.is_number and r.is_finite else None
    rng = _rng(a, b)
    if _rational_function(a, symbols) and _rational_function(b, symbols):
        for _ in range(6):
            point = _int_point(rng, symbols)
            va, vb = a.xreplace(point), b.xreplace(point)
            if va.is_Rational and vb.is_Rational and vb != 0:
                r = va / vb
                return r if _rational_zero(a - r * b, symbols, rng) else None
        return None
    for _ in range(8):
        point = _rational_point(rng, symbols)
        vb = _hp(b.xreplace(point), 40)
        if vb is None or abs(vb) < 1e-12:
            continue
        r = _hp((a / b).xreplace(point), _PRECISION)
        if r is None or abs(sympy.im(r)) > 0:
            return None
        r = sympy.re(r)
        return r if _same(a, r * b, symbols, rng) is True else None
    return None


# -- equality of values: exact first, then arbitrary precision, never float tolerance -----------
#: Significant digits of a high-precision evaluation, on top of the values' own magnitude.
_PRECISION = 60
#: A difference counts as zero only below 10^-ZERO_DIGITS, absolutely *and* relatively.
_ZERO_DIGITS = 30


def _rng(a: Any, b: Any) -> random.Random:
    return random.Random(zlib.crc32(f"{a}|{b}".encode()))


def _exact(e: Any) -> Any:
    """``e`` with every decimal literal as the exact rational it spells (``0.1`` is 1/10)."""
    floats = e.atoms(sympy.Float) if isinstance(e, sympy.Basic) else set()
    if not floats:
        return e
    return e.xreplace({f: sympy.Rational(str(f)) for f in floats})


def _decimal_literal(e: Any) -> bool:
    """Is ``e`` a decimal number as written (``2.828``, ``-0.5``), the only thing the rounding
    policy applies to? Exact forms (integers, fractions, surds, powers) never are."""
    if isinstance(e, sympy.Mul) and len(e.args) == 2 and e.args[0] == -1:
        e = e.args[1]
    return isinstance(e, sympy.Float)


def _rational_function(e: Any, symbols: list[Any]) -> bool:
    try:
        return bool(e.is_rational_function(*symbols)) and not e.atoms(sympy.Float)
    except Exception:
        return False


def _int_point(rng: random.Random, symbols: list[Any]) -> dict[Any, Any]:
    return {s: sympy.Integer(rng.randrange(2**40, 2**62)) for s in symbols}


def _rational_point(rng: random.Random, symbols: list[Any]) -> dict[Any, Any]:
    return {s: sympy.Rational(rng.randrange(1500, 19000), 10000) for s in symbols}


def _rational_zero(d: Any, symbols: list[Any], rng: random.Random) -> bool:
    """Is the rational function ``d`` identically zero? Exact arithmetic at random integer
    points: a non-zero numerator of degree n vanishes at a random point of [2^40, 2^62) with
    probability at most n / 2^61 (Schwartz-Zippel), so three points leave no practical doubt,
    and no rounding is involved at all."""
    seen = 0
    for _ in range(8):
        v = d.xreplace(_int_point(rng, symbols))
        if v is sympy.nan or v.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
            continue  # a pole
        if not v.is_Rational:
            v = v.doit()
            if not v.is_Rational:
                return False
        if v != 0:
            return False
        seen += 1
        if seen >= 3:
            return True
    return False


def _hp(e: Any, digits: int) -> Any:
    """``e`` evaluated to ``digits`` significant digits (mpmath under SymPy's evalf), or None."""
    try:
        v = sympy.N(e, digits)
    except Exception:
        return None
    if not v.is_number or v.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo):
        return None
    return v


def _magnitude(v: Any) -> int:
    """Decimal digits before the point of ``|v|`` (0 for |v| < 1)."""
    a = abs(v)
    if a < 1:
        return 0
    return int(sympy.floor(sympy.log(a, 10))) + 1


def _zero_difference(a: Any, b: Any) -> bool | None:
    """Are the numbers ``a`` and ``b`` equal? True only when ``a - b``, evaluated with 60 digits
    more than the values' own size, is below 10^-30 both absolutely and relative to the values:
    a difference any float could see (``10^{20}+1`` vs ``10^{20}``) is never zero here. None
    when they cannot be evaluated."""
    va, vb = _hp(a, 20), _hp(b, 20)
    if va is None or vb is None:
        return None
    size = max(abs(va), abs(vb))
    digits = _PRECISION + max(_magnitude(va), _magnitude(vb))
    if digits > 4 * MAX_RESULT_DIGITS:
        return None
    d = _hp(a - b, digits)
    if d is None:
        return None
    tol = sympy.Float(10, digits) ** -_ZERO_DIGITS * min(sympy.S.One, size)
    return bool(abs(d) <= tol)


def _same(a: Any, b: Any, symbols: list[Any], rng: random.Random) -> bool | None:
    """``a`` and ``b`` (not rational functions) agree at 4 random rational points by
    :func:`_zero_difference`; any clear difference is no; None if too few points evaluate."""
    agree = 0
    for _ in range(8):
        point = _rational_point(rng, symbols)
        z = _zero_difference(a.xreplace(point), b.xreplace(point))
        if z is None:
            continue
        if not z:
            return False
        agree += 1
        if agree >= 4:
            return True
    return None


def _rounded(gold: Any, pred: Any, pred_decimals: int | None) -> bool:
    """The rounding policy: a decimal-literal prediction with ``pred_decimals`` places matches a
    value it is the rounding of, when it shows >= 3 significant digits (or lies within a
    relative 1e-9 of it). Only ever called for a decimal literal."""
    if pred_decimals is None or pred_decimals > 30:
        return False
    p = sympy.Rational(str(pred))
    g = _hp(gold, _PRECISION + 10)
    if g is None or abs(sympy.im(g)) > 0:
        return False
    g = sympy.re(g)
    diff = abs(g - p)
    if diff <= sympy.Rational(1, 10**9) * max(sympy.S.One, abs(g)):
        return True
    sig = pred_decimals + (_magnitude(p) if abs(p) >= 1 else 0)
    return sig >= 3 and diff < sympy.Rational(1, 2 * 10**pred_decimals)


_OPERATORS = (sympy.Derivative,)
_SYMBOLIC_OPERATORS = (sympy.Sum, sympy.Product, sympy.Integral, sympy.Limit)


def _evaluated(e: Any) -> Any:
    """``\\frac{d}{dx} x^2`` as ``2x``: calculus operators are carried out (within the
    budget) before values are compared; one that SymPy cannot carry out stays as it is."""
    if not e.has(*_OPERATORS):
        return e
    try:
        return e.doit()
    except Exception:
        return e


def _undefined(e: Any) -> bool:
    return isinstance(e, sympy.Basic) and e.has(sympy.zoo, sympy.nan)


def _expr_equal(gold: Any, pred: Any, pred_decimals: int | None) -> bool:
    """Exact where decidable (rational numbers, rational functions), arbitrary precision
    otherwise, and "cannot tell" is "different"."""
    if _undefined(gold) or _undefined(pred):
        return False  # 12:00 vs 1:00 are not both "zoo"; an undefined value equals nothing
    if gold == pred:
        return True
    literal = _decimal_literal(pred) and pred_decimals is not None
    g, p = _exact(_evaluated(gold)), _exact(_evaluated(pred))
    symbols = sorted(g.free_symbols | p.free_symbols, key=str)
    if not symbols:
        d = (g - p).doit()
        if d.is_Rational:
            return d == 0 or (literal and _rounded(gold, pred, pred_decimals))
        z = _zero_difference(g, p)
        if z is None:
            z = bool(sympy.simplify(d) == 0)
        return z or (literal and _rounded(gold, pred, pred_decimals))
    rng = _rng(gold, pred)
    diff = g - p
    if diff.has(*_SYMBOLIC_OPERATORS):
        # a sum or integral whose bounds hold a symbol: numeric probing would run SymPy's
        # Euler-Maclaurin machinery for seconds, and symbolic summation longer. Only the
        # structural (canonical) comparison above may call these equal; "unknown" is no.
        return False
    if _rational_function(diff, symbols):
        return _rational_zero(diff, symbols, rng)
    if sympy.expand(diff) == 0:
        return True
    verdict = _same(g, p, symbols, rng)
    if verdict is None:
        return bool(sympy.simplify(diff) == 0)
    return verdict


def compare(gold_text: str, pred_text: str, pred_decimals: int | None) -> tuple[str, str]:
    """Worker entry point: ``("equal"|"different"|"invalid", detail)``.

    A gold that does not parse is reported as ``invalid`` with ``gold:`` in the detail.
    """
    try:
        gold = parse(gold_text)
    except Refused as exc:
        return "invalid", f"gold: {exc}"
    try:
        pred = parse(pred_text)
    except Refused as exc:
        return "invalid", str(exc)
    try:
        return ("equal", "") if equivalent(gold, pred, pred_decimals) else ("different", "")
    except (RecursionError, MemoryError):
        return "invalid", "too large"
    except Exception as exc:  # SymPy raises a zoo of types on odd input
        return "different", f"compare failed: {type(exc).__name__}"


def check_parseable(text: str) -> tuple[str, str]:
    """Worker entry point for teacher answers: ``("ok", "")`` or ``("invalid", reason)``."""
    try:
        parse(text)
    except Refused as exc:
        return "invalid", str(exc)
    return "ok", ""
