"""Every hook soar-kit calls, in one place.

All registration hooks follow the register-callback pattern (as in simonw's ``llm``): the core
calls ``soarkit_register_X(register=...)`` and a plugin calls ``register(obj)`` once per object
it provides. The core then checks each object (type, unique name) and remembers which
distribution and entry point it came from, so a bad plugin is reported by name and the others
keep working.

A plugin is any module (or object) with functions decorated by :data:`soar_kit.hookimpl` whose
names match these specs. Installed distributions expose it under the entry-point group
``soar_kit``::

    [project.entry-points.soar_kit]
    mydomain = "my_package.plugin"
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("soar_kit")

Register = Callable[[Any], None]


@hookspec
def soarkit_register_domains(register: Register) -> None:
    """Register problem domains: ``register(instance)`` with a :class:`soar_kit.contracts.domain.Domain`.

    A domain bundles the teacher prompt and parser (reject -> resample), the student prompt,
    the verifier with reward shaping, and named problem sets. Names must be unique across all
    plugins; a duplicate is refused with an error naming both providers.
    """


@hookspec
def soarkit_register_trainers(register: Register) -> None:
    """Register student trainers: ``register(instance)`` with a
    :class:`soar_kit.contracts.trainer.StudentTrainer`. A trainer updates a policy in place with RL on a
    list of problems and a reward function; it must be deterministic given its seed.
    """


@hookspec
def soarkit_register_reward_schemes(register: Register) -> None:
    """Register teacher reward schemes: ``register(instance)`` with a
    :class:`soar_kit.contracts.reward.RewardScheme`. Selected with ``meta.reward`` / ``--reward NAME``.
    To change a scheme, subclass it, give it a new ``name`` and register the subclass.
    """


@hookspec
def soarkit_register_backends(register: Register) -> None:
    """Register generation backends: ``register(instance)`` with a
    :class:`soar_kit.contracts.backend.GenerationBackend`. A backend that cannot run on this machine
    still registers and reports why from ``available()``.
    """


@hookspec
def soarkit_register_models(register: Register) -> None:
    """Register model sources: ``register(instance)`` with a :class:`soar_kit.contracts.model.ModelSource`.
    The first source whose ``handles(spec)`` is true loads a ``--model`` spec; the built-in
    ``transformers`` source handles any folder or hub id and comes last.
    """


@hookspec
def soarkit_register_executors(register: Register) -> None:
    """Register executors of inner trainings: ``register(instance)`` with a
    :class:`soar_kit.contracts.executor.Executor`. Selected with ``executor.name``; ``local`` is built in.
    """


@hookspec
def soarkit_register_commands(cli: Any) -> None:
    """Add commands to the ``soarkit`` click group (``@cli.command()``)."""
