"""Adversarial suite: hostile programs end with the right verdict, the host untouched.

All programs run through the real sandbox (no mocks), two at a time (one per zygote). Every
assertion is about what happened (verdict, processes left, files, listeners), never about how
long it took: durations are printed for the reader only. A run cannot hang the suite: the
zygote's wall clock ends it, and the pool's backstop replaces a zygote that stops answering.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from soarkit_code import CodeDomain
from soarkit_code.formats import make_problem
from soarkit_code.sandbox import Limits
from soarkit_code.sandbox.pool import UID_BASE

from soar_kit.contracts.records import Problem, Verdict

sys.path.insert(0, str(Path(__file__).parent))
from benign_programs import FLAKED
from hostile_programs import CASES, INC

LIMITS = Limits(cpu_s=1, wall_s=2.0)
SENTINEL = f"/tmp/soarkit-adv-sentinel-{os.getpid()}"

INC_PROBLEM = make_problem(
    pid="adv-inc",
    question="Return x + 1.\ndef inc(x):\n# Example: assert inc(1) == 2",
    tests=["assert inc(1) == 2", "assert inc(7) == 8", "assert inc(-3) == -2"],
)
PROBE_PROBLEM = make_problem(
    pid="adv-probe",
    question="Return 'leak' if the attack worked.\ndef probe():",
    tests=["assert probe() == 'leak'"],
)


class Listener:
    """Loopback TCP and UDP listeners on one port; records anything that reaches them."""

    def __init__(self) -> None:
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(8)
        self.tcp.settimeout(0.2)
        self.port = self.tcp.getsockname()[1]
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.port))
        self.udp.settimeout(0.2)
        self.hits: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            for sock, kind in ((self.tcp, "tcp"), (self.udp, "udp")):
                try:
                    if kind == "tcp":
                        conn, _ = sock.accept()
                        conn.close()
                    else:
                        sock.recvfrom(64)
                    self.hits.append(kind)
                except OSError:
                    pass

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.tcp.close()
        self.udp.close()


def _sandbox_processes() -> list[int]:
    """Pids of live (non-zombie) processes running under any sandbox uid."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if os.stat(f"/proc/{name}").st_uid < UID_BASE:
                continue
            with open(f"/proc/{name}/stat", "rb") as fh:
                if fh.read().rsplit(b")", 1)[1].split()[0] != b"Z":
                    pids.append(int(name))
        except OSError:
            continue
    return pids


@pytest.fixture(scope="module")
def run_all() -> dict:
    os.environ["SOARKIT_TEST_SECRET"] = "s3cret"  # must never reach a candidate
    listener = Listener()
    domain = CodeDomain(workers=2, limits=LIMITS)
    domain.pool.describe()  # start the zygotes now, with the secret in our environment
    zygotes = sorted(domain.pool.worker_pids())

    def one(case: tuple[str, str, str]) -> tuple[str, Verdict, float]:
        name, kind, code = case
        code = (
            code.replace("{PORT}", str(listener.port))
            .replace("{SENTINEL}", SENTINEL)
            .replace("{SENTINEL_NAME}", os.path.basename(SENTINEL))
            .replace("{HOSTPID}", str(os.getpid()))
            .replace("{ZYGOTEPIDS}", repr(zygotes))
        )
        problem: Problem = INC_PROBLEM if kind == INC else PROBE_PROBLEM
        t0 = time.monotonic()
        verdict = domain.verify(problem, code)
        return name, verdict, time.monotonic() - t0

    with ThreadPoolExecutor(2) as ex:
        results = {name: (v, dt) for name, v, dt in ex.map(one, CASES)}
    # the benign-but-sneaky case: a right answer that leaves a daemon behind
    daemon = domain.verify(
        INC_PROBLEM,
        "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(1000)\n"
        "def inc(x):\n    return x + 1",
    )
    # cleanup is synchronous (the verdict comes after the kill and reap); the loop is only a
    # guard for a degraded mode whose kill is asynchronous, not the verdict
    deadline = time.monotonic() + 30
    while _sandbox_processes() and time.monotonic() < deadline:
        time.sleep(0.05)
    state = {
        "results": results,
        "daemon": daemon,
        "stray": _sandbox_processes(),
        "hits": list(listener.hits),
        "zygotes_before": zygotes,
        "zygotes_after": sorted(domain.pool.worker_pids()),
        "domain": domain,
    }
    listener.close()
    del os.environ["SOARKIT_TEST_SECRET"]
    return state


def test_suite_has_at_least_50_hostile_programs() -> None:
    assert len(CASES) >= 50
    assert len({name for name, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_hostile_program_is_not_correct(run_all: dict, name: str) -> None:
    verdict, took = run_all["results"][name]
    print(f"{name}: {took:.2f}s {verdict.reason}")
    assert verdict.correct is False, verdict.reason
    assert verdict.reward < 1.0


def test_host_untouched(run_all: dict) -> None:
    assert run_all["stray"] == [], "sandbox processes survived"
    assert run_all["hits"] == [], "a candidate reached a loopback listener"
    assert run_all["zygotes_before"] == run_all["zygotes_after"], "a zygote was killed"
    for d in ("/tmp", "/dev/shm", "/var/tmp"):
        assert not os.path.exists(os.path.join(d, os.path.basename(SENTINEL)))
    assert not os.path.exists("/work/main/PWNED_BY_CANDIDATE")
    assert not any(n.startswith("f") and len(n) < 6 for n in os.listdir("/tmp") if n[1:].isdigit())


def test_right_answer_with_daemon_is_correct_and_daemon_is_killed(run_all: dict) -> None:
    assert run_all["daemon"].correct, run_all["daemon"].reason
    assert run_all["stray"] == []


def test_sandbox_still_works_after_the_suite(run_all: dict) -> None:
    domain: CodeDomain = run_all["domain"]
    assert domain.verify(INC_PROBLEM, "def inc(x):\n    return x + 1").correct


BENIGN = [
    # limits must leave room for ordinary programs: check with harmless ones first
    *[b for b in FLAKED if b[0] != "daemon"],
    ("allocate-100mb", "def inc(x):\n    b = bytearray(100 * 1024 * 1024)\n    return x + 1"),
    (
        "write-and-read-cwd",
        "def inc(x):\n    open('f.txt', 'w').write(str(x + 1))\n"
        "    return int(open('f.txt').read())",
    ),
    ("write-tmp", "def inc(x):\n    open('/tmp/a', 'w').write('1')\n    return x + 1"),
    (
        "stdlib-imports",
        "import fractions, heapq, itertools, collections, re, decimal, sqlite3\n"
        "def inc(x):\n    return x + 1",
    ),
    (
        "unix-socketpair",
        "import socket\ndef inc(x):\n    a, b = socket.socketpair()\n"
        "    a.send(b'1')\n    return x + int(b.recv(1))",
    ),
    ("prints-a-lot", "def inc(x):\n    print('x' * 100000)\n    return x + 1"),
    (
        "multiprocessing-pool",
        # the candidate's own functions cannot be pickled by name (its module is not
        # importable), builtins can
        "import multiprocessing\ndef inc(x):\n"
        "    with multiprocessing.get_context('fork').Pool(2) as p:\n"
        "        return x + sum(p.map(abs, [-1, 0]))",
    ),
]


@pytest.mark.parametrize(("name", "code"), BENIGN, ids=[b[0] for b in BENIGN])
def test_benign_programs_within_limits_pass(name: str, code: str) -> None:
    domain = CodeDomain(workers=2, limits=LIMITS)
    verdict = domain.verify(INC_PROBLEM, code)
    assert verdict.correct, verdict.reason


@pytest.mark.parametrize(("name", "code"), FLAKED, ids=[b[0] for b in FLAKED])
def test_programs_that_flaked_pass_repeatedly_after_the_hostile_suite(
    run_all: dict, name: str, code: str
) -> None:
    """On the zygotes that just ran the fork bombs: nothing a job left may count against these.

    ``verify`` caches only a fully reported outcome, so distinct comments make every run real.
    """
    domain: CodeDomain = run_all["domain"]
    for i in range(5):
        verdict = domain.verify(INC_PROBLEM, f"{code}\n# run {i}")
        assert verdict.correct, f"run {i}: {verdict.reason}"
