"""The sandbox itself: what isolation it obtains here, its degraded modes, its limits."""

from __future__ import annotations

import os
import time

import pytest
from soarkit_code import harness
from soarkit_code.sandbox import Limits, SandboxPool

PLAN = harness.compile_tests(["assert f(2) == 3"], "f")
CALLS = [c.to_json() for c in PLAN.calls]


def judge(pool: SandboxPool, code: str) -> harness.Outcome:
    raw = pool.run(code, CALLS)
    return harness.judge(PLAN, harness.decode_results(raw.raw, len(CALLS)))


@pytest.fixture
def fallback_pool(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SOARKIT_SANDBOX_NO_NAMESPACES", "1")
    pool = SandboxPool(1, Limits(cpu_s=1, wall_s=2.0))
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


def test_wall_limit_kills_a_stopped_process_group_quickly() -> None:
    pool = SandboxPool(1, Limits(cpu_s=1, wall_s=1.0))
    try:
        t0 = time.monotonic()
        raw = pool.run("import os, signal\nos.kill(0, signal.SIGSTOP)", CALLS)
        assert raw.timed_out and time.monotonic() - t0 < 4
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
    t0 = time.monotonic()
    passed = harness.judge(plan, values).passed
    assert passed == (True, True, False, True, False, False, True)
    assert time.monotonic() - t0 < 1.0
    with pytest.raises(harness.TestFormatError):
        harness.compile_tests(["assert f(1) == open('/etc/passwd').read()"], "f")
    with pytest.raises(harness.TestFormatError):
        harness.compile_tests(["assert f(1).__class__ == int"], "f")
