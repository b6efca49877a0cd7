"""The edge of learnability of the real soar-mini build for the math domain.

These are the properties the SOAR headline rests on, measured on the default model (shipped
with the package, or built into the cache when the recipe changed). Each can fail; the numbers
they were written against are in ``benchmarks/results/edge_of_learnability.md``.
All of it is in the default suite: the sampling checks (thousands of completions, ~1 min) and
the two 40-step RL runs of the lift test (~1 min on 2 cores).
"""

from __future__ import annotations

import copy
import random

import pytest

K = 32
TOKENS = 80


@pytest.fixture(scope="module")
def math_mini():
    pytest.importorskip("torch")
    from soar_kit.contracts.model import Policy
    from soar_kit.errors import UnknownNameError
    from soar_kit.mini import build_or_load
    from soar_kit.plugins import get_manager

    pm = get_manager()
    try:
        domain = pm.domain("math")
    except UnknownNameError:
        pytest.skip("the math domain is not installed")
    build = build_or_load(domain, seed=0)
    policy = Policy(build.model, build.tokenizer, "soar-mini", {})
    return domain, policy, build, pm.get("backend", "transformers")


def _counts(domain, policy, backend, problems, *, n=K, seed=0):
    from soar_kit.contracts.backend import SamplingParams
    from soar_kit.scoring import success_counts

    params = SamplingParams(n=n, temperature=1.0, max_new_tokens=TOKENS, seed=seed)
    return success_counts(domain, policy, backend, problems, params)


def _level(domain, level, size, seed):
    from soar_kit.hardset import candidate_problems

    return candidate_problems(domain, f"mini:{level}", seed=seed, size=size)


@pytest.fixture(scope="module")
def hard_split(math_mini):
    """The default hard set's recipe: level-7 candidates kept at fail@32, split 50/50."""
    domain, policy, _, backend = math_mini
    candidates = _level(domain, "hard", 96, 0)
    counts = _counts(domain, policy, backend, candidates, seed=0)
    hard = [p for p, c in zip(candidates, counts, strict=True) if c == 0]
    return candidates, counts, hard[: len(hard) // 2], hard[len(hard) // 2 :]


def test_levels_form_a_gradient(math_mini) -> None:
    """Solved levels are solved, the first stepping stone is partly solved, the hard level is not."""
    domain, policy, build, backend = math_mini
    solved = build.meta["recipe"]["solved_levels"]
    world = domain.mini_world()
    rate = {}
    for level in range(1, world.levels + 1):
        counts = _counts(domain, policy, backend, _level(domain, level, 16, 100 + level), n=8)
        rate[level] = sum(counts) / (8 * 16)
    assert all(rate[lv] > 0.85 for lv in range(1, solved + 1)), rate
    # partly right: RL has a gradient (measured 2026-12-02: 19 %)
    assert 0.1 < rate[solved + 1] < 0.6, rate
    assert rate[world.hard_level] < 0.02, rate
    assert rate[solved + 2] < rate[solved + 1], rate  # the mistake compounds


def test_mined_hard_set_stays_failed_on_fresh_samples(math_mini, hard_split) -> None:
    domain, policy, _, backend = math_mini
    candidates, _counts_mined, train, test = hard_split
    hard = train + test
    assert len(hard) >= 3 * len(candidates) // 4  # most of the hard level is fail@32
    again = _counts(domain, policy, backend, hard, seed=1)  # fresh samples, another seed
    # a list answer is right only if every step is: six subtractions, each right 20 % of the
    # time, are right together ~0.006 % of the time. Measured 2026-12-02: 96 of 96 candidates
    # kept; fresh k=32 samples solve none of them.
    assert sum(again) / (K * len(hard)) < 0.01, again
    assert sum(c > 0 for c in again) <= len(hard) // 8, again


def test_teacher_writes_problems_the_domain_accepts_and_answers_better_than_it_solves(
    math_mini,
) -> None:
    """The teacher poses every level, the hard one included, and its own answers to the
    stepping stones it poses are right far more often than the student solves them: the
    latent knowledge that lets the paper's rule (the teacher's answer is the reference) teach.
    Measured 2026-12-02 (128 samples): 99.6 % parse; answers right 77 / 65 % at levels 2 / 3
    against student pass@1 19 / 3.5 %."""
    from soar_kit.contracts.backend import SamplingParams

    domain, policy, build, backend = math_mini
    solved = build.meta["recipe"]["solved_levels"]
    rng = random.Random(0)
    prompts = [domain.teacher_prompt(rng) for _ in range(128)]
    outs = backend.generate(
        policy, prompts, SamplingParams(n=1, temperature=1.0, max_new_tokens=192, seed=0)
    )
    levels, stone_answers, parsed = set(), [], 0
    for i, (text,) in enumerate(outs):
        try:
            p = domain.parse_teacher_output(text, problem_id=f"t{i}")
        except Exception:
            continue
        parsed += 1
        levels.add(p.data.get("level"))
        if p.data.get("level") in (solved + 1, solved + 2):
            stone_answers.append(bool(p.data["teacher_answer_correct"]))
    assert len(stone_answers) >= 16, stone_answers
    assert parsed / len(outs) >= 0.7
    assert domain.mini_world().hard_level in levels  # it can pose what it cannot solve
    teacher_right = sum(stone_answers) / len(stone_answers)
    counts = _counts(domain, policy, backend, _level(domain, solved + 1, 16, 7), n=8)
    student_right = sum(counts) / (8 * 16)  # the easier of the two stone levels
    assert teacher_right > 0.45 and teacher_right > 2 * student_right, (
        teacher_right,
        student_right,
    )


def _rl(domain, policy, problems, *, seed, steps):
    from soar_kit.config import RLConfig, SamplingConfig
    from soar_kit.contracts.model import Policy
    from soar_kit.plugins import get_manager

    student = Policy(copy.deepcopy(policy.model), policy.tokenizer, "soar-mini", {})
    settings = RLConfig(
        lr=2e-4,
        steps=steps,
        batch_size=8,
        group_size=8,
        sampling=SamplingConfig(temperature=1.0, max_new_tokens=TOKENS),
    )
    stats = (
        get_manager()
        .get("trainer", "rloo")
        .train(
            student,
            problems,
            prompt=domain.student_prompt,
            reward=lambda p, c: domain.verify(p, c).reward,
            settings=settings,
            seed=seed,
        )
    )
    return student, stats


def test_stepping_stones_lift_the_hard_level_where_hard_only_rl_stays_flat(
    math_mini, hard_split
) -> None:
    """The issue's RL criterion on the mined hard set (test half; never trained on), at the
    budget SOAR gives a student (the bench: 2 x 20 steps per method).

    Measured 2026-12-02 (same protocol, RL seeds 1 and 2): hard test pass@1 0 % before; 0.13 %
    and 0 % after 40 hard-only steps; 69 % and 67 % after 40 steps on stepping stones. Given
    150 steps hard-only RL does learn (89 %, seed 0, after its first lucky success near step
    80): the edge is the wait for that success, see docs/soar-mini.md.
    """
    domain, policy, build, backend = math_mini
    world = domain.mini_world()
    solved = build.meta["recipe"]["solved_levels"]
    _, _, train, test = hard_split
    rng = random.Random("stones")
    stones = [world.make_problem(rng.choice((solved + 1, solved + 2)), rng) for _ in range(320)]
    hard_only, flat_stats = _rl(domain, policy, train, seed=1, steps=40)
    stepped, _ = _rl(domain, policy, stones, seed=1, steps=40)
    n = 16
    flat = sum(_counts(domain, hard_only, backend, test, n=n, seed=2)) / (n * len(test))
    lifted = sum(_counts(domain, stepped, backend, test, n=n, seed=2)) / (n * len(test))
    # hard-only RL has (almost) nothing to learn from: its train reward stays at the format
    # floor and the test half stays near zero
    assert flat < 0.02, (flat, flat_stats.mean_reward)
    assert lifted > 0.2 and lifted > 5 * flat, (lifted, flat)
