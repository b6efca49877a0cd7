"""The math domain against the core contract, plus its reward shaping and problem sets."""

from __future__ import annotations

import json
import random

import pytest
from soarkit_math import MathDomain
from soarkit_math.problems import FAMILIES, LEVELS

from soar_kit.errors import InvalidInput, ProblemRejected
from soar_kit.plugins import PluginManager
from soar_kit.testing import check_domain


@pytest.fixture(scope="module")
def domain() -> MathDomain:
    # a budget no honest comparison overruns on any machine: these tests are about verdicts
    return MathDomain().with_options({"timeout": 3600})


def test_conformance_kit_passes(domain: MathDomain) -> None:
    failed = [r for r in check_domain(domain) if not r.ok]
    assert failed == []


def test_registered_through_entry_point() -> None:
    pm = PluginManager(only=["math"])
    assert isinstance(pm.domain("math"), MathDomain)
    assert pm.errors == []


@pytest.mark.parametrize(
    ("completion", "reward", "correct"),
    [
        ("so \\boxed{0.5}", 1.2, True),
        ("1/2 is what I get... \\boxed{3}", 0.2, False),
        ("I think \\boxed{3}", 0.1, False),
        ("the answer is 1/2", 0.0, False),
        ("", 0.0, False),
    ],
)
def test_reward_shaping(domain: MathDomain, completion: str, reward: float, correct: bool) -> None:
    problem = domain.problem_from_reference("1/2")
    verdict = domain.verify(problem, completion)
    assert (verdict.reward, verdict.correct) == (reward, correct), verdict.reason


def test_mention_is_a_whole_token(domain: MathDomain) -> None:
    problem = domain.problem_from_reference("2")
    assert domain.verify(problem, "12 and 21 \\boxed{5}").reward == 0.1
    assert domain.verify(problem, "it is 2. \\boxed{5}").reward == 0.2


def test_reward_options(domain: MathDomain) -> None:
    custom = domain.with_options(
        {"reward_correct": 1.0, "reward_boxed_wrong": 0.0, "require_boxed": False}
    )
    problem = custom.problem_from_reference("7")
    assert custom.verify(problem, "\\boxed{7}").reward == 1.0
    assert custom.verify(problem, "\\boxed{8}").reward == 0.0
    unboxed = custom.verify(problem, "The answer is 7.")
    assert unboxed.correct and unboxed.reward == 1.0
    assert custom.reward_range == (0.0, 1.0)
    assert domain.verify(problem, "The answer is 7.").correct is False  # default needs a box
    with pytest.raises(InvalidInput, match="reward_corect"):
        domain.with_options({"reward_corect": 1})


def test_teacher_output_parsing(domain: MathDomain) -> None:
    p = domain.parse_teacher_output(
        "<question>What is $3 \\cdot 4$?</question>\n<answer>$\\boxed{12}$</answer>",
        problem_id="t1",
    )
    assert (p.question, p.answer, p.id, p.domain) == ("What is $3 \\cdot 4$?", "12", "t1", "math")
    for text, reason in [
        ("no tags", "missing <question>"),
        ("<question>q</question>", "missing <answer>"),
        ("<question>q</question><answer>\\boxed{}</answer>", "empty answer"),
        ("<question>q</question><answer>\\frac{1}{</answer>", "answer unparseable"),
        (
            "<question>q</question><answer>((((((((((((((((((((((((((1</answer>",
            "answer unparseable",
        ),
        ("<question>q" + "x" * 30000 + "</question><answer>1</answer>", "output too long"),
    ]:
        with pytest.raises(ProblemRejected) as info:
            domain.parse_teacher_output(text, problem_id="t")
        assert info.value.reason == reason


def test_prompts_are_short(domain: MathDomain) -> None:
    problem = domain.problem_from_reference("1")
    assert len(domain.teacher_prompt(random.Random(0))) < 100
    assert len(domain.student_prompt(problem)) - len(problem.question) < 100
    assert problem.question in domain.student_prompt(problem)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_procedural_sets_are_reproducible_and_self_consistent(
    domain: MathDomain, family: str
) -> None:
    first = domain.load_problem_set(family, seed=3, limit=2 * LEVELS)
    assert [p.model_dump() for p in first] == [
        p.model_dump() for p in domain.load_problem_set(family, seed=3, limit=2 * LEVELS)
    ]
    assert first != domain.load_problem_set(family, seed=4, limit=2 * LEVELS)
    assert {p.data["level"] for p in first} == set(range(1, LEVELS + 1))
    for p in first:
        verdict = domain.verify(p, f"\\boxed{{{p.answer}}}")
        assert verdict.correct, (p.question, p.answer, verdict.reason)


def test_domain_pickles_for_worker_processes(domain: MathDomain) -> None:
    import pickle

    custom = domain.with_options({"reward_correct": 1.0, "timeout": 2})
    clone = pickle.loads(pickle.dumps(custom))
    assert clone.options == custom.options
    assert clone.verify(clone.problem_from_reference("2"), "\\boxed{2}").reward == 1.0


def test_mini_world(domain: MathDomain) -> None:
    from soarkit_math import mini

    world = domain.mini_world()
    assert 1 <= world.hard_level <= world.levels
    for level in range(1, world.levels + 1):
        a = world.make_problem(level, random.Random(level))
        b = world.make_problem(level, random.Random(level))
        assert a == b
        assert len(a.question) < 60
        assert a.data["level"] == level
        solved = world.solution(a)
        assert domain.verify(a, solved).correct
        assert solved.count("=") == mini.OPERATIONS  # one step per operation
        assert a.question.count("-") == level - 1  # the level counts the subtractions
    with pytest.raises(ValueError):
        world.make_problem(world.levels + 1, random.Random(0))


def test_problem_from_json_math_format(domain: MathDomain) -> None:
    p = domain.problem_from_json(
        {"problem": "What is 1+1?", "solution": "Clearly $\\boxed{2}$. Not \\boxed{3}"}
    )
    assert p.answer == "3"  # the LAST box of the solution
    p = domain.problem_from_json({"problem": "Q", "solution": "\\boxed{2}", "answer": "4"})
    assert p.answer == "4"  # an explicit answer wins
    with pytest.raises(InvalidInput, match="answer"):
        domain.problem_from_json({"problem": "Q", "solution": "no box"})
    serialised = json.loads(p.model_dump_json())
    assert domain.problem_from_json(serialised) == p


def test_mini_answers_are_ordered_lists(domain: MathDomain) -> None:
    from soarkit_math import mini

    p = mini.make_problem(3, random.Random(4))
    totals = p.answer.split(",")
    assert len(totals) == mini.OPERATIONS
    assert domain.verify(p, mini.solution(p)).correct
    # the general verifier reads a list as a set; the results are a sequence
    swapped = ",".join([totals[1], totals[0], *totals[2:]])
    if swapped != p.answer:
        assert not domain.verify(p, f"\\boxed{{{swapped}}}").correct
    assert not domain.verify(p, f"\\boxed{{{p.answer},{totals[-1]}}}").correct  # a repeat
    assert not domain.verify(p, f"\\boxed{{{totals[-1]}}}").correct  # the last result alone
    assert domain.verify(p, "\\boxed{" + ", ".join(totals) + "}").correct  # spaces are fine
    if swapped != p.answer:  # an unboxed answer (require_boxed=false) is a sequence too
        lenient = domain.with_options({"require_boxed": False})
        assert lenient.verify(p, f"The answer is {p.answer}.").correct
        assert not lenient.verify(p, f"The answer is {swapped}.").correct


def test_teacher_mini_questions_carry_level_and_answer_check(domain: MathDomain) -> None:
    from soarkit_math import mini

    p = mini.make_problem(5, random.Random(2))
    text = f"<question>{p.question}</question><answer>\\boxed{{1,2,3,4,5}}</answer>"
    posed = domain.parse_teacher_output(text, problem_id="t")
    assert posed.data == {"level": 5, "family": "mini", "teacher_answer_correct": False}
    assert posed.answer == "1,2,3,4,5"  # the paper's rule: the teacher's own answer
    solver = domain.with_options({"answers": "solver"})
    fixed = solver.parse_teacher_output(text, problem_id="t")
    assert fixed.answer == p.answer
    assert fixed.data["teacher_answer_correct"] is False  # still reports the teacher's miss
    other = solver.parse_teacher_output(
        "<question>What is 1+1?</question><answer>\\boxed{3}</answer>", problem_id="u"
    )
    assert other.answer == "3" and other.data == {}  # no solver for it: the teacher's stands
    with pytest.raises(InvalidInput, match="answers"):
        domain.with_options({"answers": "oracle"})


@pytest.mark.parametrize("who", ["student", "teacher"])
def test_mini_attempts_slip_on_subtractions_at_the_designed_rate(
    domain: MathDomain, who: str
) -> None:
    """The student soar-mini is built from: additions always right, a subtraction right with
    probability SUBTRACTION_RIGHT (else added), compounding over a question; its teacher makes
    the same mistake at TEACHER_SUBTRACTION_RIGHT."""
    from soarkit_math import mini

    world = domain.mini_world()
    write = world.attempt if who == "student" else world.teacher_attempt
    rate = mini.SUBTRACTION_RIGHT if who == "student" else mini.TEACHER_SUBTRACTION_RIGHT
    assert mini.TEACHER_SUBTRACTION_RIGHT > mini.SUBTRACTION_RIGHT  # the latent knowledge
    rng = random.Random(0)
    for level, n in ((1, 50), (2, 2000), (3, 2000)):
        ok = 0
        for _ in range(n):
            p = world.make_problem(level, rng)
            text = write(p, rng)
            ok += domain.verify(p, text).correct
            for step in text.split(" ")[0].split(","):
                left, value = step.split("=")
                a, op, b = left[0], left[1], left[2:]
                if op == "+":
                    assert int(value) == int(a) + int(b), step
                else:
                    assert int(value) in (int(a) - int(b), int(a) + int(b)), step
        expected = rate ** (level - 1)
        assert abs(ok / n - expected) < 0.04, (level, ok / n, expected)
    assert mini.results("7+5,9-3") == [12, 6]


def test_paper_prompt_carries_the_papers_content(domain: MathDomain) -> None:
    paper = domain.with_options({"prompt": "paper"})
    text = paper.teacher_prompt(random.Random(0))
    for topic in ("Algebra", "Counting & Probability", "Geometry", "Intermediate Algebra"):
        assert topic in text
    for topic in ("Number Theory", "Prealgebra", "Precalculus"):
        assert topic in text
    assert "<question>" in text and "<answer>\\boxed{" in text and "outside the tags" in text
    assert "?" not in text  # no example question (the paper: seed questions collapse diversity)
    assert paper.teacher_opening() == ""
    assert paper.with_options({"open_turn": True}).teacher_opening() == "<question>"


def test_plain_format_conformance_and_parsing(domain: MathDomain) -> None:
    plain = domain.with_options({"format": "plain"})
    assert [r for r in check_domain(plain) if not r.ok] == []
    p = plain.parse_teacher_output(
        "Here is one.\n**Question:** What is 7 + 8?\n**Answer:** 7 + 8 = 15.\nDone.",
        problem_id="p",
    )
    assert (p.question, p.answer) == ("What is 7 + 8?", "15")
    # "answer:" inside a word is not the label
    p = plain.parse_teacher_output("Question: Is 4 the reanswer: no\nAnswer: 4", problem_id="p")
    assert p.answer == "4"
    assert plain.with_options({"open_turn": True}).teacher_opening() == "Question:"
    for text, reason in [
        ("What is 2+3?", "missing Question:"),
        ("Question: What is 2+3? I think 5.", "missing Answer:"),
        ("Question: What is 6 times 9?\nAnswer: \\frac{1}{\nQuestion: c?", "answer unparseable"),
        ("Question: The problem\nAnswer: 28", "placeholder question"),
    ]:
        with pytest.raises(ProblemRejected) as info:
            plain.parse_teacher_output(text, problem_id="t")
        assert info.value.reason == reason


def test_plain_format_student_rule(domain: MathDomain) -> None:
    plain = domain.with_options({"format": "plain"})
    problem = plain.problem_from_reference("15")
    prompt = plain.student_prompt(problem.model_copy(update={"question": "What is 7 + 8?"}))
    assert prompt.startswith("What is 7 + 8?") and "Answer:" in prompt
    cases = [
        ("7 + 8 = 15", 1.2, True),  # no marked answer: the last number is judged
        ("Answer: 15", 1.2, True),
        ("15 is close, but Answer: 16", 0.2, False),  # a marked answer wins over the last number
        ("Answer: 16", 0.1, False),
        ("7 + 8 = 16", 0.0, False),
        ("I do not know", 0.0, False),
    ]
    for completion, reward, correct in cases:
        v = plain.verify(problem, completion)
        assert (v.reward, v.correct) == (reward, correct), (completion, v.reason)


def test_format_and_prompt_options_are_checked(domain: MathDomain) -> None:
    with pytest.raises(InvalidInput, match="format must be 'tags' or 'plain'"):
        domain.with_options({"format": "yaml"})
    with pytest.raises(InvalidInput, match="prompt must be 'compact' or 'paper'"):
        domain.with_options({"prompt": "long"})
    with pytest.raises(InvalidInput, match="open_turn must be true or false"):
        domain.with_options({"open_turn": "yes"})


def test_plain_format_rejects_the_prompts_echo(domain: MathDomain) -> None:
    plain = domain.with_options({"format": "plain"})
    for text in (
        "Question: The problem\nAnswer: 28",
        "Question: the problem: *\nAnswer: 3",
        "Question: The answer\nAnswer: 3",
    ):
        with pytest.raises(ProblemRejected) as info:
            plain.parse_teacher_output(text, problem_id="t")
        assert info.value.reason == "placeholder question"
    p = plain.parse_teacher_output(
        "Question: The problem: what is 6 times 9?\nAnswer: The final answer is 54.",
        problem_id="t",
    )
    assert p.answer == "54"
    examples = plain.with_options({"examples": 2})
    with pytest.raises(ProblemRejected) as info:
        examples.parse_teacher_output("Question: what is 15%  of 80\nAnswer: 12", problem_id="t")
    assert info.value.reason == "copies an example"
    with pytest.raises(ProblemRejected) as info:
        examples.parse_teacher_output(
            "Question: What is the remainder when 47 is divided by 5 using division?\nAnswer: 2",
            problem_id="t",
        )
    assert info.value.reason == "copies an example"
    own = examples.parse_teacher_output(
        "Question: What is the remainder when 47 is divided by 9?\nAnswer: 2", problem_id="t"
    )
    assert own.answer == "2"  # the teacher's own (wrong) answer stands: the paper's rule
    shown = examples.teacher_prompt(random.Random(0))
    assert shown.count("Question:") == 3 and "write a different problem" in shown


def test_soar_mini_refuses_to_build_for_an_opened_teacher_turn(domain: MathDomain) -> None:
    from soar_kit.errors import SoarKitError
    from soar_kit.mini.corpus import MiniRecipe, build_corpus

    opened = domain.with_options({"open_turn": True})
    world = opened.mini_world()
    recipe = MiniRecipe(texts=100).resolve(world)
    with pytest.raises(SoarKitError, match="open_turn"):
        build_corpus(opened, world, recipe, 0)
    assert build_corpus(domain, world, recipe, 0).texts  # the same recipe, turn not opened
