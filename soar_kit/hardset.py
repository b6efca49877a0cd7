"""Hard sets: the problems the base student fails at fail@k, split into train and test.

SOAR's premise (SOAR.md, "Roles"): a problem with 0 successes in k samples gives RL no gradient.
The train part drives the teacher's grounded reward; the test part is never used in training.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from soar_kit.config import RunConfig, derive_seed
from soar_kit.contracts.backend import GenerationBackend, SamplingParams
from soar_kit.contracts.domain import Domain
from soar_kit.contracts.model import Policy
from soar_kit.contracts.records import Problem
from soar_kit.errors import ConfigError, InvalidInput, SoarKitError
from soar_kit.runstore import read_jsonl, write_jsonl
from soar_kit.scoring import success_counts

if TYPE_CHECKING:
    from rich.progress import Progress

#: Problem-set names that refer to a domain's mini world instead of a named set.
MINI_PREFIX = "mini:"


@dataclass(frozen=True)
class HardSet:
    train: list[Problem]
    test: list[Problem]
    k: int
    mined_from: int  # how many candidates were tried

    def save(self, path: Path) -> None:
        rows = [
            {
                "split": split,
                "k": self.k,
                "mined_from": self.mined_from,
                **p.model_dump(mode="json"),
            }
            for split, part in (("train", self.train), ("test", self.test))
            for p in part
        ]
        write_jsonl(path, rows)

    @classmethod
    def load(cls, path: Path, domain: Domain) -> HardSet:
        if not path.exists():
            raise InvalidInput(f"hard set file {path} does not exist (make one: soarkit hardset)")
        train: list[Problem] = []
        test: list[Problem] = []
        k, mined = 0, 0
        for i, row in enumerate(read_jsonl(path), 1):
            split = row.pop("split", None)
            k = int(row.pop("k", k))
            mined = int(row.pop("mined_from", mined))
            if split not in ("train", "test"):
                raise InvalidInput(f"{path}:{i}: field 'split' must be 'train' or 'test'")
            try:
                problem = domain.problem_from_json(row)
            except InvalidInput as exc:
                raise InvalidInput(f"{path}:{i}: {exc}") from exc
            (train if split == "train" else test).append(problem)
        if not train or not test:
            raise InvalidInput(f"hard set {path} needs both train and test problems")
        return cls(train, test, k, mined)


def candidate_problems(domain: Domain, name: str, *, seed: int, size: int | None) -> list[Problem]:
    """Problems to mine from: a named problem set, or ``mini:hard`` / ``mini:<level>``."""
    if not name.startswith(MINI_PREFIX):
        return domain.load_problem_set(name, seed=seed, limit=size)
    world = domain.mini_world()
    if world is None:
        raise InvalidInput(f"domain '{domain.name}' has no mini world, so '{name}' is unknown")
    level_text = name[len(MINI_PREFIX) :]
    level = world.hard_level if level_text == "hard" else _parse_level(level_text, world.levels)
    rng = random.Random(seed)
    count = size or 64
    seen: set[str] = set()
    problems: list[Problem] = []
    for _ in range(count * 20):
        p = world.make_problem(level, rng)
        if p.question in seen:
            continue
        seen.add(p.question)
        problems.append(p.model_copy(update={"id": f"mini-{level}-{len(problems)}"}))
        if len(problems) == count:
            break
    return problems


def _parse_level(text: str, levels: int) -> int:
    if not text.isdigit() or not 1 <= int(text) <= levels:
        raise InvalidInput(f"mini world level must be 'hard' or 1..{levels}, got '{text}'")
    return int(text)


def mine_hard_set(
    domain: Domain,
    policy: Policy,
    backend: GenerationBackend,
    candidates: Sequence[Problem],
    *,
    k: int,
    max_new_tokens: int,
    seed: int,
    on_progress: Callable[[int], None] | None = None,
) -> HardSet:
    """Keep the problems with 0/k successes at temperature 1.0 and split them 50/50."""
    params = SamplingParams(n=k, temperature=1.0, max_new_tokens=max_new_tokens, seed=seed)
    # one call for all candidates, in chunks of 8 seeded seed + start (as when it was a loop)
    counts = success_counts(
        domain,
        policy,
        backend,
        candidates,
        params,
        chunk=8,
        on_done=(lambda i: on_progress(min(8, len(candidates) - 8 * i))) if on_progress else None,
    )
    hard: list[Problem] = [p for p, c in zip(candidates, counts, strict=True) if c == 0]
    if len(hard) < 2:
        raise SoarKitError(
            f"only {len(hard)} of {len(candidates)} problems are fail@{k} for this model: "
            "no hard set to learn from (try a harder problem set or a larger hardset.size)"
        )
    order = list(hard)
    random.Random(seed).shuffle(order)
    half = len(order) // 2
    return HardSet(train=order[:half], test=order[half:], k=k, mined_from=len(candidates))


def problem_set_name(config: RunConfig, domain: Domain) -> str:
    """The set a run mines from: ``hardset.problem_set``, else soar-mini's own hard level,
    else the domain's default set."""
    if config.hardset.problem_set:
        return config.hardset.problem_set
    if config.model.name == "soar-mini" and domain.mini_world() is not None:
        return f"{MINI_PREFIX}hard"
    if not domain.default_problem_set:
        raise ConfigError(f"hardset.problem_set: domain '{domain.name}' names no default set")
    return domain.default_problem_set


def mine_configured_hard_set(
    config: RunConfig,
    domain: Domain,
    backend: GenerationBackend,
    policy: Policy,
    progress: Progress,
) -> HardSet:
    """The fail@k hard set that ``config.hardset`` describes, mined with ``policy``."""
    name = problem_set_name(config, domain)
    candidates = candidate_problems(
        domain, name, seed=derive_seed(config.seed, "hardset"), size=config.hardset.size
    )
    task = progress.add_task(f"mining fail@{config.hardset.k} on {name}", total=len(candidates))
    hard = mine_hard_set(
        domain,
        policy,
        backend,
        candidates,
        k=config.hardset.k,
        max_new_tokens=config.student.rl.sampling.max_new_tokens,
        seed=derive_seed(config.seed, "hardset-sampling"),
        on_progress=lambda n: progress.advance(task, n),
    )
    progress.remove_task(task)
    return hard
