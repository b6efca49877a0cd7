"""Model sources: which one loads a spec, the transformers folder source, SmolLM2 offline."""

from __future__ import annotations

import pytest

from soar_kit.components import load_policy
from soar_kit.contracts.model import ModelSource, Policy, pick_source
from soar_kit.errors import UnknownNameError
from soar_kit.plugins import PluginManager

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def sources():
    return [r.obj for r in PluginManager(load_entry_points=False).collect("model").values()]


class _Acme(ModelSource):
    """A plugin source whose specs (``acme/...``) also look like hub ids."""

    name = "acme"

    def handles(self, spec: str) -> bool:
        return spec == self.name or spec.startswith("acme/")

    def load(self, spec, **kw) -> Policy:  # pragma: no cover - never loaded here
        raise AssertionError


def test_fallback_source_is_tried_last(sources, tmp_path):
    mine = _Acme()
    everything = [*sources, mine]  # registered after transformers, like any plugin
    assert pick_source(everything, "acme") is mine
    assert pick_source(everything, "acme/big-model") is mine
    assert pick_source(everything, "smollm2-135m").name == "smollm2-135m"
    assert pick_source(everything, "HuggingFaceTB/SmolLM2-135M").name == "transformers"
    assert pick_source(everything, str(tmp_path)).name == "transformers"
    with pytest.raises(UnknownNameError, match="no model source handles 'nonsense'"):
        pick_source(everything, "nonsense")


def test_transformers_source_round_trips_a_folder(tmp_path, sources):
    from soarkit_plugins.backends import TransformersBackend

    from soar_kit.contracts.backend import SamplingParams
    from soar_kit.testing.tiny_models import tiny_policy

    tiny = tiny_policy("llama", seed=3)
    tiny.model.save_pretrained(tmp_path)
    tiny.tokenizer.save_pretrained(tmp_path)
    loaded = load_policy(str(tmp_path), sources=sources)
    assert loaded.info["source"] == "transformers" and loaded.info["path"] == str(tmp_path)
    assert loaded.tokenizer.padding_side == "left" and loaded.tokenizer.pad_token is not None
    assert not loaded.model.training
    params = SamplingParams(temperature=0.0, max_new_tokens=10)
    backend = TransformersBackend()
    prompts = ["abc", "hello there"]
    assert backend.generate(loaded, prompts, params) == backend.generate(tiny, prompts, params)
    for p in loaded.model.parameters():  # materialised: plain tensors, not file-backed
        assert p.is_contiguous()


def test_transformers_source_is_offline_by_default(sources, monkeypatch):
    monkeypatch.delenv("SOARKIT_ALLOW_DOWNLOAD", raising=False)
    src = pick_source(sources, "no-such-owner/no-such-model")
    with pytest.raises(OSError):
        src.load("no-such-owner/no-such-model")


def test_smollm2_available_here(sources):
    src = pick_source(sources, "smollm2-135m")
    assert src.available() is None, src.available()


@pytest.mark.slow
def test_smollm2_loads_offline_and_takes_an_rl_step(monkeypatch, tmp_path):
    """Acceptance: SmolLM2-135M loads from the GGUF with no network and trains one RLOO step."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("SOARKIT_CACHE", str(tmp_path))  # exercise GGUF conversion + cache
    from soarkit_plugins.trainers import RLOOTrainer

    from soar_kit.config import RLConfig, SamplingConfig
    from soar_kit.contracts.records import Problem

    policy = load_policy("smollm2-135m")
    assert type(policy.model).__name__ == "LlamaForCausalLM"
    assert getattr(policy.model, "hf_quantizer", None) is None
    assert (tmp_path / "smollm2-135m-instruct" / "config.json").exists()
    before = {k: v.clone() for k, v in policy.model.state_dict().items() if "layers.0." in k}
    problems = [
        Problem(id="1", question="What is 2+3?", answer="5", domain="toy"),
        Problem(id="2", question="What is 4+4?", answer="8", domain="toy"),
    ]
    stats = RLOOTrainer().train(
        policy,
        problems,
        prompt=lambda p: f"Question: {p.question}\nAnswer:",
        reward=lambda p, c: float(p.answer in c) + 0.1 * len(c.split()),
        settings=RLConfig(
            lr=1e-5, steps=1, batch_size=2, group_size=4, sampling=SamplingConfig(max_new_tokens=8)
        ),
        seed=0,
    )
    assert stats.steps == 1 and stats.tokens > 0
    after = policy.model.state_dict()
    assert all(torch.isfinite(after[k]).all() for k in before)
    assert any(not torch.equal(before[k], after[k]) for k in before)
    # the cached folder loads back with the same weights
    again = load_policy("smollm2-135m")
    assert again.info["path"].endswith("smollm2-135m-instruct")
