"""Declarations that plugins contribute through the hooks (frozen dataclasses).

Modelled on conda's plugin types: a hook yields small immutable records that
say *what* a plugin offers (name, one-line summary, the class or function that
does the work, the pip extra that installs its runtime); the core does the
wiring. Names are normalised to lower case and validated here, once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-/]*$")


@dataclass(frozen=True)
class PluginSpec:
    """Base of every declaration: a unique ``name`` and a one-line ``summary``.

    ``requires`` lists importable modules the plugin needs at run time (for
    example ``("onnxruntime",)``); when one is missing the plugin is listed as
    unavailable and ``extra`` (``pip install 'hwnas[EXTRA]'``) is the fix.
    """

    name: str
    summary: str
    factory: Callable[..., Any]
    extra: str | None = None
    requires: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        name = self.name.strip().lower()
        if not _NAME.match(name):
            raise ValueError(
                f"invalid plugin name {self.name!r}: use lower-case letters, digits and ._-/"
            )
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "summary", " ".join(self.summary.split()))
        object.__setattr__(self, "requires", tuple(self.requires))
        if not callable(self.factory):
            raise TypeError(f"plugin {name!r}: factory must be callable")

    kind = "plugin"

    @property
    def key(self) -> str:
        """The name this declaration is registered under (unique per kind)."""
        return self.name


@dataclass(frozen=True)
class TargetSpec(PluginSpec):
    """A target: a device plus the toolchain that compiles and times workloads.

    ``factory(**options)`` returns a :class:`hwnas.target.Target`, or, with
    ``recorded=True``, a :class:`hwnas.latency.LatencyModel` that answers whole
    architectures of search space ``space`` from published measurements (no
    compiler, no device). ``space_options`` are the options of ``space`` that
    keep it to what the model answers (``ofa/note10``: the five resolutions of
    its lookup table); commands that search ``space`` on this target use them
    unless the user overrides them.
    """

    recorded: bool = False
    space: str | None = None
    space_options: dict[str, Any] = field(default_factory=dict)

    kind = "target"


@dataclass(frozen=True)
class StrategySpec(PluginSpec):
    """A search strategy; ``factory(**options)`` returns a strategy object.

    ``space``/``space_options`` and ``evals`` are what ``hwnas search`` uses
    when the user gives no ``--space``/``--evals`` (None: the recorded
    target's space, 100 evaluations). ``arena_seeds`` is how many seeds the
    ground-truth arena runs by default (the protocol gives random search,
    whose spread is largest, 10; every other strategy 5).
    """

    kind = "strategy"
    space: str | None = None
    space_options: dict[str, Any] = field(default_factory=dict)
    evals: int | None = None
    arena_seeds: int = 5


@dataclass(frozen=True)
class SpaceSpec(PluginSpec):
    """A search space; ``factory(**options)`` returns a :class:`hwnas.space.SearchSpace`."""

    kind = "space"


@dataclass(frozen=True)
class AccuracySourceSpec(PluginSpec):
    """An accuracy source for the architectures of search space ``space``.

    ``factory(**options)`` returns a :class:`hwnas.accuracy.AccuracySource`.
    When a command needs an accuracy for ``space`` and the user names none,
    the first declared source of that space is used.
    """

    kind = "accuracy"
    space: str = ""


@dataclass(frozen=True)
class CommandSpec(PluginSpec):
    """A command (or a group of commands) a plugin adds to the ``hwnas`` CLI.

    ``factory()`` takes no argument and returns either a :class:`typer.Typer`
    (mounted as the group ``name``) or a function (mounted as the command
    ``name``, its parameters declared the typer way). ``parent`` names an
    existing group to mount under (``"space"`` gives ``hwnas space NAME``);
    ``None`` mounts at the top level. The factory runs when the CLI starts, so
    keep heavy imports inside the command bodies.
    """

    kind = "command"
    parent: str | None = None

    @property
    def key(self) -> str:
        """``"PARENT NAME"`` for a subcommand, else the name."""
        return f"{self.parent} {self.name}" if self.parent else self.name


SPEC_KINDS: dict[str, type[PluginSpec]] = {
    "target": TargetSpec,
    "strategy": StrategySpec,
    "space": SpaceSpec,
    "accuracy": AccuracySourceSpec,
    "command": CommandSpec,
}
