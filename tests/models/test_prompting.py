"""Prompts rendered through a real tokenizer's chat template (the instruct-model path)."""

from __future__ import annotations

import pickle
import random

import pytest

from soar_kit.config import load_config
from soar_kit.errors import ConfigError
from soar_kit.plugins import get_manager
from soar_kit.prompting import ChatTemplate, PromptedDomain, chat_template_for, prompted_domain

# ChatML, the shape SmolLM2's template has (no default system turn, to keep the test short)
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.fixture
def chat_policy(tiny_llama):
    tiny_llama.tokenizer.chat_template = CHATML
    return tiny_llama


def test_template_splits_around_the_user_message(chat_policy):
    template = ChatTemplate.from_tokenizer(chat_policy.tokenizer)
    assert template is not None
    want = chat_policy.tokenizer.apply_chat_template(
        [{"role": "user", "content": "Solve 2+2."}], tokenize=False, add_generation_prompt=True
    )
    assert template.render("Solve 2+2.") == want
    assert template.tail.endswith("<|im_start|>assistant\n")


def test_settings(chat_policy, tiny_llama):
    assert chat_template_for("off", chat_policy) is None
    assert chat_template_for("auto", chat_policy) is not None
    tiny_llama.tokenizer.chat_template = None
    assert chat_template_for("auto", tiny_llama) is None
    with pytest.raises(ConfigError, match="no chat template"):
        chat_template_for("on", tiny_llama)


def test_a_template_that_rewrites_the_message_is_refused(tiny_llama):
    tiny_llama.tokenizer.chat_template = "{{ messages[0]['content'] | upper }}"
    with pytest.raises(ConfigError, match="alters the user message"):
        ChatTemplate.from_tokenizer(tiny_llama.tokenizer)


def test_prompted_math_domain(chat_policy):
    math = get_manager().domain("math")
    template = ChatTemplate.from_tokenizer(chat_policy.tokenizer)
    dom = prompted_domain(math, template)
    assert isinstance(dom, PromptedDomain) and dom.name == "math"
    assert dom.reward_range == math.reward_range
    rng = random.Random(0)
    assert dom.teacher_prompt(rng) == template.render(math.teacher_prompt(random.Random(0)))
    problem = math.load_problem_set("arithmetic-l1", seed=0, limit=1)[0]
    assert dom.student_prompt(problem) == template.render(math.student_prompt(problem))
    # verification, parsing and options are the inner domain's
    assert dom.verify(problem, f"\\boxed{{{problem.answer}}}").correct
    out = "<question>What is 2+3?</question><answer>\\boxed{5}</answer>"
    assert dom.parse_teacher_output(out, problem_id="t").answer == "5"
    assert dom.options == math.options
    rewrapped = dom.with_options({"require_boxed": False})
    assert isinstance(rewrapped, PromptedDomain) and not rewrapped.options.require_boxed
    # workers (Ray, bench processes) receive it pickled
    back = pickle.loads(pickle.dumps(dom))
    assert back.student_prompt(problem) == dom.student_prompt(problem)
    # no template and no opening: the domain itself
    assert prompted_domain(math, None) is math
    assert prompted_domain(dom, None) is math


def test_run_config_default_is_auto():
    assert load_config(None, []).model.chat_template == "auto"
    with pytest.raises(ConfigError):
        load_config(None, ["model.chat_template=maybe"])


def test_an_opened_teacher_turn_ends_the_prompt_and_starts_the_parse(chat_policy):
    from soarkit_math.domain import MathDomain

    class Opened(MathDomain):
        def teacher_opening(self) -> str:
            return "<question>"

    template = ChatTemplate.from_tokenizer(chat_policy.tokenizer)
    for t in (template, None):
        dom = prompted_domain(Opened(), t)
        prompt = dom.teacher_prompt(random.Random(0))
        assert prompt.endswith(("assistant\n" if t else "</answer>") + "<question>")
        # the completion continues after the opening
        got = dom.parse_teacher_output("What is 2+3?</question><answer>5</answer>", problem_id="t")
        assert got.question == "What is 2+3?"
