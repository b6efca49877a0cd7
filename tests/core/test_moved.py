"""The 0.2 layout: old import paths still work for one release (with a DeprecationWarning that
names the new home), and the helpers that used to be written several times behave as one."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import warnings

import pytest

from soar_kit.contracts.backend import GenerationBackend, SamplingParams
from soar_kit.contracts.domain import ConformanceCases, Domain
from soar_kit.contracts.records import Problem, Verdict
from soar_kit.contracts.trainer import VerifierReward, group_rewards
from soar_kit.scoring import success_counts

OLD_PATHS = [
    ("soar_kit.records", "Problem", "soar_kit.contracts.records"),
    ("soar_kit.domain", "Domain", "soar_kit.contracts.domain"),
    ("soar_kit.generation", "SamplingParams", "soar_kit.contracts.backend"),
    ("soar_kit.training", "StudentTrainer", "soar_kit.contracts.trainer"),
    ("soar_kit.rewards", "RewardScheme", "soar_kit.contracts.reward"),
    ("soar_kit.models", "Policy", "soar_kit.contracts.model"),
    ("soar_kit.models", "load_policy", "soar_kit.components"),
    ("soar_kit.executors", "InnerContext", "soar_kit.contracts.executor"),
    ("soar_kit.executors", "train_student", "soar_kit.students"),
    ("soar_kit.executors", "qr_accuracy", "soar_kit.scoring"),
    ("soar_kit.modeling", "snapshot_state", "soar_kit.lm.weights"),
    ("soar_kit.modeling", "peak_rss_bytes", "soar_kit.machine"),
    ("soar_kit.sampling", "sample", "soar_kit.lm.sampling"),
    ("soar_kit.rl", "train_rloo", "soar_kit.lm.rloo"),
    ("soar_kit.evaluation", "evaluate_run", "soar_kit.commands.evaluate"),
    ("soar_kit.evaluation", "pass_at_ks", "soar_kit.scoring"),
    ("soar_kit.testing_models", "tiny_policy", "soar_kit.testing.tiny_models"),
]


@pytest.mark.parametrize(("old", "name", "new"), OLD_PATHS)
def test_old_import_path_warns_and_gives_the_same_object(old: str, name: str, new: str) -> None:
    module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=f"{old}.{name} moved to {new}.{name}"):
        obj = getattr(module, name)
    assert obj is getattr(importlib.import_module(new), name)


def test_old_path_without_the_name_is_an_attribute_error() -> None:
    module = importlib.import_module("soar_kit.records")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AttributeError, match="no attribute 'Attempt'"):
            module.Attempt  # noqa: B018  (removed: it was never used)


def test_cache_off_builds_nowhere_it_keeps(tmp_path) -> None:
    """``SOARKIT_CACHE=off`` once made soar-mini build into ``./off/soar-mini``."""
    code = (
        "import soar_kit.mini.build as b, soar_kit.machine as m; "
        "r = b.cache_root(); print(r); print(m.cache_enabled()); print(r.is_absolute())"
    )
    env = {**os.environ, "SOARKIT_CACHE": "off"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    root, enabled, absolute = out.stdout.split()
    assert (enabled, absolute) == ("False", "True")
    assert not (tmp_path / "off").exists()
    assert not os.path.exists(root), "the scratch cache is removed when the process ends"


class _Counting(Domain):
    """A domain that records how it is asked to verify."""

    name = "counting"

    def __init__(self) -> None:
        self.batches: list[int] = []

    def teacher_prompt(self, rng):  # type: ignore[no-untyped-def]
        return "Q:"

    def parse_teacher_output(self, text, *, problem_id):  # type: ignore[no-untyped-def]
        raise self.reject("unused")

    def student_prompt(self, problem: Problem) -> str:
        return problem.question

    def verify(self, problem: Problem, completion: str) -> Verdict:
        ok = completion == problem.answer
        return Verdict(correct=ok, reward=1.0 if ok else 0.25)

    def verify_many(self, problem, completions):  # type: ignore[no-untyped-def]
        self.batches.append(len(completions))
        return super().verify_many(problem, completions)

    def problem_sets(self):  # type: ignore[no-untyped-def]
        return {}

    def conformance_cases(self) -> ConformanceCases:
        return ConformanceCases([], [], [], [])


class _Canned(GenerationBackend):
    """Answers problem i with a fixed list of completions (a real backend, minus the model)."""

    name = "canned"

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers

    def generate(self, policy, prompts, params):  # type: ignore[no-untyped-def]
        return [self.answers[p][: params.n] for p in prompts]


def test_every_batch_of_completions_goes_through_verify_many() -> None:
    problems = [
        Problem(id=str(i), question=f"q{i}", answer="a", domain="counting") for i in range(3)
    ]
    answers = {"q0": ["a", "b", "a"], "q1": ["b", "b", "b"], "q2": ["a", "a", "a"]}
    domain = _Counting()
    counts = success_counts(domain, None, _Canned(answers), problems, SamplingParams(n=3))
    assert counts == [2, 0, 3]
    assert domain.batches == [3, 3, 3]  # one call per problem, never one per completion

    reward = VerifierReward(domain)
    assert group_rewards(reward, problems[0], answers["q0"]) == [1.0, 0.25, 1.0]
    assert domain.batches[-1] == 3
    # a plain function is a reward too, scored completion by completion in order
    assert group_rewards(lambda p, c: float(len(c)), problems[0], ["ab", "a"]) == [2.0, 1.0]
