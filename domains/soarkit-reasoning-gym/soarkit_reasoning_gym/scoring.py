"""Running a task's ``score_answer`` in a worker process, with a time limit.

A reasoning-gym scorer is third-party code run on model output: most are string comparisons,
some parse (SymPy, regexes, simulations) and could take unbounded time on a hostile answer.
A thread cannot be stopped, so the scorer runs in a child process (``python -m
soarkit_reasoning_gym.scoring``) that answers one JSON line per request; a request that
outlives its limit gets the child killed and replaced, and the verdict says so. One worker per
process, started on first use; the lock makes it safe for the loop's verifier threads.

The child imports reasoning-gym once (seconds); the limit applies to scoring only, never to
that start-up, so a loaded machine does not turn slow imports into wrong verdicts.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

#: Seconds a worker may take to import reasoning-gym before the start counts as failed.
START_TIMEOUT_S = 300.0


class ScorerError(RuntimeError):
    """The scorer could not give a score (crash, time-out, worker lost); one line."""


@dataclass(frozen=True)
class Score:
    value: float


class ScorerWorker:
    """One child process that scores answers; restarted after a time-out or a crash."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._buf = b""

    def _start(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", "1")
        proc = subprocess.Popen(
            [sys.executable, "-m", "soarkit_reasoning_gym.scoring"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self._proc, self._buf = proc, b""
        reply = self._read_line(START_TIMEOUT_S)
        if reply is None or json.loads(reply).get("ready") is not True:
            self._kill()
            raise ScorerError("reasoning-gym scorer worker did not start")
        return proc

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def _read_line(self, timeout: float) -> bytes | None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        deadline = time.monotonic() + timeout
        fd = proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return None  # the worker died
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line

    def warm(self) -> None:
        """Start the worker now, so the first timed verification does not pay for the import."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()

    def score(
        self,
        task: str,
        config: dict[str, Any],
        entry: dict[str, Any],
        answer: str,
        *,
        timeout: float,
    ) -> float:
        request = json.dumps({"task": task, "config": config, "entry": entry, "answer": answer})
        with self._lock:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                proc = self._start()
            assert proc.stdin is not None
            try:
                proc.stdin.write(request.encode("utf-8", "surrogatepass") + b"\n")
                proc.stdin.flush()
            except OSError as exc:
                self._kill()
                raise ScorerError(f"scorer of task '{task}' lost its worker ({exc})") from exc
            line = self._read_line(timeout)
            if line is None:
                alive = proc.poll() is None
                self._kill()
                if alive:
                    raise ScorerError(f"scorer of task '{task}' timed out after {timeout:g}s")
                raise ScorerError(f"scorer of task '{task}' crashed its worker")
        reply = json.loads(line)
        if "error" in reply:
            raise ScorerError(f"scorer of task '{task}' crashed: {reply['error']}")
        return float(reply["score"])

    def close(self) -> None:
        with self._lock:
            self._kill()


_worker: ScorerWorker | None = None
_worker_pid: int | None = None
_worker_lock = threading.Lock()


def worker() -> ScorerWorker:
    """This process's worker (a forked child gets its own, never its parent's pipes)."""
    global _worker, _worker_pid
    with _worker_lock:
        if _worker is None or _worker_pid != os.getpid():
            _worker, _worker_pid = ScorerWorker(), os.getpid()
            atexit.register(_worker.close)
        return _worker


# -- the child ------------------------------------------------------------------------------------


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


#: Extra modules the worker imports after reasoning-gym (comma-separated): third-party task
#: packages that call ``reasoning_gym.register_dataset`` at import.
IMPORT_ENV = "SOARKIT_RG_IMPORT"


def _serve() -> None:
    import importlib

    import reasoning_gym  # noqa: F401  (registers every task)
    from reasoning_gym.factory import DATASETS

    for name in filter(None, os.environ.get(IMPORT_ENV, "").split(",")):
        importlib.import_module(name.strip())

    datasets: dict[str, Any] = {}
    out = sys.stdout.buffer
    out.write(b'{"ready": true}\n')
    out.flush()
    for raw in sys.stdin.buffer:
        try:
            req = json.loads(raw)
            key = json.dumps([req["task"], req["config"]], sort_keys=True)
            ds = datasets.get(key)
            if ds is None:
                cls, config_cls = DATASETS[req["task"]]
                try:
                    ds = cls(config=config_cls(**req["config"]))
                except Exception:  # JSON lost a type the config needs (an enum): its defaults
                    ds = cls(config=config_cls())
                datasets[key] = ds
            value = float(ds.score_answer(req["answer"], req["entry"]))
            reply = {"score": value if value == value else 0.0}  # NaN scores nothing
        except BaseException as exc:  # a scorer's crash is an answer, not the worker's end
            if isinstance(exc, KeyboardInterrupt):
                raise
            reply = {"error": _one_line(exc)}
        out.write(json.dumps(reply).encode() + b"\n")
        out.flush()


if __name__ == "__main__":
    _serve()
