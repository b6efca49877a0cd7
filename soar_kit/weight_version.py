"""A weight version per model: how a generation engine knows its copy of the weights is stale.

An engine such as vLLM holds its *own* copy of a policy's weights. Training updates the torch
model in place, and the loop resets students with :func:`~soar_kit.lm.weights.restore_state`, so
the engine must be told. Every place that changes a model's weights in place (an optimizer step
of any trainer, a state restore) calls :func:`bump`; a backend remembers the :func:`tag` it last
synced and re-syncs when the tag differs. A counter instead of a hash of the weights because a
hash of 135M parameters per sampling call would cost as much as the sync it saves.

The version lives on the model object (not in a process-wide table): a ``copy.deepcopy`` of the
model (a student copy, a KL reference) gets a fresh identity, so two models never share a tag.
"""

from __future__ import annotations

from typing import Any

_ATTR = "_soarkit_weights"


class WeightVersion:
    """Identity (the object itself) plus a counter of in-place weight changes."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def __deepcopy__(self, memo: dict[int, Any]) -> WeightVersion:
        # a copied model is another model: it must not look synced to the original's engine
        return WeightVersion()

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return (WeightVersion, ())

    def __repr__(self) -> str:
        return f"WeightVersion({self.value})"


def _version(model: Any) -> WeightVersion:
    version = model.__dict__.get(_ATTR)
    if version is None:
        version = WeightVersion()
        # object.__setattr__: a torch Module's __setattr__ would be fine too, but a plain
        # object must not need to be a Module to carry a version
        object.__setattr__(model, _ATTR, version)
    return version


def bump(model: Any) -> int:
    """Record that ``model``'s weights changed in place; returns the new version."""
    version = _version(model)
    version.value += 1
    return version.value


def tag(model: Any) -> tuple[WeightVersion, int]:
    """What a backend compares: the model's version object (identity) and its current value.

    Compare the first element with ``is``, the second with ``==``.
    """
    version = _version(model)
    return version, version.value


def same(a: tuple[WeightVersion, int] | None, b: tuple[WeightVersion, int]) -> bool:
    """Whether two tags name the same model at the same version."""
    return a is not None and a[0] is b[0] and a[1] == b[1]
