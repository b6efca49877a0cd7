"""benchmarks/gpu_smoke.py at small shapes on CPU: it runs without pydantic (as on the device
machines), measures every configuration, and its cost model adds the terms up as documented."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_smoke.py"
# pydantic (and with it soar_kit.config and the contracts) made unimportable, as it is absent
# on the GPU machines this script is for
NO_PYDANTIC = (
    "import runpy, sys; sys.modules['pydantic'] = None; sys.argv = sys.argv[1:]; "
    "runpy.run_path(sys.argv[0], run_name='__main__')"
)


def test_gpu_smoke_runs_without_pydantic_and_adds_up(tmp_path):
    cmd = [sys.executable, "-c", NO_PYDANTIC, str(SCRIPT), "--shape", "small", "--device", "cpu"]
    out = subprocess.run([*cmd, "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads((tmp_path / "gpu_smoke.small.json").read_text())
    assert {(r["mode"], r["precision"]) for r in result["rows"]} == {
        (m, p) for m in ("full", "lora") for p in ("fp32-master", "bf16")
    }
    s = result["sizes"]
    for row in result["rows"]:
        m, c = row["measured"], row["cost"]
        assert min(m["sample_s"], m["update_s"], m["qr_s"]) > 0
        student = s["inner_steps"] * (m["sample_s"] + m["update_s"]) + m["qr_s"]
        assert c["student_s"] == pytest.approx(student)
        step = (
            s["g"] * s["r"] * student
            + m["qr_s"]
            + c["teacher_sample_s (scaled)"]
            + c["teacher_update_s (scaled)"]
        )
        assert c["outer_step_s"] == pytest.approx(step)
        assert c["run_gpu_hours"] == pytest.approx(s["outer_steps"] * step / 3600)
    assert "| lora | bf16 |" in (tmp_path / "gpu_smoke.small.md").read_text()
