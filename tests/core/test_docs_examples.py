"""Run the code blocks that docs present as worked examples, so the docs cannot rot."""

from __future__ import annotations

import re
from pathlib import Path

from soar_kit.plugins import Origin, PluginManager

DOCS = Path(__file__).resolve().parents[2] / "docs"


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), re.S)


class FixedProbe:
    """A probe with measured values given up front (the loop's probe computes them)."""

    problems: tuple = ()

    def __init__(self, gains):
        self._gains = gains

    def accuracy_gains(self):
        return self._gains

    def success_rates(self, samples):
        raise AssertionError("a grounded scheme must not ask for success rates")


def test_reward_subclassing_example_registers_and_scores():
    block = next(b for b in python_blocks(DOCS / "plugins.md") if "FlooredGroundedReward" in b)
    namespace: dict = {}
    exec(compile(block, "docs/plugins.md", "exec"), namespace)  # our own docs, not model text
    module = type(
        "DocPlugin",
        (),
        {
            "soarkit_register_reward_schemes": staticmethod(
                namespace["soarkit_register_reward_schemes"]
            )
        },
    )
    manager = PluginManager(load_entry_points=False)
    manager.add_plugin(module, Origin("doc-example", "docs", "0"))
    scheme = manager.get("reward", "grounded-floored")
    assert manager.errors == []
    assert scheme.dataset_reward(FixedProbe([0.02, 0.25])) == 0.125
    assert manager.get("reward", "grounded").dataset_reward(FixedProbe([0.02, 0.25])) == 0.135
