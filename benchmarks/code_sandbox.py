"""Sandboxed test-runs per second: soarkit-code's fork-server pool vs a process-per-run baseline.

    .venv/bin/python benchmarks/code_sandbox.py           # writes benchmarks/results/code_sandbox.*
    .venv/bin/python benchmarks/code_sandbox.py --quick   # small, no files written

One *test-run* = one candidate program judged against all tests of one problem. Workload: every
bundled problem with its reference solution (passes) and with a wrong answer (fails), repeated.

* **soarkit-code**: ``CodeDomain.verify`` -- the path a SOAR run takes: a zygote forks a
  single-use child per run, the child returns plain values, the parent judges the tests.
* **baseline (human-eval style)**: a fresh ``python -I -S`` interpreter per run executing
  ``candidate + tests``, pass iff exit status 0 (what human-eval/evalplus-style harnesses do).
  It gets *equal isolation*: it runs inside a process that made the same namespaces and memory
  cgroup (code reused from the zygote), and each interpreter gets the same rlimits, uid drop,
  ``no_new_privs``, Landlock rules, seccomp filter, fresh temp dir, a PID namespace per run
  (or the uid-wide kill sweep without one) and the same pids cgroup.

Both use the same number of parallel workers. To be fair on a shared machine, the two
alternate chunk by chunk (order flipped every chunk) so that outside load hits both alike.
Memory per worker: resident size of a zygote (its peak cgroup charge per job is also reported)
and of a baseline interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from soarkit_code import CodeDomain
from soarkit_code.bundled import bundled_problems
from soarkit_code.sandbox import Limits
from soarkit_code.sandbox import pool as pool_module

from soar_kit.contracts.records import Problem
from soar_kit.machine import cpu_model

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
ZYGOTE = Path(pool_module.__file__).with_name("zygote.py")


def machine_info() -> dict[str, object]:
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_at_start": os.getloadavg(),
    }


# -- the baseline worker: runs as its own process, like a zygote but spawning interpreters --------

BASELINE_WORKER = r"""
import json, os, shutil, struct, subprocess, sys, resource, signal, time
sys.path.insert(0, os.path.dirname(sys.argv[1]))
import zygote as z
z._isolate()
z._setup_cgroup()
uid = int(sys.argv[2])
z.STATE["root"] = z._can_drop_to(uid)
z._choose_nproc_guard()
base = os.path.join("/tmp" if z.STATE["mountns"] else sys.argv[3], f"soarkit-base-{z.HOST_PID}")
os.makedirs(base, mode=0o711, exist_ok=True)
z._prepare_landlock(base)

def send(obj):
    data = json.dumps(obj).encode()
    sys.stdout.buffer.write(struct.pack(">I", len(data)) + data); sys.stdout.buffer.flush()

send({"ready": True, **z.STATE})
seq = 0
while True:
    head = sys.stdin.buffer.read(4)
    if len(head) < 4:
        break
    job = json.loads(sys.stdin.buffer.read(struct.unpack(">I", head)[0]))
    lim = job["limits"]
    seq += 1
    wd = os.path.join(base, f"job{seq}")
    os.mkdir(wd, 0o700)
    if z.STATE["root"]:
        os.chown(wd, uid, uid)
    if z.STATE["cgroup"]:
        z._cg_limit(lim["job_memory_mb"] * 1024 * 1024 + z._rss_kb() * 1024 + (32 << 20))
    z._pids_limit(lim["nproc"])
    nproc = z._nproc_limit(lim["nproc"])

    def pre():
        mb = 1024 * 1024
        for res, val in (
            (resource.RLIMIT_CPU, (lim["cpu_s"], lim["cpu_s"] + 1)),
            (resource.RLIMIT_AS, (lim["memory_mb"] * mb,) * 2),
            (resource.RLIMIT_NPROC, (nproc,) * 2),
            (resource.RLIMIT_FSIZE, (lim["fsize_mb"] * mb,) * 2),
            (resource.RLIMIT_NOFILE, (lim["nofile"],) * 2),
            (resource.RLIMIT_CORE, (0, 0)),
        ):
            resource.setrlimit(res, val)
        z._libc.prctl(z.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        if z.LANDLOCK["fd"] >= 0 and not z._restrict_landlock():
            os._exit(1)
        if z.STATE["root"]:
            os.setgroups([]); os.setgid(uid); os.setuid(uid)
        z._install_seccomp()

    env = {"PATH": "/usr/bin:/bin", "HOME": wd, "TMPDIR": wd, "LANG": "C.UTF-8"}
    t0 = time.monotonic()
    if z.STATE["pidns"]:
        z._new_job_pidns()  # the interpreter is PID 1 of a namespace of its own, like a job
    try:
        proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", job["program"]], cwd=wd,
                                env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, preexec_fn=pre, start_new_session=True)
    finally:
        if z.STATE["pidns"]:
            z._end_job_pidns()
    try:
        rc = proc.wait(timeout=lim["wall_s"])
    except subprocess.TimeoutExpired:
        rc = None
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    if rc is None:
        proc.wait()
    if not z.STATE["pidns"]:  # with it, PID 1's exit has already killed and reaped the rest
        z._sweep(uid)
    z._reap(time.monotonic() + 1.0)
    z._wipe(wd, uid)
    send({"passed": rc == 0, "elapsed": time.monotonic() - t0})
z._cleanup_zygote(base)  # removes the job dir and the memory cgroup
"""


class Baseline:
    """``workers`` baseline processes, used like the zygote pool (one job at a time each)."""

    def __init__(self, workers: int, limits: Limits) -> None:
        self.limits = limits
        self.procs = []
        for slot in range(workers):
            uid = pool_module.UID_BASE + (os.getpid() % (1 << 22)) * 64 + 32 + slot
            p = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", BASELINE_WORKER, str(ZYGOTE), str(uid), "/tmp"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=pool_module._scrubbed_env(),
            )
            assert self._read(p)["ready"]
            self.procs.append(p)
        self.free = list(self.procs)
        self.lock = threading.Lock()

    @staticmethod
    def _read(p: subprocess.Popen) -> dict:
        n = struct.unpack(">I", p.stdout.read(4))[0]
        return json.loads(p.stdout.read(n))

    def run(self, program: str) -> bool:
        with self.lock:
            p = self.free.pop()
        try:
            job = json.dumps({"program": program, "limits": self.limits.to_json()}).encode()
            p.stdin.write(struct.pack(">I", len(job)) + job)
            p.stdin.flush()
            return bool(self._read(p)["passed"])
        finally:
            with self.lock:
                self.free.append(p)

    def close(self) -> None:
        for p in self.procs:
            p.stdin.close()
            p.wait(timeout=5)


# -- workload ------------------------------------------------------------------------------------


def workload(repeat: int) -> list[tuple[Problem, str, bool]]:
    items = []
    for p in bundled_problems():
        entry = p.data["entry_point"]
        items.append((p, p.data["reference"], True))
        items.append((p, f"def {entry}(*args):\n    return 0", False))
    return items * repeat


def baseline_program(problem: Problem, code: str) -> str:
    return code + "\n\n" + "\n".join(problem.data["tests"]) + "\n"


def timed(fn, items, workers: int) -> tuple[float, list[bool]]:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as ex:
        out = list(ex.map(fn, items))
    return time.perf_counter() - t0, out


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=8)
    ap.add_argument("--chunk", type=int, default=24)
    args = ap.parse_args()
    repeat = 1 if args.quick else args.repeat
    limits = Limits()
    domain = CodeDomain(workers=args.workers, limits=limits)
    info = domain.pool.describe()
    base = Baseline(args.workers, limits)
    items = workload(repeat)
    # warm both (first fork, page cache) outside the timing
    timed(lambda it: domain.verify(it[0], it[1]).correct, items[:4], args.workers)
    timed(lambda it: base.run(baseline_program(it[0], it[1])), items[:4], args.workers)

    t_ours = t_base = 0.0
    agree = True
    peaks: list[int] = []
    chunks = [items[i : i + args.chunk] for i in range(0, len(items), args.chunk)]
    for k, chunk in enumerate(chunks):

        def ours(it: tuple[Problem, str, bool]) -> bool:
            raw = domain._run(it[0], it[1])  # same path as verify, also gives us the peak
            return raw.all_passed

        def baseline(it: tuple[Problem, str, bool]) -> bool:
            return base.run(baseline_program(it[0], it[1]))

        order = [("ours", ours), ("base", baseline)]
        if k % 2:
            order.reverse()
        for name, fn in order:
            dt, out = timed(fn, chunk, args.workers)
            agree = agree and out == [it[2] for it in chunk]
            if name == "ours":
                t_ours += dt
            else:
                t_base += dt
        peaks.append(
            domain.pool.run("def f():\n    return 1", [{"fn": "f", "args": "((), {})"}]).peak_bytes
        )

    zyg_rss = [rss_kb(pid) for pid in domain.pool.worker_pids()]
    probe = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            # VmRSS, not ru_maxrss: the latter keeps the peak of the pre-exec fork of this process
            "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmRSS')))",
        ],
        capture_output=True,
        text=True,
        env=pool_module._scrubbed_env(),
    )
    base.close()
    n = len(items)
    result = {
        "benchmark": "code_sandbox",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_info(),
        "isolation": {
            k: v
            for k, v in info.items()
            if k not in ("uid", "rss_kb", "cgroup", "pids_cgroup", "degraded")
        },
        "degraded": info.get("degraded", []),
        "workers": args.workers,
        "test_runs": n,
        "tests_per_run_mean": statistics.mean(len(it[0].data["tests"]) for it in items),
        "verdicts_agree_with_expectation": agree,
        "ours_runs_per_s": n / t_ours,
        "baseline_runs_per_s": n / t_base,
        "speedup": t_base / t_ours,
        "memory": {
            "zygote_rss_kb": zyg_rss,
            "job_cgroup_peak_kb_median": int(statistics.median(peaks) / 1024) if peaks else 0,
            "baseline_interpreter_rss_kb": int(probe.stdout.strip() or 0),
        },
        "limits": limits.to_json(),
    }
    print(json.dumps(result, indent=2))
    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "code_sandbox.json").write_text(json.dumps(result, indent=2) + "\n")
        m = result["memory"]
        (RESULTS / "code_sandbox.md").write_text(
            "# code sandbox benchmark (latest run)\n\n"
            f"- date: {result['date_utc']}; machine: {result['machine']['cpu']}, "
            f"{result['machine']['cores']} cores (shared), load at start "
            f"{result['machine']['loadavg_at_start'][0]:.1f}; kernel {result['machine']['kernel']}\n"
            f"- isolation in both: {result['isolation']}; degraded: "
            f"{result['degraded'] or 'nothing'}\n"
            "- measured on a shared 2-core machine (other users' jobs ran meanwhile); both "
            "harnesses interleaved chunk by chunk, so the ratio is what to read\n"
            f"- workload: {n} test-runs (bundled problems x reference/wrong answer x {repeat}), "
            f"{args.workers} workers each, alternating chunks of {args.chunk}\n\n"
            "| harness | test-runs/s |\n|---|---|\n"
            f"| soarkit-code fork-server pool | {result['ours_runs_per_s']:.1f} |\n"
            f"| baseline: fresh interpreter per run, equal isolation | "
            f"{result['baseline_runs_per_s']:.1f} |\n\n"
            f"**Speedup: {result['speedup']:.2f}x.** Verdicts agree with expectation: {agree}.\n\n"
            f"Memory per worker: zygote RSS {m['zygote_rss_kb']} kB; memory a job adds to the cgroup (peak, "
            f"median) {m['job_cgroup_peak_kb_median']} kB; baseline interpreter RSS "
            f"{m['baseline_interpreter_rss_kb']} kB.\n"
        )


if __name__ == "__main__":
    main()
