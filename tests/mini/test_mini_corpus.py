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


def _fallible_world(toy, **recipe):
    """The toy world whose student is off by one on 3 of 4 sums above level 1."""
    from dataclasses import replace as dc_replace

    def attempt(problem, rng):
        total = sum(map(int, problem.question.split("+")))
        return f"\\boxed{{{total if rng.random() < 0.25 else total + 1}}}"

    return dc_replace(toy.mini_world(), attempt=attempt, recipe=recipe)


def test_world_knobs_fill_the_recipe_and_the_recipe_wins(toy) -> None:
    world = _fallible_world(toy, solved_levels=1, stone_share=0.5)
    resolved = MiniRecipe().resolve(world)
    assert (resolved.solved_levels, resolved.stone_share) == (1, 0.5)
    mine = MiniRecipe(solved_levels=2, stone_share=0.1).resolve(world)
    assert (mine.solved_levels, mine.stone_share) == (2, 0.1)
    # a world without knobs resolves as before (the shipped builds' keys depend on it)
    plain = MiniRecipe().resolve(toy.mini_world())
    assert plain.stone_share == 0.12 and plain.solved_levels == world.hard_level // 2
    with pytest.raises(SoarKitError, match="unknown knob"):
        MiniRecipe().resolve(_fallible_world(toy, stone_shar=0.5))
    with pytest.raises(SoarKitError, match="stone_share"):
        MiniRecipe(stone_share=1.5).resolve(toy.mini_world())


def _answered_right(toy, text: str, kind: str) -> bool:
    """Whether a corpus text of the toy world (a sum) carries the right total."""
    if kind == "teacher":
        p = toy.parse_teacher_output(text[len("New sum:\n") :], problem_id="x")
        question, answer = p.question, p.answer
    else:
        question = text.split("Q:", 1)[1].split("\n", 1)[0]
        answer = text.rsplit("{", 1)[1].rstrip("}")
    return int(answer) == sum(map(int, question.split("+")))


def test_attempts_above_the_solved_levels_make_the_worlds_mistake_at_its_rate(toy) -> None:
    world = _fallible_world(toy, solved_levels=1, stone_share=0.5)
    recipe = MiniRecipe(texts=4000).resolve(world)
    corpus = build_corpus(toy, world, recipe, 0)
    right = {"student": [0, 0], "teacher": [0, 0]}
    for text, (kind, level) in zip(corpus.texts, corpus.kinds, strict=True):
        ok = _answered_right(toy, text, kind)
        if level == 1:
            assert ok, text  # solved levels stay perfect
        elif level < world.hard_level or kind == "teacher":
            right[kind][0] += ok
            right[kind][1] += 1
    for kind, (ok, n) in right.items():
        assert n > 100, (kind, n)
        assert 0.18 < ok / n < 0.32, (kind, ok, n)  # the designed 25 %, student and teacher


def test_a_worlds_teacher_attempt_answers_the_teacher_demonstrations(toy) -> None:
    """A world whose teacher knows more than its student: teacher texts take the teacher's
    rate (here 90 % right), student texts keep the student's (25 %)."""
    from dataclasses import replace as dc_replace

    def teacher_attempt(problem, rng):
        total = sum(map(int, problem.question.split("+")))
        return f"\\boxed{{{total if rng.random() < 0.9 else total + 1}}}"

    world = dc_replace(
        _fallible_world(toy, solved_levels=1, stone_share=0.5), teacher_attempt=teacher_attempt
    )
    corpus = build_corpus(toy, world, MiniRecipe(texts=4000).resolve(world), 0)
    right = {"student": [0, 0], "teacher": [0, 0]}
    for text, (kind, level) in zip(corpus.texts, corpus.kinds, strict=True):
        if level == 1:
            continue
        right[kind][0] += _answered_right(toy, text, kind)
        right[kind][1] += 1
    (t_ok, t_n), (s_ok, s_n) = right["teacher"], right["student"]
    assert t_n > 100 and s_n > 100
    assert 0.82 < t_ok / t_n < 0.97, right
    assert 0.18 < s_ok / s_n < 0.32, right
