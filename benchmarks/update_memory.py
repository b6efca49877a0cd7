"""Benchmark: peak RSS of a student's RL update on SmolLM2, full vs LoRA, under glibc's default
allocator behaviour and with ``model.malloc_mmap_threshold`` fixed.

Why it exists: in the engine benchmark a LoRA outer step peaked *above* a full one (14.8 vs
12.1 GB), although a LoRA student keeps no gradients or AdamW state for the base. This isolates
one update (forward with gradients, backward, AdamW step) on fixed token ids (16 rows of a
100-token prompt and a 128-token completion, as the engine benchmark's batch 4 x group 4 at 128
new tokens), so sampling plays no part, and repeats it ``--steps`` times in one process, since
what glibc keeps grows from step to step. Each variant runs in a fresh process.

    .venv/bin/python benchmarks/update_memory.py            # SmolLM2-135M, 2 threads
    .venv/bin/python benchmarks/update_memory.py --steps 2 --rows 4 --model tiny   # smoke run

Writes ``benchmarks/results/update_memory.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PROMPT = 100


def one(mode: str, threshold: int, rows: int, width: int, steps: int, model: str) -> dict[str, Any]:
    import torch

    from soar_kit.components import load_run_policy, resolve_components
    from soar_kit.config import RunConfig
    from soar_kit.lm.memory import training_forward
    from soar_kit.lm.sampling import Rollout, completion_logprobs
    from soar_kit.machine import peak_rss_bytes, reset_peak_rss, rss_bytes
    from soar_kit.students import StudentPool

    config = RunConfig.model_validate(
        {
            "domain": {"name": "rg:chain_sum"},
            "model": {
                "name": "soar-mini" if model == "tiny" else model,
                "malloc_mmap_threshold": threshold or None,
            },
            "student": {"mode": mode},
        }
    )
    parts = resolve_components(config)
    if model == "tiny":
        from soar_kit.machine import fix_mmap_threshold
        from soar_kit.testing.tiny_models import tiny_policy

        if threshold:
            fix_mmap_threshold(threshold)
        policy = tiny_policy("llama", seed=0, hidden=128, heads=2)
    else:
        policy = load_run_policy(config, parts.domain)
    pool = StudentPool(
        policy, mode="lora" if mode == "lora" else "shared", lora=config.student.lora
    )
    net = pool.fresh().model
    gen = torch.Generator().manual_seed(0)
    vocab = net.config.vocab_size
    rollout = Rollout(
        torch.randint(0, vocab, (rows, PROMPT), generator=gen),
        torch.ones(rows, PROMPT, dtype=torch.long),
        torch.randint(0, vocab, (rows, width), generator=gen),
        torch.ones(rows, width, dtype=torch.long),
        [""] * rows,
    )
    params = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    out: dict[str, Any] = {
        "mode": mode,
        "threshold": threshold,
        "trainable_params": sum(p.numel() for p in params),
        "rss_loaded_mb": rss_bytes() / 2**20,
        "steps": [],
    }
    for _ in range(steps):
        reset_peak_rss()  # the peak from here on
        entry = rss_bytes()
        t = time.perf_counter()
        with training_forward(net, config.student.rl):
            logp = completion_logprobs(net, rollout, slice(0, rows))
        forward_peak = peak_rss_bytes()
        (-logp.mean()).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        del logp
        out["steps"].append(
            {
                "entry_mb": entry / 2**20,
                "forward_peak_mb": forward_peak / 2**20,
                "peak_mb": peak_rss_bytes() / 2**20,
                "after_mb": rss_bytes() / 2**20,
                "seconds": time.perf_counter() - t,
            }
        )
    return out


def render(result: dict[str, Any]) -> str:
    lines = [
        "# Peak RSS of one student update: full vs LoRA, glibc's default vs a fixed mmap threshold",
        "",
        f"Measured {result['date']} on {result['machine']}, {result['threads']} torch threads; "
        f"model {result['model']}, {result['rows']} rows x ({PROMPT} prompt + {result['width']} "
        f"completion) tokens, {result['steps']} updates per process (forward with gradients, "
        f"backward, AdamW), seed 0. Command: `{result['command']}`"
        + (f" with `LD_PRELOAD={result['ld_preload']}`." if result.get("ld_preload") else "."),
        "",
        "| student | mmap threshold | trainable params | RSS loaded | peak, update 1 | "
        "highest peak | RSS after the last update | s per update (mean of 2nd on) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    default = "preloaded allocator's" if result.get("ld_preload") else "glibc default (rises)"
    for r in result["runs"]:
        steps = r["steps"]
        later = [s["seconds"] for s in steps[1:]] or [steps[0]["seconds"]]
        lines.append(
            f"| {r['mode']} | {r['threshold'] or default} | "
            f"{r['trainable_params'] / 1e6:.1f} M | {r['rss_loaded_mb'] / 1024:.2f} GB | "
            f"{steps[0]['peak_mb'] / 1024:.2f} GB | "
            f"{max(s['peak_mb'] for s in steps) / 1024:.2f} GB | "
            f"{steps[-1]['after_mb'] / 1024:.2f} GB | {sum(later) / len(later):.1f} |"
        )
    lines += ["", "Raw runs (every update's entry, forward peak, peak, after): "
              f"`{result.get('out', 'update_memory')}.json`."]  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2-135m", help="smollm2-135m or tiny")
    ap.add_argument("--rows", type=int, default=16)
    ap.add_argument("--width", type=int, default=128, help="completion tokens per row")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--thresholds", default="0,131072", help="0: glibc's default")
    ap.add_argument("--out", type=Path, default=RESULTS / "update_memory")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: MODE:THRESHOLD in this process
    args = ap.parse_args()
    if args.one:
        import torch

        torch.set_num_threads(args.threads)
        mode, _, threshold = args.one.partition(":")
        res = one(mode, int(threshold), args.rows, args.width, args.steps, args.model)
        print("RESULT " + json.dumps(res))
        return
    runs = []
    for threshold in (int(x) for x in args.thresholds.split(",")):
        for mode in ("full", "lora"):
            cmd = [sys.executable, __file__, "--one", f"{mode}:{threshold}",
                   "--model", args.model, "--rows", str(args.rows), "--width", str(args.width),
                   "--steps", str(args.steps), "--threads", str(args.threads)]  # fmt: skip
            out = subprocess.run(cmd, capture_output=True, text=True)
            line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
            if out.returncode != 0 or not line:
                sys.exit(f"{mode}:{threshold} failed:\n{out.stderr[-3000:]}")
            runs.append(json.loads(line[-1][7:]))
            print(mode, threshold, json.dumps(runs[-1]["steps"]), flush=True)
    from soar_kit.machine import cpu_model

    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{cpu_model()}, {os.cpu_count()} cores",
        "model": args.model,
        "rows": args.rows,
        "width": args.width,
        "steps": args.steps,
        "threads": args.threads,
        "command": " ".join(["python benchmarks/update_memory.py", *sys.argv[1:]]),
        # another allocator put in front of glibc's (e.g. jemalloc), which every variant inherits
        "ld_preload": os.environ.get("LD_PRELOAD", ""),
        "runs": runs,
        "out": args.out.name,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(render(result))
    print(render(result))


if __name__ == "__main__":
    main()
