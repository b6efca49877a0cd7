"""Math-Verify's own regression suite as an external agreement check, read from its repository.

The cases are (gold, prediction, expected) rows of ``@pytest.mark.parametrize`` tables in
``tests/test_*.py`` of https://github.com/huggingface/Math-Verify at :data:`PINNED_COMMIT`.
They are read from a git checkout (bare or not) of that repository at run time and never copied
into this one: their labels were written by people outside this project, which is the point.

Selection rule (deterministic, applied to every row of every table):

1. the row has ``gold``, ``pred`` and ``expected`` (or ``result``) fields and is a Python
   literal (``ast.literal_eval``; the one f-string row is left out);
2. it runs under Math-Verify's default comparison options: rows that set ``precision`` to
   anything but 6, ``strict=False`` or ``allow_set_relation_comp=True`` are left out (their
   label belongs to that option, and soarkit-math has no such switch);
3. gold and prediction are both *plain math*: once one outer ``$``/``$$``/``\\(``/``\\[`` pair is
   removed, neither has a word of five or more letters outside LaTeX commands and
   ``\\text{}``-style groups (this leaves out model transcripts and prose answers, and keeps
   short connectives such as ``and``/``or`` between answers).

On the pinned commit this selects 157 of 268 rows. A prediction without ``\\boxed`` is boxed
for soarkit-math (whose reward needs a box): when it is a sentence around inline math
(``We find that $x \\lt 3$.``) the last ``$...$`` span is boxed, otherwise the whole text without
its ``$`` signs. Math-Verify gets the same completion text as soarkit-math.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: Math-Verify commit the suite is read at (main, 2 July 2025; version 0.8.0 + 3 commits).
PINNED_COMMIT = "5d148cfaaf99214c2e4ffb4bc497ab042c592a7a"
#: Where the ``fetch`` tool of this workplace leaves a bare mirror, tried when no path is given.
DEFAULT_MIRROR = Path("/work/.mirror/huggingface+Math-Verify/repo")
ENV_VAR = "SOARKIT_MATH_VERIFY_REPO"

_DEFAULTS = {"precision": 6, "strict": True, "allow_set_relation_comp": False}
_TEXT_GROUP = re.compile(r"\\(?:text|textbf|textrm|textnormal|mathrm|mbox)\s*\{[^{}]*\}")
_COMMAND = re.compile(r"\\[A-Za-z]+")
_LONG_WORD = re.compile(r"[A-Za-z]{5,}")
_INLINE = re.compile(r"\$([^$]+)\$")


@dataclass(frozen=True)
class Case:
    source: str  # file::test
    gold: str
    pred: str
    expected: bool
    completion: str


class SuiteUnavailable(Exception):
    """No checkout at the pinned commit; the message says what to do."""


def _strip_outer(s: str) -> str:
    s = s.strip()
    for a, b in (("$$", "$$"), ("$", "$"), ("\\[", "\\]"), ("\\(", "\\)")):
        if s.startswith(a) and s.endswith(b) and len(s) >= len(a) + len(b):
            return s[len(a) : len(s) - len(b)].strip()
    return s


def plain_math(s: str) -> bool:
    """Rule 3 of the module docstring."""
    t = _TEXT_GROUP.sub(" ", _strip_outer(s))
    return not _LONG_WORD.search(_COMMAND.sub(" ", t))


def boxed_completion(pred: str) -> str:
    """The prediction as a completion with a box (unchanged when it already has one)."""
    if "\\boxed" in pred:
        return pred
    inner = _strip_outer(pred)
    spans = _INLINE.findall(inner)
    if spans and _INLINE.sub("", inner).strip(" .,"):
        body = spans[-1]  # a sentence around inline math: its (last) math
    else:
        body = inner.replace("$", "")
    return "\\boxed{" + body.strip() + "}"


def find_repo(path: str | None) -> Path:
    """The checkout to read: ``path``, else ``$SOARKIT_MATH_VERIFY_REPO``, else the mirror."""
    for candidate in (path, os.environ.get(ENV_VAR), str(DEFAULT_MIRROR)):
        if candidate:
            p = Path(candidate)
            if p.exists():
                return p
            if candidate is path or candidate == os.environ.get(ENV_VAR):
                raise SuiteUnavailable(f"Math-Verify checkout not found: {p}")
    raise SuiteUnavailable(
        "no Math-Verify checkout: pass --math-verify-repo PATH or set "
        f"{ENV_VAR} (git clone https://github.com/huggingface/Math-Verify; "
        f"commit {PINNED_COMMIT[:12]} is read)"
    )


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SuiteUnavailable(
            f"{repo}: git {' '.join(args[:2])} failed "
            f"(is commit {PINNED_COMMIT[:12]} in this checkout?): {done.stderr.strip()[:200]}"
        )
    return done.stdout


def _rows(source: str, name: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef):
            continue
        for deco in node.decorator_list:
            if not (
                isinstance(deco, ast.Call)
                and getattr(deco.func, "attr", "") == "parametrize"
                and len(deco.args) >= 2
            ):
                continue
            try:
                names = ast.literal_eval(deco.args[0])
                values = ast.literal_eval(deco.args[1])
            except ValueError:
                continue  # rule 1: not a literal table
            if isinstance(names, str):
                names = [n.strip() for n in names.split(",")]
            for v in values:
                row = dict(zip(names, v, strict=False))
                row["source"] = f"{name}::{node.name}"
                rows.append(row)
    return rows


def load_cases(repo: Path) -> tuple[list[Case], int]:
    """The selected cases and the number of rows they were selected from."""
    listing = _git(repo, "ls-tree", "--name-only", PINNED_COMMIT, "tests/")
    files = sorted(f for f in listing.split() if Path(f).name.startswith("test_"))
    rows: list[dict[str, object]] = []
    for f in files:
        rows += _rows(_git(repo, "show", f"{PINNED_COMMIT}:{f}"), Path(f).name)
    cases = []
    for row in rows:
        expected = row.get("expected", row.get("result"))
        gold, pred = row.get("gold"), row.get("pred")
        if not isinstance(gold, str) or not isinstance(pred, str) or expected is None:
            continue
        if any(k in row and row[k] != v for k, v in _DEFAULTS.items()):
            continue
        if not (plain_math(gold) and plain_math(pred)):
            continue
        cases.append(Case(str(row["source"]), gold, pred, bool(expected), boxed_completion(pred)))
    return cases, len(rows)
