"""Problem sets from files: any table Hugging Face ``datasets`` reads, as problems of any domain.

Researchers already keep benchmarks as JSONL, Parquet, Arrow or CSV dumps (or hub ids). Rather
than each domain writing its own reader, the core reads the rows through ``datasets`` and the
*domain* turns each row into a :class:`~soar_kit.records.Problem` with
:meth:`~soar_kit.contracts.domain.Domain.problem_from_json` (its own format: MATH records for math,
HumanEval/MBPP for code, ...). So a file becomes a problem set of every domain at once, and the
core still knows no domain.

A source is written as a problem-set name (``hardset.problem_set``, ``--problem-set``)::

    file:PATH                                 a local file (or a save_to_disk folder)
    file:PATH?question=prompt&answer=target   with a column mapping
    hf:OWNER/NAME?split=test&subset=algebra   a hub dataset (only where the network allows)

The mapping renames the file's columns to the canonical ``question``, ``answer``, ``level`` and
``id`` before the domain sees the row; unmapped columns pass through unchanged (a MATH dump's
``problem``/``solution``/``level``/``type`` need no mapping). Rows a domain cannot use are
skipped and counted; a source where no row is usable is an error naming the first reason.

``datasets`` is imported only when a file is read: it is in the ``files`` extra
(``pip install 'soar-kit[files]'``) and in the dev setup.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl

from soar_kit.contracts.records import Problem
from soar_kit.errors import InvalidInput, ProblemRejected


class Domain(Protocol):
    """What this module needs of a domain: a structural type, so that the domain contract,
    which calls this module for ``file:``/``hf:`` sets, is not imported back."""

    name: str

    def problem_from_json(self, data: Mapping[str, Any]) -> Problem: ...

FILE_PREFIX = "file:"
HUB_PREFIX = "hf:"
#: Fields a column mapping may rename a file's columns to.
CANONICAL = ("question", "answer", "level", "id")
#: Keys of a source mapping that are not column names.
_SOURCE_KEYS = ("path", "hub", "split", "subset")
#: ``datasets`` builder per file suffix.
_BUILDERS = {
    ".jsonl": "json",
    ".json": "json",
    ".ndjson": "json",
    ".parquet": "parquet",
    ".arrow": "arrow",
    ".csv": "csv",
    ".tsv": "csv",
}
#: Where ``datasets`` keeps its Arrow conversions of local files (its default when unset).
CACHE_ENV = "SOARKIT_DATASETS_CACHE"
_PROBLEM_FIELDS = frozenset(Problem.model_fields)


@dataclass(frozen=True)
class FileSource:
    """Where a problem set's rows come from and how its columns map to a problem's fields."""

    location: str
    hub: bool = False
    split: str | None = None
    subset: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.location.strip():
            raise InvalidInput("problem file source: empty path")
        bad = sorted(set(self.columns) - set(CANONICAL))
        if bad:
            raise InvalidInput(
                f"problem file {self.location}: cannot map columns to {', '.join(bad)} "
                f"(mappable: {', '.join(CANONICAL)})"
            )

    @property
    def label(self) -> str:
        return f"{HUB_PREFIX}{self.location}" if self.hub else f"{FILE_PREFIX}{self.location}"

    @classmethod
    def parse(cls, text: str) -> FileSource:
        """``file:PATH[?k=v&...]`` or ``hf:ID[?k=v&...]``; a bare path counts as ``file:``."""
        hub = text.startswith(HUB_PREFIX)
        body = text[len(HUB_PREFIX) :] if hub else text.removeprefix(FILE_PREFIX)
        location, _, query = body.partition("?")
        options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=False))
        if query and not options:
            raise InvalidInput(f"problem file source {text!r}: cannot read options {query!r}")
        return cls.from_mapping({"hub" if hub else "path": location, **options})

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> FileSource:
        """A config table: ``{path = "...", question = "prompt", split = "test"}`` (or ``hub``)."""
        if ("path" in data) == ("hub" in data):
            raise InvalidInput("problem file source needs exactly one of 'path' or 'hub'")
        unknown = sorted(set(data) - set(_SOURCE_KEYS) - set(CANONICAL))
        if unknown:
            raise InvalidInput(
                f"problem file source: unknown key(s) {', '.join(unknown)} "
                f"(known: {', '.join((*_SOURCE_KEYS, *CANONICAL))})"
            )
        hub = "hub" in data
        return cls(
            location=str(data["hub" if hub else "path"]),
            hub=hub,
            split=_opt_str(data.get("split")),
            subset=_opt_str(data.get("subset")),
            columns={k: str(data[k]) for k in CANONICAL if data.get(k) not in (None, "")},
        )

    @classmethod
    def coerce(cls, spec: str | Mapping[str, Any] | FileSource) -> FileSource:
        if isinstance(spec, FileSource):
            return spec
        if isinstance(spec, Mapping):
            return cls.from_mapping(spec)
        return cls.parse(str(spec))


def _opt_str(v: Any) -> str | None:
    return None if v in (None, "") else str(v)


def is_file_source(name: str) -> bool:
    """Does a problem-set name refer to a file or hub dataset rather than a named set?"""
    return name.startswith((FILE_PREFIX, HUB_PREFIX))


def _datasets() -> Any:
    try:
        import datasets
    except ImportError as exc:
        raise InvalidInput(
            "reading problem files needs the 'datasets' package (pip install 'soar-kit[files]')"
        ) from exc
    datasets.utils.logging.disable_progress_bar()
    return datasets


def read_rows(source: str | Mapping[str, Any] | FileSource) -> list[dict[str, Any]]:
    """Every row of the source as a plain dict, read through ``datasets``."""
    src = FileSource.coerce(source)
    ds_mod = _datasets()
    cache = os.environ.get(CACHE_ENV) or None
    try:
        if src.hub:
            table = ds_mod.load_dataset(
                src.location, name=src.subset, split=src.split or "train", cache_dir=cache
            )
        else:
            path = Path(src.location).expanduser()
            if path.is_dir():
                table = ds_mod.load_from_disk(str(path))
                if isinstance(table, ds_mod.DatasetDict):
                    table = table[src.split or next(iter(table))]
            elif not path.is_file():
                raise InvalidInput(f"problem file not found: {path}")
            else:
                builder = _BUILDERS.get(path.suffix.lower())
                if builder is None:
                    known = ", ".join(sorted(_BUILDERS))
                    raise InvalidInput(f"{path}: unknown file type (known: {known})")
                kwargs: dict[str, Any] = {"sep": "\t"} if path.suffix.lower() == ".tsv" else {}
                table = ds_mod.load_dataset(
                    builder,
                    data_files={"train": str(path)},
                    split="train",
                    cache_dir=cache,
                    **kwargs,
                )
    except InvalidInput:
        raise
    except Exception as exc:  # datasets' errors are long; one line naming the source
        text = " ".join(str(exc).split())[:300]
        raise InvalidInput(f"cannot read {src.label}: {type(exc).__name__}: {text}") from exc
    return [dict(r) for r in table]


def map_columns(row: Mapping[str, Any], columns: Mapping[str, str]) -> dict[str, Any]:
    """The row with each mapped column renamed to its canonical field."""
    out = dict(row)
    for canonical, column in columns.items():
        if column not in row:
            raise InvalidInput(f"no column '{column}' (mapped to '{canonical}')")
        if canonical != column:
            out.pop(canonical, None)
            out[canonical] = out.pop(column)
    return out


def _as_problem_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row that is a serialised Problem (a hard set, a PQ export), cleaned of what tables add.

    Tables store ``data`` either as JSON text (what :func:`export_problems` writes, so that
    Parquet needs no struct schema) or as a struct, whose schema is the union over rows: a key
    one row lacks comes back as ``None`` there, so ``None`` entries are dropped. Fields that are
    not a Problem's (``split``, ``step``, ``reward``, ...) are left out.
    """
    out = {k: v for k, v in row.items() if k in _PROBLEM_FIELDS}
    for key in ("id", "question", "answer", "domain", "source"):
        if out.get(key) is not None and not isinstance(out[key], str):
            out[key] = str(out[key])  # CSV reads "2" back as a number
    data = out.get("data")
    if isinstance(data, str):
        try:
            data = json.loads(data) if data.strip() else {}
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"column 'data' is not JSON ({exc.msg})") from exc
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise InvalidInput("column 'data' must be a mapping or JSON text")
    out["data"] = {k: v for k, v in data.items() if v is not None}
    return out


def _is_problem_row(row: Mapping[str, Any]) -> bool:
    return {"id", "question", "answer", "domain"} <= set(row)


def problems_from_rows(
    rows: Iterable[Mapping[str, Any]],
    to_problem: Callable[[Mapping[str, Any], int], Problem],
    *,
    domain_name: str,
    label: str,
    columns: Mapping[str, str] | None = None,
) -> tuple[list[Problem], list[str]]:
    """Usable problems and one line per skipped row (``row N: reason``).

    ``to_problem(row, index)`` builds one problem. A problem left with the placeholder id
    ``user`` (what :meth:`~soar_kit.contracts.domain.Domain.problem_from_json` gives a row without one) is
    named after the file and row; a repeated id gets the row number appended.
    """
    problems: list[Problem] = []
    skipped: list[str] = []
    seen: set[str] = set()
    for i, raw in enumerate(rows):
        try:
            row = map_columns(raw, columns or {})
            saved = _is_problem_row(row)
            if saved:
                if row.get("domain") != domain_name:
                    raise InvalidInput(f"a problem of domain {row.get('domain')!r}")
                row = _as_problem_row(row)
            problem = to_problem(row, i)
        except (InvalidInput, ProblemRejected, ValueError, TypeError, KeyError) as exc:
            reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
            skipped.append(f"row {i}: {' '.join(reason.split())[:200]}")
            continue
        update: dict[str, Any] = {}
        if problem.domain != domain_name:
            update["domain"] = domain_name
        if problem.source in ("unknown", "user") and not saved:
            update["source"] = label
        if not saved and "level" not in problem.data and row.get("level") is not None:
            update["data"] = {**problem.data, "level": _plain(row["level"])}
        pid = str(problem.id)
        if pid == "user":
            pid = update["id"] = f"{Path(src_name(label)).stem or 'row'}-{i:06d}"
        if pid in seen:  # ids must be unique inside a set; a dump can repeat one
            pid = f"{pid}-{i}"
            update["id"] = pid
        seen.add(pid)
        problems.append(problem.model_copy(update=update) if update else problem)
    return problems, skipped


def src_name(label: str) -> str:
    """The path or hub id of a source label (``file:x.jsonl`` -> ``x.jsonl``)."""
    for prefix in (FILE_PREFIX, HUB_PREFIX):
        if label.startswith(prefix):
            return label[len(prefix) :]
    return label


def _plain(v: Any) -> Any:
    return json.loads(json.dumps(v, default=str))


def load_problems(
    domain: Domain,
    source: str | Mapping[str, Any] | FileSource,
    *,
    seed: int,
    limit: int | None = None,
    to_problem: Callable[[Mapping[str, Any], int], Problem] | None = None,
) -> list[Problem]:
    """The usable problems of a source for ``domain``; a seeded sample when ``limit`` is less.

    ``to_problem(row, index)`` defaults to the domain's own
    :meth:`~soar_kit.contracts.domain.Domain.problem_from_json`.
    """
    src = FileSource.coerce(source)
    problems, skipped = problems_from_rows(
        read_rows(src),
        to_problem or (lambda row, _i: domain.problem_from_json(row)),
        domain_name=domain.name,
        label=src.label,
        columns=src.columns,
    )
    if not problems:
        first = skipped[0] if skipped else "the file has no rows"
        raise InvalidInput(f"{src.label}: no row is a usable {domain.name} problem ({first})")
    if limit is not None and limit < len(problems):
        problems = random.Random(f"soarkit:file:{src.label}:{seed}").sample(problems, limit)
    return problems


def export_problems(
    problems: Sequence[Problem],
    path: str | Path,
    *,
    extra: Sequence[Mapping[str, Any]] | None = None,
) -> Path:
    """Write problems (plus per-row ``extra`` columns) as JSONL, Parquet, CSV or Arrow files.

    ``data`` is stored as JSON text so every format keeps it exactly, whatever its keys; the
    file reads back with :func:`load_problems` (``file:PATH``) or plain ``datasets``.
    """
    ds_mod = _datasets()
    p = Path(path)
    if extra is not None and len(extra) != len(problems):
        raise InvalidInput("export_problems: one extra row per problem")
    rows = []
    for i, problem in enumerate(problems):
        row = problem.model_dump(mode="json")
        row["data"] = json.dumps(row["data"], sort_keys=True)
        rows.append({**row, **(dict(extra[i]) if extra is not None else {})})
    table = ds_mod.Dataset.from_list(rows)
    p.parent.mkdir(parents=True, exist_ok=True)
    suffix = p.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        table.to_json(str(p), lines=True, force_ascii=False)
    elif suffix == ".parquet":
        table.to_parquet(str(p))
    elif suffix == ".csv":
        table.to_csv(str(p), index=False)
    elif suffix == ".arrow":
        _write_arrow(table, p)
    else:
        raise InvalidInput(f"{p}: unknown export type (use .jsonl, .parquet, .csv or .arrow)")
    return p


def _write_arrow(table: Any, path: Path) -> None:
    """An Arrow IPC stream file, which ``datasets``' ``arrow`` builder reads."""
    import pyarrow as pa

    data = table.data.table if hasattr(table.data, "table") else table.data
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, data.schema) as writer:
        writer.write_table(data)
