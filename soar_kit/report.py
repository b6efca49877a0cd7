"""``soarkit report RUN``: PNG plots and a short markdown summary of a run directory.

Reads only the files a run writes (metrics.jsonl, summary.json, state.json), so it works on a
finished run, a running one, and one that was killed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from soar_kit.diversity import KERNEL_LABELS
from soar_kit.errors import InvalidInput
from soar_kit.runstore import RunStore, atomic_write_text


def write_report(run_dir: Path) -> Path:
    """Render ``run_dir/report/{progress.png,summary.md}``; returns the report folder."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    store = RunStore(run_dir)
    rows = store.metrics()
    if not rows:
        raise InvalidInput(f"{run_dir}: no finished outer step to report (metrics.jsonl is empty)")
    out = run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    steps = [r["step"] + 1 for r in rows]
    promos = [r["step"] + 1 for r in rows if r.get("promoted")]

    fig, axes = plt.subplots(2, 2, figsize=(11, 7), constrained_layout=True)
    ax = axes[0][0]
    ax.plot(steps, [r["mean_reward"] for r in rows], "o-", label="mean teacher reward")
    ax.plot(steps, [r["moving_average"] for r in rows], "s--", label="moving average")
    for i, s in enumerate(promos):
        ax.axvline(s, color="green", alpha=0.4, label="promotion" if i == 0 else None)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set(title="teacher reward", xlabel="outer step")
    ax.legend(fontsize=8)

    ax = axes[0][1]
    acc = [r.get("baseline_qr_accuracy") for r in rows]
    ax.plot(steps, [a if a is not None else float("nan") for a in acc], "o-")
    for s in promos:
        ax.axvline(s, color="green", alpha=0.4)
    ax.set(title="baseline greedy accuracy on Q_R (hard train)", xlabel="outer step", ylim=(0, 1))

    ax = axes[1][0]
    ax.plot(steps, [r["diversity"] for r in rows], "o-")
    # rows written before the kernel was recorded used char 3-grams
    kernels = dict.fromkeys(r.get("diversity_kernel", "ngram") for r in rows)
    kernel = " / ".join(KERNEL_LABELS.get(k, k) for k in kernels)
    ax.set(title=f"teacher question diversity (Vendi, {kernel})", xlabel="outer step")

    ax = axes[1][1]
    ax.plot(steps, [r["acceptance"] for r in rows], "o-")
    ax.set(title="teacher output acceptance rate", xlabel="outer step", ylim=(0, 1.05))
    fig.suptitle(f"SOAR run {run_dir.name}")
    fig.savefig(out / "progress.png", dpi=110)
    plt.close(fig)

    atomic_write_text(out / "summary.md", _summary_markdown(run_dir, rows))
    return out


def _summary_markdown(run_dir: Path, rows: list[dict[str, Any]]) -> str:
    summary_path = run_dir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else None
    lines = [f"# SOAR run `{run_dir.name}`", "", "![progress](progress.png)", ""]
    lines += ["| step | mean reward | moving avg | accepted | diversity | promoted | seconds |"]
    lines += ["|---:|---:|---:|---:|---:|:---:|---:|"]
    for r in rows:
        promo = f"X_{r['promoted']['dataset'] + 1}" if r.get("promoted") else ""
        lines.append(
            f"| {r['step'] + 1} | {r['mean_reward']:+.3f} | {r['moving_average']:+.3f} | "
            f"{r['accepted']}/{r['tried']} | {r['diversity']:.1f} | {promo} | {r['seconds']:.0f} |"
        )
    if summary:
        ks = list(summary["base"])
        lines += ["", f"## Hard test ({summary['hard_test']} problems), pass@k", ""]
        lines += ["| student | " + " | ".join(ks) + " |", "|---|" + "---:|" * len(ks)]
        for label in ("base", "promoted"):
            lines.append(
                f"| {label} | " + " | ".join(f"{summary[label][k]:.3f}" for k in ks) + " |"
            )
        lines += [
            "",
            f"Promotions: {summary['promotions']}; promotion questions: {summary['pq_size']}; "
            f"peak RSS {summary['peak_rss_mb']} MB.",
        ]
        if summary.get("outcome"):
            lines += ["", summary["outcome"]]
    else:
        lines += ["", "_Run not finished: no final evaluation yet._"]
    return "\n".join(lines) + "\n"
