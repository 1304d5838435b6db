"""The file format of a hardware-specific HURRICANE space (what ``hwnas space generate`` writes).

A generated space keeps, per layer, the ops one target runs well, with the
scores that chose them. The space plugin loads it (``-o generated=FILE``);
the generation itself (measuring the target, scoring) belongs to the
``hurricane`` strategy plugin.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hwnas.errors import HwnasError
from hwnas.spaces.hurricane.space import HurricaneSpace

FORMAT = "hwnas-generated-space"


@dataclass(frozen=True)
class OpScore:
    """One (layer, op) candidate: its cost, latency on the target (with provenance) and score."""

    op: str
    ms: float
    source: str
    flops: int
    params: int
    score: float


@dataclass
class GeneratedSpace:
    """Per-layer kept ops of a hardware-specific space, with the scores that chose them."""

    space_options: dict[str, Any]
    ops: list[list[str]]
    exploring: list[str | None]
    scores: list[list[OpScore]]
    target: str
    fingerprint: str
    alpha: float
    p: int
    explore_layers: int
    notes: dict[str, Any] = field(default_factory=dict)

    def space(self) -> HurricaneSpace:
        """The restricted :class:`HurricaneSpace` (kept ops + exploring op per layer)."""
        return HurricaneSpace(**self.space_options, ops=self.ops)

    def initial_winner(self) -> list[str]:
        """a_win0: the top-scored op of every layer."""
        return [max(layer, key=lambda s: s.score).op for layer in self.scores]

    @property
    def size(self) -> int:
        """Number of architectures in the generated space."""
        n = 1
        for layer in self.ops:
            n *= len(layer)
        return n

    def to_dict(self) -> dict[str, Any]:
        """JSON form (what :meth:`save` writes)."""
        return {
            "format": FORMAT,
            "version": 1,
            "space": "hurricane",
            "space_options": self.space_options,
            "target": self.target,
            "fingerprint": self.fingerprint,
            "alpha": self.alpha,
            "p": self.p,
            "explore_layers": self.explore_layers,
            "size": self.size,
            "notes": self.notes,
            "layers": [
                {
                    "index": i,
                    "ops": ops,
                    "exploring": explore,
                    "scores": [asdict(s) for s in scores],
                }
                for i, (ops, explore, scores) in enumerate(
                    zip(self.ops, self.exploring, self.scores, strict=True)
                )
            ],
        }

    def save(self, path: str | Path) -> Path:
        """Write the JSON file (parent folders created)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        from hwnas.files import jsonable

        text = json.dumps(jsonable(self.to_dict()), indent=1, allow_nan=False)
        path.write_text(text + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, data: dict[str, Any], origin: str = "generated space") -> GeneratedSpace:
        """Rebuild from :meth:`to_dict` output (one-line error when malformed)."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise HwnasError(
                f"{origin} is not a generated hurricane space",
                "create one with 'hwnas space generate --target T --out FILE'",
            )
        try:
            layers = data["layers"]
            result = cls(
                space_options=dict(data["space_options"]),
                ops=[list(layer["ops"]) for layer in layers],
                exploring=[layer.get("exploring") for layer in layers],
                scores=[[OpScore(**s) for s in layer["scores"]] for layer in layers],
                target=str(data["target"]),
                fingerprint=str(data["fingerprint"]),
                alpha=float(data["alpha"]),
                p=int(data["p"]),
                explore_layers=int(data["explore_layers"]),
                notes=dict(data.get("notes") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise HwnasError(
                f"{origin} is malformed ({type(exc).__name__}: {exc})",
                "regenerate it with 'hwnas space generate'",
            ) from None
        result.space()  # validates the op lists against the skeleton
        return result

    @classmethod
    def load(cls, path: str | Path) -> GeneratedSpace:
        """Read a file written by :meth:`save`."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise HwnasError(
                f"generated space {path} does not exist", "run 'hwnas space generate' first"
            ) from None
        except (OSError, json.JSONDecodeError) as exc:
            raise HwnasError(
                f"cannot read generated space {path}: {exc}", "regenerate it"
            ) from None
        return cls.from_dict(data, str(path))
