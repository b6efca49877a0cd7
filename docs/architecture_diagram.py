"""Draw docs/architecture.png: the rooms of soar_kit/ on their import floors.

The floors are computed from the real imports (grimp, which import-linter installs), not typed
by hand: a room stands one floor above the highest room it imports. Run it after a change of
layout::

    .venv/bin/python docs/architecture_diagram.py
"""

from __future__ import annotations

from pathlib import Path

import grimp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

OUT = Path(__file__).with_name("architecture.png")
#: Deprecated import paths (shims) and entry points: not rooms of the layout.
SKIP = {
    "__main__",
    "records",
    "domain",
    "generation",
    "training",
    "rewards",
    "models",
    "executors",
    "modeling",
    "sampling",
    "rl",
    "cli",
    "bench",
    "evaluation",
    "testing_models",
}
PACKAGES = {"contracts", "lm", "commands", "testing", "mini"}
COLOURS = {
    "commands": "#f4cccc",
    "loop": "#fce5cd",
    "contracts": "#d9ead3",
    "lm": "#cfe2f3",
    "plugins": "#d9d2e9",
}


def rooms_and_imports() -> tuple[list[str], set[tuple[str, str]]]:
    graph = grimp.build_graph("soar_kit")
    rooms: set[str] = set()
    edges: set[tuple[str, str]] = set()

    def room(module: str) -> str | None:
        parts = module.split(".")
        if len(parts) < 2 or parts[1] in SKIP:
            return None
        return parts[1]

    for module in graph.modules:
        r = room(module)
        if r is None:
            continue
        rooms.add(r)
        for imported in graph.find_modules_directly_imported_by(module):
            t = room(imported) if imported.startswith("soar_kit.") else None
            if t is not None and t != r:
                edges.add((r, t))
    return sorted(rooms), edges


def floors(rooms: list[str], edges: set[tuple[str, str]]) -> dict[str, int]:
    level: dict[str, int] = {}

    def depth(r: str) -> int:
        if r not in level:
            level[r] = 0  # a circle would loop forever; the import contracts forbid one
            level[r] = 1 + max((depth(t) for s, t in edges if s == r), default=-1)
        return level[r]

    for r in rooms:
        depth(r)
    return level


def main() -> None:
    rooms, edges = rooms_and_imports()
    level = floors(rooms, edges)
    by_floor: dict[int, list[str]] = {}
    for r in rooms:
        by_floor.setdefault(level[r], []).append(r)
    top = max(by_floor)
    width = max(len(v) for v in by_floor.values())
    fig, ax = plt.subplots(figsize=(2.0 * width + 1.5, 1.0 * (top + 1) + 1.2))
    pos: dict[str, tuple[float, float]] = {}
    for f, names in by_floor.items():
        for i, name in enumerate(sorted(names)):
            pos[name] = ((i - (len(names) - 1) / 2) * 2.0, f * 1.0)
    for s, t in sorted(edges):
        (x0, y0), (x1, y1) = pos[s], pos[t]
        ax.annotate(
            "",
            xy=(x1, y1 + 0.2),
            xytext=(x0, y0 - 0.2),
            arrowprops={"arrowstyle": "->", "color": "#999999", "lw": 0.6, "alpha": 0.6},
        )
    for name, (x, y) in pos.items():
        label = name + ("/" if name in PACKAGES else ".py")
        ax.text(
            x,
            y,
            label,
            ha="center",
            va="center",
            fontsize=9,
            bbox={
                "boxstyle": "round,pad=0.35",
                "fc": COLOURS.get(name, "#eeeeee"),
                "ec": "#555555",
            },
        )
    for f in by_floor:
        ax.text(-width - 0.3, f, f"floor {f}", ha="right", va="center", fontsize=8, color="#777")
    ax.set_xlim(-width - 1.6, width + 0.6)
    ax.set_ylim(-0.6, top + 0.6)
    ax.axis("off")
    ax.set_title(
        "soar_kit/: each room imports only rooms on lower floors (arrows: imports)", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(OUT, dpi=130)
    print(f"wrote {OUT}: {len(rooms)} rooms on {top + 1} floors, {len(edges)} imports")


if __name__ == "__main__":
    main()
