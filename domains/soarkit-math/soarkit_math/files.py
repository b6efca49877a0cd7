"""Loading user problem files in the common MATH format (MATH, HARP, OlympiadBench, ...).

A record needs a question (``problem``, or ``question``) and a reference: ``answer`` if present,
else the last ``\\boxed{}`` of ``solution``. Files are anything ``datasets`` reads (JSONL, a JSON
list, Parquet, Arrow, CSV; hub ids where the network allows), read by the core's
:mod:`soar_kit.contracts.problem_files` with an optional column mapping. Records without a usable
reference are skipped and counted (a dataset always has a few), but a file where no record is
usable is an error naming the file.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from soar_kit.contracts import problem_files
from soar_kit.contracts.records import Problem
from soar_kit.errors import InvalidInput
from soarkit_math.extract import last_boxed

_QUESTION_KEYS = ("problem", "question", "Problem", "Question")
_ANSWER_KEYS = ("answer", "final_answer", "Answer", "gt_answer")
_SOLUTION_KEYS = ("solution", "Solution")


def _first(data: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for k in keys:
        if k in data and data[k] is not None:
            return data[k]
    return None


def problem_from_record(data: Mapping[str, Any], *, index: int, source: str) -> Problem:
    """One MATH-format record as a :class:`Problem`, or :class:`InvalidInput` naming the gap."""
    question = _first(data, _QUESTION_KEYS)
    if not isinstance(question, str) or not question.strip():
        raise InvalidInput("math problem needs a 'problem' (or 'question') field")
    answer = _first(data, _ANSWER_KEYS)
    if isinstance(answer, list):  # OlympiadBench keeps final answers as a list
        answer = ", ".join(str(a) for a in answer) if answer else None
    if answer is not None and not isinstance(answer, str):
        answer = str(answer)
    if answer is not None:
        boxed = last_boxed(answer)
        answer = (boxed.content if boxed is not None else answer).strip().strip("$").strip()
    if not answer:
        solution = _first(data, _SOLUTION_KEYS)
        boxed = last_boxed(solution) if isinstance(solution, str) else None
        if boxed is None or not boxed.content:
            raise InvalidInput(
                "math problem needs an 'answer' field or a 'solution' with \\boxed{}"
            )
        answer = boxed.content
    pid = str(data.get("id", data.get("unique_id", f"{source}-{index:06d}")))
    extra = {k: data[k] for k in ("level", "type", "subject") if data.get(k) is not None}
    return Problem(
        id=pid,
        question=question.strip(),
        answer=answer,
        domain="math",
        data=json.loads(json.dumps(extra, default=str)),
        source=source,
    )


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """The records of a JSONL / JSON / Parquet file."""
    p = Path(path)
    if not p.is_file():
        raise InvalidInput(f"problem file not found: {p}")
    if p.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise InvalidInput(f"{p}: reading Parquet needs pyarrow (pip install pyarrow)") from exc
        return pq.read_table(p).to_pylist()
    text = p.read_text(encoding="utf-8")
    if p.suffix == ".json" or text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{p}: not valid JSON ({exc.msg}, line {exc.lineno})") from exc
        if not isinstance(data, list):
            raise InvalidInput(f"{p}: expected a JSON list of problems")
        return data
    records = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"{p}:{n}: not valid JSON ({exc.msg})") from exc
    return records


def load_problems(
    path: str | Path | Mapping[str, Any], *, seed: int, limit: int | None = None
) -> list[Problem]:
    """Usable problems of a MATH-format source; a seeded sample when ``limit`` takes a subset.

    ``path`` is a file path, a ``file:``/``hf:`` source string, or a config table with a column
    mapping (``{path = "x.parquet", question = "prompt", answer = "target"}``).
    """
    spec: Any = path
    if isinstance(path, Path) or (isinstance(path, str) and not problem_files.is_file_source(path)):
        spec = problem_files.FileSource(str(path))
    src = problem_files.FileSource.coerce(spec)
    problems, skipped = problem_files.problems_from_rows(
        problem_files.read_rows(src),
        lambda rec, i: (
            Problem.model_validate(rec)  # a saved problem (hard set, PQ export) stays as it was
            if "domain" in rec
            else problem_from_record(rec, index=i, source=f"file:{Path(src.location).name}")
        ),
        domain_name="math",
        label=src.label,
        columns=src.columns,
    )
    if not problems:
        first = skipped[0] if skipped else "no rows"
        raise InvalidInput(
            f"{src.location}: no record has a problem and an answer (or boxed solution); {first}"
        )
    if limit is not None and limit < len(problems):
        rng = random.Random(f"soarkit-math:file:{seed}")
        problems = rng.sample(problems, limit)
    return problems
