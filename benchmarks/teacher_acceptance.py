"""How often a model's teacher outputs are valid problems, per math prompt/format option.

    .venv/bin/python benchmarks/teacher_acceptance.py      # SmolLM2, 48 samples per variant
    .venv/bin/python benchmarks/teacher_acceptance.py --samples 8 --variants plain-ex2 --no-write

Issue #18: SOAR needs g accepted datasets per outer step, and a teacher that writes valid
problems in 0-1 of 32 tries cannot give RLOO a group. Each variant samples ``--samples`` teacher
outputs through the run's own path (model source, chat template, generation backend, the math
domain's parser), seeded, and reports the accepted share, the rejection reasons, the share of
copies of a shown example (rejected) and the n-gram Vendi score of the accepted questions,
also on an equal-size subset so variants with more accepted questions do not look more diverse
by count alone. Writes benchmarks/results/teacher_acceptance.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

VARIANTS: dict[str, tuple[dict[str, Any], float]] = {
    # name: (domain.options, teacher temperature)
    "tags-compact-T1": ({"format": "tags", "prompt": "compact"}, 1.0),
    "tags-paper-T1": ({"format": "tags", "prompt": "paper"}, 1.0),
    "tags-paper-open-T1": ({"format": "tags", "prompt": "paper", "open_turn": True}, 1.0),
    "tags-paper-open-ex5": (
        {"format": "tags", "prompt": "paper", "open_turn": True, "examples": 5},
        0.7,
    ),
    "tags-paper-open-ex3": (
        {"format": "tags", "prompt": "paper", "open_turn": True, "examples": 3},
        0.7,
    ),
    "plain-paper-open-T1": ({"format": "plain", "prompt": "paper", "open_turn": True}, 1.0),
    "plain-paper-open": ({"format": "plain", "prompt": "paper", "open_turn": True}, 0.7),
    "plain-ex1": ({"format": "plain", "prompt": "paper", "open_turn": True, "examples": 1}, 0.7),
    "plain-ex2": ({"format": "plain", "prompt": "paper", "open_turn": True, "examples": 2}, 0.7),
    "plain-ex3": ({"format": "plain", "prompt": "paper", "open_turn": True, "examples": 3}, 0.7),
    "plain-ex5": ({"format": "plain", "prompt": "paper", "open_turn": True, "examples": 5}, 0.7),
    "plain-ex3-T0.5": (
        {"format": "plain", "prompt": "paper", "open_turn": True, "examples": 3},
        0.5,
    ),
}


def measure(
    model: str, names: list[str], samples: int, seed: int, max_new_tokens: int
) -> list[dict[str, Any]]:
    from rich.progress import track

    from soar_kit.components import domain_for, load_run_policy, resolve_components
    from soar_kit.config import load_config
    from soar_kit.contracts.backend import SamplingParams
    from soar_kit.diversity import diversity
    from soar_kit.errors import ProblemRejected

    config = load_config(None, [f"model.name={model}", "domain.name=math"])
    parts = resolve_components(config)
    policy = load_run_policy(config, parts.domain)
    rows = []
    for name in track(names, description="variants"):
        options, temperature = VARIANTS[name]
        domain = domain_for(config, parts.domain.with_options(options), policy)
        rng = random.Random(seed)
        prompts = [domain.teacher_prompt(rng) for _ in range(samples)]
        params = SamplingParams(temperature=temperature, max_new_tokens=max_new_tokens, seed=seed)
        t0 = time.perf_counter()
        outs = parts.backend.generate(policy, prompts, params)
        seconds = time.perf_counter() - t0
        accepted: list[str] = []
        reasons: Counter[str] = Counter()
        for i, (text, *_) in enumerate(outs):
            try:
                accepted.append(domain.parse_teacher_output(text, problem_id=str(i)).question)
            except ProblemRejected as exc:
                reasons[exc.reason] += 1
        rows.append(
            {
                "variant": name,
                "options": options,
                "temperature": temperature,
                "samples": samples,
                "accepted": len(accepted),
                "acceptance": len(accepted) / samples,
                "rejections": dict(reasons.most_common()),
                "copies_rejected": reasons.get("copies an example", 0),
                "vendi": diversity(accepted) if len(accepted) > 1 else None,
                "questions": accepted,
                "seconds": round(seconds, 1),
            }
        )
    # how many accepted questions open like an example (its first 4 words): the examples'
    # pull on what is posed, which an exact-copy check does not see
    from soarkit_math.domain import EXAMPLE_PROBLEMS

    openings = {" ".join(q.lower().split()[:4]) for q, _ in EXAMPLE_PROBLEMS}
    for r in rows:
        shown = r["options"].get("examples", 0)
        r["opens_like_example"] = (
            sum(" ".join(q.lower().split()[:4]) in openings for q in r["questions"])
            if shown
            else None
        )
    # diversity at equal size: the first m accepted questions of each variant
    m = min((r["accepted"] for r in rows if r["accepted"] > 1), default=0)
    for r in rows:
        r["vendi_at_m"] = diversity(r["questions"][:m]) if m > 1 and r["accepted"] >= m else None
        r["m"] = m
    return rows


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        f"# Teacher acceptance: {meta['model']} on math (benchmarks/teacher_acceptance.py)",
        "",
        f"{meta['samples']} teacher samples per variant, seed {meta['seed']}, "
        f"{meta['max_new_tokens']} new tokens, chat template on, {meta['machine']}; "
        f"{meta['seconds']:.0f} s in all. Vendi: n-gram kernel over the accepted questions; "
        f"at m: over the first {rows[0]['m'] if rows else 0} accepted of each variant.",
        "",
        "| variant | options | T | accepted | copies rejected | accepted opening like an example "
        "| Vendi | Vendi at m | main rejections |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        opts = ", ".join(f"{k}={v}" for k, v in r["options"].items())
        rej = ", ".join(f"{k} ({v})" for k, v in list(r["rejections"].items())[:3])
        vendi = "-" if r["vendi"] is None else f"{r['vendi']:.2f}"
        at_m = "-" if r["vendi_at_m"] is None else f"{r['vendi_at_m']:.2f}"
        opens = "-" if r["opens_like_example"] is None else str(r["opens_like_example"])
        lines.append(
            f"| {r['variant']} | {opts} | {r['temperature']:g} | {r['accepted']}/{r['samples']} "
            f"({100 * r['acceptance']:.0f} %) | {r['copies_rejected']} | {opens} | {vendi} | "
            f"{at_m} | "
            f"{rej} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--samples", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-new-tokens", type=int, default=160)
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--suffix", default="", help="results file name suffix (a second table)")
    args = ap.parse_args()

    import torch

    from soar_kit.commands.bench import machine_info

    torch.set_num_threads(args.threads)
    names = [n for n in args.variants.split(",") if n]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {', '.join(unknown)} (known: {', '.join(VARIANTS)})")
    t0 = time.perf_counter()
    rows = measure(args.model, names, args.samples, args.seed, args.max_new_tokens)
    info = machine_info()
    meta = {
        "model": args.model,
        "samples": args.samples,
        "seed": args.seed,
        "max_new_tokens": args.max_new_tokens,
        "threads": args.threads,
        "machine": f"{info.get('cpu', 'cpu')}, {args.threads} threads",
        "seconds": time.perf_counter() - t0,
    }
    text = markdown(rows, meta)
    print(text)
    if not args.no_write:
        out = Path(__file__).parent / "results"
        (out / f"teacher_acceptance{args.suffix}.json").write_text(
            json.dumps({"meta": meta, "machine": info, "rows": rows}, indent=1) + "\n"
        )
        (out / f"teacher_acceptance{args.suffix}.md").write_text(text)


if __name__ == "__main__":
    main()
