"""Parent side of the sandbox: a small pool of zygotes (fork servers), one job at a time each.

Why a fork server: starting a fresh interpreter per evaluation (what human-eval-style harnesses
do) costs tens of milliseconds of CPU before the candidate runs. A zygote pays that once; per job
it forks a single-use child (about a millisecond), so the isolation of "a fresh process per
evaluation" is kept at a fraction of the price. Namespaces are made once per zygote, not per job.

Thread-safe: ``run`` may be called from several threads; each borrows an idle zygote.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import select
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ZYGOTE = Path(__file__).with_name("zygote.py")
#: uids handed to sandboxed jobs are ``UID_BASE + pid * 64 + slot``: far above any real account.
UID_BASE = 1_700_000_000


@dataclass(frozen=True)
class Limits:
    """Per-evaluation resource limits (the child's rlimits and the supervisor's wall clock)."""

    cpu_s: int = 2
    wall_s: float = 4.0
    memory_mb: int = 512
    #: all processes of one job together (memory cgroup, where one can be made)
    job_memory_mb: int = 768
    nproc: int = 16
    fsize_mb: int = 8
    nofile: int = 64
    result_bytes: int = 2_000_000

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class RawRun:
    """What came back from one sandboxed run: untrusted bytes plus facts the zygote observed."""

    raw: bytes
    timed_out: bool
    signal: int
    elapsed: float
    oversize: bool = False
    error: str = ""
    #: peak memory of the job's cgroup (0 where no cgroup could be made)
    peak_bytes: int = 0


@dataclass
class _Zygote:
    proc: subprocess.Popen
    info: dict[str, Any] = field(default_factory=dict)


class SandboxError(RuntimeError):
    """The sandbox itself failed (not the candidate)."""


#: Switches a user may set to test the degraded modes (passed through to the zygote).
PASSTHROUGH = (
    "SOARKIT_SANDBOX_NO_NAMESPACES",
    "SOARKIT_SANDBOX_NO_USERNS",
    "SOARKIT_SANDBOX_NO_CGROUP",
    "SOARKIT_SANDBOX_NO_LANDLOCK",
)
log = logging.getLogger("soarkit_code.sandbox")
#: degraded-mode reasons already logged in this process (one warning per distinct reason)
_logged: set[str] = set()
_logged_lock = threading.Lock()


def _scrubbed_env() -> dict[str, str]:
    # Nothing of the parent's environment (tokens, keys, proxies) reaches the zygote.
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
    env.update({k: os.environ[k] for k in PASSTHROUGH if os.environ.get(k) == "1"})
    return env


class SandboxPool:
    """``workers`` zygotes started lazily; each evaluation runs in a fresh forked child."""

    def __init__(self, workers: int = 2, limits: Limits | None = None) -> None:
        self.workers = max(1, workers)
        self.limits = limits or Limits()
        self._idle: queue.Queue[_Zygote] = queue.Queue()
        self._all: list[_Zygote] = []
        self._lock = threading.Lock()
        self._slots: list[int] = []
        self._fallback_dir = tempfile.gettempdir()
        self._closed = False
        #: sandboxed runs started (for tests and reports)
        self.runs = 0
        #: seconds past the wall limit after which a silent zygote is replaced
        self.backstop_s = 30.0
        self._count_lock = threading.Lock()
        atexit.register(self.close)

    # -- lifecycle ---------------------------------------------------------------------------------
    def _start(self, slot: int) -> _Zygote:
        # unique among live zygotes: pid_max <= 2**22, so pid * 64 + n stays below 2**31
        uid = UID_BASE + (os.getpid() % (1 << 22)) * 64 + _take_uid_slot()
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-B", str(ZYGOTE), str(uid), self._fallback_dir],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_scrubbed_env(),
            bufsize=0,  # replies are read with os.read + select: no hidden buffer
            close_fds=True,
            cwd="/",
        )
        z = _Zygote(proc)
        z.info = self._read(z) or {}
        if not z.info.get("ready"):
            proc.kill()
            _release_uid_slot(uid)
            raise SandboxError("sandbox zygote failed to start")
        z.info["slot"] = slot
        _log_degraded(z.info.get("degraded") or [])
        return z

    def _ensure_started(self) -> None:
        with self._lock:
            if self._closed:
                raise SandboxError("sandbox pool is closed")
            while len(self._all) < self.workers:
                z = self._start(len(self._all))
                self._all.append(z)
                self._idle.put(z)

    def describe(self) -> dict[str, Any]:
        """What isolation the zygotes obtained on this machine (namespaces, seccomp, uid drop).

        ``nproc_guard`` names what bounds a job's process count (``pids-cgroup``,
        ``rlimit-own-uid``, ``rlimit-own-userns``, or the degraded ``rlimit-shared-uid`` /
        ``none``); ``degraded`` lists every protection that could not be had, each with its
        reason (also logged once as a warning on ``soarkit_code.sandbox``).
        """
        self._ensure_started()
        info = dict(self._all[0].info)
        info.pop("ready", None)
        info.pop("slot", None)
        info["workers"] = self.workers
        return info

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for z in self._all:
                try:
                    z.proc.stdin.close()  # type: ignore[union-attr]
                    z.proc.wait(timeout=2)
                except Exception:
                    z.proc.kill()
                    z.proc.wait()
                _release_uid_slot(int(z.info.get("uid", -1)))
            self._all.clear()

    def worker_pids(self) -> list[int]:
        return [z.proc.pid for z in self._all]

    # -- protocol ----------------------------------------------------------------------------------
    @staticmethod
    def _read(z: _Zygote, timeout: float = 60.0) -> dict[str, Any] | None:
        """One framed reply, or ``None`` if the zygote died or did not answer in ``timeout``.

        The zygote bounds every job itself; the deadline here is a backstop so that a wedged
        zygote costs one "not judged" verdict, never a hung SOAR run.
        """
        out = z.proc.stdout
        assert out is not None
        fd = out.fileno()
        deadline = time.monotonic() + timeout

        def take(n: int) -> bytes | None:
            buf = b""
            while len(buf) < n:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([fd], [], [], left)[0]:
                    return None
                chunk = os.read(fd, n - len(buf))
                if not chunk:
                    return None
                buf += chunk
            return buf

        head = take(4)
        if head is None:
            return None
        body = take(struct.unpack(">I", head)[0])
        return None if body is None else json.loads(body)

    def run(self, code: str, calls: list[dict[str, str]], limits: Limits | None = None) -> RawRun:
        """Run ``code`` then ``calls`` (``{"fn", "args"}``) in a fresh sandboxed child."""
        self._ensure_started()
        lim = limits or self.limits
        job = json.dumps({"code": code, "calls": calls, "limits": lim.to_json()}).encode()
        z = self._idle.get()
        with self._count_lock:
            self.runs += 1
        try:
            stdin = z.proc.stdin
            assert stdin is not None
            view = memoryview(struct.pack(">I", len(job)) + job)
            while view:  # unbuffered pipe: a write may be partial
                view = view[os.write(stdin.fileno(), view) :]
            reply = self._read(z, lim.wall_s + self.backstop_s)
        except (OSError, ValueError):
            reply = None
        if reply is None:
            # the zygote died (it never runs candidate code, so this is a bug or an OOM kill)
            self._replace(z)
            raise SandboxError("sandbox worker died")
        self._idle.put(z)
        return RawRun(
            raw=reply.get("raw", "").encode("latin-1"),
            timed_out=bool(reply.get("timed_out")),
            signal=int(reply.get("signal", 0)),
            elapsed=float(reply.get("elapsed", 0.0)),
            oversize=bool(reply.get("oversize")),
            error=str(reply.get("error", "")),
            peak_bytes=int(reply.get("peak_bytes", 0)),
        )

    def _replace(self, z: _Zygote) -> None:
        with self._lock:
            try:
                z.proc.kill()
                z.proc.wait(timeout=2)
            except Exception:
                pass
            _kill_cgroup(str(z.info.get("cgroup") or ""))
            _kill_cgroup(str(z.info.get("pids_cgroup") or ""))
            _release_uid_slot(int(z.info.get("uid", -1)))
            slot = z.info.get("slot", 0)
            if z in self._all:
                self._all.remove(z)
            if not self._closed:
                nz = self._start(slot)
                self._all.append(nz)
                self._idle.put(nz)


def _kill_cgroup(path: str) -> None:
    """After a zygote died: kill what its job left in its cgroup, then remove the cgroup."""
    if not path:
        return
    for _ in range(50):
        try:
            with open(os.path.join(path, "cgroup.procs")) as fh:
                pids = [int(x) for x in fh.read().split()]
        except (OSError, ValueError):
            return
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        time.sleep(0.02)
    try:
        os.rmdir(path)
    except OSError:
        pass


_uid_slots_used: set[int] = set()
_uid_lock = threading.Lock()


def _take_uid_slot() -> int:
    """Every live zygote of this process gets its own uid (32..63 are left to the benchmark).

    Two live zygotes sharing a uid would share RLIMIT_NPROC (where that is the process guard)
    and, in the uid-sweep fallback, kill each other's jobs; so a slot is reused only after its
    zygote is gone, and a 33rd live zygote is refused rather than given a shared uid.
    """
    with _uid_lock:
        for slot in range(32):
            if slot not in _uid_slots_used:
                _uid_slots_used.add(slot)
                return slot
    raise SandboxError("more than 32 live sandbox zygotes in one process (close unused pools)")


def _release_uid_slot(uid: int) -> None:
    if uid < UID_BASE:
        return
    with _uid_lock:
        _uid_slots_used.discard((uid - UID_BASE) % 64)


def _log_degraded(reasons: list[str]) -> None:
    with _logged_lock:
        fresh = [r for r in reasons if r not in _logged]
        _logged.update(fresh)
    for r in fresh:
        log.warning("sandbox degraded: %s", r)


_shared: dict[tuple, SandboxPool] = {}
_shared_lock = threading.Lock()


def shared_pool(workers: int, limits: Limits) -> SandboxPool:
    """One pool per (workers, limits) per process: domains are cheap copies, pools are not."""
    key = (workers, limits, os.getpid())
    with _shared_lock:
        pool = _shared.get(key)
        if pool is None:
            pool = SandboxPool(workers, limits)
            _shared[key] = pool
        return pool
