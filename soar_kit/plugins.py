"""The plugin manager: built-ins first, then every installed ``soar_kit`` entry point.

It is the only place that looks a registered object up (:meth:`PluginManager.get`, and
:meth:`PluginManager.model_source` for model specs); it imports nothing of the core but the
contracts, so that the contracts' users (plugins) and the registry cannot form a circle.

Each registration hook is called plugin by plugin (not as one pluggy broadcast) so that every
registered object is attributed to the distribution and entry point that provided it. That is
what lets a broken or misbehaving plugin be named in a one-line error while the others keep
working.

Set ``SOARKIT_LOAD_PLUGINS`` to restrict which installed plugins load: a comma-separated list of
entry-point or distribution names, or the empty string for none. Built-ins always load.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

import pluggy

from soar_kit import __version__, hookspecs
from soar_kit.contracts.backend import GenerationBackend
from soar_kit.contracts.domain import Domain
from soar_kit.contracts.executor import Executor
from soar_kit.contracts.model import ModelSource, pick_source
from soar_kit.contracts.reward import RewardScheme
from soar_kit.contracts.trainer import StudentTrainer
from soar_kit.errors import PluginError, UnknownNameError

ENTRY_POINT_GROUP = "soar_kit"
LOAD_ENV = "SOARKIT_LOAD_PLUGINS"

#: Modules of the ``soar-kit`` distribution that are plugins like any other (loaded by name so
#: that the core never imports them: dependencies point from plugins to the core).
DEFAULT_PLUGINS: tuple[str, ...] = (
    "soarkit_plugins.rewards",
    "soarkit_plugins.models",
    "soarkit_plugins.mini",
    "soarkit_plugins.backends",
    "soarkit_plugins.trainers",
    "soarkit_plugins.executors",
    "soarkit_plugins.ray_executor",
)

T = TypeVar("T")


@dataclass(frozen=True)
class Kind:
    """One kind of registrable object: its hook and the base class objects must derive from."""

    name: str
    hook: str
    base: type


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("domain", "soarkit_register_domains", Domain),
        Kind("trainer", "soarkit_register_trainers", StudentTrainer),
        Kind("reward", "soarkit_register_reward_schemes", RewardScheme),
        Kind("backend", "soarkit_register_backends", GenerationBackend),
        Kind("model", "soarkit_register_models", ModelSource),
        Kind("executor", "soarkit_register_executors", Executor),
    )
}


@dataclass(frozen=True)
class Origin:
    """Where a plugin came from, for tables and error messages."""

    plugin: str
    distribution: str
    version: str
    entry_point: str | None = None

    def describe(self) -> str:
        where = f"distribution '{self.distribution}'"
        if self.entry_point:
            where += f", entry point '{ENTRY_POINT_GROUP}:{self.entry_point}'"
        return f"plugin '{self.plugin}' ({where})"


@dataclass(frozen=True)
class Registered(Generic[T]):
    kind: str
    name: str
    obj: T
    origin: Origin


class PluginManager:
    """Loads plugins and collects what they register, kind by kind, on first use."""

    def __init__(
        self, *, load_entry_points: bool = True, only: Iterable[str] | None = None
    ) -> None:
        self.pm = pluggy.PluginManager("soar_kit")
        self.pm.add_hookspecs(hookspecs)
        self.errors: list[str] = []
        self._origins: dict[str, Origin] = {}
        self._collected: dict[str, dict[str, Registered[Any]]] = {}
        self._only = None if only is None else {s.strip() for s in only if s.strip()}
        for module_name in DEFAULT_PLUGINS:
            module = importlib.import_module(module_name)
            origin = Origin(module_name.rsplit(".", 1)[-1], "soar-kit", __version__, None)
            self.add_plugin(module, origin)
        if load_entry_points:
            self._load_entry_points()

    # -- loading ---------------------------------------------------------------------------------
    def _wanted(self, ep: EntryPoint) -> bool:
        if self._only is None:
            return True
        dist = ep.dist.name if ep.dist is not None else ""
        return ep.name in self._only or dist in self._only

    def _load_entry_points(self) -> None:
        seen: set[tuple[str, str]] = set()
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist is not None else "?"
            if (dist, ep.name) in seen or not self._wanted(ep):
                continue  # the same distribution can appear twice on sys.path (editable + site)
            seen.add((dist, ep.name))
            origin = Origin(ep.name, dist, ep.dist.version if ep.dist else "?", ep.name)
            try:
                module = ep.load()
            except Exception as exc:
                self.errors.append(f"{origin.describe()} failed to load: {_exc_line(exc)}")
                continue
            self.add_plugin(module, origin)

    def add_plugin(self, plugin: Any, origin: Origin) -> None:
        """Register a plugin object (module or instance); problems become entries in ``errors``."""
        if origin.plugin in self._origins:
            self.errors.append(
                f"{origin.describe()} not loaded: plugin name '{origin.plugin}' is already taken "
                f"by {self._origins[origin.plugin].describe()}"
            )
            return
        unknown = [
            n for n in dir(plugin) if n.startswith("soarkit_") and not hasattr(self.pm.hook, n)
        ]
        if unknown:
            # a misspelt hook would otherwise be silently ignored
            self.errors.append(
                f"{origin.describe()} not loaded: unknown hook(s) {', '.join(unknown)}"
            )
            return
        try:
            self.pm.register(plugin, name=origin.plugin)
        except Exception as exc:  # pluggy validation (wrong hook signature, ...)
            self.errors.append(f"{origin.describe()} not loaded: {_exc_line(exc)}")
            return
        self._origins[origin.plugin] = origin
        self._collected.clear()

    # -- collecting ------------------------------------------------------------------------------
    def collect(self, kind: str) -> dict[str, Registered[Any]]:
        """Everything of ``kind`` that plugins registered, by name, in loading order."""
        if kind in self._collected:
            return self._collected[kind]
        spec = KINDS[kind]
        found: dict[str, Registered[Any]] = {}
        hook = getattr(self.pm.hook, spec.hook)
        # get_hookimpls() is in registration order: built-ins first, so they win name clashes
        for impl in hook.get_hookimpls():
            origin = self._origins[impl.plugin_name]
            staged: list[Registered[Any]] = []

            def register(obj: Any, _origin: Origin = origin, _staged: list = staged) -> None:
                _staged.append(self._check(spec, obj, _origin, found, _staged))

            try:
                impl.function(register=register)
            except _Refused as exc:
                self.errors.append(str(exc))
                continue  # nothing of a plugin that registered something invalid is used
            except Exception as exc:
                self.errors.append(f"{origin.describe()} failed in {spec.hook}: {_exc_line(exc)}")
                continue
            for item in staged:
                found[item.name] = item
        self._collected[kind] = found
        return found

    def _check(
        self,
        spec: Kind,
        obj: Any,
        origin: Origin,
        found: dict[str, Registered[Any]],
        staged: list[Registered[Any]],
    ) -> Registered[Any]:
        if not isinstance(obj, spec.base):
            raise _Refused(
                f"{origin.describe()} registered an invalid {spec.name}: expected an instance of "
                f"{spec.base.__module__}.{spec.base.__qualname__}, got {type(obj).__qualname__}"
            )
        name = getattr(obj, "name", None)
        if not isinstance(name, str) or not name.strip() or any(c.isspace() for c in name):
            raise _Refused(
                f"{origin.describe()} registered a {spec.name} with an invalid name {name!r}"
            )
        clash = found.get(name) or next((s for s in staged if s.name == name), None)
        if clash is not None:
            raise _Refused(
                f"{origin.describe()} registered {spec.name} '{name}', which "
                f"{clash.origin.describe()} already provides"
            )
        return Registered(spec.name, name, obj, origin)

    def get(self, kind: str, name: str) -> Any:
        """The object of ``kind`` called ``name``, or an error listing the available names."""
        items = self.collect(kind)
        if name in items:
            return items[name].obj
        known = ", ".join(sorted(items)) or "none installed"
        raise UnknownNameError(f"unknown {kind} '{name}' (available: {known})")

    def domain(self, name: str) -> Domain:
        return self.get("domain", name)

    def model_source(self, spec: str) -> ModelSource:
        """The registered model source that loads ``spec`` (see
        :func:`~soar_kit.contracts.model.pick_source`): unlike other kinds, a model is asked for
        by a spec (a name, a folder, a hub id), not by the source's own name."""
        return pick_source([r.obj for r in self.collect("model").values()], spec)

    def call_plugin_hook(self, hook: str, **kwargs: Any) -> None:
        """Call a non-registration hook (e.g. commands), isolating failing plugins."""
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            try:
                impl.function(**kwargs)
            except Exception as exc:
                origin = self._origins[impl.plugin_name]
                self.errors.append(f"{origin.describe()} failed in {hook}: {_exc_line(exc)}")


class _Refused(PluginError):
    pass


def _exc_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


_manager: PluginManager | None = None


def get_manager() -> PluginManager:
    """The process-wide plugin manager (the only global state soar-kit keeps)."""
    global _manager
    if _manager is None:
        raw = os.environ.get(LOAD_ENV)
        only = None if raw is None else raw.split(",")
        _manager = PluginManager(only=only)
    return _manager


def reset_manager() -> None:
    """Forget the manager so the next :func:`get_manager` reloads (tests, env changes)."""
    global _manager
    _manager = None
