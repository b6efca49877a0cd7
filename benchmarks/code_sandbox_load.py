"""Acceptance check: the benign programs that once flaked pass 50 times in a row under load.

    .venv/bin/python benchmarks/code_sandbox_load.py          # writes results/code_sandbox_load.*
    .venv/bin/python benchmarks/code_sandbox_load.py --pool-path OLD/pool.py --no-write

While two ``python -c 'while 1: pass'`` processes keep both cores busy, each program of
``tests/code/benign_programs.FLAKED`` (threads, fork, subprocess, daemon) is judged N times in a
row through the real sandbox, in two settings:

* ``plain``: one zygote per worker, programs only;
* ``after-bombs``: on a single zygote, every benign run right after a daemonised fork bomb (cut
  short by its own wall limit) -- where the flake showed: benign tests ran on the zygotes that
  had just run the hostile suite, and what the bombs left counted against the next job;
* ``foreign-processes`` (root only): 40 ``sleep`` processes run under the zygote's own uid
  meanwhile -- a limit that counts per uid fails every fork here, one that counts the
  sandbox's own tasks does not.

``--pool-path`` runs the same check against another copy of ``sandbox/pool.py`` (with its
``zygote.py`` beside it), e.g. the code before the PID-namespace change, to show what it caught.
A pass/fail count, not a timing: nothing here depends on machine speed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from soarkit_code import harness
from soarkit_code.sandbox import pool as installed_pool

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "tests" / "code"))
from benign_programs import FLAKED  # noqa: E402

BOMB = (
    "import os\nif os.fork() == 0:\n    os.setsid()\n    while True:\n        try:\n"
    "            os.fork()\n        except OSError:\n            pass\nwhile True:\n"
    "    try:\n        os.fork()\n    except OSError:\n        pass\n"
)
PLAN = harness.compile_tests(["assert inc(1) == 2", "assert inc(7) == 8"], "inc")
CALLS = [c.to_json() for c in PLAN.calls]


def load_pool(path: str | None):
    if not path:
        return installed_pool
    spec = importlib.util.spec_from_file_location("sbx_pool_under_test", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["sbx_pool_under_test"] = mod
    spec.loader.exec_module(mod)
    return mod


def judge(pool, code: str) -> tuple[bool, str]:
    raw = pool.run(code, CALLS)
    out = harness.judge(PLAN, harness.decode_results(raw.raw, len(CALLS)))
    reason = out.reason + (" (timed out)" if raw.timed_out else "")
    return out.all_passed, reason


def streak(pool, code: str, n: int, bomb_pool=None, bomb_limits=None) -> dict:
    """Run ``code`` up to ``n`` times in a row; stop at the first failure."""
    passes, fails = 0, []
    for i in range(n):
        if bomb_pool is not None:
            bomb_pool.run(BOMB, CALLS, bomb_limits)
        ok, reason = judge(pool, f"{code}\n# run {i}")
        if ok:
            passes += 1
        else:
            fails.append(f"run {i}: {reason}")
            break
    return {"runs": passes + len(fails), "passed": passes, "in_a_row": not fails, "fails": fails}


BEFORE = ROOT / "results" / "code_sandbox_load.before-pidns.json"


def before_line() -> str:
    """Summarise the saved run of the code before the PID-namespace change, if there is one.

    Saved by hand: ``--pool-path`` on the files of commit 3ad24d2, ``--no-write``, stdout's JSON.
    """
    try:
        old = json.loads(BEFORE.read_text())
    except (OSError, ValueError):
        return ""
    parts = [
        f"{mode} {sum(r['passed'] for r in per.values())}/{sum(r['runs'] for r in per.values())}"
        for mode, per in old["results"].items()
    ]
    fails = sorted(
        {
            f.split(": ", 1)[1]
            for per in old["results"].values()
            for r in per.values()
            for f in r["fails"]
        }
    )
    return (
        f"- the code before the PID-namespace change, same check ({old['date_utc']}, "
        f"`{BEFORE.name}`): passed {', '.join(parts)}; failures: {'; '.join(fails) or 'none'}\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--pool-path", default=None)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--busy", type=int, default=2, help="busy-loop processes to start")
    args = ap.parse_args()
    mod = load_pool(args.pool_path)
    busy = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(args.busy)]
    t0 = time.time()
    try:
        time.sleep(1.0)  # let the busy loops reach the run queue
        load_start = os.getloadavg()
        limits = mod.Limits(cpu_s=1, wall_s=2.0)
        plain = mod.SandboxPool(2, limits)
        single = mod.SandboxPool(1, limits)
        info = plain.describe()
        bomb_limits = mod.Limits(cpu_s=1, wall_s=0.3)
        results: dict[str, dict] = {"plain": {}, "after-bombs": {}}
        for name, code in FLAKED:
            results["plain"][name] = streak(plain, code, args.runs)
            results["after-bombs"][name] = streak(
                single, code, args.runs, bomb_pool=single, bomb_limits=bomb_limits
            )
            print(name, results["plain"][name]["passed"], results["after-bombs"][name]["passed"])
        if os.geteuid() == 0:
            uid = single.describe()["uid"]
            results["foreign-processes"] = {}
            sleepers = [subprocess.Popen(["sleep", "1000"], user=uid, group=uid) for _ in range(40)]
            try:
                for name, code in FLAKED:
                    results["foreign-processes"][name] = streak(single, code, args.runs)
            finally:
                for p in sleepers:
                    p.kill()
                    p.wait()
        plain.close()
        single.close()
        load_end = os.getloadavg()
    finally:
        for p in busy:
            p.kill()
            p.wait()
    ok = all(r["in_a_row"] for mode in results.values() for r in mode.values())
    result = {
        "benchmark": "code_sandbox_load",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0)),
        "pool": args.pool_path or "installed soarkit_code.sandbox",
        "machine": {
            "cores": os.cpu_count(),
            "kernel": platform.release(),
            "python": platform.python_version(),
            "loadavg_after_busy_start": load_start,
            "loadavg_end": load_end,
        },
        "busy_loops": args.busy,
        "runs_per_program": args.runs,
        "isolation": {k: info.get(k) for k in ("pidns", "userns", "root", "nproc_guard")},
        "degraded": info.get("degraded", "not reported by this pool"),
        "results": results,
        "all_in_a_row": ok,
        "minutes": round((time.time() - t0) / 60, 1),
    }
    print(json.dumps(result, indent=2))
    if args.no_write:
        return
    (ROOT / "results" / "code_sandbox_load.json").write_text(json.dumps(result, indent=2) + "\n")
    rows = "".join(
        f"| {name} | {mode} | {r['passed']}/{r['runs']} | {'; '.join(r['fails']) or '-'} |\n"
        for mode, per in results.items()
        for name, r in per.items()
    )
    (ROOT / "results" / "code_sandbox_load.md").write_text(
        "# benign sandbox programs under load (latest run)\n\n"
        f"- date: {result['date_utc']}; {os.cpu_count()} cores shared with other users, plus "
        f"{args.busy} `python -c 'while 1: pass'` started by the check; load average "
        f"{load_start[0]:.1f} after they started, {load_end[0]:.1f} at the end; kernel "
        f"{platform.release()}\n"
        f"- sandbox: {result['isolation']}; degraded: {result['degraded'] or 'nothing'}\n"
        f"- each program {args.runs} times in a row (stops at the first failure); "
        "`after-bombs`: each run right after a daemonised fork bomb on the same zygote; "
        "`foreign-processes`: 40 other processes under the zygote's uid meanwhile\n"
        f"{before_line()}\n"
        "| program | setting | passed in a row | first failure |\n|---|---|---|---|\n"
        f"{rows}\n**All {args.runs} in a row, every program and setting: {ok}.** "
        f"({result['minutes']} min)\n"
    )


if __name__ == "__main__":
    main()
