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
    return isinstance(e, sympy.Eq) and isinstance(e.lhs, sympy.Symbol | sympy.Function)


def _unwrap(gold: Any, pred: Any) -> tuple[Any, Any]:
    """``x = 3`` vs ``3``: compare the values (gold-first: the gold's form decides)."""
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
    if gold == pred:
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
        pkind, pitems = ps
        if len(gitems) != len(pitems):
            return False
        if gkind == "set" or (pkind == "set" and gkind != "open-interval"):
            return _match_unordered(gitems, pitems, pred_decimals)
        if gkind == "open-interval" and pkind == "set":
            return False  # (1, 2) as an interval or a point is ordered; {1, 2} is not
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
    """``1 < x < 3`` against ``(1, 3)`` (either way round): compare the solution sets."""
    rel, other = (gold, pred) if isinstance(gold, sympy.Rel | sympy.And) else (pred, gold)
    if not isinstance(rel, sympy.Rel | sympy.And) or not isinstance(
        other, sympy.Interval | sympy.Union
    ):
        return None
    if isinstance(rel, sympy.Eq) or len(rel.free_symbols) != 1:
        return None
    return bool(rel.as_set() == other)


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
    if pd == 0:
        return gd == 0
    symbols = sorted(gd.free_symbols | pd.free_symbols, key=str)
    ratio = _constant_ratio(gd, pd, symbols) if symbols else None
    if ratio is None:
        ratio = sympy.simplify(gd / pd)
        if ratio.free_symbols or not ratio.is_number:
            return False
    elif ratio is False:
        return False
    if gk in (sympy.Eq, sympy.Ne):
        return bool(ratio != 0)
    return bool(ratio.is_positive)


def _constant_ratio(a: Any, b: Any, symbols: list[Any]) -> Any:
    """``a / b`` if it is the same number at 4 random points (cheaper than ``simplify``),
    False if it clearly varies, None when too few points evaluate to tell."""
    rng = random.Random(zlib.crc32(f"{a}|{b}".encode()))
    seen: list[complex] = []
    for _ in range(8):
        point = {s: sympy.Float(round(rng.uniform(0.15, 1.9), 4)) for s in symbols}
        va, vb = _numeric(a.subs(point)), _numeric(b.subs(point))
        if va is None or vb is None or abs(vb) < 1e-12:
            continue
        seen.append(va / vb)
        if abs(seen[-1] - seen[0]) > 1e-8 * max(1.0, abs(seen[0])):
            return False
        if len(seen) >= 4:
            r = seen[0]
            return sympy.Float(r.real) if abs(r.imag) < 1e-12 else None
    return None


def _numeric(e: Any) -> complex | None:
    try:
        v = complex(sympy.N(e, 30))
    except Exception:
        return None
    if math.isnan(v.real) or math.isnan(v.imag) or math.isinf(abs(v)):
        return None
    return v


def _close(a: complex, b: complex, pred_decimals: int | None) -> bool:
    if abs(a - b) <= 1e-9 * max(1.0, abs(a)):
        return True
    if pred_decimals is not None and pred_decimals <= 15 and not b.imag:
        # a decimal prediction: the gold rounded to the places shown, at >= 3 significant digits
        sig = pred_decimals + (int(math.log10(abs(b))) + 1 if abs(b) >= 1 else 0)
        if sig >= 3 and abs(a - b) < 0.5 * 10**-pred_decimals:
            return True
    return False


def _expr_equal(gold: Any, pred: Any, pred_decimals: int | None) -> bool:
    if gold == pred:
        return True
    symbols = gold.free_symbols | pred.free_symbols
    if not symbols:
        a, b = _numeric(gold), _numeric(pred)
        if a is None or b is None:
            return bool(sympy.simplify(gold - pred) == 0)
        return _close(a, b, pred_decimals)
    diff = gold - pred
    if sympy.expand(diff) == 0:
        return True
    verdict = _probe(gold, pred, sorted(symbols, key=str))
    if verdict is not None:
        return verdict
    return bool(sympy.simplify(diff) == 0)


def _probe(gold: Any, pred: Any, symbols: list[Any]) -> bool | None:
    """Compare at random points: True if equal at >= 4 points, False on any clear mismatch,
    None when too few points evaluate (domain issues) to say."""
    rng = random.Random(zlib.crc32(f"{gold}|{pred}".encode()))
    agree = 0
    for _ in range(8):
        point = {s: sympy.Float(round(rng.uniform(0.15, 1.9), 4)) for s in symbols}
        a = _numeric(gold.subs(point))
        b = _numeric(pred.subs(point))
        if a is None or b is None:
            continue
        if abs(a - b) > 1e-7 * max(1.0, abs(a)):
            return False
        agree += 1
        if agree >= 4:
            return True
    return None


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
