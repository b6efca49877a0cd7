"""The sandbox itself: what isolation it obtains here, its degraded modes, its limits."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from soarkit_code import harness
from soarkit_code.sandbox import Limits, SandboxPool
from soarkit_code.sandbox import pool as pool_module

sys.path.insert(0, os.path.dirname(__file__))
from benign_programs import FLAKED, FORK_COUNTER

PLAN = harness.compile_tests(["assert f(2) == 3"], "f")
CALLS = [c.to_json() for c in PLAN.calls]


def judge(pool: SandboxPool, code: str) -> harness.Outcome:
    raw = pool.run(code, CALLS)
    return harness.judge(PLAN, harness.decode_results(raw.raw, len(CALLS)))


@pytest.fixture
def fallback_pool(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SOARKIT_SANDBOX_NO_NAMESPACES", "1")
    # limits no load can reach: not under test
    pool = SandboxPool(1, Limits(cpu_s=30, wall_s=120.0))
    yield pool
    pool.close()


def test_full_isolation_is_obtained_when_running_as_root() -> None:
    pool = SandboxPool(1)
    try:
        info = pool.describe()
    finally:
        pool.close()
    if os.geteuid() != 0:
        pytest.skip("namespaces and uid drop need root here")
    assert info["netns"] and info["mountns"] and info["root"] and info["seccomp"]
    assert info["pidns"] and info["nproc_guard"] in ("pids-cgroup", "rlimit-own-uid")


def test_fallback_without_namespaces_still_blocks_sockets_and_forgery(fallback_pool) -> None:
    info = fallback_pool.describe()
    assert info["netns"] is False and info["mountns"] is False
    assert judge(fallback_pool, "def f(x):\n    return x + 1").all_passed
    sock = (
        "import socket\ndef f(x):\n    socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
        "    return 3"
    )
    out = judge(fallback_pool, sock)
    assert not out.all_passed and "PermissionError" in out.reason
    assert not judge(fallback_pool, "import os\nos._exit(0)").all_passed
    assert not judge(
        fallback_pool, "class A:\n    __eq__ = lambda s, o: True\nf = lambda x: A()"
    ).all_passed


def test_fallback_removes_what_the_job_left_in_host_tmp(fallback_pool) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs the uid drop to tell the job's files apart")
    name = f"/tmp/soarkit-fallback-{os.getpid()}"
    judge(fallback_pool, f"open({name!r}, 'w').write('x')\ndef f(x):\n    return 3")
    assert not os.path.exists(name)


def _live_processes_of(uid: int) -> list[int]:
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid != uid:
                    continue
                with open(f"/proc/{name}/stat", "rb") as fh:
                    if fh.read().rsplit(b")", 1)[1].split()[0] != b"Z":
                        pids.append(int(name))
            except OSError:
                continue
    return pids


#: Cannot finish on any machine: the child stops itself (and the whole group is stopped), the
#: parent waits for a child that never exits. As PID 1 of its namespace, the parent is immune
#: to the group SIGSTOP but not to the wait.
STOPPED = (
    "import os, signal\npid = os.fork()\nif pid == 0:\n    os.kill(os.getpid(), signal.SIGSTOP)\n"
    "    os._exit(0)\nos.kill(0, signal.SIGSTOP)\nos.waitpid(pid, 0)\n"
)


def test_wall_limit_ends_a_job_whose_processes_are_stopped() -> None:
    pool = SandboxPool(1, Limits(cpu_s=1, wall_s=1.0))
    try:
        info = pool.describe()
        raw = pool.run(STOPPED, CALLS)
        assert raw.timed_out
        if info["root"]:  # the job's own uid tells its processes apart from everything else
            assert _live_processes_of(info["uid"]) == []
        assert judge(pool, "def f(x):\n    return x + 1").all_passed
    finally:
        pool.close()


def test_decoder_rejects_malformed_and_rebuilds_only_plain_types() -> None:
    assert isinstance(harness.decode_results(b"", 1), str)
    assert isinstance(harness.decode_results(b"\x00\x00\x00\x05hello", 1), str)
    msg = b'{"results": [["ok", ["t", [["i", "1"], ["S", [["s", "a"]]], null, true]]]]}'
    out = harness.decode_results(len(msg).to_bytes(4, "big") + msg, 1)
    assert out == [(True, (1, {"a"}, None, True))]
    bad = b'{"results": [["ok", ["x", 1]]]}'
    assert harness.decode_results(len(bad).to_bytes(4, "big") + bad, 1) == [
        (False, "undecodable value")
    ]


def test_parent_side_checks_are_bounded_and_strict() -> None:
    plan = harness.compile_tests(
        [
            "assert abs(f(1) - 0.5) < 1e-9",
            "assert sorted(f(2)) == [1, 2]",
            "assert f(3) ** 10**9 == 1",
            "assert f(f(4)) == 4",
            "assert sum(f(5), []) == [1]",
            "assert round(f(6), -10**9) == 0",
            "assert pow(f(7), 10**9, 7) == 2",
        ],
        "f",
    )
    values = [(True, 0.5), (True, [2, 1]), (True, 7), (True, 2), (True, 4)]
    values += [(True, [[1]]), (True, 5), (True, 2)]
    # the huge operations are refused, not computed (computing them would not finish)
    passed = harness.judge(plan, values).passed
    assert passed == (True, True, False, True, False, False, True)
    with pytest.raises(harness.TestFormatError):
        harness.compile_tests(["assert f(1) == open('/etc/passwd').read()"], "f")
    with pytest.raises(harness.TestFormatError):
        harness.compile_tests(["assert f(1).__class__ == int"], "f")


NOCAP_SCRIPT = r"""
import json, os, time
from soarkit_code import harness
from soarkit_code.sandbox import Limits, SandboxPool

pool = SandboxPool(1, Limits(cpu_s=30, wall_s=120.0))  # limits no load can reach: not under test
plan = harness.compile_tests(["assert f(2) == 3"], "f")
calls = [c.to_json() for c in plan.calls]

def run(code):
    raw = pool.run(code, calls)
    return harness.decode_results(raw.raw, 1)

def ok(code):
    return harness.judge(plan, run(code)).all_passed

daemon = run("import os, time\ndef f(x):\n    r, w = os.pipe()\n    if os.fork() == 0:\n"
             "        os.setsid()\n        if os.fork() == 0:\n            os.write(w, str(os.getpid()).encode())\n"
             "            time.sleep(60)\n        os._exit(0)\n    return int(os.read(r, 32))")
pid = daemon[0][1] if isinstance(daemon, list) and daemon[0][0] else None

def is_gone(pid):
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True

# without namespaces the kill of a leftover is asynchronous: wait for it (a guard against a
# hang, not the verdict; a daemon that survives stays alive for 60 s and fails the check)
deadline = time.monotonic() + 30
while pid is not None and not is_gone(pid) and time.monotonic() < deadline:
    time.sleep(0.05)
gone = pid is not None and is_gone(pid)
out = {
    "info": pool.describe(),
    "right": ok("def f(x):\n    return x + 1"),
    "exit": ok("import os\nos._exit(0)"),
    "socket": ok("import socket\ndef f(x):\n    socket.socket().connect(('127.0.0.1', 9))\n    return 3"),
    "write": ok("def f(x):\n    open('/tmp/soarkit-nocap-%d', 'w').write('x')\n    return 3" % os.getpid()),
    "tmp_left": os.path.exists("/tmp/soarkit-nocap-%d" % os.getpid()),
    "kill_parent": ok("import os, signal\ndef f(x):\n    os.kill(os.getppid(), signal.SIGKILL)\n    return 3"),
    "daemon_pid": pid,
    "daemon_gone": gone,
}
pool.close()
print(json.dumps(out))
"""


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv"
)
@pytest.mark.parametrize("cgroup", [True, False], ids=["cgroup", "no-cgroup"])
def test_without_any_capability(cgroup: bool) -> None:
    """The degraded mode of an unprivileged caller, made real by dropping every capability:
    no namespaces, no uid drop; seccomp, Landlock, rlimits and cleanup must still hold."""
    env = dict(os.environ)
    if not cgroup:
        env["SOARKIT_SANDBOX_NO_CGROUP"] = "1"
    cmd = ["setpriv", "--bounding-set=-all", "--inh-caps=-all", sys.executable, "-c", NOCAP_SCRIPT]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    info = out["info"]
    assert info["root"] is False and info["netns"] is False and info["mountns"] is False
    assert bool(info["cgroup"]) is cgroup
    # uid 0 without CAP_SETFCAP cannot map itself into a user namespace: named, not silent
    assert info["userns"] is False and info["pidns"] is False
    reasons = " | ".join(info["degraded"])
    assert "userns:" in reasons and "uid-drop:" in reasons and "netns:" in reasons
    # uid 0 is exempt from RLIMIT_NPROC: a pids cgroup (if this caller may make one) or nothing
    assert info["nproc_guard"] == ("pids-cgroup" if info["pids_cgroup"] else "none")
    if not info["pids_cgroup"]:
        assert "nproc:" in reasons and "pids-cgroup:" in reasons
    assert out["right"] is True
    assert not out["exit"] and not out["socket"] and not out["write"] and not out["tmp_left"]
    assert not out["kill_parent"]
    assert out["daemon_pid"] and out["daemon_gone"], out


def test_a_wedged_zygote_is_replaced_not_waited_for() -> None:
    import signal

    from soarkit_code.sandbox import SandboxError

    pool = SandboxPool(1, Limits(cpu_s=1, wall_s=0.5))
    pool.backstop_s = 1.0
    try:
        assert judge(pool, "def f(x):\n    return x + 1").all_passed
        (pid,) = pool.worker_pids()
        os.kill(pid, signal.SIGSTOP)  # simulate a zygote that never answers
        with pytest.raises(SandboxError):  # the backstop fires; a hang would fail the suite
            pool.run("def f(x):\n    return x + 1", CALLS)
        assert pool.worker_pids() != [pid]
        assert judge(pool, "def f(x):\n    return x + 1").all_passed
    finally:
        pool.close()


INC_PLAN = harness.compile_tests(["assert inc(1) == 2", "assert inc(7) == 8"], "inc")
INC_CALLS = [c.to_json() for c in INC_PLAN.calls]
COUNT_CALLS = [{"fn": "count", "args": "((), {})"}]


def _sleepers(uid: int, n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen(["sleep", "1000"], user=uid, group=uid) for _ in range(n)]


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.kill()
    for p in procs:
        p.wait()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start processes as the sandbox uid")
def test_process_limit_counts_only_the_sandbox_while_its_uid_has_many_other_processes() -> None:
    """40 foreign processes under the job's own uid: a per-uid limit of 16 would fail every fork."""
    limits = Limits(cpu_s=10, wall_s=60.0)
    pool = SandboxPool(1, limits)
    others: list[subprocess.Popen] = []
    try:
        info = pool.describe()
        if info["nproc_guard"] != "pids-cgroup":
            pytest.skip(f"no pids cgroup here: {info['degraded']}")
        others = _sleepers(info["uid"], 40)
        for name, code in FLAKED:
            for i in range(3):
                raw = pool.run(f"{code}\n# {i}", INC_CALLS)
                out = harness.judge(INC_PLAN, harness.decode_results(raw.raw, len(INC_CALLS)))
                assert out.all_passed, f"{name}: {out.reason}"
        raw = pool.run(FORK_COUNTER, COUNT_CALLS)
        # the job itself plus nproc - 1 children: exactly the limit, whatever else runs
        assert harness.decode_results(raw.raw, 1) == [(True, [limits.nproc - 1, "BlockingIOError"])]
    finally:
        _stop(others)
        pool.close()


def test_degraded_modes_name_their_process_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOARKIT_SANDBOX_NO_CGROUP", "1")
    pool = SandboxPool(1, Limits(cpu_s=10, wall_s=60.0))
    try:
        info = pool.describe()
        assert "pids-cgroup: disabled by SOARKIT_SANDBOX_NO_CGROUP=1" in info["degraded"]
        assert info["nproc_guard"] in ("rlimit-own-uid", "rlimit-own-userns", "rlimit-shared-uid")
        raw = pool.run(FORK_COUNTER, COUNT_CALLS)
        (ok, (n, err)) = harness.decode_results(raw.raw, 1)[0]
        assert ok and err == "BlockingIOError" and n <= 15  # still bounded by the rlimit
    finally:
        pool.close()


UNPRIV_SCRIPT = r"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("sbx_pool", sys.argv[1])
pool = importlib.util.module_from_spec(spec)
sys.modules["sbx_pool"] = pool
spec.loader.exec_module(pool)
progs = json.loads(sys.argv[2])
p = pool.SandboxPool(1, pool.Limits(cpu_s=10, wall_s=60.0))
out = {"info": p.describe(), "inc": {}}
for name, code in progs["inc"]:
    out["inc"][name] = [p.run(code + f"\n# {i}", [{"fn": "inc", "args": "((1,), {})"}]).raw.decode("latin-1")
                        for i in range(3)]
out["count"] = p.run(progs["count"], [{"fn": "count", "args": "((), {})"}]).raw.decode("latin-1")
out["parent"] = p.run(
    "import os\ndef f():\n    return os.getppid()", [{"fn": "f", "args": "((), {})"}]
).raw.decode("latin-1")
p.close()
print(json.dumps(out))
"""


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None or not os.path.exists("/usr/bin/python3"),
    reason="needs root (to become another user), setpriv and a system python",
)
def test_an_unprivileged_user_gets_namespaces_and_a_process_count_of_its_own() -> None:
    """A plain user (uid 1234, no capabilities) with 40 other processes of its own running:
    the zygote makes a user namespace, so it still gets network, mount and PID namespaces, and
    RLIMIT_NPROC counts only the tasks in that namespace."""
    user = 1234
    others = _sleepers(user, 40)
    try:
        progs = json.dumps({"inc": FLAKED, "count": FORK_COUNTER})
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]
        cmd += ["/usr/bin/python3", "-I", "-c", UNPRIV_SCRIPT, pool_module.__file__, progs]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd="/")
    finally:
        _stop(others)
    if proc.returncode != 0 and "userns" in proc.stderr:
        pytest.skip(proc.stderr[-500:])
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    info = out["info"]
    if not info["userns"]:
        pytest.skip(f"no user namespaces on this kernel: {info['degraded']}")
    assert info["netns"] and info["mountns"] and info["pidns"] and info["seccomp"]
    assert info["root"] is False and info["nproc_guard"] == "rlimit-own-userns"
    assert any(r.startswith("uid-drop:") for r in info["degraded"])

    def values(raw: str) -> object:
        return harness.decode_results(raw.encode("latin-1"), 1)

    for name, runs in out["inc"].items():
        assert [values(r) for r in runs] == [[(True, 2)]] * 3, name
    assert values(out["count"]) == [(True, [15, "BlockingIOError"])]
    assert values(out["parent"]) == [(True, 0)]  # the zygote is outside the job's namespace


def test_a_degraded_protection_is_logged_by_name(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SOARKIT_SANDBOX_NO_LANDLOCK", "1")
    monkeypatch.setattr(pool_module, "_logged", set())  # logged once per process otherwise
    pool = SandboxPool(1, Limits(cpu_s=10, wall_s=60.0))
    try:
        with caplog.at_level("WARNING", logger="soarkit_code.sandbox"):
            info = pool.describe()
        assert "landlock: disabled by SOARKIT_SANDBOX_NO_LANDLOCK=1" in info["degraded"]
        assert "landlock_abi" not in info
        assert any("landlock: disabled" in r.getMessage() for r in caplog.records)
        assert judge(pool, "def f(x):\n    return x + 1").all_passed  # degraded, not broken
    finally:
        pool.close()
