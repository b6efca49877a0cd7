"""Where policies (model + tokenizer) come from.

A :class:`ModelSource` turns a spec such as ``soar-mini``, ``smollm2-135m`` or a transformers
folder into a :class:`Policy`. Sources are registered through ``soarkit_register_models`` so a
plugin can add, say, a quantised loader. torch is imported lazily: the core (plugins, config,
verification) stays usable without it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from soar_kit.errors import UnknownNameError
from soar_kit.weight_version import tag

if TYPE_CHECKING:
    from soar_kit.contracts.domain import Domain


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

    @property
    def weight_version(self) -> int:
        """How many in-place weight changes (optimizer steps, restores) the model has seen;
        engines holding a copy of the weights re-sync when it moves
        (:mod:`soar_kit.weight_version`)."""
        return tag(self.model)[1]


class ModelSource(ABC):
    """Loads a :class:`Policy` for the specs it :meth:`handles`."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    #: A catch-all source (``transformers``) that :func:`pick_source` tries after all others.
    fallback: ClassVar[bool] = False

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
        its :meth:`~soar_kit.contracts.domain.Domain.mini_world`; others ignore it.
        """


def pick_source(sources: Iterable[ModelSource], spec: str) -> ModelSource:
    """The source that loads ``spec``: an exact name first, then the first non-fallback source
    whose :meth:`~ModelSource.handles` is true, then fallbacks (the generic ``transformers``
    source, which would otherwise claim names such as ``soar-mini`` that merely look like paths).
    """
    ordered = list(sources)
    for src in ordered:
        if src.name == spec:
            return src
    for want_fallback in (False, True):
        for src in ordered:
            if src.fallback == want_fallback and src.handles(spec):
                return src
    names = ", ".join(s.name for s in ordered) or "none installed"
    raise UnknownNameError(f"no model source handles '{spec}' (sources: {names})")
