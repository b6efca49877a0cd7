"""The reasoning-gym domain: conformance on many tasks, levels, the timed scorer, solver answers."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest
from soarkit_reasoning_gym import ReasoningGymDomain, RGOptions
from soarkit_reasoning_gym.scoring import ScorerError, ScorerWorker
from soarkit_reasoning_gym.solvers import SOLVERS, Unsolvable, integer_value
from soarkit_reasoning_gym.tasks import TASKS

from soar_kit.errors import InvalidInput, ProblemRejected
from soar_kit.plugins import PluginManager
from soar_kit.testing import check_domain

#: Tasks the conformance kit passes on (docs/domains.md lists every task's outcome).
CONFORMING = [
    "acre",
    "aiw",
    "arc_1d",
    "base_conversion",
    "basic_arithmetic",
    "binary_alternation",
    "chain_sum",
    "color_cube_rotation",
    "count_bits",
    "count_primes",
    "decimal_chain_sum",
    "gcd",
    "lcm",
    "leg_counting",
    "letter_counting",
    "binary_matrix",
    "products",
    "course_schedule",
    "decimal_arithmetic",
    "simple_equations",
    "dice",
    "power_function",
    "rotate_matrix",
    "word_sequence_reversal",
]


#: A scoring budget no load can exhaust: verdicts here must not turn into time-outs on a busy
#: machine (the time-out itself is tested with a scorer that never returns).
PATIENT_S = 3600.0


def rg(task: str, **options) -> ReasoningGymDomain:
    options.setdefault("timeout", PATIENT_S)
    return ReasoningGymDomain(RGOptions(task=task), short=True).with_options(options)


def test_the_static_task_list_is_the_installed_release():
    from reasoning_gym.factory import DATASETS

    assert tuple(sorted(DATASETS)) == TASKS


def test_registered_generic_and_short_names():
    domains = PluginManager().collect("domain")
    assert domains["reasoning-gym"].origin.distribution == "soarkit-reasoning-gym"
    assert {f"rg:{t}" for t in TASKS} <= set(domains)
    assert domains["rg:gcd"].obj.task == "gcd"


@pytest.mark.parametrize("task", CONFORMING)
def test_conformance_kit_passes(task):
    failed = [f"{r.name}: {r.detail}" for r in check_domain(rg(task)) if not r.ok]
    assert not failed, failed


def test_options_pick_the_task_and_are_checked():
    generic = ReasoningGymDomain().with_options({"task": "gcd"})
    assert generic.name == "reasoning-gym" and generic.task == "gcd"
    with pytest.raises(InvalidInput, match="did you mean: chain_sum"):
        ReasoningGymDomain().with_options({"task": "chain_summ"})
    with pytest.raises(InvalidInput, match="no option"):
        rg("gcd", levle=2)
    with pytest.raises(InvalidInput, match="is task 'gcd'"):
        rg("gcd").with_options({"task": "lcm"})
    with pytest.raises(InvalidInput, match="no answer solver"):
        rg("gcd", answers="solver")


def test_levels_follow_the_curriculum_and_sets_are_seeded():
    d = rg("chain_sum")
    sets = d.problem_sets()
    assert {"default", "mixed", "l1", "l5"} <= set(sets)
    low = d.load_problem_set("l1", seed=0, limit=20)
    high = d.load_problem_set("l5", seed=0, limit=20)
    terms = lambda ps: {p.data["metadata"]["num_terms"] for p in ps}  # noqa: E731
    assert max(terms(low)) < min(terms(high))  # level 5: more terms than level 1
    assert d.load_problem_set("l5", seed=1, limit=20) != high
    assert all(d.verify(p, f"<answer>{p.answer}</answer>").correct for p in high)
    mixed = d.load_problem_set("mixed", seed=0, limit=22)
    assert len({p.data["level"] for p in mixed}) == len(sets) - 2


def test_config_overrides_apply_after_the_level():
    d = rg("chain_sum", **{"config.max_digits": 1, "config.min_digits": 1})
    for p in d.load_problem_set("l4", seed=0, limit=10):
        assert p.data["config"]["max_digits"] == 1
        assert p.data["metadata"]["num_digits"] == 1


def test_student_prompt_is_the_tasks_style_and_answers_need_the_tag():
    d = rg("gcd")
    p = d.load_problem_set("l1", seed=0, limit=1)[0]
    assert "<answer>answer here</answer>" in d.student_prompt(p)
    assert p.question in d.student_prompt(p)
    assert not d.verify(p, p.answer).correct  # right number, not in the task's answer format
    assert d.verify(p, f"so <answer> {p.answer} </answer>").correct


def test_a_scorer_crash_is_a_verdict_naming_the_task():
    d = rg("prime_factorization")
    p = d.load_problem_set("l1", seed=0, limit=1)[0]
    verdict = d.verify(p, "<answer>zzz</answer>")
    assert not verdict.correct and verdict.reward == 0.0
    assert verdict.reason.startswith("scorer of task 'prime_factorization' crashed: ValueError")
    assert "\n" not in verdict.reason
    assert d.verify(p, f"<answer>{p.answer}</answer>").correct  # the worker lives on


HANGING_TASK = """
    import time
    from dataclasses import dataclass
    from typing import Optional

    from reasoning_gym.factory import ProceduralDataset, register_dataset

    @dataclass
    class HangConfig:
        seed: Optional[int] = None
        size: int = 10

    class HangDataset(ProceduralDataset):
        def __init__(self, config):
            super().__init__(config=config, seed=config.seed, size=config.size)

        def __getitem__(self, idx):
            return {"question": "q", "answer": "a", "metadata": {}}

        def score_answer(self, answer, entry):
            if answer == "hang":
                while True:
                    time.sleep(1)
            return 1.0 if answer == entry["answer"] else 0.0

    register_dataset("hang_test", HangDataset, HangConfig)
"""


def test_a_hung_scorer_times_out_and_the_worker_is_replaced(tmp_path, monkeypatch):
    """A real reasoning-gym task whose scorer never returns, loaded into a worker of its own."""
    (tmp_path / "hang_task.py").write_text(textwrap.dedent(HANGING_TASK))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), *sys.path]))
    monkeypatch.setenv("SOARKIT_RG_IMPORT", "hang_task")
    w = ScorerWorker()
    try:
        entry = {"question": "q", "answer": "a", "metadata": {}}
        assert w.score("hang_test", {}, entry, "a", timeout=PATIENT_S) == 1.0
        with pytest.raises(ScorerError, match=r"scorer of task 'hang_test' timed out after 0\.5s"):
            w.score("hang_test", {}, entry, "hang", timeout=0.5)
        assert w.score("hang_test", {}, entry, "b", timeout=PATIENT_S) == 0.0  # a fresh worker
    finally:
        w.close()


def test_solver_answers_replace_the_teachers():
    d = rg("chain_sum", answers="solver")
    q = "State the final answer to the following arithmetic problem: 12 + 30 - 5 ="
    p = d.parse_teacher_output(f"<question>{q}</question><answer>40</answer>", problem_id="t")
    assert p.answer == "37" and p.data["teacher_answer_correct"] is False
    p = d.parse_teacher_output(f"<question>{q}</question><answer>37</answer>", problem_id="t")
    assert p.data["teacher_answer_correct"] is True
    with pytest.raises(ProblemRejected, match="not solvable"):
        d.parse_teacher_output(
            "<question>What is 2 ** 999999?</question><answer>1</answer>", problem_id="t"
        )
    teacher = rg("chain_sum")  # the paper's rule: the teacher's own answer stays
    p = teacher.parse_teacher_output(f"<question>{q}</question><answer>40</answer>", problem_id="t")
    assert p.answer == "40" and p.data["teacher_answer_correct"] is False


def test_every_generated_question_of_a_solver_task_is_solved_to_its_reference():
    for task, solve in SOLVERS.items():
        d = rg(task)
        for p in d.load_problem_set("mixed", seed=0, limit=30):
            assert solve(p.question) == p.answer, (task, p.question)


def test_the_solver_never_evaluates_code():
    assert integer_value("2 * (3 + 4) - 10 / 5") == 12
    for bad in ("__import__('os')", "2 ** 10", "9" * 500, "1 // 2", "(" * 300 + "1" + ")" * 300):
        with pytest.raises(Unsolvable):
            integer_value(bad)


def test_teacher_problems_need_a_scorable_answer():
    # bitwise_arithmetic's scorer needs the generator's hidden metadata: no teacher problem passes
    d = rg("bitwise_arithmetic")
    p = d.load_problem_set("l1", seed=0, limit=1)[0]
    with pytest.raises(ProblemRejected):
        d.parse_teacher_output(
            f"<question>{p.question} (new)</question><answer>{p.answer}</answer>", problem_id="t"
        )


def test_reasoning_gym_entries_and_files_load(tmp_path):
    import reasoning_gym

    entries = list(reasoning_gym.create_dataset("gcd", seed=3, size=5))
    path = tmp_path / "gcd.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    d = rg("gcd")
    problems = d.load_problem_set(f"file:{path}", seed=0)
    assert [p.answer for p in problems] == [str(e["answer"]) for e in entries]
    assert all(d.verify(p, f"<answer>{p.answer}</answer>").correct for p in problems)
    single = d.problem_from_json(entries[0])
    assert single.data["task"] == "gcd"


def test_cli_verify_on_a_task(tmp_path):
    import subprocess

    d = rg("gcd")
    p = d.load_problem_set("l1", seed=0, limit=1)[0]
    f = tmp_path / "p.json"
    f.write_text(json.dumps(p.model_dump(mode="json")))
    soarkit = Path(sys.executable).parent / "soarkit"
    out = subprocess.run(
        [
            str(soarkit),
            "verify",
            "--domain",
            "rg:gcd",
            "--problem",
            str(f),
            "--json",
            "--option",
            f"timeout={PATIENT_S}",
            "--answer",
            f"<answer>{p.answer}</answer>",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    assert json.loads(out.stdout)["correct"] is True
