"""Benign programs that use threads and processes; each answers ``def inc(x)`` correctly.

Not a test module. ``FLAKED`` are the four that once failed with ``BlockingIOError`` under
machine load (threads, fork, subprocess, a daemon): the process limit was a per-uid
``RLIMIT_NPROC``, and processes a previous job left (reaped too late) counted against it. Used by
``test_code_adversarial.py`` (a few repetitions after the hostile programs, on the same zygotes)
and by ``benchmarks/code_sandbox_load.py`` (50 in a row with both cores busy).
"""

from __future__ import annotations

FLAKED: list[tuple[str, str]] = [
    (
        "threads",
        "import threading\ndef inc(x):\n    r = []\n"
        "    t = [threading.Thread(target=r.append, args=(1,)) for _ in range(4)]\n"
        "    [s.start() for s in t]\n    [s.join() for s in t]\n    return x + len(r) - 3",
    ),
    (
        "fork-children",
        "import os\ndef inc(x):\n    for _ in range(3):\n        pid = os.fork()\n"
        "        if pid == 0:\n            os._exit(0)\n        os.waitpid(pid, 0)\n    return x + 1",
    ),
    (
        "subprocess-echo",
        "import subprocess\ndef inc(x):\n"
        "    return x + int(subprocess.run(['echo', '1'], capture_output=True).stdout)",
    ),
    (
        "daemon",
        "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(1000)\n"
        "def inc(x):\n    return x + 1",
    ),
]

#: Forks children that block forever until a fork fails; returns how many it got and the error.
FORK_COUNTER = (
    "import os\ndef count():\n    r, w = os.pipe()\n    n = 0\n    while True:\n        try:\n"
    "            pid = os.fork()\n        except OSError as e:\n            return [n, type(e).__name__]\n"
    "        if pid == 0:\n            os.read(r, 1)\n            os._exit(0)\n        n += 1\n"
)
