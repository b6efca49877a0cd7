"""Does SmolLM2-135M have an edge of learnability in arithmetic? RL on easier problems vs the hard.

    .venv/bin/python benchmarks/smollm2_edge.py                      # ~35 min per seed, 2 cores
    .venv/bin/python benchmarks/smollm2_edge.py --seeds 0 1 --lr 1e-5

Issue #18 item 3 asks for a level SmolLM2 fails at fail@k where RL on lower levels lifts it
while RL on the hard level alone does not. ``smollm2_levels.py`` found the first property
(``arithmetic-l2``: three terms up to 100, pass@1 0.005). This script measures the other two,
in the protocol of ``edge_of_learnability.py`` (soar-mini's edge), through the run's own path
(model source, chat template, backend, the math domain's plain format and verifier, the
``rloo`` trainer):

1. mine the hard set: ``--candidates`` ``arithmetic-l2`` problems, kept where 0 of ``--k``
   samples (T 1.0) are right, split in half (train / test);
2. sample the kept test half again with a fresh seed: mining at fail@k selects problems that
   were unlucky as well as hard, so this, not 0, is the "before" a lift is measured against;
3. per seed, two students trained from the same base with the same RLOO settings: one on the
   hard train half (Hard-Only), one on fresh stepping stones that never contain the hard
   level's shape (``arithmetic-l1`` two one-digit terms, and two terms up to 100);
4. each student's hard-test pass@1 / pass@k (k samples) and its held-out ``arithmetic-l1``
   pass@1, which says whether the run learnt anything at all.

Everything is seeded. Writes benchmarks/results/smollm2_edge.{json,md} after every stage, so a
stopped run keeps what it measured.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def stones(count: int, seed: int, kind: str = "pairs") -> list[Any]:
    """Fresh stepping stones, in turn: ``arithmetic-l1`` (a ± b, 1-10), a ± b with a, b ≤ 100,
    and (``kind="ladder"`` only) three terms up to 20.

    The hard level is three terms up to 100. ``pairs`` never has three terms, so a lift on the
    hard test would be transfer, not practice on the hard shape; ``ladder`` adds the hard shape
    with small numbers, a stone one rung below the hard level.
    """
    from soarkit_math.problems import make

    from soar_kit.contracts.records import Problem

    rungs = 3 if kind == "ladder" else 2
    rng = random.Random(f"smollm2-edge-stones-{seed}" + ("" if kind == "pairs" else f"-{kind}"))
    out = []
    for i in range(count):
        rung = i % rungs
        if rung == 0:
            out.append(make("arithmetic", 1, rng, i).model_copy(update={"id": f"s{seed}-{i}"}))
            continue
        terms, top = (2, 100) if rung == 1 else (3, 20)
        values = [rng.randint(1, top) for _ in range(terms)]
        ops = [rng.choice("+-") for _ in range(terms - 1)]
        total, text = values[0], str(values[0])
        for op, v in zip(ops, values[1:], strict=True):
            total, text = (total + v, f"{text} + {v}") if op == "+" else (total - v, f"{text} - {v}")
        out.append(
            Problem(
                id=f"s{seed}-{i}",
                question=f"Compute ${text}$.",
                answer=str(total),
                domain="math",
                data={"family": "arithmetic", "level": 1.5},
                source=f"smollm2_edge:{terms} terms up to {top}",
            )
        )
    return out


def score(domain: Any, policy: Any, backend: Any, problems: list[Any], *, k: int, seed: int,
          tokens: int) -> dict[str, Any]:
    from soar_kit.contracts.backend import SamplingParams
    from soar_kit.scoring import success_counts

    params = SamplingParams(n=k, temperature=1.0, max_new_tokens=tokens, seed=seed)
    counts = success_counts(domain, policy, backend, problems, params)
    return {
        "problems": len(problems),
        "k": k,
        "pass@1": sum(counts) / (k * len(problems)),
        f"pass@{k}": sum(c > 0 for c in counts) / len(problems),
        "counts": counts,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--candidates", type=int, default=24)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--lr", type=float, default=1e-5)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--group", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=48)
    ap.add_argument("--easy", type=int, default=12, help="held-out arithmetic-l1 problems")
    ap.add_argument("--easy-k", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--stones", choices=["pairs", "ladder"], default="pairs",
                    help="pairs: one- and two-digit a±b; ladder: also three terms up to 20")
    ap.add_argument("--arms", nargs="+", choices=["stones", "hard_only"],
                    default=["stones", "hard_only"])
    ap.add_argument("--out", default=str(RESULTS / "smollm2_edge"))
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from soar_kit.commands.bench import machine_info
    from soar_kit.components import domain_for, load_run_policy, resolve_components
    from soar_kit.config import RLConfig, SamplingConfig, load_config
    from soar_kit.contracts.model import Policy
    from soar_kit.plugins import get_manager
    from soar_kit.students import train_on

    t_start = time.perf_counter()
    config = load_config(None, [f"model.name={args.model}", "domain.name=math"])
    parts = resolve_components(config)
    base = load_run_policy(config, parts.domain)
    domain = domain_for(config, parts.domain.with_options({"format": "plain"}), base)
    backend, trainer = parts.backend, get_manager().get("trainer", "rloo")
    ev = {"k": args.k, "tokens": args.tokens}

    out = Path(args.out)
    res: dict[str, Any] = {"args": vars(args), "machine": machine_info(), "runs": []}

    def save() -> None:
        res["seconds"] = round(time.perf_counter() - t_start, 1)
        out.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
        out.with_suffix(".md").write_text(markdown(res))

    # 1. mine the hard set at fail@k
    candidates = domain.load_problem_set("arithmetic-l2", seed=0, limit=args.candidates)
    mined = score(domain, base, backend, candidates, seed=1, **ev)
    kept = [p for p, c in zip(candidates, mined["counts"], strict=True) if c == 0]
    train, test = kept[: len(kept) // 2], kept[len(kept) // 2 :]
    res["mining"] = {**mined, "kept": len(kept), "train": len(train), "test": len(test)}
    if not test:
        save()
        raise SystemExit("smollm2_edge: no candidate failed at fail@k; nothing to measure")
    # 2. the kept test half sampled again, and the base's easy-level pass@1
    easy = domain.load_problem_set("arithmetic-l1", seed=7, limit=args.easy)
    res["before"] = {
        "hard_test": score(domain, base, backend, test, seed=2, **ev),
        "easy": score(domain, base, backend, easy, k=args.easy_k, seed=3, tokens=args.tokens),
    }
    save()
    # 3./4. per seed: Hard-Only vs stepping stones, same settings
    settings = RLConfig(
        lr=args.lr,
        steps=args.steps,
        batch_size=args.batch,
        group_size=args.group,
        kl=0.0,
        schedule="constant",
        sampling=SamplingConfig(temperature=1.0, max_new_tokens=args.tokens),
    )
    for seed in args.seeds:
        data = {"stones": stones(args.steps * args.batch, seed, args.stones), "hard_only": train}
        for arm in args.arms:
            problems = data[arm]
            student = Policy(copy.deepcopy(base.model), base.tokenizer, base.spec, {})
            t0 = time.perf_counter()
            stats = train_on(domain, trainer, student, problems, settings, seed, backend=backend)
            row = {
                "arm": arm,
                "seed": seed,
                "train_seconds": round(time.perf_counter() - t0, 1),
                "train_reward": stats.mean_reward,
                "hard_test": score(domain, student, backend, test, seed=10 + seed, **ev),
                "easy": score(
                    domain, student, backend, easy, k=args.easy_k, seed=3, tokens=args.tokens
                ),
            }
            res["runs"].append(row)
            del student
            save()
            print(arm, seed, {k: v for k, v in row.items() if k != "train_reward"})
    save()
    print(f"wrote {out}.json/.md")


def _every(values: list[float], width: int = 5) -> str:
    means = [sum(values[i : i + width]) / len(values[i : i + width]) for i in
             range(0, len(values), width)]
    return " ".join(f"{m:.2f}" for m in means)


def markdown(res: dict[str, Any]) -> str:
    """The summary page; tolerates a partial ``res`` (it is written after every stage)."""
    a, m = res["args"], res["machine"]
    k = a["k"]
    lines = [
        f"# {a['model']}: an edge in arithmetic? RL on stepping stones vs the hard level "
        "(benchmarks/smollm2_edge.py)",
        "",
        f"Plain format, T 1.0, {a['tokens']} new tokens; RLOO lr {a['lr']}, {a['steps']} steps "
        f"of {a['batch']} prompts x {a['group']} samples, constant schedule, no KL; "
        f"stones: {a.get('stones', 'pairs')}; "
        f"{m.get('cpu', 'cpu')}, {a['threads']} threads, torch {m.get('torch', '?')}; "
        f"{res.get('seconds', 0) / 60:.1f} min so far.",
        "",
    ]
    mi = res.get("mining")
    if mi:
        lines.append(
            f"Hard set: {mi['problems']} `arithmetic-l2` candidates, {mi['kept']} fail@{k} "
            f"(pass@1 of all candidates {mi['pass@1']:.3f}), {mi['train']} train / "
            f"{mi['test']} test."
        )
    b = res.get("before")
    if b:
        h, e = b["hard_test"], b["easy"]
        lines += [
            "",
            "| student | seed | train reward, means of 5 steps | hard test pass@1 | "
            f"hard test pass@{k} | arithmetic-l1 pass@1 |",
            "|---|---|---|---|---|---|",
            f"| base (test half re-sampled) | - | - | {h['pass@1']:.4f} | {h[f'pass@{k}']:.3f} | "
            f"{e['pass@1']:.3f} |",
        ]
        for r in res.get("runs", []):
            h, e = r["hard_test"], r["easy"]
            lines.append(
                f"| {r['arm']} | {r['seed']} | {_every(r['train_reward'])} | {h['pass@1']:.4f} | "
                f"{h[f'pass@{k}']:.3f} | {e['pass@1']:.3f} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
