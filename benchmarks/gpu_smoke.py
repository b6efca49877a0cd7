"""Benchmark: a GPU cost model for SOAR at the paper's shapes, from measured student terms.

What it measures, for each student mode (full, LoRA) and precision (fp32 master weights with
bf16 compute, or bf16 weights), on a random-initialised network of Llama-3.2-3B's shape (no 3B
weights exist offline; timing does not depend on the values):

* ``sample``: one inner step's rollouts, 8 prompts x 32 samples, 1,024 new tokens each
  (forced: random weights never stop early, which is the budget's worst case), with
  ``transformers``' ``generate`` on the policy's own weights, as the transformers backend does;
* ``update``: one inner step's RLOO update over those 256 rows: the project's own
  ``completion_logprobs`` (chunked) under ``training_forward`` (autocast, gradient
  checkpointing), backward, gradient clipping and AdamW, in micro-batches;
* ``qr``: one Q_R scoring, 64 questions greedy to 1,024 tokens.

The cost model (SOAR.md, "Scale in the paper", and Table 3) then adds up one run:
``outer_steps x (g*r x (inner_steps x (sample + update) + qr) + qr + teacher)``, where the
teacher's sampling (g*n rows x 512 tokens) and update (g*n rows) are *scaled* from the measured
student terms by their token counts, not measured. One GPU doing the terms one after another
uses as many GPU-hours as many GPUs doing them in parallel, so the total is in GPU-hours.

Only torch, transformers and peft are needed (the device machines have no vLLM, TRL, Ray or
pydantic): the script imports only the pydantic-free part of soar_kit (``soar_kit.lm``).

    python benchmarks/gpu_smoke.py                       # the paper's shapes, on the GPU
    python benchmarks/gpu_smoke.py --shape small --device cpu --out /tmp/x   # a CPU check

Writes ``benchmarks/results/gpu_smoke.{json,md}`` (``gpu_smoke.small.*`` with ``--shape small``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout that is not installed (a device machine)

#: Llama-3.2-3B's shape (its config.json), and a tiny one for checks on CPU.
SHAPES: dict[str, dict[str, Any]] = {
    "paper": {
        "hidden_size": 3072,
        "intermediate_size": 8192,
        "num_hidden_layers": 28,
        "num_attention_heads": 24,
        "num_key_value_heads": 8,
        "vocab_size": 128256,
        "tie_word_embeddings": True,
    },
    "small": {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 512,
        "tie_word_embeddings": True,
    },
}
#: The run's sizes: SOAR.md (paper, v3 Table 3), and a tiny set for checks.
SIZES: dict[str, dict[str, int]] = {
    "paper": {"outer_steps": 200, "g": 4, "n": 64, "r": 4, "inner_steps": 10, "batch": 8,
              "group": 32, "prompt_tokens": 256, "student_tokens": 1024, "teacher_tokens": 512,
              "qr": 64, "micro_batch": 16, "logprob_chunk": 256},
    "small": {"outer_steps": 2, "g": 2, "n": 2, "r": 1, "inner_steps": 2, "batch": 2,
              "group": 2, "prompt_tokens": 8, "student_tokens": 8, "teacher_tokens": 4,
              "qr": 2, "micro_batch": 2, "logprob_chunk": 4},
}  # fmt: skip
MODES = ("full", "lora")
PRECISIONS = ("fp32-master", "bf16")


def build(shape: str, precision: str, mode: str, device: str, seed: int) -> Any:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from soar_kit.lm.lora import inject_lora

    dtype = torch.float32 if precision == "fp32-master" else torch.bfloat16
    config = LlamaConfig(**SHAPES[shape], max_position_embeddings=4096, pad_token_id=0)
    torch.manual_seed(seed)
    with torch.device(device):
        model = LlamaForCausalLM(config).to(dtype)
    if mode == "lora":
        lora = SimpleNamespace(r=16, alpha=32, dropout=0.0, target_modules="all-linear")
        model = inject_lora(model, lora, seed)
    return model.eval()


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _generate(model: Any, ids: Any, tokens: int, *, greedy: bool, cast: Any) -> Any:
    import torch

    with torch.no_grad(), cast:
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=tokens,
            min_new_tokens=tokens,
            do_sample=not greedy,
            temperature=1.0 if not greedy else None,
            top_p=None,
            top_k=None,
            pad_token_id=0,
        )
    return out[:, ids.shape[1] :]


def measure(model: Any, sizes: dict[str, int], precision: str, device: str) -> dict[str, float]:
    """Seconds of one inner step's sampling and update, and of one Q_R scoring."""
    from contextlib import nullcontext

    import torch

    from soar_kit.lm.memory import training_forward
    from soar_kit.lm.sampling import Rollout, completion_logprobs

    s = sizes
    bf16 = precision == "fp32-master"
    cast = torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16) if bf16 else (
        nullcontext())  # fmt: skip
    settings = SimpleNamespace(
        autocast="bfloat16" if bf16 else "off", gradient_checkpointing=True
    )
    vocab = model.config.vocab_size
    gen = torch.Generator(device="cpu").manual_seed(0)
    prompts = torch.randint(1, vocab, (s["batch"], s["prompt_tokens"]), generator=gen)
    rows = prompts.repeat_interleave(s["group"], dim=0).to(device)

    _sync(device)
    t0 = time.perf_counter()
    completion = _generate(model, rows, s["student_tokens"], greedy=False, cast=cast)
    _sync(device)
    sample_s = time.perf_counter() - t0

    rollout = Rollout(
        prompt_ids=rows,
        prompt_mask=torch.ones_like(rows),
        completion_ids=completion,
        completion_mask=torch.ones_like(completion),
        texts=[],
    )
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    advantages = torch.randn(rows.shape[0], generator=gen).to(device)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    _sync(device)
    t0 = time.perf_counter()
    micro = s["micro_batch"]
    for start in range(0, rows.shape[0], micro):
        part = slice(start, start + micro)
        with training_forward(model, settings):
            logprobs = completion_logprobs(model, rollout, part, chunk=s["logprob_chunk"])
        loss = -(advantages[part, None] * logprobs).mean() * (logprobs.shape[0] / rows.shape[0])
        loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    _sync(device)
    update_s = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() if device.startswith("cuda") else 0
    del optimizer, rollout, completion

    questions = torch.randint(1, vocab, (s["qr"], s["prompt_tokens"]), generator=gen).to(device)
    _sync(device)
    t0 = time.perf_counter()
    _generate(model, questions, s["student_tokens"], greedy=True, cast=cast)
    _sync(device)
    qr_s = time.perf_counter() - t0
    return {"sample_s": sample_s, "update_s": update_s, "qr_s": qr_s, "update_peak_bytes": peak}


def cost_model(terms: dict[str, float], full: dict[str, float], sizes: dict[str, int]) -> dict:
    """GPU-hours of one run from one configuration's measured terms (see the module doc).

    ``full`` is the full-weights configuration of the same precision: the teacher trains all
    its weights whatever the students do, so its update is scaled from full mode's.
    """
    s = sizes
    rows = s["batch"] * s["group"]
    student_s = s["inner_steps"] * (terms["sample_s"] + terms["update_s"]) + terms["qr_s"]
    teacher_rows = s["g"] * s["n"]
    teacher_sample_s = full["sample_s"] * (teacher_rows * s["teacher_tokens"]) / (
        rows * s["student_tokens"])  # fmt: skip
    teacher_update_s = full["update_s"] * (
        teacher_rows * (s["prompt_tokens"] + s["teacher_tokens"])
    ) / (rows * (s["prompt_tokens"] + s["student_tokens"]))
    step_s = s["g"] * s["r"] * student_s + terms["qr_s"] + teacher_sample_s + teacher_update_s
    return {
        "student_s": student_s,
        "teacher_sample_s (scaled)": teacher_sample_s,
        "teacher_update_s (scaled)": teacher_update_s,
        "outer_step_s": step_s,
        "run_gpu_hours": s["outer_steps"] * step_s / 3600,
    }


def render(result: dict[str, Any]) -> str:
    lines = [
        "# SOAR GPU cost model (benchmarks/gpu_smoke.py)",
        "",
        f"Measured {result['date']} on {result['machine']} ({result['device']}); shape "
        f"`{result['shape']}`, sizes {json.dumps(result['sizes'])}, seed {result['seed']}. "
        f"Command: `{result['command']}`.",
        "",
        "Measured per configuration: one inner step's sampling (`generate`, 1 call) and update, "
        "one Q_R scoring. Scaled, not measured: the teacher's sampling and update (from the "
        "full-weights terms by token counts). GPU-hours = outer steps x outer step seconds / "
        "3600.",
        "",
        "| students | weights | sample (s) | update (s) | Q_R (s) | update peak (GiB) | "
        "student (s) | outer step (s) | run (GPU-h) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        m, c = row["measured"], row["cost"]
        lines.append(
            f"| {row['mode']} | {row['precision']} | {m['sample_s']:.2f} | {m['update_s']:.2f} "
            f"| {m['qr_s']:.2f} | {m['update_peak_bytes'] / 2**30:.1f} | {c['student_s']:.1f} "
            f"| {c['outer_step_s']:.1f} | {c['run_gpu_hours']:.1f} |"
        )
    lines += ["", "Paper: ≈ 1,500–1,900 GPU-hours per run (32 H100s for 48–60 h). Raw: "
              f"`{result['stem']}.json`."]  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", choices=sorted(SHAPES), default="paper")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--precisions", default=",".join(PRECISIONS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = ap.parse_args(argv)
    sizes = SIZES[args.shape]
    rows: list[dict[str, Any]] = []
    for precision in args.precisions.split(","):
        full_terms: dict[str, float] | None = None
        for mode in args.modes.split(","):
            model = build(args.shape, precision, mode, args.device, args.seed)
            measure(model, SIZES["small"] if args.shape == "paper" else sizes, precision,
                    args.device)  # fmt: skip  (warm-up: kernels, allocator)
            terms = measure(model, sizes, precision, args.device)
            del model
            if args.device.startswith("cuda"):
                torch.cuda.empty_cache()
            full_terms = terms if mode == "full" else full_terms
            rows.append({"mode": mode, "precision": precision, "measured": terms,
                         "cost": cost_model(terms, full_terms or terms, sizes)})  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
    device_name = (
        torch.cuda.get_device_name(0) if args.device.startswith("cuda") else platform.processor()
    )
    stem = "gpu_smoke" if args.shape == "paper" else f"gpu_smoke.{args.shape}"
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{device_name or platform.machine()}, {os.cpu_count()} CPU cores, "
        f"torch {torch.__version__}",
        "device": args.device,
        "shape": args.shape,
        "sizes": sizes,
        "seed": args.seed,
        "command": " ".join(["python benchmarks/gpu_smoke.py", *(argv or sys.argv[1:])]),
        "stem": stem,
        "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / f"{stem}.md").write_text(render(result))
    print(render(result))
    return result


if __name__ == "__main__":
    main()
