"""How a domain's prompts reach a model: through its chat template, if it is an instruct model.

A domain writes plain instructions ("write a new problem ...", "solve ..."); an instruct model
was tuned to read them inside its chat turns, and SmolLM2 given the raw text answered in none
of the formats asked (0 of 64 teacher outputs valid). Rendering happens once, here, by wrapping
the run's domain: the teacher sampler, the teacher update, student RL and scoring all read
``domain.teacher_prompt``/``student_prompt``, so they see the same rendered text and the
log-probabilities the teacher is trained on are those of what it was sampled from.

The template is captured as the text around a sentinel user message, so the wrapped domain is a
plain picklable object (Ray workers and bench processes rebuild nothing but the strings).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from soar_kit.contracts.domain import ConformanceCases, Domain, MiniWorld, ProblemSet
from soar_kit.contracts.model import Policy
from soar_kit.contracts.records import Problem, Verdict
from soar_kit.errors import ConfigError

_SENTINEL = "\x00soarkit-user-message\x00"


@dataclass(frozen=True)
class ChatTemplate:
    """A one-user-turn chat: ``head + message + tail`` (``tail`` opens the assistant turn)."""

    head: str
    tail: str

    def render(self, message: str) -> str:
        return self.head + message + self.tail

    @classmethod
    def from_tokenizer(cls, tokenizer: Any) -> ChatTemplate | None:
        """The tokenizer's template around one user message; None if it has no template."""
        if not getattr(tokenizer, "chat_template", None):
            return None
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": _SENTINEL}], tokenize=False, add_generation_prompt=True
        )
        if text.count(_SENTINEL) != 1:
            # a template that rewrites the message cannot be split around it
            raise ConfigError(
                "model.chat_template: this tokenizer's chat template alters the user message; "
                "set model.chat_template=off"
            )
        head, tail = text.split(_SENTINEL)
        return cls(head, tail)


def chat_template_for(setting: str, policy: Policy) -> ChatTemplate | None:
    """The template a run applies: ``auto`` uses the tokenizer's where it has one (instruct
    models), ``on`` insists on it, ``off`` sends the domain's text as it is (soar-mini)."""
    if setting == "off":
        return None
    template = ChatTemplate.from_tokenizer(policy.tokenizer)
    if template is None and setting == "on":
        raise ConfigError(
            f"model.chat_template=on: the tokenizer of '{policy.spec}' has no chat template"
        )
    return template


def prompted_domain(domain: Domain, template: ChatTemplate | None) -> Domain:
    """``domain`` as the model should see it; itself where nothing changes (soar-mini)."""
    if isinstance(domain, PromptedDomain):
        domain = domain.inner
    if template is None and not domain.teacher_opening():
        return domain
    return PromptedDomain(domain, template)


class PromptedDomain(Domain):
    """A domain whose prompts are rendered for one model; everything else is the inner domain.

    The teacher's turn may be *opened* with the domain's :meth:`Domain.teacher_opening` (e.g.
    ``<question>``): the opening ends the prompt, so the teacher is trained on what it wrote
    after it, and the parser sees opening + completion, as the domain expects.
    """

    def __init__(self, inner: Domain, template: ChatTemplate | None) -> None:
        self.inner = inner
        self.template = template
        # the contract's class attributes, as instance values of the inner domain
        self.name = inner.name  # type: ignore[misc]
        self.description = inner.description  # type: ignore[misc]
        self.reward_range = inner.reward_range  # type: ignore[misc]
        self.default_problem_set = inner.default_problem_set  # type: ignore[misc]

    def __getattr__(self, attr: str) -> Any:
        # domain-specific attributes (``options``, ``verifier``); never private names, so
        # unpickling (which looks up ``__setstate__`` before ``inner`` exists) cannot recurse
        if attr.startswith("_") or attr == "inner":
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    def _render(self, message: str) -> str:
        return self.template.render(message) if self.template else message

    def with_options(self, options: Mapping[str, Any]) -> Domain:
        return prompted_domain(self.inner.with_options(options), self.template)

    def teacher_prompt(self, rng: random.Random) -> str:
        return self._render(self.inner.teacher_prompt(rng)) + self.inner.teacher_opening()

    def teacher_opening(self) -> str:
        return ""  # already part of teacher_prompt

    def parse_teacher_output(self, text: str, *, problem_id: str) -> Problem:
        return self.inner.parse_teacher_output(
            self.inner.teacher_opening() + text, problem_id=problem_id
        )

    def student_prompt(self, problem: Problem) -> str:
        return self._render(self.inner.student_prompt(problem))

    def verify(self, problem: Problem, completion: str) -> Verdict:
        return self.inner.verify(problem, completion)

    def verify_many(self, problem: Problem, completions: Sequence[str]) -> list[Verdict]:
        return self.inner.verify_many(problem, completions)

    def problem_sets(self) -> Mapping[str, ProblemSet]:
        return self.inner.problem_sets()

    def load_problem_set(self, name: str, *, seed: int, limit: int | None = None) -> list[Problem]:
        return self.inner.load_problem_set(name, seed=seed, limit=limit)

    def problem_from_json(self, data: Mapping[str, Any]) -> Problem:
        return self.inner.problem_from_json(data)

    def problem_from_reference(self, reference: str) -> Problem:
        return self.inner.problem_from_reference(reference)

    def mini_world(self) -> MiniWorld | None:
        return self.inner.mini_world()

    def conformance_cases(self) -> ConformanceCases:
        return self.inner.conformance_cases()
