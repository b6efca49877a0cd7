"""Build soar-mini for a domain once, then load it from the cache.

The cache entry is ``$SOARKIT_CACHE/soar-mini/<domain>-<key>/`` (default cache:
``~/.cache/soar-kit``), where ``key`` hashes the recipe, the seed and the corpus text itself. A
build is written into a temporary sibling folder and renamed into place only when complete
(``os.replace`` of a directory is atomic on one filesystem), so a killed build never leaves an
entry that looks valid; two concurrent builds of the same key both succeed and one wins.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soar_kit import machine
from soar_kit.contracts.domain import Domain
from soar_kit.errors import SoarKitError
from soar_kit.machine import CACHE_ENV as CACHE_ENV  # re-exported: its old home
from soar_kit.mini.corpus import MiniRecipe, build_corpus, recipe_key
from soar_kit.mini.model import count_params, make_model, pretrain
from soar_kit.mini.tokenizer import build_char_tokenizer

#: Set to 0 to ignore the builds shipped with the package and always build (or use the cache).
SHIPPED_ENV = "SOARKIT_MINI_SHIPPED"
#: Written last into a build folder; its presence marks a complete entry.
META_FILE = "soar-mini.json"


def shipped_root() -> Path:
    """Pre-built entries that ship inside the package (same layout as the cache).

    The default recipe needs ~22 CPU-minutes of pretraining; shipping its result (about 2 MB
    per domain) makes the first ``soarkit run`` start at once. A shipped entry is used only when
    its key matches the one computed now (recipe, seed and corpus text), so a changed domain or
    recipe silently falls back to a real build instead of loading stale weights.
    """
    return Path(__file__).parent / "shipped"


def cache_root() -> Path:
    """Where soar-mini builds live: ``soar-mini`` in :func:`soar_kit.machine.cache_root`
    (a temporary folder under ``SOARKIT_CACHE=off``, so nothing lands in ``./off/``)."""
    return machine.cache_root() / "soar-mini"


@dataclass
class MiniBuild:
    """A built (or cache-loaded) soar-mini: model, tokenizer and the metadata saved with it."""

    model: Any
    tokenizer: Any
    path: Path
    meta: dict[str, Any]
    #: True when this call built the model, False when it came from the cache.
    built: bool


def entry_path(domain: Domain, *, seed: int = 0, recipe: MiniRecipe | None = None) -> Path:
    """The cache folder a build of ``domain`` with ``recipe`` and ``seed`` uses."""
    _world, _resolved, name = _plan(domain, recipe, seed)
    return cache_root() / name


#: (id of the domain, recipe, seed) -> (the domain, kept alive so its id is not reused, plan)
_PLANS: dict[tuple[int, str, int], tuple[Domain, Any]] = {}


def _plan(domain: Domain, recipe: MiniRecipe | None, seed: int):  # type: ignore[no-untyped-def]
    """World, resolved recipe and entry name (``<domain>-<key>``) of a build.

    The key hashes the whole corpus (~5 s to generate for the default recipe), so it is
    computed once per domain object, recipe and seed in a process: a run loads the model for
    its student and its teacher, and domains are immutable after construction (their contract).
    """
    # the recipe's dict field makes it unhashable: its JSON names it
    memo = (id(domain), json.dumps(recipe and recipe.to_json(), sort_keys=True), seed)
    if memo in _PLANS:
        return _PLANS[memo][1]
    world = domain.mini_world()
    if world is None:
        raise SoarKitError(
            f"soar-mini cannot be built for domain '{domain.name}': it offers no mini_world() "
            "(use a domain with one, e.g. --domain math, or another --model)"
        )
    resolved = (recipe or MiniRecipe()).resolve(world)
    corpus = build_corpus(domain, world, resolved, seed)
    plan = (world, resolved, f"{domain.name}-{recipe_key(domain.name, resolved, corpus, seed)}")
    if len(_PLANS) >= 16:
        _PLANS.clear()
    _PLANS[memo] = (domain, plan)
    return plan


def build_or_load(
    domain: Domain,
    *,
    seed: int = 0,
    recipe: MiniRecipe | None = None,
    log: Callable[[str], None] | None = None,
    on_step: Callable[[int, float], None] | None = None,
    force: bool = False,
) -> MiniBuild:
    """soar-mini for ``domain``: from the cache or the shipped builds if present, else built
    (and cached) now. ``force`` builds anew whatever exists, replacing the cache entry."""
    world, resolved, name = _plan(domain, recipe, seed)
    key = name.removeprefix(f"{domain.name}-")
    path = cache_root() / name
    if not force:
        if (path / META_FILE).is_file():
            return _load(path, built=False)
        shipped = shipped_root() / path.name
        if os.environ.get(SHIPPED_ENV, "1") != "0" and (shipped / META_FILE).is_file():
            return _load(shipped, built=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    _sweep_stale_temps(path.parent)
    corpus = build_corpus(domain, world, resolved, seed)  # only a real build needs its texts
    tmp = Path(tempfile.mkdtemp(prefix=f".{domain.name}-{key}.", dir=path.parent))
    try:
        start = time.perf_counter()
        tokenizer = build_char_tokenizer()
        model = make_model(resolved, tokenizer, seed)
        stats = pretrain(model, tokenizer, corpus.texts, resolved, seed, log=log, on_step=on_step)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        meta = _meta(
            domain, world, resolved, corpus, seed, key, model, stats, time.perf_counter() - start
        )
        (tmp / "corpus-sample.txt").write_text("\n----\n".join(corpus.texts[:40]) + "\n")
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        if path.exists() and (force or not (path / META_FILE).is_file()):
            # only complete entries are ever renamed into place, so without the metadata file
            # this is foreign junk; with --force the old entry is replaced on purpose
            shutil.rmtree(path)
        try:
            os.replace(tmp, path)  # atomic: the entry appears complete or not at all
        except OSError:
            if not (path / META_FILE).is_file():  # not a concurrent winner: a real failure
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return _load(path, built=True)


#: A temporary build folder older than this belongs to a build that was killed, not to one
#: still running (a from-scratch build takes well under an hour).
STALE_TEMP_SECONDS = 24 * 3600


def _sweep_stale_temps(root: Path) -> None:
    """Remove the hidden temporary folders that killed builds left behind.

    They are never trusted (only complete entries are renamed into place), only wasted disk.
    """
    now = time.time()
    for child in root.glob(".*"):
        try:
            if child.is_dir() and now - child.stat().st_mtime > STALE_TEMP_SECONDS:
                shutil.rmtree(child, ignore_errors=True)
        except OSError:
            pass  # a concurrent sweep removed it first


def ship(build: MiniBuild) -> Path:
    """Copy a complete build into :func:`shipped_root` (what ``soarkit mini build --ship`` does).

    Only the files needed to load it travel (weights, configs, tokenizer, metadata); the copy is
    made beside the target and renamed into place, like a cache entry.
    """
    if not (build.path / META_FILE).is_file():
        raise SoarKitError(f"soar-mini: {build.path} is not a complete build")
    target = shipped_root() / build.path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for f in sorted(build.path.iterdir()):
            if f.is_file() and f.name != "corpus-sample.txt":
                shutil.copy2(f, tmp / f.name)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _meta(domain, world, recipe, corpus, seed, key, model, stats, seconds):  # type: ignore[no-untyped-def]
    import torch
    import transformers

    counts: dict[str, int] = {}
    for kind, level in corpus.kinds:
        counts[f"{kind}-L{level}"] = counts.get(f"{kind}-L{level}", 0) + 1
    return {
        "name": "soar-mini",
        "domain": domain.name,
        "key": key,
        "seed": seed,
        "recipe": recipe.to_json(),
        "levels": world.levels,
        "hard_level": world.hard_level,
        "teacher_template": corpus.teacher_template,
        "teacher_answer_form": corpus.teacher_answer_form,
        "corpus_counts": dict(sorted(counts.items())),
        "params": count_params(model),
        "pretrain": stats,
        "build_seconds": round(seconds, 2),
        "torch_threads": torch.get_num_threads(),
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "python": platform.python_version(),
        },
        "machine": platform.machine(),
    }


def _load(path: Path, *, built: bool) -> MiniBuild:
    from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

    meta = json.loads((path / META_FILE).read_text())
    model = LlamaForCausalLM.from_pretrained(path, dtype="float32")
    for p in model.parameters():  # detach from the mmap'd file: training on it is slow
        p.data = p.data.clone()
    model.eval()
    tokenizer = PreTrainedTokenizerFast.from_pretrained(path)
    return MiniBuild(model, tokenizer, path, meta, built)
