"""Where policies (model + tokenizer) come from.

A :class:`ModelSource` turns a spec such as ``soar-mini``, ``smollm2-135m`` or a transformers
folder into a :class:`Policy`. Sources are registered through ``soarkit_register_models`` so a
plugin can add, say, a quantised loader. torch is imported lazily: the core (plugins, config,
verification) stays usable without it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from soar_kit.domain import Domain


@dataclass
class Policy:
    """A causal LM and its tokenizer, plus where it came from (for checkpoints and reports)."""

    model: Any
    tokenizer: Any
    spec: str
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device


class ModelSource(ABC):
    """Loads a :class:`Policy` for the specs it :meth:`handles`."""

    name: ClassVar[str]
    description: ClassVar[str] = ""

    def handles(self, spec: str) -> bool:
        """Whether this source loads ``spec``; by default the exact name."""
        return spec == self.name

    def available(self) -> str | None:
        """``None`` when loadable here, else a one-line reason."""
        return None

    @abstractmethod
    def load(
        self,
        spec: str,
        *,
        dtype: str = "float32",
        device: str = "cpu",
        seed: int = 0,
        domain: Domain | None = None,
    ) -> Policy:
        """Load (building or unpacking first if needed) and return a ready policy.

        ``domain`` is the run's domain: sources that build a model for it (``soar-mini``) use
        its :meth:`~soar_kit.domain.Domain.mini_world`; others ignore it.
        """
