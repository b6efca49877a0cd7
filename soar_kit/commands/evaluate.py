"""``soarkit eval``: the paper's comparison on a run's hard test part (SOAR.md, "Evaluations").

Methods, each a student evaluated by pass@k (unbiased estimator, 32 samples at temperature 1):

* ``base``          the untrained base model;
* ``hard-only``     a fresh student trained by RL directly on the hard train part (the baseline
                    to beat: it gets almost no signal);
* ``ps``            the promoted student (the run's final baseline);
* ``pq-curriculum`` a fresh student trained on the promotion questions, then on hard train;
* ``pq-mixed``      a fresh student trained on promotion questions and hard train shuffled.

Trained methods are repeated over seeds (training and sampling seeds); fixed-weight methods
(base, ps) vary only in their sampling seed. Results: mean and standard deviation per method.
"""

from __future__ import annotations

import json
import random
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from soar_kit.components import domain_for, load_run_policy, resolve_components
from soar_kit.config import RunConfig, derive_seed, load_config
from soar_kit.contracts.records import Problem
from soar_kit.errors import InvalidInput
from soar_kit.hardset import HardSet
from soar_kit.lm.weights import restore_state, snapshot_state
from soar_kit.progress import make_progress
from soar_kit.runstore import RunStore, atomic_write_text, load_checkpoint, load_pq
from soar_kit.scoring import KS, pass_at_ks
from soar_kit.students import train_on

METHODS = ("base", "hard-only", "ps", "pq-curriculum", "pq-mixed")


def evaluate_run(
    run_dir: Path,
    *,
    seeds: int = 3,
    samples: int = 32,
    methods: Sequence[str] = METHODS,
    train_steps: int | None = None,
    console: Console | None = None,
) -> dict[str, Any]:
    """Evaluate ``methods`` on the run's hard test part; writes ``eval.json`` in the run dir."""
    console = console or Console()
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise InvalidInput(
            f"unknown method(s) {', '.join(sorted(unknown))} (known: {', '.join(METHODS)})"
        )
    store = RunStore(run_dir)
    if not store.config_path.exists():
        raise InvalidInput(f"{run_dir} is not a run directory (no config.toml)")
    config: RunConfig = load_config(store.config_path)
    parts = resolve_components(config)
    domain = parts.domain
    hard = HardSet.load(store.hardset_path, domain)
    state = store.run_state()
    pq = load_pq(store, domain)
    steps = train_steps or 2 * config.student.rl.steps
    max_new = config.student.rl.sampling.max_new_tokens

    base = load_run_policy(config, domain)
    domain = domain_for(config, domain, base)
    base_state = snapshot_state(base.model)
    ps_state = None
    if state is not None and state.baseline:
        ps_state = snapshot_state(
            load_checkpoint(store.checkpoint_dir(state.baseline), config).model
        )

    def train(problems: list[Problem], seed: int, n_steps: int = steps) -> None:
        settings = config.student.rl.model_copy(update={"steps": n_steps})
        train_on(domain, parts.trainer, base, problems, settings, seed)

    def plan_base(seed: int) -> bool:
        restore_state(base.model, base_state)
        return True

    def plan_ps(seed: int) -> bool:
        if ps_state is None:
            return False
        restore_state(base.model, ps_state)
        return True

    def plan_hard_only(seed: int) -> bool:
        restore_state(base.model, base_state)
        train(list(hard.train), derive_seed(seed, "hard-only"))
        return True

    def plan_pq_curriculum(seed: int) -> bool:
        if not pq:
            return False
        restore_state(base.model, base_state)
        train(pq, derive_seed(seed, "pq-curriculum", 1))
        train(list(hard.train), derive_seed(seed, "pq-curriculum", 2))
        return True

    def plan_pq_mixed(seed: int) -> bool:
        if not pq:
            return False
        restore_state(base.model, base_state)
        mixed = pq + list(hard.train)
        random.Random(seed).shuffle(mixed)
        # as many optimizer steps as the curriculum's two phases together
        train(mixed, derive_seed(seed, "pq-mixed"), 2 * steps)
        return True

    plans: dict[str, Callable[[int], bool]] = {
        "base": plan_base,
        "hard-only": plan_hard_only,
        "ps": plan_ps,
        "pq-curriculum": plan_pq_curriculum,
        "pq-mixed": plan_pq_mixed,
    }
    results: dict[str, Any] = {}
    with make_progress(console) as progress:
        task = progress.add_task("evaluating", total=len(methods) * seeds)
        for method in methods:
            runs = []
            for s in range(seeds):
                seed = derive_seed(config.seed, "eval", s)
                if plans[method](seed):
                    runs.append(
                        pass_at_ks(
                            domain,
                            base,
                            parts.backend,
                            hard.test,
                            samples=samples,
                            max_new_tokens=max_new,
                            seed=seed,
                        )
                    )
                progress.advance(task)
            if runs:
                results[method] = {
                    k: {
                        "mean": statistics.fmean(r[k] for r in runs),
                        "std": statistics.pstdev(r[k] for r in runs),
                        "runs": [r[k] for r in runs],
                    }
                    for k in runs[0]
                }
            else:
                results[method] = None  # e.g. no promotion happened, so no PS and no PQ
    out = {
        "run": str(run_dir),
        "hard_test": len(hard.test),
        "hard_train": len(hard.train),
        "pq_size": len(pq),
        "seeds": seeds,
        "samples": samples,
        "train_steps": steps,
        "results": results,
    }
    atomic_write_text(run_dir / "eval.json", json.dumps(out, indent=2))
    console.print(results_table(out))
    return out


def results_table(out: dict[str, Any]) -> Table:
    table = Table(
        title=f"pass@k on the hard test part ({out['hard_test']} problems, {out['seeds']} seeds, "
        f"mean ± std)",
        title_justify="left",
    )
    table.add_column("method")
    ks = [f"pass@{k}" for k in KS if k <= out["samples"]]
    for k in ks:
        table.add_column(k, justify="right")
    for method, res in out["results"].items():
        if res is None:
            table.add_row(escape(method), *["[dim]n/a[/]"] * len(ks))
        else:
            table.add_row(
                escape(method), *(f"{res[k]['mean']:.3f} ± {res[k]['std']:.3f}" for k in ks)
            )
    return table
