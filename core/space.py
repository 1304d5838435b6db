"""Search spaces and architectures.

A search space is a sequence of *positions* (a layer, an edge, a stage depth,
the input resolution), each with a finite tuple of choices. An
:class:`Architecture` is one choice per position: immutable, hashable, and
round-trips through the space's readable string and through JSON. Strategies
only need this view, so every strategy works on every space.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hwnas.errors import ArchitectureError, HwnasError

Choice = str | int


@dataclass(frozen=True)
class Position:
    """One searchable decision: a ``name`` and its allowed ``choices`` (str or int)."""

    name: str
    choices: tuple[Choice, ...]


@dataclass(frozen=True)
class Architecture:
    """One choice per position of space ``space`` (immutable, hashable)."""

    space: str
    choices: tuple[Choice, ...]

    def __len__(self) -> int:
        return len(self.choices)


class SearchSpace:
    """Base class of search spaces: subclasses set ``name`` and ``positions``.

    Override :meth:`parse` / :meth:`format` for a custom string syntax (the
    default is the choices joined by commas), :meth:`encode` for a custom
    feature vector, and :meth:`build_model` / :meth:`cost` when the space can
    build a network. Instances are immutable after construction and safe to
    share between threads.
    """

    name: str = "space"
    separator = ","

    def __init__(self, positions: Sequence[Position]) -> None:
        self.positions: tuple[Position, ...] = tuple(positions)
        self._index = [{c: i for i, c in enumerate(p.choices)} for p in self.positions]

    # -- validation and syntax ---------------------------------------------
    def architecture(self, choices: Sequence[Choice]) -> Architecture:
        """Validate ``choices`` (one per position) and return the architecture."""
        choices = tuple(choices)
        if len(choices) != len(self.positions):
            raise ArchitectureError(
                f"{self.name} architecture needs {len(self.positions)} choices, got {len(choices)}",
                "give one choice per position: "
                f"{', '.join(p.name for p in self.positions[:4])}, ...",
            )
        for i, (pos, choice) in enumerate(zip(self.positions, choices, strict=True)):
            if choice not in self._index[i]:
                raise ArchitectureError(
                    f"{self.name} position {i} ({pos.name}): {choice!r} is not a valid choice",
                    f"valid: {', '.join(map(str, pos.choices))}",
                )
        return Architecture(self.name, choices)

    def parse(self, text: str) -> Architecture:
        """Parse the readable string form (inverse of :meth:`format`)."""
        parts = [part.strip() for part in text.strip().split(self.separator)]
        return self.architecture([self._coerce(i, part) for i, part in enumerate(parts)])

    def _coerce(self, i: int, part: str) -> Choice:
        """Turn a string token into the position's choice type (int choices stay ints)."""
        if i < len(self.positions) and isinstance(self.positions[i].choices[0], int):
            try:
                return int(part)
            except ValueError:
                return part
        return part

    def format(self, arch: Architecture) -> str:
        """The readable string of ``arch``."""
        self._check_space(arch)
        return self.separator.join(str(c) for c in arch.choices)

    def _check_space(self, arch: Architecture) -> None:
        if arch.space != self.name:
            raise ArchitectureError(
                f"architecture belongs to space {arch.space!r}, not {self.name!r}",
                f"parse it with space {arch.space!r}",
            )

    # -- JSON ----------------------------------------------------------------
    def to_dict(self, arch: Architecture) -> dict[str, Any]:
        """JSON-friendly form: space, readable string and the choice list."""
        return {"space": self.name, "arch": self.format(arch), "choices": list(arch.choices)}

    def from_dict(self, data: dict[str, Any]) -> Architecture:
        """Inverse of :meth:`to_dict` (``choices`` wins over ``arch`` when both exist)."""
        if not isinstance(data, dict) or ("choices" not in data and "arch" not in data):
            raise ArchitectureError(
                "architecture JSON needs a 'choices' list or an 'arch' string",
                "write it with 'hwnas arch' or SearchSpace.to_dict",
            )
        if data.get("space", self.name) != self.name:
            raise ArchitectureError(
                f"architecture JSON is for space {data['space']!r}, not {self.name!r}"
            )
        if "choices" in data:
            return self.architecture(data["choices"])
        return self.parse(data["arch"])

    # -- sampling and encoding -----------------------------------------------
    @property
    def size(self) -> int:
        """Number of distinct choice tuples."""
        return math.prod(len(p.choices) for p in self.positions)

    def sample(self, rng: np.random.Generator) -> Architecture:
        """A uniformly random architecture."""
        return Architecture(
            self.name, tuple(p.choices[rng.integers(len(p.choices))] for p in self.positions)
        )

    def indices(self, arch: Architecture) -> np.ndarray:
        """The choice index at every position (int array, one per position)."""
        self._check_space(arch)
        return np.array([self._index[i][c] for i, c in enumerate(arch.choices)], dtype=np.int64)

    def encode(self, arch: Architecture) -> np.ndarray:
        """Feature vector: one-hot of the choice at every position, concatenated."""
        widths = [len(p.choices) for p in self.positions]
        offsets = np.cumsum([0, *widths[:-1]])
        vector = np.zeros(sum(widths), dtype=np.float32)
        vector[offsets + self.indices(arch)] = 1.0
        return vector

    # -- optional capabilities -------------------------------------------------
    def build_model(self, arch: Architecture):
        """A ``torch.nn.Module`` for ``arch``; spaces without a network builder say so."""
        raise HwnasError(
            f"space {self.name!r} cannot build a torch model",
            "use a space with a network builder (see 'hwnas plugins --kind space')",
        )

    def arch_workload(self, arch: Architecture, batch: int = 1):
        """The :class:`~hwnas.workload.Workload` of a whole network (needs a network builder)."""
        raise HwnasError(
            f"space {self.name!r} cannot build a torch model",
            "use a space with a network builder (see 'hwnas plugins --kind space')",
        )

    def cost(self, arch: Architecture):
        """Analytic FLOPs and params of ``arch`` (a ``Cost``), or ``None`` when unknown."""
        return None

    def describe(self) -> dict[str, Any]:
        """What ``hwnas space show`` prints: positions and their choices."""
        return {
            "space": self.name,
            "size": self.size,
            "positions": [{"name": p.name, "choices": list(p.choices)} for p in self.positions],
        }


class LayeredSpace(SearchSpace):
    """A space whose positions are the layers of one network, each op a measurable workload.

    What per-layer latency tables, kernel predictors and space generation
    need: :meth:`layer_workload` for every (layer, op), the fixed parts
    (stem, head) from :meth:`fixed_workloads`, and, for a space restricted to
    some ops per layer (``restricted``), the :meth:`full` space it came from.
    """

    restricted: bool = False

    def layer_workload(self, index: int, op: str, batch: int = 1):
        """The :class:`~hwnas.workload.Workload` of ``op`` at layer ``index``."""
        raise NotImplementedError

    def fixed_workloads(self, batch: int = 1) -> dict:
        """Workloads of the parts every architecture shares (name -> workload); none by default."""
        return {}

    def full(self) -> LayeredSpace:
        """The unrestricted space with the same shapes (this one, unless restricted)."""
        return self
