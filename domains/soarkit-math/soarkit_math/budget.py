"""A hard time and memory budget for SymPy work: killable helper processes.

Why not ``signal.alarm`` (Math-Verify's way): it only works on the main thread of the main
interpreter, and SymPy can sit in one long C-level big-integer operation that a Python-level
alarm cannot interrupt anyway. Why not ``multiprocessing``: daemonic pool workers (where a
SOAR run may call the verifier) are not allowed to have children, and a forked child inherits
whatever locks the parent's threads held.

So SymPy runs in a small pool of plain ``subprocess`` helpers speaking JSON lines over pipes.
A helper that overruns its deadline is killed (SIGKILL) and replaced lazily; a helper also
runs under an address-space limit, so a memory bomb ends as a MemoryError inside it. This
works from any thread, inside any worker process, and costs a pipe round trip (~0.1 ms) per
call; helpers are started on first use (about a second: importing SymPy) and live as long as
the process. The pool is a per-process cache, recreated after ``fork``.
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import subprocess
import sys
import threading
import time
from typing import Any

#: Seconds a fresh helper may take to import SymPy before it is given up on.
STARTUP_TIMEOUT_S = 120.0
#: Address-space limit of a helper, in bytes.
HELPER_MEMORY_LIMIT = 2 * 1024**3


class _Helper:
    """One helper process and the partial line read from it."""

    def __init__(self) -> None:
        env = dict(os.environ)
        env["SOARKIT_MATH_HELPER_MEMORY"] = str(HELPER_MEMORY_LIMIT)
        env.setdefault("PYTHONHASHSEED", "0")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "soarkit_math.helper"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            close_fds=True,
        )
        self._buf = b""
        self.died = False
        self.owner = os.getpid()
        ready = self._read_line(time.monotonic() + STARTUP_TIMEOUT_S)
        if ready != b"ready":
            self.kill()
            raise RuntimeError("soarkit_math helper failed to start")

    def _read_line(self, deadline: float) -> bytes | None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buf:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    return None
                chunk = os.read(fd, 65536)
                if not chunk:
                    self.died = True  # end of file: the helper exited
                    return None
                self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line

    def call(self, request: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        """The helper's answer, or None if it overran ``timeout`` or died (then it is dead)."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(request).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:
            self.kill()
            return None
        line = self._read_line(time.monotonic() + timeout)
        if line is None:
            crashed = self.died or self.proc.poll() is not None
            self.kill()
            # a helper that died on its own (e.g. a C-level crash) is not a timeout
            return {"status": "invalid", "detail": "helper crashed"} if crashed else None
        return json.loads(line)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - a SIGKILLed child always exits
            pass
        for f in (self.proc.stdin, self.proc.stdout):
            if f is not None:
                f.close()


class HelperPool:
    """At most ``size`` helpers shared by the threads of this process."""

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._idle: list[_Helper] = []
        self._lock = threading.Lock()
        self._slots = threading.Semaphore(size)
        self._owner = os.getpid()
        self.kills = 0

    def call(self, request: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        """Run ``request`` in a helper within ``timeout`` seconds; None on timeout or crash."""
        if os.getpid() != self._owner:
            self._forget_after_fork()
        with self._slots:
            with self._lock:
                helper = self._idle.pop() if self._idle else None
            if helper is None or not helper.alive():
                helper = _Helper()
            answer = helper.call(request, timeout)
            if answer is None or not helper.alive():
                self.kills += 1
                return answer
            with self._lock:
                self._idle.append(helper)
            return answer

    def _forget_after_fork(self) -> None:
        # The parent's helpers and pipes belong to the parent: never use or kill them here.
        self._idle = []
        self._lock = threading.Lock()
        self._slots = threading.Semaphore(self.size)
        self._owner = os.getpid()

    def close(self) -> None:
        """Stop every idle helper (called at exit)."""
        if os.getpid() != self._owner:
            return
        with self._lock:
            helpers, self._idle = self._idle, []
        for h in helpers:
            h.kill()


_pool: HelperPool | None = None
_pool_lock = threading.Lock()


def default_pool() -> HelperPool:
    """The process-wide helper pool (a cache: created on first use, closed at exit)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool._owner != os.getpid():
            _pool = HelperPool(size=int(os.environ.get("SOARKIT_MATH_HELPERS", "2")))
            atexit.register(_pool.close)
        return _pool
