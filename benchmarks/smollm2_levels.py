"""Where SmolLM2-135M's edge lies: student pass@k per level of a math problem family.

    .venv/bin/python benchmarks/smollm2_levels.py                    # arithmetic l1-l4, plain
    .venv/bin/python benchmarks/smollm2_levels.py --family fractions --levels 1 2 --no-write

Issue #18 item 3 needs a family whose hard level SmolLM2 fails at fail@k while lower levels
are within reach. This is the first property only: each level's pass@1 and pass@k and how many
of its problems are fail@k, sampled at T 1.0 through the run's path (model source, chat
template, backend, the domain's verifier) with the math domain's options (default: the
``smollm2-cpu`` preset's plain format). RL lifts are not measured here.
Writes benchmarks/results/smollm2_levels.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    from rich.progress import track

    from soar_kit.components import domain_for, load_run_policy, resolve_components
    from soar_kit.config import load_config
    from soar_kit.contracts.backend import SamplingParams
    from soar_kit.scoring import success_counts

    config = load_config(None, [f"model.name={args.model}", "domain.name=math"])
    parts = resolve_components(config)
    policy = load_run_policy(config, parts.domain)
    domain = domain_for(config, parts.domain.with_options({"format": args.format}), policy)
    rows = []
    for level in track(args.levels, description="levels"):
        problems = domain.load_problem_set(
            f"{args.family}-l{level}", seed=args.seed, limit=args.problems
        )
        params = SamplingParams(
            n=args.k, temperature=1.0, max_new_tokens=args.tokens, seed=args.seed
        )
        t0 = time.perf_counter()
        counts = success_counts(domain, policy, parts.backend, problems, params)
        rows.append(
            {
                "level": level,
                "problems": len(problems),
                "k": args.k,
                "pass@1": sum(counts) / (len(counts) * args.k),
                f"pass@{args.k}": sum(c > 0 for c in counts) / len(counts),
                f"fail@{args.k}": sum(c == 0 for c in counts),
                "counts": counts,
                "example": problems[0].question,
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
    return rows


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    k = meta["k"]
    lines = [
        f"# {meta['model']}: student pass@k per level of `{meta['family']}` "
        "(benchmarks/smollm2_levels.py)",
        "",
        f"format={meta['format']}, {meta['problems']} problems per level, {k} samples each at "
        f"T 1.0, {meta['tokens']} new tokens, seed {meta['seed']}, {meta['machine']}; "
        f"{meta['seconds']:.0f} s in all.",
        "",
        f"| level | example | pass@1 | pass@{k} | fail@{k} problems |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['level']} | `{r['example']}` | {r['pass@1']:.3f} | {r[f'pass@{k}']:.3f} | "
            f"{r[f'fail@{k}']}/{r['problems']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--family", default="arithmetic")
    ap.add_argument("--levels", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--format", default="plain", choices=["plain", "tags"])
    ap.add_argument("--problems", type=int, default=16)
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    import torch

    from soar_kit.commands.bench import machine_info

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    rows = measure(args)
    info = machine_info()
    meta = {
        **{k: getattr(args, k) for k in ("model", "family", "format", "problems", "k")},
        **{k: getattr(args, k) for k in ("tokens", "seed", "threads")},
        "machine": f"{info.get('cpu', 'cpu')}, {args.threads} threads",
        "seconds": time.perf_counter() - t0,
    }
    text = markdown(rows, meta)
    print(text)
    if not args.no_write:
        out = Path(__file__).parent / "results"
        (out / "smollm2_levels.json").write_text(
            json.dumps({"meta": meta, "machine": info, "rows": rows}, indent=1) + "\n"
        )
        (out / "smollm2_levels.md").write_text(text)


if __name__ == "__main__":
    main()
