"""A run directory that survives a SIGKILL at any moment.

Everything is written atomically (temp file/dir + ``os.replace``), and ``state.json`` is
the single commit point: an outer step counts as done only once the state that names its
checkpoints is in place. On resume, anything a killed step wrote after the last commit
(metrics lines, half-written checkpoints) is discarded, so nothing is lost or duplicated.

Layout::

    config.toml        the effective configuration
    state.json         commit point: last finished step, checkpoint names, promotion history
    metrics.jsonl      one JSON line per finished outer step
    hardset.jsonl      the hard set (train/test split marked per line)
    pq.jsonl           promotion questions so far (HF `datasets`-readable JSON lines)
    checkpoints/       teacher-<step>/, baseline-<step>/ (only the live ones are kept)
    report/            plots and summary from `soarkit report`
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from soar_kit.contracts.model import Policy
from soar_kit.contracts.records import Problem
from soar_kit.errors import SoarKitError
from soar_kit.lm.weights import load_causal_lm

if TYPE_CHECKING:
    from soar_kit.config import RunConfig
    from soar_kit.contracts.domain import Domain


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise SoarKitError(f"{path}:{lineno}: not a JSON line ({exc.msg})") from exc
    return rows


@dataclass
class RunState:
    """What ``state.json`` commits after every outer step: enough to resume exactly.

    ``first_diversity`` is the diversity of the first step, per kernel (``ngram``,
    ``minilm``): a run resumed with another kernel must not compare scales. On disk the layout
    is the one runs have always written (``first_diversity`` for ngram,
    ``first_diversity_<kernel>`` for the others), so old runs resume and new runs stay readable.
    """

    step: int = 0
    history: list[float] = field(default_factory=list)
    promotions: list[dict[str, Any]] = field(default_factory=list)
    pq: list[dict[str, Any]] = field(default_factory=list)
    hardset: bool = False
    teacher: str | None = None
    baseline: str | None = None
    first_diversity: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "step": self.step,
            "history": self.history,
            "promotions": self.promotions,
            "pq": self.pq,
            "hardset": self.hardset,
        }
        for kernel, value in self.first_diversity.items():
            out["first_diversity" + ("" if kernel == "ngram" else f"_{kernel}")] = value
        if self.baseline:
            out["baseline"] = self.baseline
        if self.teacher:
            out["teacher"] = self.teacher
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunState:
        first = {
            ("ngram" if key == "first_diversity" else key.removeprefix("first_diversity_")): value
            for key, value in data.items()
            if key.startswith("first_diversity")
        }
        return cls(
            step=int(data.get("step", 0)),
            history=list(data.get("history", [])),
            promotions=list(data.get("promotions", [])),
            pq=list(data.get("pq", [])),
            hardset=bool(data.get("hardset", False)),
            teacher=data.get("teacher") or None,
            baseline=data.get("baseline") or None,
            first_diversity=first,
        )


class RunStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.checkpoints = root / "checkpoints"

    # -- paths ----------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.root / "config.toml"

    @property
    def state_path(self) -> Path:
        return self.root / "state.json"

    @property
    def metrics_path(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def hardset_path(self) -> Path:
        return self.root / "hardset.jsonl"

    @property
    def pq_path(self) -> Path:
        return self.root / "pq.jsonl"

    # -- state ----------------------------------------------------------------------------------
    def load_state(self) -> dict[str, Any] | None:
        if not self.state_path.exists():
            return None
        try:
            return json.loads(self.state_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:  # cannot happen with atomic writes, but say so
            raise SoarKitError(f"{self.state_path}: corrupt run state ({exc.msg})") from exc

    def run_state(self) -> RunState | None:
        """The committed state as a :class:`RunState` (``None`` before the first commit)."""
        data = self.load_state()
        return None if data is None else RunState.from_json(data)

    def commit_state(self, state: RunState | dict[str, Any]) -> None:
        data = state.to_json() if isinstance(state, RunState) else state
        atomic_write_text(self.state_path, json.dumps(data, indent=2))

    # -- metrics --------------------------------------------------------------------------------
    def append_metrics(self, row: dict[str, Any]) -> None:
        """Append one step's metrics; duplicates of a re-run step are removed on resume."""
        self.metrics_path.parent.mkdir(parents=True, exist_ok=True)
        with self.metrics_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_path.exists():
            return []
        rows = []
        for line in self.metrics_path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line torn by a kill mid-write
        return rows

    def truncate_metrics(self, committed_steps: int) -> None:
        """Keep exactly the lines of steps < committed_steps (one each), dropping torn lines."""
        kept: dict[int, dict[str, Any]] = {}
        for row in self.metrics():
            step = row.get("step")
            if isinstance(step, int) and step < committed_steps:
                kept[step] = row
        write_jsonl(self.metrics_path, [kept[s] for s in sorted(kept)])

    # -- checkpoints ----------------------------------------------------------------------------
    def checkpoint_dir(self, name: str) -> Path:
        return self.checkpoints / name

    def staging_dir(self, name: str) -> Path:
        """A fresh temp dir next to the final one; publish it with :meth:`publish`."""
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        tmp = self.checkpoints / f".tmp-{name}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        return tmp

    def publish(self, staging: Path, name: str) -> Path:
        final = self.checkpoint_dir(name)
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
        return final

    def prune_checkpoints(self, keep: Iterable[str]) -> None:
        """Delete every checkpoint not named in ``keep`` (after the state that names them)."""
        wanted = set(keep)
        if not self.checkpoints.exists():
            return
        for child in self.checkpoints.iterdir():
            if child.name not in wanted:
                shutil.rmtree(child, ignore_errors=True)


# -- checkpoints and promotion questions --------------------------------------------------------


def save_checkpoint(
    store: RunStore,
    policy: Policy,
    name: str,
    extra: dict[str, Any],
    state: dict[str, Any] | None = None,
) -> None:
    """Save ``policy`` (and ``extra`` tensors/states, e.g. the optimizer) as checkpoint ``name``,
    atomically: a kill leaves the previous checkpoint or this one, never half of it. ``state``
    replaces the model's own state dict (a LoRA pool's base under its plain names)."""
    import torch

    staging = store.staging_dir(name)
    policy.model.save_pretrained(staging, state_dict=state, safe_serialization=True)
    policy.tokenizer.save_pretrained(staging)
    for key, value in extra.items():
        torch.save(value, staging / f"{key}.pt")
    store.publish(staging, name)


def load_checkpoint(path: Path, config: RunConfig) -> Policy:
    model, tokenizer = load_causal_lm(path, dtype=config.model.dtype, device=config.model.device)
    return Policy(model, tokenizer, spec=str(path))


def load_pq(store: RunStore, domain: Domain) -> list[Problem]:
    """The run's promotion questions (PQ), as the domain's problems."""
    if not store.pq_path.exists():
        return []
    fields = set(Problem.model_fields)
    return [
        domain.problem_from_json({k: v for k, v in row.items() if k in fields})
        for row in read_jsonl(store.pq_path)
    ]
