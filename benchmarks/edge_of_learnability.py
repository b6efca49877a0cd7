"""Does soar-mini have a real edge of learnability? Measure the four properties SOAR needs.

1. **Fails the hard set**: successes of the built model on the default hard set
   (``mini:hard``, the mini world's hard level) at fail@k, temperature 1.0.
2. **Poses well-formed problems**: share of teacher samples (temperature 1.0) that the domain's
   ``parse_teacher_output`` accepts, and the levels of what it poses.
3. **Hard-Only RL stays flat**: RLOO on the hard train half, evaluated on the hard test half.
4. **Stepping stones lift the hard level**: RLOO on hand-made intermediate-level problems
   (never the hard level), evaluated on the same hard test half.

Everything is seeded and uses the project's own ``rloo`` trainer and ``transformers`` backend.
Writes ``benchmarks/results/edge_of_learnability.{json,md}``. Numbers are as measured; on a
shared 2-core machine timings vary with load (the load average is recorded).

    .venv/bin/python benchmarks/edge_of_learnability.py --domain math --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import random
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def _policy_copy(policy: Any) -> Any:
    from soar_kit.contracts.model import Policy

    return Policy(copy.deepcopy(policy.model), policy.tokenizer, policy.spec, dict(policy.info))


def evaluate(
    domain: Any, policy: Any, backend: Any, problems: list[Any], *, k: int, seed: int, tokens: int
) -> dict[str, Any]:
    """pass@1 (mean over k samples at T=1), problems solved at least once, greedy accuracy."""
    from soar_kit.contracts.backend import SamplingParams
    from soar_kit.scoring import success_counts

    if not problems:
        # e.g. a recipe whose model solves every hard candidate: nothing is left to mine
        raise SystemExit("edge_of_learnability: no problems to evaluate (nothing was mined)")

    counts = success_counts(
        domain,
        policy,
        backend,
        problems,
        SamplingParams(n=k, temperature=1.0, max_new_tokens=tokens, seed=seed),
    )
    greedy = success_counts(
        domain,
        policy,
        backend,
        problems,
        SamplingParams(n=1, temperature=0.0, max_new_tokens=tokens, seed=seed),
    )
    return {
        "problems": len(problems),
        "k": k,
        "pass@1": sum(counts) / (k * len(problems)),
        "solved_any": sum(c > 0 for c in counts),
        "greedy_acc": sum(greedy) / len(problems),
        "counts": counts,
        "greedy_counts": greedy,
    }


def _subset(e: dict[str, Any], lo: int, hi: int) -> dict[str, Any]:
    """The same measurement restricted to problems ``lo:hi`` (no resampling)."""
    c, g = e["counts"][lo:hi], e["greedy_counts"][lo:hi]
    return {
        "problems": len(c),
        "k": e["k"],
        "pass@1": sum(c) / (e["k"] * len(c)),
        "solved_any": sum(x > 0 for x in c),
        "greedy_acc": sum(g) / len(c),
        "counts": c,
        "greedy_counts": g,
    }


def teacher_probe(domain: Any, policy: Any, backend: Any, *, samples: int, seed: int) -> dict:
    from soar_kit.contracts.backend import SamplingParams

    rng = random.Random(f"teacher-{seed}")
    prompts = [domain.teacher_prompt(rng) for _ in range(samples)]
    outs = backend.generate(
        policy, prompts, SamplingParams(n=1, temperature=1.0, max_new_tokens=192, seed=seed)
    )
    accepted, reasons, levels, right, known = [], {}, {}, 0, 0
    for i, (text,) in enumerate(outs):
        try:
            p = domain.parse_teacher_output(text, problem_id=f"t{i}")
        except Exception as exc:
            r = getattr(exc, "reason", type(exc).__name__)
            reasons[r] = reasons.get(r, 0) + 1
            continue
        accepted.append(p.question)
        # the domain marks the questions of its mini world with their level and whether the
        # teacher's answer was right (math: running-total chains)
        lv = p.data.get("level")
        levels[str(lv)] = levels.get(str(lv), 0) + 1
        if "teacher_answer_correct" in p.data:
            known += 1
            right += bool(p.data["teacher_answer_correct"])
    return {
        "samples": samples,
        "accept_rate": len(accepted) / samples,
        "rejections": reasons,
        "levels_posed": dict(sorted(levels.items())),
        "answer_correct_rate": right / known if known else None,
        "examples": accepted[:8],
    }


def _recipe(overrides: list[str]) -> Any:
    """A :class:`MiniRecipe` with ``FIELD=JSON`` overrides, or None (the default recipe)."""
    from soar_kit.mini.corpus import MiniRecipe

    if not overrides:
        return None
    changes = {}
    for item in overrides:
        name, sep, value = item.partition("=")
        if not sep or name not in MiniRecipe.__dataclass_fields__:
            raise SystemExit(f"--recipe: expected FIELD=JSON with a MiniRecipe field, got {item!r}")
        changes[name] = json.loads(value)
    return MiniRecipe(**changes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--domain", default="math")
    ap.add_argument("--build-seed", type=int, default=0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--hard-size", type=int, default=96)
    ap.add_argument("--level-size", type=int, default=32)
    ap.add_argument("--level-k", type=int, default=16)
    ap.add_argument("--rl-steps", type=int, default=150)
    ap.add_argument("--rl-lr", type=float, default=2e-4)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=80)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--stones",
        type=int,
        nargs="+",
        default=None,
        help="levels of the hand-made stepping stones (default: the two levels above the "
        "recipe's solved ones, where the built model is partly right)",
    )
    ap.add_argument(
        "--recipe",
        nargs="*",
        default=[],
        metavar="FIELD=JSON",
        help="soar-mini recipe overrides, e.g. stone_share=0.02 steps=2000 (default: the "
        "shipped recipe)",
    )
    ap.add_argument("--out", default=str(RESULTS / "edge_of_learnability"))
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from soar_kit.config import RLConfig, SamplingConfig
    from soar_kit.contracts.model import Policy
    from soar_kit.hardset import candidate_problems
    from soar_kit.mini import build_or_load
    from soar_kit.plugins import get_manager

    pm = get_manager()
    domain = pm.domain(args.domain)
    backend = pm.get("backend", "transformers")
    trainer = pm.get("trainer", "rloo")
    world = domain.mini_world()
    t0 = time.perf_counter()
    build = build_or_load(domain, seed=args.build_seed, recipe=_recipe(args.recipe), log=print)
    load_s = time.perf_counter() - t0
    base = Policy(build.model, build.tokenizer, "soar-mini", {})
    solved = build.meta["recipe"]["solved_levels"]
    stones = args.stones or [lv for lv in (solved + 1, solved + 2) if lv < world.hard_level]
    print(f"built={build.built} in {load_s:.0f}s  params={build.meta['params']}  stones={stones}")

    res: dict[str, Any] = {
        "domain": args.domain,
        "args": vars(args),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "loadavg_start": os.getloadavg(),
            "torch": torch.__version__,
        },
        "build": {
            "built_now": build.built,
            "seconds_this_call": round(load_s, 1),
            "build_seconds_recorded": build.meta["build_seconds"],
            "params": build.meta["params"],
            "path": str(build.path),
            "recipe": build.meta["recipe"],
            "pretrain": build.meta["pretrain"],
        },
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        """Write what is measured so far: a slow, shared machine may stop us part way."""
        res["machine"]["loadavg_end"] = os.getloadavg()
        out.with_suffix(".json").write_text(json.dumps(res, indent=2) + "\n")
        out.with_suffix(".md").write_text(render_md(res))

    ev = dict(k=args.k, tokens=args.tokens)
    # -- per-level pass@1 of the built model -----------------------------------------------
    levels = {}
    res["levels_before"] = levels
    for lv in range(1, world.levels + 1):
        probs = candidate_problems(domain, f"mini:{lv}", seed=1000 + lv, size=args.level_size)
        levels[lv] = evaluate(
            domain, base, backend, probs, k=args.level_k, seed=1, tokens=args.tokens
        )
        print(f"level {lv}: {levels[lv]}")
    save()
    # -- 1. the hard set at fail@k ---------------------------------------------------------
    hard = candidate_problems(domain, "mini:hard", seed=0, size=args.hard_size)
    res["hard_before"] = evaluate(domain, base, backend, hard, seed=2, **ev)
    print("hard before:", res["hard_before"])
    save()
    # the default hard set's recipe: keep the fail@k problems, split them 50/50
    mined = [p for p, c in zip(hard, res["hard_before"]["counts"], strict=True) if c == 0]
    res["mined_fresh"] = evaluate(domain, base, backend, mined, seed=5, **ev)
    print("mined hard set, fresh samples:", res["mined_fresh"])
    train, test = mined[: len(mined) // 2], mined[len(mined) // 2 :]
    # -- 2. teacher acceptance -------------------------------------------------------------
    res["teacher"] = teacher_probe(domain, base, backend, samples=128, seed=3)
    print("teacher:", res["teacher"])
    save()

    # -- 3./4. RL: hard-only vs stepping stones --------------------------------------------
    def reward(problem: Any, completion: str) -> float:
        return domain.verify(problem, completion).reward

    settings = RLConfig(
        lr=args.rl_lr,
        steps=args.rl_steps,
        batch_size=args.batch,
        group_size=args.group,
        warmup_ratio=0.1,
        sampling=SamplingConfig(temperature=1.0, max_new_tokens=args.tokens),
    )
    runs: dict[str, list[dict[str, Any]]] = {"hard_only": [], "stones": []}
    res["rl"] = runs
    res["hard_test_before"] = _subset(res["mined_fresh"], len(train), len(mined))
    save()
    for seed in args.seeds:
        stone_rng = random.Random(f"stones-{seed}")
        stone_set = []
        for i in range(args.rl_steps * args.batch):  # fresh stones: none is seen twice
            lv = stone_rng.choice(stones)
            stone_set.append(
                world.make_problem(lv, stone_rng).model_copy(update={"id": f"s{seed}-{i}"})
            )
        for name, data in (("stones", stone_set), ("hard_only", train)):
            student = _policy_copy(base)
            t = time.perf_counter()
            stats = trainer.train(
                student,
                data,
                prompt=domain.student_prompt,
                reward=reward,
                settings=settings,
                seed=seed,
            )
            row = {
                "seed": seed,
                "train_seconds": round(time.perf_counter() - t, 1),
                "train_reward_first5": sum(stats.mean_reward[:5]) / 5,
                "train_reward_last5": sum(stats.mean_reward[-5:]) / 5,
                "hard_test": evaluate(domain, student, backend, test, seed=10 + seed, **ev),
            }
            if name == "stones":
                row["stone_levels"] = {
                    lv: evaluate(
                        domain,
                        student,
                        backend,
                        candidate_problems(
                            domain, f"mini:{lv}", seed=1000 + lv, size=args.level_size
                        ),
                        k=args.level_k,
                        seed=1,
                        tokens=args.tokens,
                    )["pass@1"]
                    for lv in stones
                }
            runs[name].append(row)
            print(name, row)
            save()
    print(f"wrote {out}.json/.md")


def render_md(res: dict[str, Any]) -> str:
    """The Markdown summary; tolerates a partial ``res`` (written after every stage)."""
    b, m = res["build"], res["machine"]
    lines = [
        "# soar-mini: edge of learnability (as measured)",
        "",
        f"Domain `{res['domain']}`; machine: {m['platform']}, {m['cpus']} CPUs, torch threads "
        f"{m['torch_threads']}, load average at start "
        f"{tuple(round(x, 1) for x in m['loadavg_start'])}, at last save "
        f"{tuple(round(x, 1) for x in m.get('loadavg_end', m['loadavg_start']))} "
        "(shared machine: other jobs ran alongside).",
        f"Arguments: `{json.dumps(res['args'])}`",
        "",
        f"Build: {b['params']:,} parameters; recorded build: {json.dumps(b['pretrain'])} "
        f"(built in this call: {b['built_now']}).",
        "",
        f"## Built model per level: pass@1 ({res['args']['level_k']} samples, T=1.0), greedy",
        "",
        "| level | pass@1 | solved at least once | greedy |",
        "| --- | --- | --- | --- |",
    ]
    for lv, e in res.get("levels_before", {}).items():
        lines.append(
            f"| {lv} | {e['pass@1']:.3f} | {e['solved_any']}/{e['problems']} | "
            f"{e['greedy_acc']:.3f} |"
        )
    hb = res.get("hard_before")
    if hb:
        lines += [
            "",
            f"## 1. Hard set (`mini:hard`, {hb['problems']} problems) at fail@{hb['k']}, T=1.0",
            "",
            f"Solved at least once: **{hb['solved_any']}/{hb['problems']}**; pass@1 "
            f"{hb['pass@1']:.4f}; greedy accuracy {hb['greedy_acc']:.3f}.",
        ]
    mf = res.get("mined_fresh")
    if mf:
        lines += [
            "",
            f"Kept at fail@{hb['k']} (the default hard set's recipe): **{mf['problems']}** "
            f"problems. Sampled again with another seed ({mf['k']} samples each): solved at "
            f"least once **{mf['solved_any']}/{mf['problems']}**, pass@1 {mf['pass@1']:.4f}.",
        ]
    t = res.get("teacher")
    if t:
        lines += [
            "",
            "## 2. Teacher prompts",
            "",
            f"Accepted by `parse_teacher_output`: **{t['accept_rate']:.1%}** of {t['samples']} "
            f"samples (T=1.0). Rejections: {t['rejections']}. Levels posed (subtractions + 1): "
            f"{t['levels_posed']}. Teacher answer correct: {t['answer_correct_rate']}. "
            f"Examples: {t['examples'][:4]}",
        ]
    if "rl" in res:
        lines += [
            "",
            "## 3./4. RL on the mined hard train half vs on hand-made stepping stones",
            "",
            "Hard test half before RL: "
            + ", ".join(
                f"{k_}={v}"
                for k_, v in res.get("hard_test_before", {}).items()
                if "counts" not in k_
            ),
            "",
            "| run | seed | train reward first→last 5 | hard-test pass@1 | solved any | greedy "
            "| stone levels pass@1 after |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for name, rows in res["rl"].items():
            for r in rows:
                h = r["hard_test"]
                lines.append(
                    f"| {name} | {r['seed']} | {r['train_reward_first5']:.3f}→"
                    f"{r['train_reward_last5']:.3f} | {h['pass@1']:.4f} | "
                    f"{h['solved_any']}/{h['problems']} | {h['greedy_acc']:.3f} | "
                    f"{r.get('stone_levels', '')} |"
                )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
