"""A labelled agreement corpus: (gold, prediction, equivalent?) pairs, built here.

Labels come from how a pair is *constructed*, never from a verifier: an equivalent pair is
the same exact value rendered two ways (computed with ``fractions``/integers), a
non-equivalent pair is a known perturbation (off by one, sign flip, swapped tuple, open vs
closed end, a dropped root...). On top of the generated pairs sits a hand-labelled list of
hard cases. Labels follow the grading policy written in docs/math.md (e.g. a decimal rounded
to >= 3 significant digits matches an exact value; ``x = 3`` matches ``3``; order matters in
tuples and intervals, not in sets or lists of roots).

Used by ``benchmarks/math_verifier.py``; the corpus is reproducible from its seed.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from fractions import Fraction
from math import gcd


@dataclass(frozen=True)
class Pair:
    gold: str
    prediction: str  # a short completion with the answer in \boxed{}
    equivalent: bool
    category: str

    def to_json(self) -> dict[str, object]:
        return asdict(self)


_WRAPS = (
    "The answer is $\\boxed{{{}}}$.",
    "Therefore, $\\boxed{{{}}}$",
    "Putting it together we get \\boxed{{{}}}",
    "$$\\boxed{{{}}}$$",
    "So the final answer is $\\boxed{{{}}}$.",
)


def _frac(v: Fraction, style: str = "frac") -> str:
    sign = "-" if v < 0 else ""
    a, b = abs(v.numerator), v.denominator
    if b == 1:
        return f"{sign}{a}"
    if style == "slash":
        return f"{sign}{a}/{b}"
    if style == "dfrac":
        return f"{sign}\\dfrac{{{a}}}{{{b}}}"
    return f"{sign}\\frac{{{a}}}{{{b}}}"


def _terminating(v: Fraction) -> str | None:
    d = v.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    if d != 1:
        return None
    s = f"{float(v):.10f}".rstrip("0").rstrip(".")
    return s if Fraction(s) == v else None


def _integers(rng: random.Random) -> list[tuple[str, str, bool]]:
    n = rng.choice([rng.randint(-99, 999), rng.randint(1000, 999_999)])
    g = str(n)
    same = [str(n), f"{n}.0", f"{{{n}}}", f"{n}.00"]
    if n >= 1000:
        same.append(f"{n:,}")
        same.append(f"{n:,}".replace(",", "{,}"))
    if n > 0:
        same.append(f"{n}\\text{{ units}}")
    diff = [
        str(n + 1),
        str(n - 1),
        str(-n) if n != 0 else "1",
        f"{n}.5",
        str(n * 10),
        str(n)[:-1] or "7",
    ]
    return [(g, rng.choice(same), True), (g, rng.choice(diff), False)]


def _fractions(rng: random.Random) -> list[tuple[str, str, bool]]:
    while True:
        v = Fraction(rng.randint(-40, 40), rng.randint(2, 24))
        if v.denominator != 1:
            break
    g = _frac(v, rng.choice(["frac", "frac", "slash", "dfrac"]))
    k = rng.randint(2, 5)
    unreduced = f"{'-' if v < 0 else ''}\\frac{{{abs(v.numerator) * k}}}{{{v.denominator * k}}}"
    same = [_frac(v, "frac"), _frac(v, "slash"), _frac(v, "dfrac"), unreduced]
    if v < 0:
        same.append(f"\\frac{{-{abs(v.numerator)}}}{{{v.denominator}}}")
    dec = _terminating(v)
    if dec:
        same.append(dec)
    diff = [
        _frac(-v),
        _frac(1 / v) if v.numerator not in (1, -1) else _frac(v + 1),
        _frac(v + Fraction(1, v.denominator)),
        _frac(Fraction(v.numerator, v.denominator + 1)),
        f"{float(v):.1f}" if float(v) != round(float(v), 1) else _frac(v * 2),
    ]
    return [(g, rng.choice(same), True), (g, rng.choice(diff), False)]


def _rounded(rng: random.Random) -> list[tuple[str, str, bool]]:
    """Policy: a decimal rounded to the places shown, with >= 3 significant digits, matches."""
    while True:
        v = Fraction(rng.randint(1, 99), rng.choice([3, 7, 9, 11, 13, 17]))
        if v.denominator != 1:
            break
    g = _frac(v)
    places = rng.randint(3, 5)
    good = f"{round(float(v), places):.{places}f}"
    # a truncated / off-by-a-unit decimal is wrong
    bad_value = Fraction(good) + Fraction(rng.choice([-3, 3]), 10**places)
    bad = f"{float(bad_value):.{places}f}"
    return [(g, good, True), (g, bad, False)]


def _percent(rng: random.Random) -> list[tuple[str, str, bool]]:
    p = rng.randint(1, 99)
    g = f"{p}\\%"
    same = [f"{p}", f"{p}\\%", f"{p}%", _terminating(Fraction(p, 100)) or f"{p}"]
    diff = [f"{p + 1}\\%", f"{p / 1000:g}", f"{p + 10}"]
    return [(g, rng.choice(same), True), (g, rng.choice(diff), False)]


def _surds(rng: random.Random) -> list[tuple[str, str, bool]]:
    a = rng.randint(2, 9)
    b = rng.choice([2, 3, 5, 6, 7, 10, 11])
    g = f"{a}\\sqrt{{{b}}}"
    same = [
        f"\\sqrt{{{a * a * b}}}",
        f"{a}\\sqrt {b}",
        f"\\sqrt{{{b}}} \\cdot {a}",
        f"{a} \\sqrt{{{b}}}",
        f"sqrt({a * a * b})",
    ]
    diff = [
        f"\\sqrt{{{a * b}}}",
        f"{a}\\sqrt{{{b + 1}}}",
        f"{a + 1}\\sqrt{{{b}}}",
        f"{b}\\sqrt{{{a}}}",
    ]
    return [(g, rng.choice(same), True), (g, rng.choice(diff), False)]


def _pi(rng: random.Random) -> list[tuple[str, str, bool]]:
    p, q = rng.randint(1, 9), rng.choice([2, 3, 4, 6])
    if gcd(p, q) != 1:
        p = 1
    g = f"\\frac{{{p}\\pi}}{{{q}}}"
    same = [
        f"\\frac{{{p}}}{{{q}}}\\pi",
        f"{p}\\pi/{q}",
        f"\\frac{{{p * 2}\\pi}}{{{q * 2}}}",
        f"\\pi \\cdot \\frac{{{p}}}{{{q}}}",
    ]
    diff = [
        f"\\frac{{{p + 1}\\pi}}{{{q}}}",
        f"\\frac{{{q}\\pi}}{{{p}}}" if p != q else "2\\pi",
        f"\\frac{{{p}}}{{{q}}}",
    ]
    return [(g, rng.choice(same), True), (g, rng.choice(diff), False)]


def _poly_str(coeffs: list[int], var: str = "x") -> str:
    """``coeffs[i]`` is the coefficient of var^i; written highest power first."""
    parts = []
    for i in range(len(coeffs) - 1, -1, -1):
        c = coeffs[i]
        if c == 0:
            continue
        mono = "" if i == 0 else (var if i == 1 else f"{var}^{{{i}}}" if i > 9 else f"{var}^{i}")
        num = str(abs(c)) if (abs(c) != 1 or i == 0) else ""
        sign = "-" if c < 0 else "+"
        parts.append((sign, num + mono))
    if not parts:
        return "0"
    head = ("-" if parts[0][0] == "-" else "") + parts[0][1]
    return head + "".join(f" {s} {t}" for s, t in parts[1:])


def _polynomials(rng: random.Random) -> list[tuple[str, str, bool]]:
    r1, r2 = rng.randint(-6, 6), rng.randint(-6, 6)
    k = rng.choice([1, 1, 2, -1, 3])
    coeffs = [k * r1 * r2, -k * (r1 + r2), k]
    g = _poly_str(coeffs)

    def lin(r: int) -> str:
        return "x" if r == 0 else f"(x {'-' if r > 0 else '+'} {abs(r)})"

    kk = "" if k == 1 else "-" if k == -1 else str(k)
    same = [
        f"{kk}{lin(r1)}{lin(r2)}",
        f"{kk}{lin(r2)}{lin(r1)}",
        " + ".join(reversed(g.replace(" - ", " + -").split(" + "))).replace("+ -", "- "),
        g.replace(" ", ""),
    ]
    bad = list(coeffs)
    bad[rng.randrange(3)] += rng.choice([-1, 1])
    diff = [_poly_str(bad), f"{kk}{lin(r1)}{lin(r2 + 1)}", _poly_str([c * 2 for c in coeffs])]
    return [(g, rng.choice(same), True), (g, rng.choice(diff), False)]


def _equations(rng: random.Random) -> list[tuple[str, str, bool]]:
    m, b = rng.randint(-5, 5) or 2, rng.randint(-9, 9)
    g = f"y = {_poly_str([b, m])}"
    same = [
        f"y={_poly_str([b, m])}",
        f"y = {b} + {m}x".replace("+ -", "- "),
        f"{_poly_str([b, m])} = y",
    ]
    diff = [
        f"y = {_poly_str([b + 1, m])}",
        f"y = {_poly_str([b, -m])}",
        f"y = {_poly_str([m, b])}" if m != b else "y = x",
    ]
    return [(g, rng.choice(same), True), (g, rng.choice(diff), False)]


def _assignments(rng: random.Random) -> list[tuple[str, str, bool]]:
    n = rng.randint(-20, 20)
    v = rng.choice("xyzkn")
    if rng.random() < 0.5:
        return [(str(n), f"{v} = {n}", True), (str(n), f"{v} = {n + 2}", False)]
    return [(f"{v} = {n}", str(n), True), (f"{v} = {n}", str(n - 3), False)]


def _tuples(rng: random.Random) -> list[tuple[str, str, bool]]:
    a, b = rng.randint(-9, 9), rng.randint(-9, 9)
    while b == a:
        b = rng.randint(-9, 9)
    g = f"({a}, {b})"
    same = [f"({a},{b})", f"\\left({a}, {b}\\right)", f"( {a} , {b} )"]
    diff = [f"({b}, {a})", f"({a}, {b + 1})", f"({-a}, {b})" if a else f"({a}, {-b})"]
    return [(g, rng.choice(same), True), (g, rng.choice(diff), False)]


def _roots(rng: random.Random) -> list[tuple[str, str, bool]]:
    a, b = sorted(rng.sample(range(-9, 10), 2))
    g = f"{a}, {b}"
    same = [f"{b}, {a}", f"\\{{{a}, {b}\\}}", f"\\{{{b},{a}\\}}", f"{a},{b}"]
    diff = [f"{a}", f"{a}, {b + 1}", f"{-a}, {-b}" if a != -b else f"{a}, {b}, 0"]
    return [(g, rng.choice(same), True), (g, rng.choice(diff), False)]


def _intervals(rng: random.Random) -> list[tuple[str, str, bool]]:
    a, b = sorted(rng.sample(range(-9, 10), 2))
    lo, hi = rng.choice("[("), rng.choice("])")
    g = f"{lo}{a}, {b}{hi}"
    same = [f"{lo}{a},{b}{hi}", f"\\left{lo}{a}, {b}\\right{hi}"]
    flip_lo = "(" if lo == "[" else "["
    flip_hi = ")" if hi == "]" else "]"
    diff = [f"{flip_lo}{a}, {b}{hi}", f"{lo}{a}, {b}{flip_hi}", f"{lo}{a}, {b + 1}{hi}"]
    if rng.random() < 0.3:
        g = f"(-\\infty, {b}{hi}"
        same = [g.replace(" ", ""), g.replace("\\infty", "\\infty ")]
        diff = [g.replace(str(b), str(b + 1)), g.replace("-\\infty", "\\infty")]
    return [(g, rng.choice(same), True), (g, rng.choice(diff), False)]


def _matrices(rng: random.Random) -> list[tuple[str, str, bool]]:
    vals = [rng.randint(-9, 9) for _ in range(4)]

    def mat(v: list[int], env: str = "pmatrix") -> str:
        return f"\\begin{{{env}}} {v[0]} & {v[1]} \\\\ {v[2]} & {v[3]} \\end{{{env}}}"

    g = mat(vals)
    same = [mat(vals, "bmatrix"), mat(vals).replace(" ", "")]
    bad = list(vals)
    bad[rng.randrange(4)] += 1
    diff = [mat(bad), mat([vals[0], vals[2], vals[1], vals[3]]) if vals[1] != vals[2] else mat(bad)]
    return [(g, rng.choice(same), True), (g, rng.choice(diff), False)]


def _trig(rng: random.Random) -> list[tuple[str, str, bool]]:
    table = [
        (
            "\\frac{\\sqrt{3}}{2}",
            ["\\sin\\frac{\\pi}{3}", "\\cos(\\pi/6)", "\\frac{1}{2}\\sqrt{3}"],
            ["\\frac{\\sqrt{2}}{2}", "\\frac{1}{2}", "\\sqrt{3}"],
        ),
        (
            "\\frac{\\sqrt{2}}{2}",
            ["\\frac{1}{\\sqrt{2}}", "\\sin(\\pi/4)", "\\sqrt{\\frac{1}{2}}"],
            ["\\sqrt{2}", "\\frac{\\sqrt{3}}{2}", "\\frac{1}{2}"],
        ),
        ("1", ["\\sin^2 x + \\cos^2 x", "\\tan(\\pi/4)"], ["\\sin x", "0"]),
        ("2\\sin x \\cos x", ["\\sin(2x)", "\\sin 2x"], ["\\sin x", "2\\sin x", "\\cos 2x"]),
        ("e^{2}", ["\\exp(2)", "e^2"], ["2e", "e^{3}"]),
        ("\\ln 6", ["\\ln 2 + \\ln 3", "\\ln(6)"], ["\\ln 5", "6"]),
    ]
    g, same, diff = rng.choice(table)
    return [(g, rng.choice(same), True), (g, rng.choice(diff), False)]


def _rational_functions(rng: random.Random) -> list[tuple[str, str, bool]]:
    a = rng.randint(1, 9)
    g = f"\\frac{{x + {a}}}{{x - 1}}"
    same = [f"1 + \\frac{{{a + 1}}}{{x - 1}}", f"\\frac{{{a} + x}}{{x-1}}", f"(x+{a})/(x-1)"]
    diff = [
        f"\\frac{{x + {a}}}{{x + 1}}",
        f"\\frac{{x - {a}}}{{x - 1}}",
        f"1 + \\frac{{{a}}}{{x - 1}}",
    ]
    return [(g, rng.choice(same), True), (g, rng.choice(diff), False)]


def _units_degrees(rng: random.Random) -> list[tuple[str, str, bool]]:
    n = rng.randint(1, 360)
    unit = rng.choice(["cm", "meters", "dollars", "degrees"])
    if unit == "degrees":
        g = f"{n}^\\circ"
        same = [str(n), f"{n}^{{\\circ}}", f"{n}\\text{{ degrees}}"]
    else:
        g = f"{n}\\text{{ {unit}}}"
        same = [str(n), f"{n} {unit}", f"{n}\\,\\text{{{unit}}}"]
    return [(g, rng.choice(same), True), (g, str(n + 1), False)]


def _choices(rng: random.Random) -> list[tuple[str, str, bool]]:
    c = rng.choice("ABCDE")
    other = rng.choice([x for x in "ABCDE" if x != c])
    g = rng.choice([c, f"({c})", f"\\text{{({c})}}"])
    same = [c, f"({c})", f"\\text{{{c}}}"]
    return [(g, rng.choice(same), True), (g, rng.choice([other, f"({other})"]), False)]


def _scientific(rng: random.Random) -> list[tuple[str, str, bool]]:
    m, e = rng.randint(11, 99), rng.randint(3, 8)
    value = m * 10 ** (e - 1)
    g = f"{m / 10:g} \\times 10^{{{e}}}"
    same = [
        str(value),
        f"{m}\\times 10^{{{e - 1}}}",
        f"{m / 10:g}\\cdot 10^{e}" if e < 10 else str(value),
    ]
    diff = [str(value * 10), f"{m / 10:g} \\times 10^{{{e + 1}}}", str(value + 1)]
    return [(g, rng.choice(same), True), (g, rng.choice(diff), False)]


GENERATORS = {
    "integer": _integers,
    "fraction": _fractions,
    "rounded decimal": _rounded,
    "percent": _percent,
    "surd": _surds,
    "pi": _pi,
    "polynomial": _polynomials,
    "equation": _equations,
    "assignment": _assignments,
    "tuple": _tuples,
    "roots (unordered)": _roots,
    "interval": _intervals,
    "matrix": _matrices,
    "trig/exp/log": _trig,
    "rational function": _rational_functions,
    "units/degrees": _units_degrees,
    "multiple choice": _choices,
    "scientific": _scientific,
}

#: Hard cases, labelled by hand. (gold, predicted answer, equivalent?)
HARD: list[tuple[str, str, bool]] = [
    ("\\frac{1}{2}", "0.5", True),
    ("\\frac{1}{2}", "\\frac{1}{2}x", False),
    ("0.5", "\\frac12", True),
    ("3", "3.0000001", False),
    ("3", "2.9999999999999", True),
    ("1000000", "10^6", True),
    ("1000000", "1e6", True),
    ("\\infty", "\\infty", True),
    ("\\infty", "-\\infty", False),
    ("(-\\infty, \\infty)", "\\mathbb{R}", True),
    ("\\emptyset", "\\{\\}", True),
    ("x^2+2x+1", "(x+1)^2", True),
    ("x^2+2x+1", "(x-1)^2", False),
    ("x^2 - 1", "(x-1)(x+1)", True),
    ("\\frac{x^2-1}{x-1}", "x+1", True),
    ("2^{10}", "1024", True),
    ("2^{10}", "1023", False),
    ("10!", "3628800", True),
    ("\\binom{5}{2}", "10", True),
    ("\\sqrt{8}", "2\\sqrt{2}", True),
    ("\\frac{\\pi}{2}", "90^\\circ", False),
    ("1, 2, 3", "3, 2, 1", True),
    ("1, 2, 3", "1, 2", False),
    ("(1, 2, 3)", "(1, 2, 3)", True),
    ("(1, 2, 3)", "(3, 2, 1)", False),
    ("x > 2", "2 < x", True),
    ("x > 2", "x \\geq 2", False),
    ("x \\ge 2", "[2, \\infty)", True),
    ("1 < x < 3", "(1, 3)", True),
    ("1 < x < 3", "[1, 3]", False),
    ("y = 2x + 3", "2x - y + 3 = 0", True),
    ("y = 2x + 3", "y - 2x = 3", True),
    ("y = 2x + 3", "y = 3x + 2", False),
    ("x = 5", "5", True),
    ("5", "x = 5", True),
    ("5", "x = 6", False),
    ("a = 2, b = 3", "a=2, b=3", True),
    ("\\text{Yes}", "yes", True),
    ("\\text{no}", "yes", False),
    ("\\text{(B)}", "B", True),
    ("\\text{(B)}", "D", False),
    ("12\\%", "0.12", True),
    ("12\\%", "12", True),
    ("12\\%", "1.2", False),
    ("\\$12.50", "12.5", True),
    ("\\$12.50", "12.05", False),
    ("5\\text{ cm}^2", "5", True),
    ("-\\frac{3}{4}", "\\frac{-3}{4}", True),
    ("-\\frac{3}{4}", "\\frac{3}{-4}", True),
    ("-\\frac{3}{4}", "-0.75", True),
    ("-\\frac{3}{4}", "0.75", False),
    ("2 + \\sqrt{3}", "\\sqrt{3} + 2", True),
    ("2 + \\sqrt{3}", "2 - \\sqrt{3}", False),
    ("\\frac{1+\\sqrt{5}}{2}", "\\frac{1}{2} + \\frac{\\sqrt{5}}{2}", True),
    ("\\frac{1+\\sqrt{5}}{2}", "\\frac{1-\\sqrt{5}}{2}", False),
    ("\\frac{3 \\pm \\sqrt{5}}{2}", "\\frac{3+\\sqrt5}{2}, \\frac{3-\\sqrt5}{2}", True),
    ("2i", "2 i", True),
    ("3 + 4i", "4i + 3", True),
    ("3 + 4i", "3 - 4i", False),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", True),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix}2\\\\1\\end{pmatrix}", False),
    ("\\log_2 8", "3", True),
    ("\\log_3 9", "2", True),
    ("\\log_3 9", "3", False),
    ("\\frac{d}{dx} x^2", "2x", True),
    ("\\int_0^1 x\\,dx", "\\frac{1}{2}", True),
    ("\\int_0^1 x\\,dx", "1", False),
    ("6x^2 \\cos(x^3)", "6 x^{2} \\cos{\\left(x^{3} \\right)}", True),
    ("\\sin(2x)", "2\\sin(x)\\cos(x)", True),
    ("\\tan x", "\\frac{\\sin x}{\\cos x}", True),
    ("\\cos^2 x - \\sin^2 x", "\\cos 2x", True),
    ("\\cos^2 x - \\sin^2 x", "\\sin 2x", False),
    ("e^{x}(x+1)", "xe^x + e^x", True),
    ("e^{x}(x+1)", "xe^x", False),
    ("\\frac{1}{x}", "x^{-1}", True),
    ("\\sqrt{x}", "x^{1/2}", True),
    ("\\sqrt[3]{27}", "3", True),
    ("\\sqrt[3]{27}", "9", False),
    ("|{-5}|", "5", True),
    ("\\left|x\\right|", "|x|", True),
    ("0.\\overline{3}", "\\frac{1}{3}", True),
    ("\\frac{7}{3}", "2\\frac{1}{3}", True),
    ("\\frac{7}{3}", "2\\frac{1}{2}", False),
    ("1{,}234", "1234", True),
    ("1,234", "1234", True),
    ("0", "-0", True),
    ("0", "0.0", True),
    ("-1", "- 1", True),
    ("100", "100.", True),
    ("45^\\circ", "\\frac{\\pi}{4}", True),
    ("[2, 5)", "[2,5)", True),
    ("[2, 5)", "(2, 5]", False),
    ("(0, 1) \\cup (2, 3)", "(2, 3) \\cup (0, 1)", True),
    ("(0, 1) \\cup (2, 3)", "(0, 3)", False),
    ("\\{1, 2\\}", "\\{2, 1\\}", True),
    ("\\{1, 2\\}", "\\{1, 2, 3\\}", False),
    ("n^2 + n", "n(n+1)", True),
    ("n^2 + n", "n(n-1)", False),
    ("\\frac{n(n+1)}{2}", "\\frac{n^2+n}{2}", True),
    ("2^{n+1} - 2", "2(2^n - 1)", True),
    ("2^{n+1} - 2", "2^n - 1", False),
    ("\\frac{a+b}{c}", "\\frac{a}{c} + \\frac{b}{c}", True),
    ("ab", "ba", True),
    ("a - b", "b - a", False),
    ("x^3", "x \\cdot x \\cdot x", True),
    ("4", "\\sqrt{16}", True),
    ("4", "\\pm 4", False),
    ("-4", "-\\sqrt{16}", True),
    ("\\frac{3}{8}", "37.5\\%", True),
    ("\\frac{3}{8}", "0.375", True),
    ("7", "\\boxed{7}", True),
    ("7", "7 \\text{ apples}", True),
    ("15", "15 \\text{ ways}", True),
    ("24", "4!", True),
    ("120", "5!", True),
    ("\\frac{5}{36}", "\\frac{10}{72}", True),
    ("x=1 \\text{ or } x=2", "1, 2", True),
    ("(3, -1)", "x = 3, y = -1", True),
    ("\\dfrac{\\sqrt{2}}{2}", "\\frac{\\sqrt2}{2}", True),
    ("2\\sqrt{2}", "\\sqrt 8", True),
    ("6\\sqrt{3}", "6 \\sqrt 3", True),
    ("-2", "x=-2", True),
    ("\\frac{1}{4}", "25\\%", True),
    ("\\frac{1}{4}", "25", False),
    ("5", "five", True),
    ("x", "X", True),
    ("2x+3", "3+2x", True),
    ("2x+3", "2x-3", False),
    ("8", "2^3", True),
    ("1/3", "\\frac{1}{3}", True),
    ("\\frac{\\sqrt{3}}{3}", "\\frac{1}{\\sqrt{3}}", True),
    ("\\frac{\\sqrt{3}}{3}", "\\sqrt{3}", False),
    ("1.5", "\\frac{3}{2}", True),
    ("1.5", "1\\frac{1}{2}", True),
    ("1.5", "15", False),
]

#: Hard cases whose label is decided by the rounding policy of docs/math.md (a decimal counts
#: when it is the exact value rounded to the places shown, with >= 3 significant digits).
#: Reported separately: another grader may reasonably choose another policy.
HARD_ROUNDING: list[tuple[str, str, bool]] = [
    ("\\sqrt{8}", "2.828", True),
    ("\\sqrt{8}", "2.82", False),
    ("\\pi", "3.14159", True),
    ("\\pi", "3.1", False),
    ("e", "2.71828", True),
    ("\\frac{1+\\sqrt{5}}{2}", "1.618", True),
    ("\\frac{3}{8}", "0.38", False),
    ("\\frac{2}{3}", "0.667", True),
    ("\\frac{2}{3}", "0.67", False),
    ("\\frac{2}{3}", "0.666", False),
    ("\\frac{5}{36}", "0.1389", True),
    ("\\frac{5}{36}", "0.139", True),
    ("\\frac{5}{36}", "0.14", False),
]


def _beyond_float(rng: random.Random) -> list[tuple[str, str, bool]]:
    """Values a float cannot tell apart: the same big value written two ways (equivalent), and
    a perturbation far below double precision (off by one in 10^20, 2^100 + 1, a polynomial
    of high degree plus 1). A verifier with a relative float tolerance calls the second equal.
    """
    kind = rng.randrange(5)
    if kind == 0:  # big integers
        k, c = rng.randint(18, 40), rng.randint(1, 99)
        return [
            (f"10^{{{k}}}+{c}", str(10**k + c), True),
            (f"10^{{{k}}}+{c}", f"10^{{{k}}}+{c + 1}", False),
        ]
    if kind == 1:  # large exponents
        b, n = rng.choice((2, 3, 7)), rng.randint(60, 200)
        return [
            (f"{b}^{{{n}}}", str(b**n), True),
            (f"{b}^{{{n}}}", f"{b}^{{{n}}}+1", False),
        ]
    if kind == 2:  # near-equal rationals
        k = rng.randint(20, 40)
        return [
            (f"\\frac{{10^{{{k}}}+1}}{{10^{{{k}}}}}", f"1+10^{{-{k}}}", True),
            (f"\\frac{{10^{{{k}}}+1}}{{10^{{{k}}}}}", "1", False),
        ]
    if kind == 3:  # high-degree polynomials
        n = rng.randint(20, 60)
        return [
            (f"(x+1)^{{{n}}}", f"(x+1)^{{{n - 1}}}(x+1)", True),
            (f"(x+1)^{{{n}}}", f"(x+1)^{{{n - 1}}}(x+1)+1", False),
        ]
    k = rng.randint(20, 40)  # an irrational value and a tiny shift of it
    return [
        (f"\\sqrt{{2}}+10^{{{k}}}", f"10^{{{k}}}+\\sqrt{{2}}", True),
        (f"\\sqrt{{2}}+10^{{{k}}}", f"\\sqrt{{2}}+10^{{{k}}}+1", False),
    ]


#: Built after everything else, from its own random stream, so that adding it left every
#: earlier pair of the corpus unchanged.
EXACT_CATEGORY = "beyond float precision"

#: Categories whose labels depend on the rounding policy.
POLICY_CATEGORIES = ("rounded decimal", "hard: rounding policy")


def build(seed: int = 20260125, per_generator: int = 30) -> list[Pair]:
    """The whole corpus: ``per_generator`` x 2 generated pairs per category + the hard list."""
    rng = random.Random(seed)
    pairs: list[Pair] = []
    for cat, gen in GENERATORS.items():
        for _ in range(per_generator):
            for gold, pred, label in gen(rng):
                wrap = rng.choice(_WRAPS)
                pairs.append(Pair(gold, wrap.format(pred), label, cat))
    for cases, cat in ((HARD, "hard (hand-labelled)"), (HARD_ROUNDING, "hard: rounding policy")):
        for gold, pred, label in cases:
            wrap = rng.choice(_WRAPS)
            pairs.append(Pair(gold, wrap.format(pred), label, cat))
    exact = random.Random(seed + 1)
    for _ in range(per_generator):
        for gold, pred, label in _beyond_float(exact):
            pairs.append(Pair(gold, exact.choice(_WRAPS).format(pred), label, EXACT_CATEGORY))
    return pairs
