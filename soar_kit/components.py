"""A run's plugins, looked up from its config, and the one way a policy is loaded.

Looking every component up before any work means a typo in a config fails in the first
second, not after minutes of model loading; the loop, ``soarkit eval`` and the benchmark all
start here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from soar_kit.config import RunConfig
from soar_kit.contracts.backend import GenerationBackend
from soar_kit.contracts.domain import Domain
from soar_kit.contracts.executor import Executor
from soar_kit.contracts.model import ModelSource, Policy, pick_source
from soar_kit.contracts.reward import RewardScheme
from soar_kit.contracts.trainer import StudentTrainer
from soar_kit.errors import ConfigError, SoarKitError, UnknownNameError
from soar_kit.lm.weights import resolve_device
from soar_kit.machine import fix_mmap_threshold
from soar_kit.plugins import get_manager
from soar_kit.prompting import chat_template_for, prompted_domain


@dataclass
class Components:
    domain: Domain
    backend: GenerationBackend
    trainer: StudentTrainer
    scheme: RewardScheme
    source: ModelSource
    executor: Executor


def resolve_components(config: RunConfig) -> Components:
    """Look every plugin up before any work, so a typo fails in the first second."""
    manager = get_manager()
    domain = manager.domain(config.domain.name).with_options(config.domain.options)
    backend = manager.get("backend", config.backend.name).with_options(config.backend.options)
    trainer = manager.get("trainer", config.student.trainer)
    scheme = manager.get("reward", config.meta.reward)
    executor = manager.get("executor", config.executor.name)
    for kind, obj in (("backend", backend), ("trainer", trainer), ("executor", executor)):
        reason = obj.available()
        if reason:
            raise ConfigError(f"{kind} '{obj.name}' cannot run here: {reason}")
    if config.student.mode == "lora":
        check_lora(config, backend)
    if config.student.lora.together > 1:
        check_together(config, backend, trainer, executor)
    source = find_model_source(config.model.name)
    return Components(domain, backend, trainer, scheme, source, executor)


def check_lora(config: RunConfig, backend: GenerationBackend) -> None:
    """LoRA students need peft and a backend that samples adapters; say so in one line."""
    import importlib.util

    if importlib.util.find_spec("peft") is None:
        raise ConfigError("student.mode=lora needs peft (pip install 'soar-kit[lora]')")
    if not backend.samples_adapters:
        raise ConfigError(
            f"student.mode=lora: backend '{backend.name}' does not sample LoRA students yet; "
            "use backend.name=transformers or student.mode=full"
        )


def check_together(
    config: RunConfig, backend: GenerationBackend, trainer: StudentTrainer, executor: Executor
) -> None:
    """Students trained together share one batch of the working model: say in one line which
    setting stands in the way, before any work."""
    field = f"student.lora.together={config.student.lora.together}"
    if config.student.mode != "lora":
        raise ConfigError(f"{field} needs student.mode=lora (students as adapters of one base)")
    if not trainer.trains_together:
        raise ConfigError(f"{field}: trainer '{trainer.name}' trains one student at a time")
    if not executor.trains_together:
        raise ConfigError(f"{field}: executor '{executor.name}' trains one student at a time")
    if type(backend).rollout is not GenerationBackend.rollout:
        raise ConfigError(
            f"{field}: backend '{backend.name}' samples the students' rollouts itself, one "
            "student at a time; use backend.name=transformers or student.lora.together=1"
        )
    if config.student.rl.gradient_checkpointing:
        raise ConfigError(
            f"{field} cannot use student.rl.gradient_checkpointing: checkpointed layers "
            "recompute outside the forward that routes each row to its student's adapter"
        )


def find_model_source(spec: str) -> ModelSource:
    try:
        return get_manager().model_source(spec)
    except UnknownNameError as exc:
        raise ConfigError(f"model.name: {exc}") from exc


def load_policy(
    spec: str,
    *,
    dtype: str = "float32",
    device: str = "cpu",
    seed: int = 0,
    domain: Domain | None = None,
    sources: Iterable[ModelSource] | None = None,
) -> Policy:
    """Load ``spec`` with the source that handles it (see
    :func:`~soar_kit.contracts.model.pick_source`) among ``sources``, by default every
    registered one.

    A source whose ``available()`` gives a reason is refused with that reason; ``device="auto"``
    picks CUDA where present.
    """
    src = get_manager().model_source(spec) if sources is None else pick_source(sources, spec)
    reason = src.available()
    if reason is not None:
        raise SoarKitError(f"model source '{src.name}' cannot load '{spec}': {reason}")
    return src.load(spec, dtype=dtype, device=resolve_device(device), seed=seed, domain=domain)


def load_run_policy(config: RunConfig, domain: Domain) -> Policy:
    """The run's model (``[model]`` of ``config``) built or loaded for ``domain``; the process's
    allocator set up first (``model.malloc_mmap_threshold``), since it holds the model."""
    if config.model.malloc_mmap_threshold is not None:
        fix_mmap_threshold(config.model.malloc_mmap_threshold)
    return load_policy(
        config.model.name,
        dtype=config.model.dtype,
        device=config.model.device,
        seed=config.model.build_seed,
        domain=domain,
    )


def domain_for(config: RunConfig, domain: Domain, policy: Policy) -> Domain:
    """``domain`` with its prompts rendered for the run's model (``model.chat_template``).

    Every place that prompts a model calls this once the model is loaded (the template lives
    in its tokenizer), so teacher sampling, training and scoring all read one rendering.
    """
    return prompted_domain(domain, chat_template_for(config.model.chat_template, policy))
