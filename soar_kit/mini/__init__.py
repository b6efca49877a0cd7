"""soar-mini: the project's own tiny model, built from a domain's :class:`MiniWorld`.

Generic over domains (it never imports one): a char-level tokenizer, a ~0.44M-parameter Llama, a
corpus with solved problems only at low levels and teacher demonstrations at every level, and a
short supervised pretraining run, cached per domain, recipe and seed. See ``docs/soar-mini.md``.
"""

from __future__ import annotations

from soar_kit.machine import CACHE_ENV
from soar_kit.mini.build import MiniBuild, build_or_load, cache_root, entry_path
from soar_kit.mini.corpus import Corpus, MiniRecipe, build_corpus

__all__ = [
    "CACHE_ENV",
    "Corpus",
    "MiniBuild",
    "MiniRecipe",
    "build_corpus",
    "build_or_load",
    "cache_root",
    "entry_path",
]
