"""Procedural problem sets with a difficulty knob, answers computed by SymPy or exact arithmetic.

One generator per family, each ``(level, rng) -> (question, answer_latex)`` for levels 1..5.
Everything is drawn from the ``random.Random`` handed in, so a set is a pure function of its
seed. Answers are produced by SymPy (``sympy.latex``) or ``fractions``, never typed by hand, and
the test-suite checks that the verifier accepts every generated answer against itself.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from fractions import Fraction

import sympy

from soar_kit.contracts.records import Problem

LEVELS = 5
Generator = Callable[[int, random.Random], tuple[str, str]]

_x = sympy.Symbol("x")


def _latex_number(v: Fraction | int) -> str:
    v = Fraction(v)
    if v.denominator == 1:
        return str(v.numerator)
    sign = "-" if v < 0 else ""
    return f"{sign}\\frac{{{abs(v.numerator)}}}{{{v.denominator}}}"


def _nonzero(rng: random.Random, lo: int, hi: int) -> int:
    while True:
        v = rng.randint(lo, hi)
        if v != 0:
            return v


def arithmetic(level: int, rng: random.Random) -> tuple[str, str]:
    """Integer expressions: more terms, bigger numbers and more operator kinds per level."""
    terms = level + 1
    hi = 10 ** min(level, 3)
    ops = ["+", "-"] if level <= 2 else ["+", "-", "\\times"]
    numbers = [rng.randint(1, hi)]
    operators: list[str] = []
    for _ in range(terms - 1):
        operators.append(rng.choice(ops))
        numbers.append(rng.randint(1, hi if operators[-1] != "\\times" else 12))
    # evaluate with the usual precedence: products first, then sums, left to right
    total, sign, product = 0, 1, numbers[0]
    for op, n in zip(operators, numbers[1:], strict=True):
        if op == "\\times":
            product *= n
        else:
            total += sign * product
            sign, product = (1 if op == "+" else -1), n
    value = total + sign * product
    latex = str(numbers[0]) + "".join(
        f" {op} {n}" for op, n in zip(operators, numbers[1:], strict=True)
    )
    return f"Compute ${latex}$.", str(value)


def fractions(level: int, rng: random.Random) -> tuple[str, str]:
    """Sums and products of fractions; the answer in lowest terms."""
    n = level + 1
    den = 4 + 2 * level
    values = [Fraction(_nonzero(rng, -den, den), rng.randint(2, den)) for _ in range(n)]
    ops = [rng.choice("+-") if level < 3 else rng.choice("+-*") for _ in range(n - 1)]
    text = _latex_number(values[0])
    expr = sympy.Rational(values[0].numerator, values[0].denominator)
    for op, v in zip(ops, values[1:], strict=True):
        r = sympy.Rational(v.numerator, v.denominator)
        shown = _latex_number(v) if v > 0 else f"\\left({_latex_number(v)}\\right)"
        if op == "+":
            expr, text = expr + r, f"{text} + {shown}"
        elif op == "-":
            expr, text = expr - r, f"{text} - {shown}"
        else:
            expr, text = expr * r, f"{text} \\cdot {shown}"
    return f"Compute ${text}$ in lowest terms.", sympy.latex(expr)


def equations(level: int, rng: random.Random) -> tuple[str, str]:
    """Linear equations with a rational solution (levels 1-3), quadratics (4-5)."""
    if level <= 3:
        a = _nonzero(rng, -3 * level - 2, 3 * level + 2)
        b = rng.randint(-10 * level, 10 * level)
        c = _nonzero(rng, -3 * level, 3 * level) if level >= 2 else 0
        d = rng.randint(-10 * level, 10 * level)
        if a == c:
            a += 1
        lhs, rhs = a * _x + b, c * _x + d
        sol = sympy.solve(sympy.Eq(lhs, rhs), _x)[0]
        return f"Solve for $x$: ${sympy.latex(lhs)} = {sympy.latex(rhs)}$.", sympy.latex(sol)
    r1 = rng.randint(-6 * level, 6 * level)
    r2 = rng.randint(-6 * level, 6 * level)
    while r2 == r1:
        r2 += 1
    k = 1 if level == 4 else _nonzero(rng, -3, 3)
    poly = sympy.expand(k * (_x - r1) * (_x - r2))
    roots = sorted(sympy.solve(poly, _x))
    return (
        f"Find all solutions of ${sympy.latex(poly)} = 0$.",
        ", ".join(sympy.latex(r) for r in roots),
    )


def polynomials(level: int, rng: random.Random) -> tuple[str, str]:
    """Expand a product of binomials (degree grows with the level)."""
    factors = [
        _nonzero(rng, 1, 1 + level // 2) * _x + rng.randint(-5 * level, 5 * level)
        for _ in range(min(level + 1, 4))
    ]
    product = sympy.Mul(*factors, evaluate=False)
    shown = "".join(f"({sympy.latex(f)})" for f in factors)
    return f"Expand ${shown}$.", sympy.latex(sympy.expand(product))


def calculus(level: int, rng: random.Random) -> tuple[str, str]:
    """Derivatives at a point (1-2), derivative expressions (3), definite integrals (4-5)."""
    deg = level + 1
    coeffs = [rng.randint(-5, 5) for _ in range(deg)] + [_nonzero(rng, 1, 5)]
    poly = sum(c * _x**i for i, c in enumerate(coeffs))
    if level <= 2:
        at = rng.randint(-3, 3)
        value = sympy.diff(poly, _x).subs(_x, at)
        return f"Let $f(x) = {sympy.latex(poly)}$. Find $f'({at})$.", sympy.latex(value)
    if level == 3:
        f = poly * sympy.sin(_x) if rng.random() < 0.5 else poly * sympy.exp(_x)
        return f"Differentiate $f(x) = {sympy.latex(f)}$.", sympy.latex(sympy.diff(f, _x))
    a = rng.randint(-2, 1)
    b = a + rng.randint(1, 3)
    value = sympy.integrate(poly, (_x, a, b))
    return f"Compute $\\int_{{{a}}}^{{{b}}} {sympy.latex(poly)} \\, dx$.", sympy.latex(value)


FAMILIES: dict[str, Generator] = {
    "arithmetic": arithmetic,
    "fractions": fractions,
    "equations": equations,
    "polynomials": polynomials,
    "calculus": calculus,
}


def make(family: str, level: int, rng: random.Random, index: int) -> Problem:
    """One problem of ``family`` at ``level`` (id encodes family, level and index)."""
    question, answer = FAMILIES[family](level, rng)
    return Problem(
        id=f"{family}-l{level}-{index:05d}",
        question=question,
        answer=answer,
        domain="math",
        data={"family": family, "level": level},
        source=f"procedural:{family}",
    )


def generate(
    families: list[str], levels: list[int], seed: int, limit: int | None, natural: int = 500
) -> list[Problem]:
    """``limit`` problems cycling over families and levels, reproducible from ``seed``."""
    rng = random.Random(f"soarkit-math:{','.join(families)}:{levels}:{seed}")
    n = natural if limit is None else limit
    combos = [(f, lv) for f in families for lv in levels]
    return [make(*combos[i % len(combos)], rng, i) for i in range(n)]
