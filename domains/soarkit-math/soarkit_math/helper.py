"""The helper process of :mod:`soarkit_math.budget`: JSON lines in, JSON lines out.

Run as ``python -m soarkit_math.helper``. Each request is one of::

    {"op": "compare", "gold": "...", "pred": "...", "decimals": 3 | null}
    {"op": "parseable", "text": "..."}
    {"op": "clear_cache"}            (benchmarks: forget parsed answers)

and the answer is ``{"status": ..., "detail": ...}``. The parent kills this process when a
request overruns its deadline, so nothing here needs a timeout of its own.
"""

from __future__ import annotations

import json
import os
import sys


def _limit_memory() -> None:
    limit = int(os.environ.get("SOARKIT_MATH_HELPER_MEMORY", "0"))
    if limit <= 0:
        return
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):  # not on every platform; the kill still holds
        pass


def main() -> None:
    _limit_memory()
    sys.set_int_max_str_digits(20000)
    from soarkit_math import symbolic

    out = sys.stdout.buffer
    out.write(b"ready\n")
    out.flush()
    for raw in sys.stdin.buffer:
        try:
            req = json.loads(raw)
            if req.get("op") == "clear_cache":
                symbolic.parse.cache_clear()
                status, detail = "ok", ""
            elif req.get("op") == "parseable":
                status, detail = symbolic.check_parseable(str(req["text"]))
            else:
                status, detail = symbolic.compare(
                    str(req["gold"]), str(req["pred"]), req.get("decimals")
                )
        except MemoryError:
            status, detail = "invalid", "too large"
        except Exception as exc:  # a bad request must not end the helper
            status, detail = "invalid", f"helper error: {type(exc).__name__}"
        out.write(json.dumps({"status": status, "detail": detail}).encode() + b"\n")
        out.flush()


if __name__ == "__main__":
    main()
