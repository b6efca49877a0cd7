"""Pure functions checked against values computed another way."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from soar_kit.contracts.reward import grounded_reward, learnability, rzero_uncertainty
from soar_kit.lm.rloo import rloo_advantages
from soar_kit.metrics import mean_pass_at_k, moving_average, pass_at_k, text_diversity, vendi_score


@pytest.mark.parametrize(("n", "c", "k"), [(5, 0, 1), (5, 1, 1), (5, 2, 3), (8, 3, 4), (6, 6, 2)])
def test_pass_at_k_matches_enumeration(n, c, k):
    # probability that a random k-subset of n samples (c correct) holds a correct one
    samples = [1] * c + [0] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    brute = sum(any(samples[i] for i in s) for s in subsets) / len(subsets)
    assert pass_at_k(n, c, k) == pytest.approx(brute)


def test_pass_at_k_edges():
    assert pass_at_k(32, 0, 32) == 0.0
    assert pass_at_k(32, 1, 32) == 1.0
    assert pass_at_k(32, 1, 1) == pytest.approx(1 / 32)
    assert mean_pass_at_k([(4, 0), (4, 4)], 1) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 8)


def test_rloo_advantages_leave_one_out_and_sum_to_zero():
    adv = rloo_advantages([1.0, 0.0, 0.5, 0.5])
    assert adv[0] == pytest.approx(1.0 - (0.0 + 0.5 + 0.5) / 3)
    assert sum(adv) == pytest.approx(0.0)
    assert rloo_advantages([0.2, 0.2]) == [0.0, 0.0]


def test_moving_average_window():
    assert moving_average([1, 2, 3, 4], 3) == pytest.approx(3.0)
    assert moving_average([5], 3) == 5
    assert moving_average([], 3) == 0.0


def test_vendi_score_bounds():
    assert vendi_score(np.ones((4, 4))) == pytest.approx(1.0)
    assert vendi_score(np.eye(5)) == pytest.approx(5.0)
    same = text_diversity(["what is 2+2?"] * 6)
    varied = text_diversity(
        [
            "what is 2+2?",
            "solve x^2=9",
            "integrate sin x",
            "17 mod 5",
            "gcd of 12 and 18",
            "area of a circle r=3",
        ]
    )
    assert same == pytest.approx(1.0)
    assert varied > 3 * same


def test_reward_functions():
    assert grounded_reward([0.1, 0.3]) == pytest.approx(0.2)
    assert learnability(0.0) == 0.0 and learnability(0.25) == 0.75 and learnability(1.0) == 0.0
    assert rzero_uncertainty(0.5) == 0.5 and rzero_uncertainty(0.0) == 0.0
    assert math.isclose(rzero_uncertainty(0.9), 0.1)


def test_posed_summary_counts_levels_and_teacher_answers() -> None:
    from soar_kit.contracts.records import Problem
    from soar_kit.teacher import posed_summary

    def p(i: int, **data) -> Problem:
        return Problem(id=str(i), question=f"q{i}", answer="1", domain="x", data=data)

    problems = [
        p(0, level=3, teacher_answer_correct=True),
        p(1, level=10, teacher_answer_correct=False),
        p(2, level=3),
        p(3),  # a question the domain knows nothing about
    ]
    assert posed_summary(problems) == {
        "levels_posed": {"3": 2, "10": 1},  # numeric order, not string order
        "teacher_answer_accuracy": 0.5,
    }
    assert posed_summary([p(0)]) == {}


def test_paired_difference_exact_sign_flip_p_values() -> None:
    from soar_kit.metrics import paired_difference

    # 8 wins out of 8: only the all-plus and all-minus patterns are as extreme, p = 2/256
    d = paired_difference([0.5] * 8, [0.0] * 8)
    assert (d["wins"], d["ties"], d["losses"]) == (8, 0, 0)
    assert d["p"] == pytest.approx(2 / 256) and d["mean"] == pytest.approx(0.5)
    # differences 3, -1: patterns |3-1|, |3+1|, ... -> |sum| >= 2 in all 4 patterns
    d = paired_difference([3.0, 0.0], [0.0, 1.0])
    assert d["p"] == 1.0 and d["t"] == pytest.approx(0.5)  # mean 1, sd sqrt(8), n 2
    # 1, 2, 3: sums over sign patterns: 6, 4, 2, 0, 0, -2, -4, -6 -> only +-6 reach 6
    assert paired_difference([1.0, 2.0, 3.0], [0.0, 0.0, 0.0])["p"] == pytest.approx(2 / 8)
    assert paired_difference([0.2, 0.2], [0.2, 0.2])["p"] == 1.0
    with pytest.raises(ValueError, match="equal-length"):
        paired_difference([1.0], [1.0, 2.0])
