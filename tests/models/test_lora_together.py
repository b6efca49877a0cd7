"""``student.lora.together``: LoRA students trained at once, as adapters of one base in shared
batches, give each student exactly what training it alone gives.

Real pieces: the shipped soar-mini model (math), the real RLOO trainer and math verifier, peft's
mixed-adapter batches. The students' training rewards are non-zero and differ between seeds, so
the comparison can fail.
"""

from __future__ import annotations

import pytest

pytest.importorskip("peft", reason="peft not installed (pip install 'soar-kit[lora]')")
torch = pytest.importorskip("torch")

from soar_kit.components import resolve_components  # noqa: E402
from soar_kit.config import RunConfig  # noqa: E402
from soar_kit.contracts.executor import InnerContext, StudentJob  # noqa: E402
from soar_kit.errors import ConfigError  # noqa: E402
from soar_kit.hardset import candidate_problems  # noqa: E402
from soar_kit.plugins import get_manager  # noqa: E402

RL = {"steps": 3, "batch_size": 4, "group_size": 4, "lr": 2e-3, "kl": 0.01}


def config(together: int, **student: object) -> RunConfig:
    return RunConfig.model_validate(
        {
            "seed": 3,
            "model": {"device": "cpu"},
            "student": {
                "mode": "lora",
                "lora": {"r": 8, "together": together},
                "rl": RL,
                **student,
            },
        }
    )


@pytest.fixture(scope="module")
def pool():
    from soar_kit.components import load_run_policy
    from soar_kit.students import StudentPool

    domain = get_manager().domain("math")
    return StudentPool(load_run_policy(config(1), domain), mode="lora", lora_seed=1)


def results(pool, together: int):
    manager = get_manager()
    domain = manager.domain("math")
    ctx = InnerContext(
        config=config(together),
        step=0,
        qr=candidate_problems(domain, "mini:2", seed=1, size=6),
        domain=domain,
        trainer=manager.get("trainer", "rloo"),
        backend=manager.get("backend", "transformers"),
        student=pool.fresh(),
        baseline_state=pool.snapshot,
    )
    sets = [
        candidate_problems(domain, f"mini:{level}", seed=10 + level, size=8) for level in (1, 2)
    ]
    jobs = [
        StudentJob(dataset=k, student=i, problems=tuple(ps), seed=100 * k + i)
        for k, ps in enumerate(sets)
        for i in range(2)
    ]
    out = manager.get("executor", "local").train_students(ctx, jobs)
    trainable = sorted(n for n, p in pool.fresh().model.named_parameters() if p.requires_grad)
    return out, trainable


def test_students_trained_together_equal_students_trained_alone(pool):
    alone, trainable_before = results(pool, 1)
    # 4 jobs in groups of 3: one group of three adapters, then one student alone
    together, trainable_after = results(pool, 3)

    rewards = [x for r in alone for x in r.train_rewards]
    assert any(x > 0 for x in rewards), "no student earned a reward: the comparison is vacuous"
    assert len({r.train_rewards for r in alone}) > 1
    assert [r.train_rewards for r in together] == [r.train_rewards for r in alone]
    assert [r.accuracy for r in together] == [r.accuracy for r in alone]
    for a, b in zip(alone, together, strict=True):
        assert a.state is not None and b.state is not None and a.state.keys() == b.state.keys()
        for k in a.state:
            torch.testing.assert_close(b.state[k], a.state[k], rtol=1e-5, atol=1e-6)
    assert any(a.state[k].abs().max() > 0 for a in alone for k in a.state if "lora_B" in k)
    # the extra adapters are gone and the model trains its own adapter only, as before
    assert trainable_after == trainable_before
    assert all(".default." in n for n in trainable_after)


@pytest.mark.parametrize(
    ("student", "culprit"),
    [
        ({"mode": "full"}, "needs student.mode=lora"),
        ({"trainer": "trl"}, "trainer 'trl'"),
        ({"rl": {**RL, "gradient_checkpointing": True}}, "gradient_checkpointing"),
    ],
)
def test_settings_that_cannot_train_together_are_refused_up_front(student, culprit):
    with pytest.raises(ConfigError, match=r"student\.lora\.together=2") as err:
        resolve_components(config(2, **student))
    assert culprit in str(err.value)


def test_an_engine_with_its_own_rollouts_is_refused():
    cfg = config(2).model_copy(deep=True)
    cfg.backend.name = "vllm"
    if get_manager().get("backend", "vllm").available():
        pytest.skip("vllm not installed here: its refusal for missing vllm comes first")
    with pytest.raises(ConfigError, match=r"backend 'vllm' samples the students' rollouts"):
        resolve_components(cfg)


def test_an_executor_of_one_student_at_a_time_is_refused():
    cfg = config(2).model_copy(deep=True)
    cfg.executor.name = "ray"
    if get_manager().get("executor", "ray").available():
        pytest.skip("ray not installed here: its refusal for missing ray comes first")
    with pytest.raises(ConfigError, match=r"executor 'ray' trains one student at a time"):
        resolve_components(cfg)


def test_the_lora_together_benchmark_checks_its_own_students(tmp_path):
    """benchmarks/lora_together.py end to end at toy sizes: each setting in its own process,
    the same students' rewards at every setting, and a table that says so."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "lora_together.py"
    out = tmp_path / "lt"
    cmd = [sys.executable, str(script), "--models", "soar-mini", "--together", "1,2,2/8",
           "--students", "2", "--steps", "2", "--threads", "1", "--out", str(out)]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600)
    result = json.loads(out.with_suffix(".json").read_text())
    runs = result["runs"]
    assert [(r["together"], r["settings"]["micro_batch"]) for r in runs] == [
        (1, 64),
        (2, 64),
        (2, 8),
    ]
    rewards = runs[0]["train_rewards"]
    assert len(rewards) == 2 and all(len(r) == 2 for r in rewards)
    assert any(x > 0 for r in rewards for x in r), "no reward: the equality below is vacuous"
    assert all(r["train_rewards"] == rewards for r in runs)
    table = out.with_suffix(".md").read_text()
    assert table.count("| yes |") == 2 and "**no**" not in table
