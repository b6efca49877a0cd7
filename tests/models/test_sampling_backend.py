"""The transformers backend and the sampling loop under it, on tiny real models."""

from __future__ import annotations

import pytest

from soar_kit.contracts.backend import SamplingParams
from soar_kit.lm.sampling import completion_logprobs, sample
from soar_kit.plugins import PluginManager

torch = pytest.importorskip("torch")

PROMPTS = ["ab", "a much longer prompt: ", "xyz"]


@pytest.fixture(scope="module")
def backend():
    return PluginManager(load_entry_points=False).get("backend", "transformers")


def test_shapes_and_n_samples(tiny, backend):
    out = backend.generate(tiny, PROMPTS, SamplingParams(n=4, max_new_tokens=7, seed=1))
    assert len(out) == len(PROMPTS)
    assert all(len(group) == 4 for group in out)
    # char tokenizer: one token per character, so the cap on tokens caps the text
    assert all(len(text) <= 7 for group in out for text in group)
    assert len({t for group in out for t in group}) > 4, "random init should sample diverse text"


def test_deterministic_in_seed(tiny, backend):
    params = SamplingParams(n=3, max_new_tokens=10, seed=7)
    a = backend.generate(tiny, PROMPTS, params)
    assert a == backend.generate(tiny, PROMPTS, params)
    assert a != backend.generate(tiny, PROMPTS, params.model_copy(update={"seed": 8}))


def test_greedy_left_padding_matches_unbatched(tiny, backend):
    """Left padding with mask-derived positions must not change what a prompt produces."""
    params = SamplingParams(n=2, temperature=0.0, max_new_tokens=12)
    batched = backend.generate(tiny, PROMPTS, params)
    single = [backend.generate(tiny, [p], params)[0] for p in PROMPTS]
    assert batched == single
    assert all(g[0] == g[1] for g in batched)


def test_chunking_does_not_change_greedy(tiny):
    from soarkit_plugins.backends import TransformersBackend

    params = SamplingParams(temperature=0.0, max_new_tokens=8)
    assert TransformersBackend(max_rows=1).generate(tiny, PROMPTS, params) == TransformersBackend(
        max_rows=64
    ).generate(tiny, PROMPTS, params)


def test_stop_strings_cut_text_and_end_rows(tiny_llama):
    g = torch.Generator().manual_seed(0)
    free = sample(
        tiny_llama.model, tiny_llama.tokenizer, ["ab"] * 16, max_new_tokens=30, generator=g
    )
    # pick a character that occurs mid-text in some sample and stop on it
    ch = next(c for t in free.texts for c in t[1:-1] if c.strip())
    g = torch.Generator().manual_seed(0)
    cut = sample(
        tiny_llama.model,
        tiny_llama.tokenizer,
        ["ab"] * 16,
        max_new_tokens=30,
        stop=(ch,),
        generator=g,
    )
    assert all(ch not in t for t in cut.texts)
    decode = tiny_llama.tokenizer.decode
    lengths = cut.completion_mask.sum(1).tolist()
    for row, (full, short) in enumerate(zip(free.texts, cut.texts, strict=True)):
        assert full.startswith(short)  # same random stream until the stop
        if ch in full:
            # the row ended on the token that completed the stop string
            ids = cut.completion_ids[row, : lengths[row]]
            assert ch in decode(ids, skip_special_tokens=True)
            assert ch not in decode(ids[:-1], skip_special_tokens=True)


def test_eos_ends_a_row(tiny_llama):
    model, tok = tiny_llama.model, tiny_llama.tokenizer
    with torch.no_grad():  # make EOS the only likely token
        model.lm_head.weight[tok.eos_token_id] *= 0
        bias = torch.zeros(model.config.vocab_size)
        bias[tok.eos_token_id] = 100.0
    model.lm_head.register_forward_hook(lambda m, i, o: o + bias)
    r = sample(model, tok, ["ab", "cd"], n=2, max_new_tokens=10)
    assert r.texts == ["", "", "", ""]
    assert r.completion_mask.sum().item() == 4  # only the EOS token itself, once per row


def test_logprobs_independent_of_padding(tiny):
    g = torch.Generator().manual_seed(3)
    r = sample(tiny.model, tiny.tokenizer, PROMPTS, n=2, max_new_tokens=9, generator=g)
    with torch.no_grad():
        lp = completion_logprobs(tiny.model, r)
        batched = (lp * r.completion_mask).sum(1)
        for row in range(len(r.texts)):
            p_ids = r.prompt_ids[row][r.prompt_mask[row].bool()]
            c_ids = r.completion_ids[row][r.completion_mask[row].bool()]
            ids = torch.cat([p_ids, c_ids])[None]
            logits = tiny.model(input_ids=ids).logits[0, len(p_ids) - 1 : -1].float()
            ref = torch.log_softmax(logits, -1).gather(-1, c_ids[:, None]).sum()
            assert torch.allclose(batched[row], ref, atol=1e-4), row


def test_top_p_tiny_keeps_only_the_argmax(tiny, backend):
    greedy = backend.generate(tiny, PROMPTS, SamplingParams(temperature=0.0, max_new_tokens=6))
    nucleus = backend.generate(
        tiny, PROMPTS, SamplingParams(n=3, top_p=1e-6, max_new_tokens=6, seed=5)
    )
    assert all(set(g) == {gr[0]} for g, gr in zip(nucleus, greedy, strict=True))


def test_vllm_backend_reports_when_missing():
    import importlib.util

    b = PluginManager(load_entry_points=False).get("backend", "vllm")
    if importlib.util.find_spec("vllm") is None:
        assert "not installed" in (b.available() or "")
    else:
        assert b.available() is None


def test_shared_prefill_matches_repeated_prompts(tiny):
    """n samples share one prefilled KV cache; greedy rows must equal an n=1 run's."""
    many = sample(tiny.model, tiny.tokenizer, PROMPTS, n=3, temperature=0.0, max_new_tokens=10)
    one = sample(tiny.model, tiny.tokenizer, PROMPTS, n=1, temperature=0.0, max_new_tokens=10)
    assert many.texts == [t for t in one.texts for _ in range(3)]
