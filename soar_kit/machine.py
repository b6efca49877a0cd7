"""Facts about this machine that runs and benchmarks record, and where soar-kit caches builds.

Written once here because every benchmark page and every run summary states them, and copies
drifted (one fell back to ``""`` for an unknown CPU, another to ``"unknown"``; two cache-root
readers disagreed about ``SOARKIT_CACHE=off``).
"""

from __future__ import annotations

import atexit
import os
import platform
import shutil
import tempfile
from pathlib import Path

#: ``SOARKIT_CACHE=DIR`` moves the cache; ``off`` (or ``0``/``none``) keeps nothing between runs.
CACHE_ENV = "SOARKIT_CACHE"
_CACHE_OFF = {"off", "0", "none"}


def cpu_model() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``), else what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc; 0 where unavailable)."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far.

    Linux's ``VmHWM`` first: ``ru_maxrss`` survives ``exec`` and so includes the RSS of the
    parent at ``fork`` time, which inflates the peak of a worker started by a big process.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    except (ImportError, OSError):
        return 0


def reset_peak_rss() -> None:
    """Make :func:`peak_rss_bytes` count from now: Linux resets ``VmHWM`` to the current RSS
    (a no-op elsewhere). Benchmarks read one phase's own peak this way."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


#: glibc's ``mallopt`` parameter number for the mmap threshold (malloc.h).
_M_MMAP_THRESHOLD = -3


def fix_mmap_threshold(nbytes: int) -> bool:
    """Fix glibc's mmap threshold at ``nbytes``: larger blocks are mmapped and go back to the
    system when freed. Returns whether it took (False off glibc).

    Why: glibc raises the threshold each time a mmapped block is freed, up to 32 MiB. After a
    few training steps a model's activations (8-22 MB each for SmolLM2 at 16 x 228 tokens) come
    from the heap instead, which fragments and keeps what it was given: a LoRA update of
    SmolLM2 peaked at 10.4 GB with the rising threshold and 6.7 GB with a fixed 128 KiB one,
    and the process stayed at 8.8 GB afterwards instead of 1.1 GB. The price is a page fault
    per fresh page: an outer step took 1.6-1.75x as long (docs/models.md, "Peak memory").
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None or platform.libc_ver()[0] != "glibc":
        return False
    try:
        return bool(ctypes.CDLL(name).mallopt(_M_MMAP_THRESHOLD, int(nbytes)))
    except (OSError, AttributeError):
        return False


def available_memory_bytes() -> int:
    """Memory the host can still give a process (Linux ``MemAvailable``; 0 where unknown)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 0


def cache_enabled() -> bool:
    return os.environ.get(CACHE_ENV, "").strip().lower() not in _CACHE_OFF


_scratch: Path | None = None


def cache_root() -> Path:
    """The folder soar-kit keeps builds in: ``$SOARKIT_CACHE`` or ``~/.cache/soar-kit``.

    With ``SOARKIT_CACHE=off`` it is a private temporary folder removed when the process exits,
    so that what needs a folder to build into (soar-mini) still works, only without keeping
    anything; callers that merely save time by caching check :func:`cache_enabled` first.
    """
    global _scratch
    if not cache_enabled():
        if _scratch is None:
            _scratch = Path(tempfile.mkdtemp(prefix="soar-kit-nocache-"))
            atexit.register(shutil.rmtree, _scratch, ignore_errors=True)
        return _scratch
    root = os.environ.get(CACHE_ENV, "").strip()
    return Path(root).expanduser() if root else Path.home() / ".cache" / "soar-kit"
