"""Built-in ``soar-mini`` model source: the embedded default model, built per domain.

``soarkit run --domain math`` with the default model loads a tiny char-level model made for
that domain's mini world: shipped pre-built for math and code, otherwise built once (~20
CPU-minutes) and cached. torch and transformers are imported only inside :meth:`SoarMiniSource.load`: the CLI
imports this module at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from soar_kit import hookimpl
from soar_kit.contracts.model import ModelSource, Policy
from soar_kit.errors import SoarKitError

if TYPE_CHECKING:
    from soar_kit.contracts.domain import Domain


#: Pretraining seed of the embedded model (``soar_kit.mini.build_or_load`` takes any seed).
BUILD_SEED = 0


class SoarMiniSource(ModelSource):
    name: ClassVar[str] = "soar-mini"
    description: ClassVar[str] = (
        "embedded ~0.44M-param char-level model, built from the domain's mini world (math and code ship pre-built)"
    )

    def load(
        self,
        spec: str,
        *,
        dtype: str = "float32",
        device: str = "cpu",
        seed: int = 0,
        domain: Domain | None = None,
    ) -> Policy:
        if domain is None:
            raise SoarKitError(
                "soar-mini is built for a domain, but none was given (pass --domain NAME)"
            )
        if domain.mini_world() is None:
            raise SoarKitError(
                f"soar-mini cannot be built for domain '{domain.name}': it offers no "
                "mini_world() (choose a domain that has one, e.g. math, or another --model)"
            )
        import torch

        from soar_kit.mini import build_or_load

        # One model per domain, like a pretrained checkpoint: the run's seed drives sampling and
        # RL, not the pretraining, so every run (any --seed) shares one cached build.
        build = build_or_load(domain, seed=BUILD_SEED)
        model = build.model
        if dtype != "float32":
            model = model.to(getattr(torch, dtype))
        if device != "cpu":
            model = model.to(device)
        info = {
            "source": self.name,
            "path": str(build.path),
            "built_now": build.built,
            "params": build.meta["params"],
            "build_seconds": build.meta["build_seconds"],
            "key": build.meta["key"],
            "build_seed": BUILD_SEED,
        }
        return Policy(model=model, tokenizer=build.tokenizer, spec=spec, info=info)


@hookimpl
def soarkit_register_models(register) -> None:  # type: ignore[no-untyped-def]
    register(SoarMiniSource())
