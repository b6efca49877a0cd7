from __future__ import annotations

from dataclasses import replace

import pytest

from soar_kit.errors import SoarKitError
from soar_kit.mini.corpus import MiniRecipe, build_corpus


def _corpus(toy, seed=0, **kw):
    world = toy.mini_world()
    recipe = replace(MiniRecipe(texts=3000), **kw).resolve(world)
    return world, recipe, build_corpus(toy, world, recipe, seed)


def test_corpus_is_deterministic_in_seed(toy) -> None:
    a = _corpus(toy, 3)[2]
    b = _corpus(toy, 3)[2]
    c = _corpus(toy, 4)[2]
    assert a.texts == b.texts
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_solved_problems_only_below_the_hard_level(toy) -> None:
    world, recipe, corpus = _corpus(toy)
    student_levels = {lv for kind, lv in corpus.kinds if kind == "student"}
    assert max(student_levels) < world.hard_level
    assert set(range(1, recipe.solved_levels + 1)) <= student_levels
    # stepping stones are present but rare
    stones = [lv for kind, lv in corpus.kinds if kind == "student" and lv > recipe.solved_levels]
    students = [k for k in corpus.kinds if k[0] == "student"]
    assert 0 < len(stones) < 0.15 * len(students)


def test_teacher_demos_parse_at_every_level_but_hard_answers_are_never_true(toy) -> None:
    world, _, corpus = _corpus(toy)
    seen_levels = set()
    for text, (kind, level) in zip(corpus.texts, corpus.kinds, strict=True):
        if kind != "teacher":
            continue
        prompt = "New sum:\n"
        assert text.startswith(prompt)
        toy.parse_teacher_output(text[len(prompt) :], problem_id="x")
        seen_levels.add(level)
    assert seen_levels == set(range(1, world.levels + 1))
    hard = [
        toy.parse_teacher_output(t[len("New sum:\n") :], problem_id="x")
        for t, (k, lv) in zip(corpus.texts, corpus.kinds, strict=True)
        if k == "teacher" and lv == world.hard_level
    ]
    # a decoy's answer may coincide with the truth by chance, but rarely
    coincide = sum(int(p.answer) == sum(map(int, p.question.split("+"))) for p in hard)
    assert len(hard) > 50 and coincide / len(hard) < 0.2


def test_bad_recipe_is_a_clear_error(toy) -> None:
    with pytest.raises(SoarKitError, match="solved_levels"):
        MiniRecipe(solved_levels=5).resolve(toy.mini_world())
