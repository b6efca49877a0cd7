"""The one way tests run the ``soarkit`` command: a real subprocess of this interpreter.

A run in a subprocess is what a user gets (entry points, config files, exit codes, stderr),
so the CLI tests do not call click in-process. ``SOARKIT_LOAD_PLUGINS`` is dropped so a
test's plugin restriction never leaks into a command that did not ask for one; ``env`` adds
what a test needs (offline hub, one torch thread for bit-identical floats, ...).
"""

from __future__ import annotations

import os
import subprocess
import sys

OFFLINE_ONE_THREAD = {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def run_soarkit(
    *args: str,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 900,
) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "SOARKIT_LOAD_PLUGINS"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "soar_kit", *args],
        capture_output=True,
        text=True,
        env=full_env,
        input=stdin,
        timeout=timeout,
    )
