"""Cheap student copies: train g*r students per outer step from one baseline without g*r models.

SOAR (SOAR.md, "Outer loop" step 2) trains r fresh copies of the *baseline* student on each of
g datasets, measures them, throws them away, and occasionally promotes one. Holding g*r models
would multiply memory; instead a :class:`StudentPool` keeps

* one snapshot of the baseline weights in CPU memory (taken once, or at promotion), and
* one working model that is reset from that snapshot before every student (an in-place copy:
  no reallocation, so memory stays flat however many students are trained).

Three modes, from most to least memory:

``"copy"`` (default)
    The working model is a separate copy; ``baseline()`` is the untouched original. Memory:
    2 models + 1 snapshot (+ optimizer state while training).
``"shared"``
    The baseline's own model is the working model; ``baseline()`` resets it first. Memory:
    1 model + 1 snapshot. Never hold a student and the baseline at the same time.
``"lora"``
    LoRA adapters (``peft``) are injected into the baseline's model and only they are trained and
    reset; the base weights are shared by every student and the snapshot is the adapters' initial
    state (kilobytes to megabytes). With the adapters at their initial value (B = 0) the model
    computes exactly the baseline, so ``baseline()`` is the reset working model. Memory: 1 model
    + adapters, and the optimizer state is the adapters' only. Students differ from full
    fine-tuning (low-rank updates; use a higher learning rate).

``capture()`` keeps a trained student (full weights, or adapters only in ``"lora"`` mode) so the
loop can pick the median student of the best dataset; ``promote(state)`` makes it the baseline.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from soar_kit.modeling import StateDict, clone_state, restore_state, snapshot_state
from soar_kit.models import Policy

Mode = Literal["copy", "shared", "lora"]


@dataclass(frozen=True)
class LoraSettings:
    """LoRA for students (``mode="lora"``); ``target_modules="all-linear"`` adapts every linear
    layer except the output head."""

    r: int = 16
    alpha: int = 32
    dropout: float = 0.0
    target_modules: str | tuple[str, ...] = "all-linear"


@dataclass
class StudentPool:
    """One baseline, one working student model, reset from a CPU snapshot per student."""

    base: Policy
    mode: Mode = "copy"
    lora: LoraSettings = field(default_factory=LoraSettings)
    students_made: int = 0

    def __post_init__(self) -> None:
        if self.mode not in ("copy", "shared", "lora"):
            raise ValueError(f"unknown student mode {self.mode!r} (copy, shared, lora)")
        if self.mode == "copy":
            work_model = copy.deepcopy(self.base.model)
        elif self.mode == "shared":
            work_model = self.base.model
        else:
            work_model = self._inject_lora(self.base.model)
            self.base = replace(self.base, model=work_model)
        self._work = Policy(
            model=work_model,
            tokenizer=self.base.tokenizer,
            spec=f"{self.base.spec}#student",
            info={**self.base.info, "student_mode": self.mode},
        )
        # the baseline, taken once: adapters' initial state in lora mode, else all weights
        self._snapshot: StateDict = (
            self._adapter_state() if self.mode == "lora" else snapshot_state(work_model, "cpu")
        )

    # -- the mechanism --------------------------------------------------------------------------
    def fresh(self) -> Policy:
        """The working student, reset to the baseline (invalidates the previous student)."""
        self._reset()
        self.students_made += 1
        self._work.info["trained"] = False
        return self._work

    def baseline(self) -> Policy:
        """A policy that computes the baseline student (see the module doc per mode)."""
        if self.mode == "copy":
            return self.base
        self._reset()
        self._work.info["trained"] = False
        return self._work

    def capture(self) -> StateDict:
        """A CPU copy of the current student (adapters only in ``"lora"`` mode)."""
        if self.mode == "lora":
            return clone_state(self._adapter_state(), device="cpu")
        return snapshot_state(self._work.model, device="cpu")

    def promote(self, state: StateDict) -> None:
        """Make a captured student the new baseline (SOAR.md, "Promotion")."""
        if self.mode == "lora":
            self._merge_adapters(state)
            return
        self._snapshot = clone_state(state)
        if self.mode == "copy":
            restore_state(self.base.model, self._snapshot)
        self._reset()

    # -- helpers --------------------------------------------------------------------------------
    def _reset(self) -> None:
        if self.mode == "lora":
            self._load_adapters(self._snapshot)
        else:
            restore_state(self._work.model, self._snapshot)

    def _inject_lora(self, model: Any) -> Any:
        from peft import LoraConfig, get_peft_model

        cfg = LoraConfig(
            r=self.lora.r,
            lora_alpha=self.lora.alpha,
            lora_dropout=self.lora.dropout,
            target_modules=(
                self.lora.target_modules
                if isinstance(self.lora.target_modules, str)
                else list(self.lora.target_modules)
            ),
            task_type="CAUSAL_LM",
        )
        peft_model = get_peft_model(model, cfg)
        peft_model.eval()
        return peft_model

    def _adapter_state(self) -> StateDict:
        return {
            n: p.detach().clone() for n, p in self._work.model.named_parameters() if p.requires_grad
        }

    def _load_adapters(self, state: StateDict) -> None:
        import torch

        params = dict(self._work.model.named_parameters())
        with torch.no_grad():
            for name, value in state.items():
                params[name].copy_(value)

    def _merge_adapters(self, state: StateDict) -> None:
        """Fold a captured student's adapters into the shared base weights, then zero them.

        merge (base += BA) -> reset adapters to their initial B = 0 -> unmerge (base -= 0, which
        only clears peft's "merged" flag). The base now holds the promoted student exactly.
        """
        model = self._work.model
        self._load_adapters(state)
        model.merge_adapter()
        self._load_adapters(self._snapshot)
        model.unmerge_adapter()
