"""The synthetic pretraining corpus of soar-mini, built from a domain's :class:`MiniWorld`.

The corpus is what gives a tiny model SOAR's three ingredients (DESIGN.md, "SOAR-mini"):

* **solved problems only at low levels** (``1..solved_levels``), plus a thin slice of solved
  *stepping stones* (levels between the solved ones and the hard level), so the built student is
  partly right there -- the gradient RL needs -- and fails the hard level outright;
* **teacher demonstrations at every level**: ``teacher_prompt + <question>…</question>
  <answer>…</answer>``. Questions at the hard level appear here (never with their true answer),
  so the model can *pose* problems it cannot *solve*;
* or, for a world with an ``attempt`` (math), every text above the solved levels -- stepping
  stone, hard level, student or teacher -- shows the world's *fallible* student: its
  characteristic mistake at a designed rate. The model learns the rate; compounded over the
  hard level it is near zero, and it answers what it poses as it solves (the teacher is the
  same model);
* everything short, because the model reads characters.

The teacher format is found by trying candidate templates against the domain's own
``parse_teacher_output``: the corpus only ever contains teacher text that the domain accepts.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass, field
from typing import Any

from soar_kit.contracts.domain import Domain, MiniWorld
from soar_kit.contracts.records import Problem
from soar_kit.errors import SoarKitError


@dataclass(frozen=True)
class MiniRecipe:
    """Everything that determines a soar-mini build (hashed into the cache key with the seed).

    Levels are the world's (``1..levels``). ``None`` level knobs are derived from the world's
    ``hard_level`` in :meth:`resolve` so that one recipe serves every domain.
    """

    #: Bump when the builder changes in a way that changes the weights.
    version: int = 4
    #: Number of training texts in the corpus.
    texts: int = 200_000
    #: Levels ``1..solved_levels`` get plenty of solved problems (default: ``hard_level // 2``:
    #: the stepping stones are the levels between it and the hard level).
    solved_levels: int | None = None
    #: Share of *student* texts that are stepping stones (levels above ``solved_levels`` and
    #: below the hard level: solved, or the world's ``attempt``), so the model is only partly
    #: right there (default: the world's, else 0.12).
    stone_share: float | None = None
    #: Solved levels are drawn with weight proportional to the level: higher levels need more
    #: examples (math: more subtractions, rarer facts), the lowest ones are learnt fast.
    level_weighting: str = "linear"
    #: Share of all texts that are teacher demonstrations (questions at every level).
    teacher_share: float = 0.15
    #: Chance that a teacher demonstration above the solved levels (and below the hard level)
    #: carries the true answer; otherwise a well-formed answer of another problem of that level.
    #: Hard-level demonstrations never carry the true answer.
    teacher_stone_truth: float = 0.3
    # -- model ---------------------------------------------------------------------------------
    hidden: int = 128
    layers: int = 2
    heads: int = 8
    ffn: int = 384
    context: int = 512
    # -- pretraining ---------------------------------------------------------------------------
    #: Pretraining steps (default: the world's, else 2,400).
    steps: int | None = None
    batch: int = 64
    lr: float = 3e-3
    warmup: int = 100
    weight_decay: float = 0.01
    extra: dict[str, Any] = field(default_factory=dict)

    def resolve(self, world: MiniWorld) -> MiniRecipe:
        """This recipe with level knobs filled in and checked against ``world``."""
        if not 1 <= world.hard_level <= world.levels:
            raise SoarKitError(
                f"mini world hard_level {world.hard_level} is outside levels 1..{world.levels}"
            )
        unknown = set(world.recipe) - set(_KNOBS)
        if unknown:
            raise SoarKitError(
                f"mini world recipe: unknown knob(s) {sorted(unknown)} (known: {list(_KNOBS)})"
            )

        def knob(name: str) -> Any:
            mine = getattr(self, name)
            return mine if mine is not None else world.recipe.get(name, _KNOBS[name])

        solved = knob("solved_levels")
        if solved is None:
            solved = max(1, world.hard_level // 2)
        if not 1 <= solved < world.hard_level:
            raise SoarKitError(
                f"soar-mini recipe: solved_levels={solved} must be in 1..{world.hard_level - 1} "
                f"(below the hard level {world.hard_level})"
            )
        share = knob("stone_share")
        if not 0.0 <= share <= 1.0:
            raise SoarKitError(f"soar-mini recipe: stone_share must be in [0, 1], got {share}")
        steps = knob("steps")
        if steps < 1:
            raise SoarKitError(f"soar-mini recipe: steps must be at least 1, got {steps}")
        return _replace(self, solved_levels=solved, stone_share=share, steps=steps)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


#: Recipe fields a :class:`MiniWorld` may set (``MiniWorld.recipe``), with the value used when
#: neither the recipe nor the world sets them (``None`` for solved_levels: derived from the world).
_KNOBS: dict[str, Any] = {"solved_levels": None, "stone_share": 0.12, "steps": 2400}


def _replace(recipe: MiniRecipe, **changes: Any) -> MiniRecipe:
    from dataclasses import replace

    return replace(recipe, **changes)


@dataclass(frozen=True)
class Corpus:
    texts: list[str]
    #: Per text: "student" or "teacher" and its level (for reports and tests).
    kinds: list[tuple[str, int]]
    #: The teacher template found to parse (``{prompt}``, ``{question}``, ``{answer}``).
    teacher_template: str
    #: Which answer form the template uses: "solution" or "answer".
    teacher_answer_form: str

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for t in self.texts:
            h.update(t.encode())
            h.update(b"\x00")
        return h.hexdigest()


#: Candidate teacher templates, tried in order; the first the domain's parser accepts wins.
TEACHER_TEMPLATES: tuple[str, ...] = (
    "{prompt}{sep}<question>{question}</question><answer>{answer}</answer>",
    "{prompt}{sep}<question>{question}</question>\n<answer>{answer}</answer>",
)


def _sep(prompt: str) -> str:
    return "" if not prompt or prompt[-1].isspace() else "\n"


def find_teacher_format(domain: Domain, world: MiniWorld, rng: random.Random) -> tuple[str, str]:
    """The (template, answer form) whose output the domain's parser accepts, at every level.

    A world with an ``attempt`` needs the ``"solution"`` form: its teacher answers with the
    fallible student's worked attempt, which only that form can carry.
    """
    forms = ("solution",) if world.attempt is not None else ("solution", "answer")
    tried: list[str] = []
    for template in TEACHER_TEMPLATES:
        for form in forms:
            ok = True
            for level in range(1, world.levels + 1):
                p = world.make_problem(level, rng)
                prompt = domain.teacher_prompt(rng)
                text = render_teacher(prompt, p, p, world, template, form)
                try:
                    # the loop parses the teacher's completion alone, never its prompt
                    domain.parse_teacher_output(text[len(prompt) :], problem_id="probe")
                except Exception as exc:  # ProblemRejected or a domain bug: try the next form
                    tried.append(f"{form}: {exc}")
                    ok = False
                    break
            if ok:
                return template, form
    raise SoarKitError(
        f"soar-mini: domain '{domain.name}' rejects every teacher template tried "
        f"({'; '.join(tried[:3])})"
    )


def render_teacher(
    prompt: str,
    problem: Problem,
    answer_of: Problem,
    world: MiniWorld,
    template: str,
    form: str,
    *,
    attempt: str | None = None,
) -> str:
    """Teacher text posing ``problem`` with the answer (solution or bare answer) of ``answer_of``.

    ``attempt``: a worked attempt to write instead (``"solution"`` form, see
    :func:`find_teacher_format`).
    """
    if attempt is not None:
        answer = attempt
    else:
        answer = world.solution(answer_of) if form == "solution" else answer_of.answer
    return template.format(
        prompt=prompt, sep=_sep(prompt), question=problem.question, answer=answer
    )


def build_corpus(domain: Domain, world: MiniWorld, recipe: MiniRecipe, seed: int) -> Corpus:
    """The corpus for ``recipe`` (already :meth:`~MiniRecipe.resolve`\\ d), deterministic in seed.

    ``random.Random`` with a string seed is stable across Python versions and platforms, and the
    domain's ``make_problem`` is required to be deterministic in the rng state.
    """
    assert recipe.solved_levels is not None, "resolve() the recipe first"
    if domain.teacher_opening():
        # a run would parse opening + completion, but every demonstration here starts right
        # after the prompt: the built model would write the opening twice or not at all
        raise SoarKitError(
            f"soar-mini: domain '{domain.name}' opens the teacher's turn with "
            f"{domain.teacher_opening()!r} (domain.options.open_turn), which soar-mini's corpus "
            "does not demonstrate; build soar-mini with open_turn off"
        )
    rng = random.Random(f"soar-mini-corpus-{seed}")
    template, form = find_teacher_format(domain, world, random.Random(f"probe-{seed}"))
    solved = list(range(1, recipe.solved_levels + 1))
    stones = list(range(recipe.solved_levels + 1, world.hard_level))
    weights = _weights(solved, recipe.level_weighting)
    texts: list[str] = []
    kinds: list[tuple[str, int]] = []
    for _ in range(recipe.texts):
        if rng.random() < recipe.teacher_share:
            level = rng.randint(1, world.levels)
            p = world.make_problem(level, rng)
            answer_of, attempt = p, None
            fallible = level > recipe.solved_levels and world.attempt is not None
            if level > recipe.solved_levels and not fallible:
                truthful = level < world.hard_level and rng.random() < recipe.teacher_stone_truth
                if not truthful:
                    # a well-formed answer of *another* problem of this level: the format and
                    # length are right, the content teaches no solving (the question does not
                    # determine it). Hard-level demonstrations always take this branch.
                    answer_of = world.make_problem(level, rng)
            prompt = domain.teacher_prompt(rng)
            if fallible:
                # the teacher answers what it poses the way the world's teacher does (a world
                # without a teacher_attempt: the way its student solves)
                attempt = (world.teacher_attempt or world.attempt)(p, rng)
            texts.append(
                render_teacher(prompt, p, answer_of, world, template, form, attempt=attempt)
            )
            kinds.append(("teacher", level))
        else:
            if stones and rng.random() < recipe.stone_share:
                level = rng.choice(stones)
            else:
                level = rng.choices(solved, weights=weights)[0]
            p = world.make_problem(level, rng)
            if level > recipe.solved_levels and world.attempt is not None:
                texts.append(domain.student_prompt(p) + world.attempt(p, rng))
            else:
                texts.append(domain.student_prompt(p) + world.solution(p))
            kinds.append(("student", level))
    return Corpus(texts, kinds, template, form)


def _weights(levels: list[int], how: str) -> list[float]:
    if how == "uniform":
        return [1.0] * len(levels)
    if how == "linear":
        return [float(lv) for lv in levels]
    raise SoarKitError(
        f"soar-mini recipe: level_weighting must be 'uniform' or 'linear', got {how!r}"
    )


def recipe_key(domain_name: str, recipe: MiniRecipe, corpus: Corpus, seed: int) -> str:
    """Short hash naming the cache entry: recipe, seed and the corpus text itself.

    Hashing the corpus (not only the recipe) means a domain that changes its prompts or its
    problem generator gets a fresh build instead of a stale model.
    """
    payload = json.dumps(
        {
            "domain": domain_name,
            "recipe": recipe.to_json(),
            "seed": seed,
            "corpus": corpus.fingerprint(),
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
