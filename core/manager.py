"""The plugin manager: loads built-in and third-party plugins the same way.

Built-ins are the modules in :data:`DEFAULT_PLUGINS`; third-party plugins are
entry points in the group ``hwnas``, plus any module named in
``HWNAS_PLUGINS`` (comma-separated; handy for a plugin under development).
All go through the same registration, so a built-in is never special. A
plugin that fails to import, or whose hook raises, is kept in the registry as
*unavailable* with the reason; it never takes the CLI down. Set
``HWNAS_NO_EXTERNAL_PLUGINS=1`` to load built-ins only.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import inspect
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import pluggy

from hwnas import hookspecs
from hwnas.errors import (
    DuplicatePluginError,
    HwnasError,
    PluginUnavailableError,
    UnknownPluginError,
)
from hwnas.types import SPEC_KINDS, PluginSpec

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "hwnas"
DISABLE_EXTERNAL_ENV = "HWNAS_NO_EXTERNAL_PLUGINS"
EXTRA_PLUGINS_ENV = "HWNAS_PLUGINS"
DEFAULT_PLUGINS: tuple[str, ...] = (
    "hwnas.spaces.hurricane",
    "hwnas.spaces.nb201",
    "hwnas.spaces.fbnet",
    "hwnas.spaces.ofa",
    "hwnas.targets.onnx_runtime",
    "hwnas.targets.openvino_runtime",
    "hwnas.targets.torch_eager",
    "hwnas.targets.tvm",
    "hwnas.targets.recorded.plugin",
    "hwnas.plugins.random_search",
    "hwnas.plugins.evolution",
    "hwnas.plugins.nsga2",
    "hwnas.plugins.surrogate",
    "hwnas.plugins.proxy.plugin",
    "hwnas.plugins.hurricane.plugin",
    "hwnas.plugins.pnag.plugin",
)
_LABELS = {"accuracy": "accuracy source"}  # kind -> how messages name it
_DISCOVERY_HOOKS = {
    "target": "hwnas_targets",
    "strategy": "hwnas_strategies",
    "space": "hwnas_search_spaces",
    "accuracy": "hwnas_accuracy_sources",
    "command": "hwnas_commands",
}


@dataclass(frozen=True)
class PluginInfo:
    """One row of the registry: a declaration plus where it came from and whether it runs here."""

    kind: str
    name: str
    summary: str
    package: str
    available: bool
    reason: str | None = None
    spec: PluginSpec | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly view (without the factory)."""
        return {
            "kind": self.kind,
            "name": self.name,
            "summary": self.summary,
            "package": self.package,
            "available": self.available,
            "reason": self.reason,
            "extra": self.spec.extra if self.spec else None,
            "recorded": bool(getattr(self.spec, "recorded", False)),
        }


def missing_requirement(spec: PluginSpec, package: str = "hwnas") -> str | None:
    """Why ``spec`` cannot run here (a required module is not installed), or ``None``.

    The fix names the extra of the distribution that declared the plugin.
    """
    for module in spec.requires:
        if importlib.util.find_spec(module) is None:
            fix = (
                f"pip install '{package}[{spec.extra}]'" if spec.extra else f"pip install {module}"
            )
            return f"needs Python module {module!r}: {fix}"
    return None


class PluginManager(pluggy.PluginManager):
    """pluggy manager for project ``hwnas`` with a registry of declared plugins."""

    def __init__(
        self,
        default_plugins: Iterable[str] = DEFAULT_PLUGINS,
        load_external: bool | None = None,
    ) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self._package: dict[str, str] = {}
        self.broken: list[PluginInfo] = []
        for module in default_plugins:
            self.register_module(module, package="hwnas")
        if load_external is None:
            load_external = os.environ.get(DISABLE_EXTERNAL_ENV, "") in ("", "0")
        if load_external:
            self.load_entry_points()
            for module in filter(None, os.environ.get(EXTRA_PLUGINS_ENV, "").split(",")):
                self.register_module(module.strip(), package=module.strip())
        self._registry: dict[tuple[str, str], PluginInfo] | None = None

    # -- loading -----------------------------------------------------------
    def register_module(self, module_name: str, package: str, name: str | None = None) -> None:
        """Import ``module_name`` and register it; on failure record it as broken."""
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # a broken plugin must not take hwnas down
            self._record_broken(name or module_name, package, f"import failed: {exc!r}")
            return
        self.register_object(module, package, name or module_name)

    def register_object(self, plugin: object, package: str, name: str) -> None:
        """Register an already imported plugin object (module or instance)."""
        if self.is_registered(plugin) or self.has_plugin(name):
            return
        self.register(plugin, name=name)
        self._package[name] = package
        self._registry = None

    def load_entry_points(self) -> None:
        """Load every entry point of the group ``hwnas``."""
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            package = ep.dist.name if ep.dist else ep.value
            try:
                plugin = ep.load()
            except Exception as exc:
                self._record_broken(ep.name, package, f"import failed: {exc!r}")
                continue
            self.register_object(plugin, package, f"{package}:{ep.name}")

    def _record_broken(self, name: str, package: str, reason: str) -> None:
        log.info("plugin %s (%s) is unavailable: %s", name, package, reason)
        self.broken.append(PluginInfo("plugin", name, "failed to load", package, False, reason))

    # -- registry ----------------------------------------------------------
    def registry(self) -> dict[tuple[str, str], PluginInfo]:
        """All declared plugins keyed by ``(kind, name)``; built once, then cached."""
        if self._registry is None:
            self._registry = self._collect()
        return self._registry

    def _collect(self) -> dict[tuple[str, str], PluginInfo]:
        found: dict[tuple[str, str], PluginInfo] = {}
        for kind, hook_name in _DISCOVERY_HOOKS.items():
            for impl in getattr(self.hook, hook_name).get_hookimpls():
                package = self._package.get(impl.plugin_name, impl.plugin_name)
                try:
                    specs = list(impl.function() or ())
                    for spec in specs:
                        if not isinstance(spec, SPEC_KINDS[kind]):
                            raise TypeError(f"yielded {type(spec).__name__} from a {kind} hook")
                except Exception as exc:
                    self._record_broken(impl.plugin_name, package, f"{hook_name} failed: {exc!r}")
                    continue
                for spec in specs:
                    self._add(found, kind, spec, package)
        return found

    @staticmethod
    def _add(found: dict, kind: str, spec: PluginSpec, package: str) -> None:
        key = (kind, spec.key)
        if key in found:
            raise DuplicatePluginError(
                f"{kind} {spec.key!r} is declared by both {found[key].package} and {package}",
                "uninstall one of them",
            )
        reason = missing_requirement(spec, package)
        found[key] = PluginInfo(kind, spec.key, spec.summary, package, reason is None, reason, spec)

    def infos(self, kind: str | None = None) -> list[PluginInfo]:
        """Registry rows (optionally of one kind) followed by broken plugins."""
        rows = sorted(self.registry().values(), key=lambda info: (info.kind, info.name))
        rows = [info for info in rows if kind in (None, info.kind)]
        return rows + (self.broken if kind is None else [])

    def get(self, kind: str, name: str) -> PluginInfo:
        """The registry row for ``name``; :class:`UnknownPluginError` lists the valid names."""
        info = self.registry().get((kind, name.strip().lower()))
        if info is None:
            names = ", ".join(sorted(n for k, n in self.registry() if k == kind)) or "none"
            label = _LABELS.get(kind, kind)
            raise UnknownPluginError(
                f"unknown {label} {name!r}", f"choose one of: {names}; see 'hwnas plugins'"
            )
        return info

    def create(self, kind: str, name: str, *, check_available: bool = True, **options: Any) -> Any:
        """Instantiate plugin ``name`` of ``kind`` with ``options``.

        The instance's ``name`` is set to the registered name. With
        ``check_available``, an object with an ``available()`` method (a
        target) that reports a reason raises :class:`PluginUnavailableError`.
        """
        info = self.get(kind, name)
        if not info.available:
            raise PluginUnavailableError(f"{kind} {info.name!r} is unavailable: {info.reason}")
        try:
            inspect.signature(info.spec.factory).bind(**options)
        except TypeError as exc:
            raise HwnasError(
                f"bad options for {kind} {info.name!r}: {exc}",
                f"valid options: {_parameters(info.spec.factory)}",
            ) from exc
        instance = info.spec.factory(**options)
        if kind != "accuracy":  # an accuracy source names its own variant (nb201/c100)
            with contextlib.suppress(AttributeError):
                instance.name = info.name
        reason = (
            instance.available() if check_available and hasattr(instance, "available") else None
        )
        if reason:
            raise PluginUnavailableError(f"{kind} {info.name!r} is unavailable: {reason}")
        return instance


def accepted_options(factory) -> tuple[str, ...] | None:
    """The keyword options a plugin factory takes, in order; ``None``: any (or cannot tell)."""
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return tuple(p.name for p in params if p.name != "self")


def _parameters(factory) -> str:
    """The keyword parameters ``factory`` accepts, for error messages."""
    names = accepted_options(factory)
    if names is None:
        return "see the plugin's documentation"
    return ", ".join(names) or "none"


@functools.lru_cache(maxsize=1)
def get_plugin_manager() -> PluginManager:
    """The process-wide plugin manager (built-ins plus installed entry points)."""
    return PluginManager()
