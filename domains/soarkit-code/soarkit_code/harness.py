"""Unforgeable test verdicts: the candidate only ever computes values; the harness judges them.

A test is one ``assert EXPR`` line. Compiling it splits ``EXPR`` in two:

* every call of the candidate's function (``f(...)``, or ``candidate(...)`` in HumanEval style)
  becomes a *call spec* that the sandboxed child executes; it sends back the return value as
  tagged plain data (ints, floats, strings, lists, tuples, sets, dicts, ...);
* the rest of the expression (``== [1, 2]``, ``abs(... - 1.5) < 1e-6``, ``sorted(...)``) is
  evaluated **here, in the parent**, by a small restricted evaluator, on the decoded values.

So a test passes only if the child delivered plain values that make the parent's expression
true. Exit codes, stdout, patched ``assert``/``builtins``/``unittest``, ``SystemExit`` raised
from ``__eq__``, objects whose ``__eq__`` is always true: none of them reach the comparison,
because the comparison happens in a process the candidate never ran in, on values that are
rebuilt from JSON and can only be builtin types. Forging a pass means sending the right values,
which is what solving the problem means.
"""

from __future__ import annotations

import ast
import json
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class TestFormatError(ValueError):
    """A test line the harness cannot compile (reported as a rejection reason)."""


@dataclass(frozen=True)
class CallSpec:
    """One call of the candidate, executed in the child: ``fn(*args, **kwargs)``.

    ``args`` is Python source of ``((positional...), {keywords})``, evaluated in the child with
    builtins, ``math`` and the earlier results ``__v0, __v1, ...`` in scope.
    """

    fn: str
    args: str

    def to_json(self) -> dict[str, str]:
        return {"fn": self.fn, "args": self.args}


@dataclass(frozen=True)
class CompiledTest:
    source: str
    check: ast.Expression
    calls: tuple[int, ...]


@dataclass(frozen=True)
class TestPlan:
    """All tests of a problem: the calls the child makes and the checks the parent evaluates."""

    calls: tuple[CallSpec, ...]
    tests: tuple[CompiledTest, ...]


# -- compiling tests --------------------------------------------------------------------------

#: Pure functions the parent evaluator may call, and the child may use in arguments.
SAFE_FUNCS: dict[str, Any] = {
    "abs": abs,
    "len": len,
    "sorted": sorted,
    "set": set,
    "frozenset": frozenset,
    "list": list,
    "tuple": tuple,
    "dict": dict,
    "round": round,
    "min": min,
    "max": max,
    "sum": sum,
    "all": all,
    "any": any,
    "isinstance": isinstance,
    "type": type,
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "repr": repr,
    "reversed": lambda x: list(reversed(x)),
    "range": None,
    "enumerate": lambda x: list(enumerate(x)),
    "zip": lambda *a: list(zip(*a, strict=False)),
    "chr": chr,
    "ord": ord,
    "divmod": divmod,
    "pow": None,  # pow goes through _pow
}
SAFE_MATH = {
    "isclose",
    "fabs",
    "sqrt",
    "floor",
    "ceil",
    "pi",
    "e",
    "inf",
    "nan",
    "isnan",
    "isinf",
    "log",
    "exp",
    "gcd",
    "factorial",
}
SAFE_METHODS = {
    "lower",
    "upper",
    "strip",
    "split",
    "count",
    "index",
    "keys",
    "values",
    "items",
    "startswith",
    "endswith",
    "join",
    "get",
    "isdigit",
    "isalpha",
    "find",
}
_NODES = (
    ast.Expression,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Tuple,
    ast.List,
    ast.Set,
    ast.Dict,
    ast.UnaryOp,
    ast.BinOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.Subscript,
    ast.Slice,
    ast.Call,
    ast.Attribute,
    ast.keyword,
    ast.Starred,
    ast.operator,
    ast.unaryop,
    ast.boolop,
    ast.cmpop,
)


def compile_tests(
    tests: Sequence[str], entry: str, aliases: tuple[str, ...] = ("candidate",)
) -> TestPlan:
    """Compile ``assert`` lines; raises :class:`TestFormatError` naming the first bad one.

    Calls of ``entry`` or of an alias (HumanEval's ``candidate``) become calls of ``entry``.
    """
    calls: list[CallSpec] = []
    compiled: list[CompiledTest] = []
    if not tests:
        raise TestFormatError("no tests")
    for src in tests:
        try:
            module = ast.parse(src, mode="exec")
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            raise TestFormatError(f"test does not parse: {src[:60]!r}") from exc
        if not module.body:
            raise TestFormatError("empty test")
        for stmt in module.body:
            if not isinstance(stmt, ast.Assert):
                raise TestFormatError(f"test is not an assert statement: {src[:60]!r}")
            start = len(calls)
            shown = ast.unparse(stmt)
            expr = _Lower(entry, {entry, *aliases}, calls).visit(stmt.test)
            if len(calls) == start:
                raise TestFormatError(f"test never calls the function: {src[:60]!r}")
            tree = ast.fix_missing_locations(ast.Expression(body=expr))
            _check_parent_expr(tree, src)
            compiled.append(CompiledTest(shown, tree, tuple(range(start, len(calls)))))
    return TestPlan(tuple(calls), tuple(compiled))


class _Lower(ast.NodeTransformer):
    """Replace calls of the candidate by names ``__vK`` and record the call specs."""

    def __init__(self, entry: str, entry_points: set[str], calls: list[CallSpec]) -> None:
        self.entry = entry
        self.entry_points = entry_points
        self.calls = calls

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)  # inner candidate calls first: they get smaller indices
        if isinstance(node.func, ast.Name) and node.func.id in self.entry_points:
            for a in [*node.args, *(k.value for k in node.keywords)]:
                _check_arg_expr(a)
            pos = ast.Tuple(elts=list(node.args), ctx=ast.Load())
            kw = ast.Dict(
                keys=[ast.Constant(k.arg) for k in node.keywords if k.arg is not None],
                values=[k.value for k in node.keywords if k.arg is not None],
            )
            if any(k.arg is None for k in node.keywords):
                raise TestFormatError("**kwargs in a test call is not supported")
            args_src = ast.unparse(ast.Tuple(elts=[pos, kw], ctx=ast.Load()))
            self.calls.append(CallSpec(self.entry, args_src))
            return ast.copy_location(ast.Name(id=f"__v{len(self.calls) - 1}", ctx=ast.Load()), node)
        return node


def _check_arg_expr(node: ast.AST) -> None:
    """Arguments are data: literals, containers, arithmetic, safe calls, earlier results."""
    for sub in ast.walk(node):
        if not isinstance(sub, _NODES) or (
            isinstance(sub, ast.Attribute)
            and not (
                isinstance(sub.value, ast.Name) and sub.value.id == "math" and sub.attr in SAFE_MATH
            )
        ):
            raise TestFormatError(f"unsupported argument syntax: {type(sub).__name__}")
        if isinstance(sub, ast.Name) and not (
            sub.id in SAFE_FUNCS
            or sub.id == "math"
            or sub.id.startswith("__v")
            or sub.id in ("True", "False", "None")
        ):
            raise TestFormatError(f"unknown name in a test argument: {sub.id}")


def _check_parent_expr(tree: ast.Expression, src: str) -> None:
    for sub in ast.walk(tree):
        if not isinstance(sub, _NODES):
            raise TestFormatError(f"unsupported test syntax {type(sub).__name__}: {src[:60]!r}")
        if isinstance(sub, ast.Name) and not (
            sub.id.startswith("__v") or sub.id in SAFE_FUNCS or sub.id == "math"
        ):
            raise TestFormatError(f"unknown name {sub.id!r} in test: {src[:60]!r}")
        if isinstance(sub, ast.Attribute) and not (
            (isinstance(sub.value, ast.Name) and sub.value.id == "math" and sub.attr in SAFE_MATH)
            or sub.attr in SAFE_METHODS
        ):
            raise TestFormatError(f"unsupported attribute .{sub.attr} in test: {src[:60]!r}")


# -- decoding the child's answer ----------------------------------------------------------------


class DecodeError(ValueError):
    pass


def decode_results(raw: bytes, expected_calls: int) -> list[tuple[bool, Any]] | str:
    """Per call ``(ok, value)``; or a string saying why the whole answer is unusable."""
    if len(raw) < 4:
        return "no result from the sandbox (the candidate exited, crashed or timed out)"
    (n,) = struct.unpack(">I", raw[:4])
    body = raw[4 : 4 + n]
    if len(body) != n or len(raw) != 4 + n:
        return "malformed result from the sandbox"
    try:
        msg = json.loads(body)
    except (ValueError, RecursionError):
        return "malformed result from the sandbox"
    results = msg.get("results") if isinstance(msg, dict) else None
    if not isinstance(results, list):
        return "malformed result from the sandbox"
    if len(results) == 1 and isinstance(results[0], list) and results[0][:1] == ["load"]:
        detail = results[0][1] if len(results[0]) > 1 else "error"
        return f"candidate failed to load: {str(detail)[:80]}"
    if len(results) != expected_calls:
        return "malformed result from the sandbox"
    out: list[tuple[bool, Any]] = []
    for item in results:
        if isinstance(item, list) and len(item) == 2 and item[0] == "ok":
            try:
                out.append((True, _dec(item[1], 0)))
            except (DecodeError, ValueError, TypeError, RecursionError):
                out.append((False, "undecodable value"))
        elif isinstance(item, list) and item[:1] == ["err"]:
            out.append((False, str(item[1]) if len(item) > 1 else "error"))
        else:
            out.append((False, "malformed"))
    return out


def _dec(v: Any, depth: int) -> Any:
    if depth > 100:
        raise DecodeError("too deep")
    if v is None or isinstance(v, bool):
        return v
    if not isinstance(v, list) or not v or not isinstance(v[0], str):
        raise DecodeError("bad tag")
    tag = v[0]
    if tag == "i" and len(v) == 2 and isinstance(v[1], str):
        return int(v[1])
    if tag == "f" and len(v) == 2 and isinstance(v[1], str):
        return float(v[1])
    if tag == "s" and len(v) == 2 and isinstance(v[1], str):
        return v[1]
    if tag == "b" and len(v) == 2 and isinstance(v[1], str):
        return bytes.fromhex(v[1])
    if tag == "c" and len(v) == 3:
        return complex(float(v[1]), float(v[2]))
    if tag in ("l", "t", "S", "F") and len(v) == 2 and isinstance(v[1], list):
        items = [_dec(x, depth + 1) for x in v[1]]
        return {"l": list, "t": tuple, "S": set, "F": frozenset}[tag](items)
    if tag == "d" and len(v) == 2 and isinstance(v[1], list):
        out = {}
        for pair in v[1]:
            if not isinstance(pair, list) or len(pair) != 2:
                raise DecodeError("bad dict item")
            out[_dec(pair[0], depth + 1)] = _dec(pair[1], depth + 1)
        return out
    raise DecodeError(f"unknown tag {tag!r}")


# -- the parent's restricted evaluator ----------------------------------------------------------


class EvalError(Exception):
    pass


_MAX_SEQ = 1_000_000


_MAX_BITS = 4_000_000


def _pow(a: Any, b: Any, mod: Any = None) -> Any:
    if mod is not None:
        return pow(a, b, mod)  # modular: fast whatever the exponent
    if isinstance(a, int) and isinstance(b, int) and abs(a) > 1:
        if abs(b) > 4096 or a.bit_length() * abs(b) > _MAX_BITS:
            raise EvalError("power too large")
    return a**b


def _sum(items: Any, start: Any = 0) -> Any:
    if not isinstance(start, int | float | complex):
        raise EvalError("sum of sequences is quadratic")  # sum(lists, []) on a big value stalls
    return sum(items, start)


def _round(x: Any, ndigits: Any = None) -> Any:
    if ndigits is not None and (not isinstance(ndigits, int) or abs(ndigits) > 400):
        raise EvalError("round to too many digits")  # round(5, -10**9) builds 10**(10**9)
    return round(x) if ndigits is None else round(x, ndigits)


def _range(*args: int) -> list[int]:
    r = range(*args)
    if len(r) > _MAX_SEQ:
        raise EvalError("range too large")
    return list(r)


def _mul(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int):
        if a.bit_length() + b.bit_length() > _MAX_BITS:
            raise EvalError("product too large")
    for seq, k in ((a, b), (b, a)):
        if isinstance(seq, str | bytes | list | tuple) and isinstance(k, int):
            if len(seq) * k > _MAX_SEQ:
                raise EvalError("sequence too large")
    return a * b


def _shift(a: Any, b: Any) -> Any:
    if isinstance(b, int) and b > 65536:
        raise EvalError("shift too large")
    return a << b


_BIN = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: _mul,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
    ast.Pow: _pow,
    ast.BitAnd: lambda a, b: a & b,
    ast.BitOr: lambda a, b: a | b,
    ast.BitXor: lambda a, b: a ^ b,
    ast.LShift: _shift,
    ast.RShift: lambda a, b: a >> b,
}
_CMP = {
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
    ast.Is: lambda a, b: a is b,
    ast.IsNot: lambda a, b: a is not b,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_UN = {
    ast.Not: lambda a: not a,
    ast.USub: lambda a: -a,
    ast.UAdd: lambda a: +a,
    ast.Invert: lambda a: ~a,
}


def evaluate(tree: ast.Expression, values: dict[str, Any]) -> bool:
    """Evaluate a compiled check on decoded values; any error means the test failed."""
    try:
        return bool(_ev(tree.body, values))
    except Exception:
        return False


def _ev(n: ast.AST, env: dict[str, Any]) -> Any:
    if isinstance(n, ast.Constant):
        return n.value
    if isinstance(n, ast.Name):
        if n.id in env:
            return env[n.id]
        if n.id == "math":
            return math
        if n.id == "pow":
            return _pow
        if n.id == "range":
            return _range
        if n.id == "sum":
            return _sum
        if n.id == "round":
            return _round
        if n.id in SAFE_FUNCS:
            return SAFE_FUNCS[n.id]
        raise EvalError(f"name {n.id}")
    if isinstance(n, ast.Tuple):
        return tuple(_ev(e, env) for e in n.elts)
    if isinstance(n, ast.List):
        return [_ev(e, env) for e in n.elts]
    if isinstance(n, ast.Set):
        return {_ev(e, env) for e in n.elts}
    if isinstance(n, ast.Dict):
        if any(k is None for k in n.keys):
            raise EvalError("dict unpacking")
        return {_ev(k, env): _ev(v, env) for k, v in zip(n.keys, n.values, strict=True)}
    if isinstance(n, ast.UnaryOp):
        return _UN[type(n.op)](_ev(n.operand, env))
    if isinstance(n, ast.BinOp):
        return _BIN[type(n.op)](_ev(n.left, env), _ev(n.right, env))
    if isinstance(n, ast.BoolOp):
        if isinstance(n.op, ast.And):
            res: Any = True
            for v in n.values:
                res = _ev(v, env)
                if not res:
                    return res
            return res
        res = False
        for v in n.values:
            res = _ev(v, env)
            if res:
                return res
        return res
    if isinstance(n, ast.Compare):
        left = _ev(n.left, env)
        for op, comp in zip(n.ops, n.comparators, strict=True):
            right = _ev(comp, env)
            if not _CMP[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(n, ast.IfExp):
        return _ev(n.body, env) if _ev(n.test, env) else _ev(n.orelse, env)
    if isinstance(n, ast.Subscript):
        return _ev(n.value, env)[_ev(n.slice, env)]
    if isinstance(n, ast.Slice):
        return slice(*(None if x is None else _ev(x, env) for x in (n.lower, n.upper, n.step)))
    if isinstance(n, ast.Attribute):
        obj = _ev(n.value, env)
        if obj is math:
            if n.attr not in SAFE_MATH:
                raise EvalError("math attr")
            return getattr(math, n.attr)
        if n.attr not in SAFE_METHODS or not isinstance(obj, str | list | tuple | dict | bytes):
            raise EvalError("attribute")
        return getattr(obj, n.attr)
    if isinstance(n, ast.Call):
        fn = _ev(n.func, env)
        args: list[Any] = []
        for a in n.args:
            if isinstance(a, ast.Starred):
                args.extend(_ev(a.value, env))
            else:
                args.append(_ev(a, env))
        kwargs = {k.arg: _ev(k.value, env) for k in n.keywords if k.arg}
        if fn is math.factorial and args and isinstance(args[0], int) and args[0] > 5000:
            raise EvalError("factorial too large")
        return fn(*args, **kwargs)
    raise EvalError(type(n).__name__)


@dataclass(frozen=True)
class Outcome:
    """Per-test pass/fail as judged by the parent, with a short reason for the first failure."""

    passed: tuple[bool, ...]
    reason: str

    @property
    def all_passed(self) -> bool:
        return bool(self.passed) and all(self.passed)


def judge(plan: TestPlan, results: list[tuple[bool, Any]] | str) -> Outcome:
    """Turn decoded child results into per-test verdicts (all on the parent's side)."""
    if isinstance(results, str):
        return Outcome(tuple(False for _ in plan.tests), results)
    env = {f"__v{i}": v for i, (ok, v) in enumerate(results) if ok}
    passed: list[bool] = []
    reason = ""
    for t in plan.tests:
        failed_call = next((i for i in t.calls if not results[i][0]), None)
        if failed_call is not None:
            passed.append(False)
            reason = reason or f"{t.source[:80]}: raised {str(results[failed_call][1])[:60]}"
            continue
        ok = evaluate(t.check, env)
        passed.append(ok)
        if not ok and not reason:
            reason = f"failed: {t.source[:80]}"
    return Outcome(tuple(passed), reason)
