"""Agreement and throughput of the soarkit-math verifier vs Math-Verify 0.9, in one run.

    .venv/bin/python benchmarks/math_verifier.py            # writes benchmarks/results/
    .venv/bin/python benchmarks/math_verifier.py --quick    # 1 timing pass, no files written

Corpus: ``soarkit_math.corpus.build()`` -- (gold, prediction, equivalent?) pairs whose labels
come from how each pair was constructed (see that module), plus hand-labelled hard cases. The
prediction is a short completion with the answer in ``\\boxed{}``; each verifier extracts it
its own way:

* soarkit-math: ``MathDomain().verify(problem, completion).correct`` -- the exact path a SOAR
  run takes (extraction, guards, fast path, budgeted SymPy helper, reward shaping);
* Math-Verify: ``verify(parse(f"${gold}$"), parse(completion))`` with its defaults.

Throughput: the corpus is cut into chunks and the two verifiers alternate chunk by chunk (order
flipped every chunk), so that load from other processes on a shared machine hits both alike.
Every pair is verified once per pass with fresh caches (a cache hit would be a lie about
throughput: each pass builds new verifier objects and clears Math-Verify's parse caches). This
leans towards Math-Verify: our helper process is restarted every pass, so its ANTLR DFA cache
starts cold, while Math-Verify's lives in this process and stays warm after the first pass.
Also reported: the cost of the budget (helper round trip) against calling the same SymPy
comparison in-process without any budget.

External suite (its own section): Math-Verify's own regression cases, read from a checkout of
https://github.com/huggingface/Math-Verify at a pinned commit (``--math-verify-repo PATH``, or
``$SOARKIT_MATH_VERIFY_REPO``; see ``benchmarks/math_verify_suite.py`` for the selection rule).
Its labels were written by Math-Verify's authors, not here. Without a checkout the section is
skipped with a message saying so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import latex2sympy2_extended
import math_verify
import sympy
from math_verify import parse as mv_parse
from math_verify import verify as mv_verify
from soarkit_math import budget, corpus
from soarkit_math import domain as domain_module
from soarkit_math.budget import HelperPool
from soarkit_math.domain import MathDomain
from soarkit_math.extract import last_boxed

from soar_kit.contracts.records import Problem
from soar_kit.machine import cpu_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
import math_verify_suite

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
CHUNK = 25


def machine_info() -> dict[str, object]:
    return {
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "sympy": sympy.__version__,
        "math_verify": getattr(math_verify, "__version__", "0.9.0"),
        "latex2sympy2_extended": getattr(latex2sympy2_extended, "__version__", "?"),
    }


def _clear_math_verify_caches() -> None:
    from math_verify import parser

    for name in ("parse_latex_cached", "parse_expr_cached"):
        fn = getattr(parser, name, None)
        if fn is not None and hasattr(fn, "cache_clear"):
            fn.cache_clear()


class Ours:
    name = "soarkit-math"

    def __init__(self) -> None:
        self.kills = 0
        self.reset()

    def reset(self, keep_helper: bool = False) -> None:
        """Fresh verifier (empty result cache) and fresh helper (empty parse cache).

        ``keep_helper``: the same helper process with its parse cache cleared, so that its
        ANTLR DFA stays warm -- as Math-Verify's does in this process."""
        old = budget._pool
        if keep_helper and old is not None:
            domain_module._verifier.cache_clear()
            self.domain = MathDomain()
            old.call({"op": "clear_cache"}, 60)
            return
        if old is not None:
            self.kills += old.kills
            old.close()
        budget._pool = None
        domain_module._verifier.cache_clear()
        self.domain = MathDomain()
        self.domain.verifier.compare("x", "x+0")  # start the helper (import SymPy) untimed

    def __call__(self, gold: str, completion: str) -> bool:
        problem = Problem(id="b", question="?", answer=gold, domain="math")
        return self.domain.verify(problem, completion).correct


class Theirs:
    name = "math-verify 0.9"

    def __init__(self) -> None:
        mv_verify(mv_parse("$1$"), mv_parse("\\boxed{1}"))  # import/warm-up outside the timing

    def reset(self) -> None:
        _clear_math_verify_caches()

    def __call__(self, gold: str, completion: str) -> bool:
        return bool(mv_verify(mv_parse(f"${gold}$"), mv_parse(completion)))


def run(passes: int) -> dict[str, object]:
    pairs = corpus.build()
    ours, theirs = Ours(), Theirs()
    verdicts: dict[str, list[bool]] = {
        ours.name: [False] * len(pairs),
        theirs.name: [False] * len(pairs),
    }
    times: dict[str, list[float]] = {ours.name: [], theirs.name: []}
    cat_seconds: dict[str, dict[str, float]] = {
        ours.name: defaultdict(float),
        theirs.name: defaultdict(float),
    }
    chunks = [range(i, min(i + CHUNK, len(pairs))) for i in range(0, len(pairs), CHUNK)]
    for _ in range(passes):
        totals = {ours.name: 0.0, theirs.name: 0.0}
        ours.reset()
        theirs.reset()
        for k, chunk in enumerate(chunks):
            order = (ours, theirs) if k % 2 == 0 else (theirs, ours)
            for v in order:
                for i in chunk:
                    start = time.perf_counter()
                    verdicts[v.name][i] = v(pairs[i].gold, pairs[i].prediction)
                    took = time.perf_counter() - start
                    totals[v.name] += took
                    cat_seconds[v.name][pairs[i].category] += took / passes
        for name, t in totals.items():
            times[name].append(t)

    overhead = _budget_overhead(pairs)
    report: dict[str, object] = {
        "machine": machine_info(),
        "corpus": {
            "pairs": len(pairs),
            "equivalent": sum(p.equivalent for p in pairs),
            "categories": dict(Counter(p.category for p in pairs)),
        },
        "passes": passes,
        "verifiers": {},
        "budget_overhead": overhead,
        "helper_kills": ours.kills + (budget._pool.kills if budget._pool else 0),
    }
    for name in (ours.name, theirs.name):
        got = verdicts[name]
        right = [g == p.equivalent for g, p in zip(got, pairs, strict=True)]
        per_cat: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for ok, p in zip(right, pairs, strict=True):
            per_cat[p.category][0] += ok
            per_cat[p.category][1] += 1
        best = min(times[name])
        report["verifiers"][name] = {  # type: ignore[index]
            "accuracy": sum(right) / len(pairs),
            "accuracy_policy_neutral": sum(
                ok
                for ok, p in zip(right, pairs, strict=True)
                if p.category not in corpus.POLICY_CATEGORIES
            )
            / sum(p.category not in corpus.POLICY_CATEGORIES for p in pairs),
            "false_positives": sum(g and not p.equivalent for g, p in zip(got, pairs, strict=True)),
            "false_negatives": sum(p.equivalent and not g for g, p in zip(got, pairs, strict=True)),
            "seconds_per_pass": times[name],
            "verifications_per_second_best": len(pairs) / best,
            "verifications_per_second_median": len(pairs) / statistics.median(times[name]),
            "per_category_accuracy": {c: f"{a}/{n}" for c, (a, n) in sorted(per_cat.items())},
            "per_category_ms_per_verification": {
                c: 1000 * cat_seconds[name][c] / n for c, (_, n) in sorted(per_cat.items())
            },
            "disagreements_with_labels": [
                {
                    "category": p.category,
                    "gold": p.gold,
                    "prediction": p.prediction,
                    "label": p.equivalent,
                    "verdict": g,
                }
                for g, p in zip(got, pairs, strict=True)
                if g != p.equivalent
            ],
        }
    o = report["verifiers"][ours.name]  # type: ignore[index]
    t = report["verifiers"][theirs.name]  # type: ignore[index]
    report["speedup_best"] = o["verifications_per_second_best"] / t["verifications_per_second_best"]
    report["speedup_median"] = (
        o["verifications_per_second_median"] / t["verifications_per_second_median"]
    )
    report["verifiers_disagree"] = [
        {
            "gold": p.gold,
            "prediction": p.prediction,
            "label": p.equivalent,
            ours.name: a,
            theirs.name: b,
        }
        for a, b, p in zip(verdicts[ours.name], verdicts[theirs.name], pairs, strict=True)
        if a != b
    ]
    return report


def run_suite(repo_arg: str | None, passes: int) -> dict[str, object]:
    """Both verifiers on Math-Verify's suite: agreement with its labels and throughput."""
    try:
        repo = math_verify_suite.find_repo(repo_arg)
        cases, rows = math_verify_suite.load_cases(repo)
    except math_verify_suite.SuiteUnavailable as exc:
        print(f"external suite skipped: {exc}", file=sys.stderr)
        return {"skipped": str(exc)}
    ours, theirs = Ours(), Theirs()
    verdicts: dict[str, list[bool]] = {ours.name: [], theirs.name: []}
    seconds: dict[str, list[float]] = {ours.name: [], theirs.name: []}
    calls = {
        ours.name: lambda c: ours(c.gold, c.completion),
        theirs.name: lambda c: bool(mv_verify(mv_parse(c.gold), mv_parse(c.completion))),
    }
    chunks = [cases[i : i + CHUNK] for i in range(0, len(cases), CHUNK)]
    for c in cases:  # both parsers warm (ANTLR's DFA cache), untimed, then the caches cleared
        calls[ours.name](c)
        calls[theirs.name](c)
    for _ in range(passes):
        ours.reset(keep_helper=True)
        theirs.reset()
        got: dict[str, list[bool]] = {ours.name: [], theirs.name: []}
        took = {ours.name: 0.0, theirs.name: 0.0}
        for k, chunk in enumerate(chunks):
            for name in (ours.name, theirs.name) if k % 2 == 0 else (theirs.name, ours.name):
                start = time.perf_counter()
                got[name] += [calls[name](c) for c in chunk]
                took[name] += time.perf_counter() - start
        for name in got:
            verdicts[name] = got[name]
            seconds[name].append(took[name])
    out: dict[str, object] = {
        "repository": str(repo),
        "commit": math_verify_suite.PINNED_COMMIT,
        "rows_in_tables": rows,
        "cases": len(cases),
        "label_true": sum(c.expected for c in cases),
        "verifiers": {},
    }
    for name, got in verdicts.items():
        right = [g == c.expected for g, c in zip(got, cases, strict=True)]
        out["verifiers"][name] = {  # type: ignore[index]
            "agree": sum(right),
            "accuracy": sum(right) / len(cases),
            "false_equal": sum(g and not c.expected for g, c in zip(got, cases, strict=True)),
            "false_not_equal": sum(c.expected and not g for g, c in zip(got, cases, strict=True)),
            "seconds_per_pass": seconds[name],
            "verifications_per_second_median": len(cases) / statistics.median(seconds[name]),
            "disagreements_with_labels": [
                {
                    "source": c.source,
                    "gold": c.gold,
                    "completion": c.completion,
                    "label": c.expected,
                    "verdict": g,
                }
                for g, c in zip(got, cases, strict=True)
                if g != c.expected
            ],
        }
    o, t = (out["verifiers"][n] for n in (ours.name, theirs.name))  # type: ignore[index]
    out["speedup_median"] = (
        o["verifications_per_second_median"] / t["verifications_per_second_median"]
    )
    return out


def _budget_overhead(pairs: list[corpus.Pair]) -> dict[str, object]:
    """Time the SymPy-path pairs through the helper vs the same function called in-process."""
    from soarkit_math import symbolic
    from soarkit_math.normalize import strip_math
    from soarkit_math.verifier import _pred_decimals

    todo = []
    for p in pairs:
        box = last_boxed(p.prediction)
        if box is not None:
            todo.append((p.gold, box.content, _pred_decimals(strip_math(box.content))))
    # Both sides get one untimed pass first (ANTLR's DFA cache warms up per process), then the
    # parse caches are cleared and the timed pass runs, alternating the two chunk by chunk (as
    # in the main comparison) so that load from other processes hits both alike.
    pool = HelperPool(size=1)
    for g, pr, d in todo:
        pool.call({"op": "compare", "gold": g, "pred": pr, "decimals": d}, 10)
        symbolic.compare(g, pr, d)
    pool.call({"op": "clear_cache"}, 10)
    symbolic.parse.cache_clear()
    via_helper = in_process = 0.0
    for k in range(0, len(todo), CHUNK):
        chunk = todo[k : k + CHUNK]
        for side in ("helper", "inline") if (k // CHUNK) % 2 == 0 else ("inline", "helper"):
            start = time.perf_counter()
            for g, pr, d in chunk:
                if side == "helper":
                    pool.call({"op": "compare", "gold": g, "pred": pr, "decimals": d}, 10)
                else:
                    symbolic.compare(g, pr, d)
            took = time.perf_counter() - start
            if side == "helper":
                via_helper += took
            else:
                in_process += took
    start = time.perf_counter()
    for _ in range(500):
        pool.call({"op": "clear_cache"}, 10)
    round_trip_ms = 1000 * (time.perf_counter() - start) / 500
    pool.close()
    return {
        "pairs": len(todo),
        "helper_seconds": via_helper,
        "in_process_seconds": in_process,
        "overhead_ms_per_call": 1000 * (via_helper - in_process) / max(1, len(todo)),
        "empty_round_trip_ms": round_trip_ms,
        "note": "every pair forced through SymPy (no fast path), to isolate the budget's cost",
    }


def to_markdown(r: dict[str, object]) -> str:
    m = r["machine"]  # type: ignore[assignment]
    lines = [
        "# Math verifier benchmark: soarkit-math vs Math-Verify 0.9",
        "",
        "Generated by `benchmarks/math_verifier.py`; raw numbers in `math_verifier.json`.",
        "",
        f"- Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs "  # type: ignore[index]
        f"(load average at start {m['load_average_at_start']}), {m['platform']}, "  # type: ignore[index]
        f"Python {m['python']}, SymPy {m['sympy']}",  # type: ignore[index]
        "- Measured on a shared 2-core machine (other engineers' jobs running: see the load "
        "average). The two verifiers alternate chunk by chunk in one run, so load hits both "
        "alike: the speed-up is the result, absolute rates move with the load.",
        f"- Corpus: {r['corpus']['pairs']} labelled pairs "  # type: ignore[index]
        f"({r['corpus']['equivalent']} equivalent), {r['passes']} timed passes",  # type: ignore[index]
        "",
        "| verifier | accuracy vs labels | accuracy, rounding-policy pairs left out | false pos. "
        "| false neg. | verif./s (best) | verif./s (median) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, v in r["verifiers"].items():  # type: ignore[union-attr]
        lines.append(
            f"| {name} | {100 * v['accuracy']:.2f} % | {100 * v['accuracy_policy_neutral']:.2f} % | "
            f"{v['false_positives']} | "
            f"{v['false_negatives']} | {v['verifications_per_second_best']:.0f} | "
            f"{v['verifications_per_second_median']:.0f} |"
        )
    b = r["budget_overhead"]  # type: ignore[assignment]
    lines += [
        "",
        f"Speed-up (best / median pass): {r['speedup_best']:.2f}x / {r['speedup_median']:.2f}x.",
        "",
        f"Budget cost: {b['pairs']} pairs forced through SymPy took "  # type: ignore[index]
        f"{b['helper_seconds']:.2f}s via the killable helper vs "  # type: ignore[index]
        f"{b['in_process_seconds']:.2f}s in-process unbudgeted "  # type: ignore[index]
        f"({b['overhead_ms_per_call']:.2f} ms per call; an empty request's round trip: "  # type: ignore[index]
        f"{b['empty_round_trip_ms']:.3f} ms).",  # type: ignore[index]
        "",
        "## Per category: correct / total, mean ms per verification",
        "",
        "| category | "
        + " | ".join(r["verifiers"])
        + " | "  # type: ignore[arg-type]
        + " | ".join(f"{n} ms" for n in r["verifiers"])
        + " |",  # type: ignore[union-attr]
        "|---|" + "---|" * (2 * len(r["verifiers"])),  # type: ignore[arg-type]
    ]
    names = list(r["verifiers"])  # type: ignore[arg-type]
    cats = r["verifiers"][names[0]]["per_category_accuracy"]  # type: ignore[index]
    for c in cats:
        lines.append(
            f"| {c} | "
            + " | ".join(r["verifiers"][n]["per_category_accuracy"][c] for n in names)  # type: ignore[index]
            + " | "
            + " | ".join(
                f"{r['verifiers'][n]['per_category_ms_per_verification'][c]:.2f}"  # type: ignore[index]
                for n in names
            )
            + " |"
        )
    lines += _suite_markdown(r.get("external_suite"))  # type: ignore[arg-type]
    for name in names:
        dis = r["verifiers"][name]["disagreements_with_labels"]  # type: ignore[index]
        lines += ["", f"## {name}: disagreements with the labels ({len(dis)})", ""]
        lines += ["| category | gold | prediction | label | verdict |", "|---|---|---|---|---|"]
        for d in dis:
            pred = d["prediction"].replace("|", "\\|")
            gold = d["gold"].replace("|", "\\|")
            lines.append(
                f"| {d['category']} | `{gold}` | `{pred}` | {d['label']} | {d['verdict']} |"
            )
    return "\n".join(lines) + "\n"


def _suite_markdown(x: dict[str, object] | None) -> list[str]:
    lines = ["", "## External suite: Math-Verify's own regression cases", ""]
    if not x or "skipped" in x:
        return [*lines, f"Skipped: {x.get('skipped') if x else 'not run'}."]
    lines += [
        f"{x['cases']} of the {x['rows_in_tables']} parametrised rows of Math-Verify's "
        f"`tests/` at commit `{x['commit']}` ({x['label_true']} labelled equal), selected by "
        "the rule in `benchmarks/math_verify_suite.py` (plain-math gold and prediction, "
        "default options; a bare prediction boxed). Labels by Math-Verify's authors.",
        "",
        "| verifier | agree with labels | false equal | false not-equal | verif./s (median) |",
        "|---|---|---|---|---|",
    ]
    for name, v in x["verifiers"].items():  # type: ignore[union-attr]
        lines.append(
            f"| {name} | {v['agree']}/{x['cases']} ({100 * v['accuracy']:.1f} %) | "
            f"{v['false_equal']} | {v['false_not_equal']} | "
            f"{v['verifications_per_second_median']:.0f} |"
        )
    lines += ["", f"Speed-up on the suite (median pass): {x['speedup_median']:.2f}x."]
    for name, v in x["verifiers"].items():  # type: ignore[union-attr]
        dis = v["disagreements_with_labels"]
        lines += ["", f"### {name}: disagreements with the suite's labels ({len(dis)})", ""]
        lines += ["| test | gold | completion | label | verdict |", "|---|---|---|---|---|"]
        for d in dis:
            gold = d["gold"].replace("|", "\\|").replace("\n", " ")
            comp = d["completion"].replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {d['source']} | `{gold}` | `{comp}` | {d['label']} | {d['verdict']} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one pass, print only")
    ap.add_argument(
        "--math-verify-repo",
        default=None,
        help="a git checkout (bare or not) of huggingface/Math-Verify holding commit "
        f"{math_verify_suite.PINNED_COMMIT[:12]}; default ${math_verify_suite.ENV_VAR}, "
        "then the workplace mirror",
    )
    ap.add_argument("--suite-only", action="store_true", help="only the external suite, print")
    ap.add_argument(
        "--render", action="store_true", help="rewrite the .md from the saved .json (no run)"
    )
    args = ap.parse_args()
    if args.render:
        saved = json.loads((RESULTS / "math_verifier.json").read_text())
        (RESULTS / "math_verifier.md").write_text(to_markdown(saved))
        return
    if args.suite_only:
        print("\n".join(_suite_markdown(run_suite(args.math_verify_repo, args.passes))))
        return
    report = run(1 if args.quick else args.passes)
    report["external_suite"] = run_suite(args.math_verify_repo, 1 if args.quick else args.passes)
    md = to_markdown(report)
    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "math_verifier.json").write_text(json.dumps(report, indent=1) + "\n")
        (RESULTS / "math_verifier.md").write_text(md)
        corpus_file = RESULTS / "math_verifier.corpus.jsonl"
        corpus_file.write_text("".join(json.dumps(p.to_json()) + "\n" for p in corpus.build()))
    print(md)


if __name__ == "__main__":
    main()
