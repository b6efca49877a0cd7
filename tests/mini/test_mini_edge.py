"""The edge of learnability of the real soar-mini build for the math domain (slow: it builds
the default model once, ~3 min on 2 cores, then reuses the cache under ``$SOARKIT_CACHE``).

These are the properties the SOAR headline rests on; each test can fail. Those the current
recipe does not achieve yet are marked ``xfail`` (not strict) with the numbers measured in
``benchmarks/results/edge_of_learnability.md``: they document the gap instead of hiding it, and
turn into passes (XPASS) when a better recipe lands.
"""

from __future__ import annotations

import copy
import random

import pytest

# minutes of sampling and RL on the full build: a measurement, run on demand (-m experiment)
pytestmark = pytest.mark.experiment

K = 32
TOKENS = 96


@pytest.fixture(scope="module")
def math_mini():
    from soar_kit.errors import UnknownNameError
    from soar_kit.mini import build_or_load
    from soar_kit.models import Policy
    from soar_kit.plugins import get_manager

    pm = get_manager()
    try:
        domain = pm.domain("math")
    except UnknownNameError:
        pytest.skip("the math domain is not installed")
    if domain.mini_world() is None:
        pytest.skip("the math domain has no mini world")
    build = build_or_load(domain, seed=0)
    policy = Policy(build.model, build.tokenizer, "soar-mini", {})
    return domain, policy, build, pm.get("backend", "transformers")


def _hard(domain, size=32):
    from soar_kit.hardset import candidate_problems

    return candidate_problems(domain, "mini:hard", seed=0, size=size)


def _counts(domain, policy, backend, problems, *, n=K, seed=0):
    from soar_kit.generation import SamplingParams
    from soar_kit.hardset import success_counts

    params = SamplingParams(n=n, temperature=1.0, max_new_tokens=TOKENS, seed=seed)
    return success_counts(domain, policy, backend, problems, params)


@pytest.mark.xfail(
    reason="measured 2026-11-25 (recipe v2): 16/32 raw level-8 problems hit at least once at "
    "k=32 (pass@1 2%, greedy 0%): chance hits of a guessed total; hard-set mining drops them",
    strict=True,
)
def test_built_model_fails_the_hard_set_at_fail_at_k(math_mini) -> None:
    domain, policy, _, backend = math_mini
    counts = _counts(domain, policy, backend, _hard(domain))
    assert sum(counts) == 0, f"hard problems solved: {counts}"


@pytest.mark.xfail(
    reason="measured 2026-11-25 (recipe v2): level-1 pass@1 27% (greedy 42%); the model has "
    "not yet learned to copy every operand from the question",
    strict=True,
)
def test_built_model_solves_the_low_levels(math_mini) -> None:
    from soar_kit.hardset import candidate_problems

    domain, policy, _, backend = math_mini
    probs = candidate_problems(domain, "mini:1", seed=5, size=16)
    counts = _counts(domain, policy, backend, probs, n=8)
    assert sum(counts) / (8 * len(probs)) > 0.5


def test_teacher_writes_problems_the_domain_accepts(math_mini) -> None:
    from soar_kit.generation import SamplingParams

    domain, policy, _, backend = math_mini
    rng = random.Random(0)
    prompts = [domain.teacher_prompt(rng) for _ in range(48)]
    outs = backend.generate(
        policy, prompts, SamplingParams(n=1, temperature=1.0, max_new_tokens=192, seed=0)
    )
    ok = 0
    for i, (text,) in enumerate(outs):
        try:
            domain.parse_teacher_output(text, problem_id=f"t{i}")
            ok += 1
        except Exception:
            pass
    assert ok / len(outs) >= 0.7  # measured 89% of 128 (benchmark)


def _rl(domain, policy, problems, *, seed, steps):
    from soar_kit.config import RLConfig, SamplingConfig
    from soar_kit.models import Policy
    from soar_kit.plugins import get_manager

    student = Policy(copy.deepcopy(policy.model), policy.tokenizer, "soar-mini", {})
    settings = RLConfig(
        lr=5e-4,
        steps=steps,
        batch_size=8,
        group_size=8,
        sampling=SamplingConfig(temperature=1.0, max_new_tokens=TOKENS),
    )
    get_manager().get("trainer", "rloo").train(
        student,
        problems,
        prompt=domain.student_prompt,
        reward=lambda p, c: domain.verify(p, c).reward,
        settings=settings,
        seed=seed,
    )
    return student


@pytest.mark.xfail(
    reason="measured 2026-11-25 (recipe v2): 25 RLOO steps on levels 5-7 left hard-test pass@1 "
    "at chance level (2.1% -> 2.5%); the base model is too weak at the stepping stones",
    strict=True,
)
def test_stepping_stones_lift_the_hard_level_but_hard_only_rl_does_not(math_mini) -> None:
    domain, policy, build, backend = math_mini
    world = domain.mini_world()
    solved = build.meta["recipe"]["solved_levels"]
    rng = random.Random("stones")
    stones = [
        world.make_problem(rng.randint(solved + 1, world.hard_level - 1), rng) for _ in range(128)
    ]
    hard = _hard(domain, size=32)
    train, test = hard[:16], hard[16:]
    hard_only = _rl(domain, policy, train, seed=0, steps=30)
    stepped = _rl(domain, policy, stones, seed=0, steps=30)
    flat = sum(_counts(domain, hard_only, backend, test, seed=1))
    lifted = sum(_counts(domain, stepped, backend, test, seed=1))
    assert flat == 0
    assert lifted > flat
