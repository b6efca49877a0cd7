"""How soar-mini's math world was chosen: the edge test's protocol on a variant of the world.

A variant sets the two rates of the math mini world (``soarkit_math.mini``): how often the
built *student* gets a difference right (``SUBTRACTION_RIGHT``) and how often the same model
gets it right when it answers a question it poses as a *teacher*
(``TEACHER_SUBTRACTION_RIGHT``). The variant is built (cached under its own key; ~1,000 CPU-s
on one thread) and measured like ``tests/mini/test_mini_edge.py``: student pass@1 per level
(16 problems x 8 samples), the hard level mined at fail@32 from 96 candidates and re-sampled,
then RLOO (lr 2e-4, 8 prompts x 8 samples, T=1, 80 tokens) for ``--steps`` steps on the mined
hard train half and on fresh level-2/3 stones, each scored on the hard test half (16 samples),
plus the train reward every 10 steps (0.1 is the format floor: boxed but wrong).

    .venv/bin/python benchmarks/mini_variants.py 0.2 0.85 --steps 40 --rl-seed 1

Writes ``benchmarks/results/mini_variants/<student>-<teacher>-<steps>-s<seed>.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).parent / "results" / "mini_variants"


def teacher_per_level(domain, policy, backend, *, samples: int) -> dict:
    """What the untrained teacher poses (T=1) and how often its own answer is right, per level."""
    from soar_kit.contracts.backend import SamplingParams

    rng = random.Random("teacher-3")
    prompts = [domain.teacher_prompt(rng) for _ in range(samples)]
    params = SamplingParams(n=1, temperature=1.0, max_new_tokens=192, seed=3)
    per: dict[str, list[int]] = {}
    parsed = 0
    for i, (text,) in enumerate(backend.generate(policy, prompts, params)):
        try:
            p = domain.parse_teacher_output(text, problem_id=f"t{i}")
        except Exception:  # a rejected output: counted by the acceptance rate
            continue
        parsed += 1
        right_posed = per.setdefault(str(p.data.get("level")), [0, 0])
        right_posed[0] += bool(p.data.get("teacher_answer_correct"))
        right_posed[1] += 1
    return {
        "samples": samples,
        "accept_rate": parsed / samples,
        "per_level": {lv: {"posed": n, "right": r / n} for lv, (r, n) in sorted(per.items())},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("student_right", type=float)
    ap.add_argument("teacher_right", type=float)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--rl-seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import soarkit_math.mini as world_module
    import torch

    # the world reads its rates when it writes a text, so a variant is two assignments
    world_module.SUBTRACTION_RIGHT = args.student_right
    world_module.TEACHER_SUBTRACTION_RIGHT = args.teacher_right
    torch.set_num_threads(args.threads)
    spec = importlib.util.spec_from_file_location("edge", ROOT / "tests/mini/test_mini_edge.py")
    edge = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(edge)  # the test's own helpers: one protocol, not two
    from soar_kit.contracts.model import Policy
    from soar_kit.mini import build_or_load
    from soar_kit.plugins import get_manager

    pm = get_manager()
    domain, backend = pm.domain("math"), pm.get("backend", "transformers")
    build = build_or_load(domain, seed=0, log=print)
    policy = Policy(build.model, build.tokenizer, "soar-mini", {})
    t0 = time.perf_counter()
    out = {
        "student_right": args.student_right,
        "teacher_right": args.teacher_right,
        "steps": args.steps,
        "rl_seed": args.rl_seed,
        "key": build.meta["key"],
        "pretrain": build.meta["pretrain"],
        "threads": args.threads,
        "loadavg_start": os.getloadavg(),
    }
    rate = {}
    for level in range(1, 8):
        c = edge._counts(domain, policy, backend, edge._level(domain, level, 16, 100 + level), n=8)
        rate[level] = sum(c) / (8 * 16)
    out["student_pass1_per_level"] = rate
    out["teacher"] = teacher_per_level(domain, policy, backend, samples=256)
    candidates = edge._level(domain, "hard", 96, 0)
    counts = edge._counts(domain, policy, backend, candidates, seed=0)
    hard = [p for p, c in zip(candidates, counts, strict=True) if c == 0]
    train, test = hard[: len(hard) // 2], hard[len(hard) // 2 :]
    again = edge._counts(domain, policy, backend, hard, seed=1)
    out["mined"] = len(hard)
    out["mined_fresh_pass1"] = sum(again) / (32 * len(hard))
    out["mined_fresh_solved_any"] = sum(c > 0 for c in again)
    print(out, flush=True)
    rng = random.Random("stones")
    stones = [domain.mini_world().make_problem(rng.choice((2, 3)), rng) for _ in range(1200)]
    for name, data in (("hard_only", train), ("stones", stones)):
        student, stats = edge._rl(domain, policy, data, seed=args.rl_seed, steps=args.steps)
        hits = edge._counts(domain, student, backend, test, n=16, seed=2)
        out[f"{name}_hard_test_pass1"] = sum(hits) / (16 * len(test))
        out[f"{name}_train_reward_every_10"] = [round(x, 3) for x in stats.mean_reward[::10]]
        print(name, out[f"{name}_hard_test_pass1"], flush=True)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    OUT.mkdir(parents=True, exist_ok=True)
    name = f"{args.student_right}-{args.teacher_right}-{args.steps}-s{args.rl_seed}.json"
    (OUT / name).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {OUT / name}")


if __name__ == "__main__":
    main()
