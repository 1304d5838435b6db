"""The generator file (``generator.pt``): save, load and validate a trained PNAG model.

A ``torch.save`` dict read back with ``torch.load(weights_only=True)`` (no
arbitrary pickles): tensors, numbers and strings only; nested descriptions
are JSON strings. It records

- ``space``, ``space_options`` and every position's choices (so a file is
  never applied to a different space, or a space built with other options);
- ``target`` (the latency model's name, e.g. ``nb201/raspi4``) and its
  ``fingerprint``; ``accuracy`` (the accuracy source's name and options);
- ``budgets_ms``: the K training budgets (their min and max are the range
  any budget must lie in);
- the generator's and the evaluator's configuration and weights;
- ``summary`` (evaluations, training time, refresh log) and, optionally, the
  complete training state for resuming (:meth:`hwnas.plugins.pnag.train.Trainer.state_dict`).

Every problem (missing file, unreadable or foreign file, other space or
target, budget out of range) is a one-line :class:`~hwnas.errors.HwnasError`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwnas.errors import HwnasError
from hwnas.files import atomic_torch_save, load_torch_file
from hwnas.plugins.pnag.encoding import Encoder
from hwnas.plugins.pnag.evaluator import Evaluator
from hwnas.plugins.pnag.generator import Generator
from hwnas.space import SearchSpace

FORMAT = "hwnas-pnag-generator"
VERSION = 1
_TRAIN_FIX = "train one with: hwnas search --strategy pnag --space SPACE --target TARGET --out DIR"
# fingerprint keys that say where data lives, not what the numbers are
_VOLATILE = {"data_dir"}


def _positions(space: SearchSpace) -> list[list[Any]]:
    return [list(p.choices) for p in space.positions]


def _reason(exc: Exception) -> str:
    """The first sentence of an exception's message, for a one-line error."""
    text = (str(exc).strip().splitlines() or [""])[0].split(". ")[0]
    return f"{type(exc).__name__}: {text[:100]}" if text else type(exc).__name__


def comparable_fingerprint(fingerprint: dict[str, Any]) -> dict[str, Any]:
    """A latency model's fingerprint without the keys that only say where files live."""
    return {k: v for k, v in fingerprint.items() if k not in _VOLATILE and v is not None}


@dataclass
class GeneratorFile:
    """A trained generator with everything needed to use it safely."""

    space: str
    space_options: dict[str, Any]
    positions: list[list[Any]]
    target: str
    target_fingerprint: dict[str, Any]
    accuracy: dict[str, Any]
    generator: Generator
    evaluator: Evaluator
    summary: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] | None = None
    path: Path | None = None

    @property
    def budgets_ms(self) -> list[float]:
        """The K training budgets (ms)."""
        return self.generator.budget.budgets.tolist()

    @property
    def budget_range(self) -> tuple[float, float]:
        """Smallest and largest training budget: generation answers budgets in between."""
        budgets = self.budgets_ms
        return budgets[0], budgets[-1]

    def check_budget(self, budget_ms: float) -> float:
        """``budget_ms`` if it lies in the trained range, else a one-line error naming the range."""
        lo, hi = self.budget_range
        if not (lo <= float(budget_ms) <= hi):
            raise HwnasError(
                f"budget {float(budget_ms):g} ms is outside the generator's trained range "
                f"{lo:.4g}-{hi:.4g} ms ({self.target})",
                "choose a budget in that range, or train with -s budget_range=LO,HI",
            )
        return float(budget_ms)

    def check_space(self, space: SearchSpace) -> None:
        """The file must belong to ``space`` (name and every position's choices)."""
        if space.name != self.space:
            raise HwnasError(
                f"generator file {self.path} was trained for space {self.space!r}, "
                f"not {space.name!r}",
                f"use --space {self.space} or a generator trained on {space.name}",
            )
        if _positions(space) != self.positions:
            raise HwnasError(
                f"generator file {self.path} was trained on a {self.space} space with other "
                f"choices (options {self.space_options})",
                "build the space with the options the file records",
            )

    def check_target(self, name: str, fingerprint: dict[str, Any] | None = None) -> None:
        """The file must belong to latency model ``name`` (and its fingerprint, when given)."""
        if name != self.target:
            raise HwnasError(
                f"generator file {self.path} was trained for target {self.target!r}, not {name!r}",
                f"use --target {self.target} or train a generator for {name}",
            )
        if fingerprint is not None:
            mine = comparable_fingerprint(self.target_fingerprint)
            theirs = comparable_fingerprint(fingerprint)
            shared = set(mine) & set(theirs)
            differ = sorted(k for k in shared if mine[k] != theirs[k])
            if differ:
                raise HwnasError(
                    f"target {name} has changed since the generator was trained "
                    f"(fingerprint differs in {', '.join(differ)})",
                    "train the generator again for this target",
                )

    def encoder(self, space: SearchSpace) -> Encoder:
        """The token/feature encoder for ``space`` (checked to be the file's space)."""
        self.check_space(space)
        return Encoder(space)


def save_generator(
    path: str | os.PathLike,
    space: SearchSpace,
    latency,
    accuracy,
    generator: Generator,
    evaluator: Evaluator,
    summary: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
) -> Path:
    """Write the generator file atomically (a temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "space": space.name,
        "space_options": json.dumps(getattr(space, "options", {}) or {}, default=str),
        "positions": json.dumps(_positions(space)),
        "target": latency.name,
        "target_fingerprint": json.dumps(latency.fingerprint(), default=str),
        "accuracy": json.dumps(accuracy_description(accuracy)),
        "budgets_ms": generator.budget.budgets.tolist(),
        "generator": {"config": json.dumps(generator.config()), "state": generator.state_dict()},
        "evaluator": {"config": json.dumps(evaluator.config()), "state": evaluator.state_dict()},
        "summary": json.dumps(summary or {}, default=str),
        "training": training,
    }
    return atomic_torch_save(payload, path)


def accuracy_description(accuracy) -> dict[str, Any]:
    """Name and rebuild options of an accuracy source."""
    out: dict[str, Any] = {"name": accuracy.name}
    if getattr(accuracy, "dataset", None) is not None:
        out["dataset"] = accuracy.dataset
    return out


def load_generator(path: str | os.PathLike) -> GeneratorFile:
    """Read and validate a generator file (one-line errors for every kind of bad input)."""
    path = Path(path)
    if not path.is_file():
        raise HwnasError(f"generator file {path} not found", _TRAIN_FIX)
    payload = load_torch_file(path, "PNAG generator file", _TRAIN_FIX)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise HwnasError(f"{path} is not a PNAG generator file (no {FORMAT!r} header)", _TRAIN_FIX)
    if payload.get("version") != VERSION:
        raise HwnasError(
            f"{path} is a PNAG generator file of version {payload.get('version')}, "
            f"this hwnas reads version {VERSION}",
            _TRAIN_FIX,
        )
    try:
        generator = Generator.from_config(json.loads(payload["generator"]["config"]))
        generator.load_state_dict(payload["generator"]["state"])
        evaluator = Evaluator.from_config(json.loads(payload["evaluator"]["config"]))
        evaluator.load_state_dict(payload["evaluator"]["state"])
        model = GeneratorFile(
            space=str(payload["space"]),
            space_options=json.loads(payload["space_options"]),
            positions=json.loads(payload["positions"]),
            target=str(payload["target"]),
            target_fingerprint=json.loads(payload["target_fingerprint"]),
            accuracy=json.loads(payload["accuracy"]),
            generator=generator,
            evaluator=evaluator,
            summary=json.loads(payload["summary"]),
            training=payload.get("training"),
            path=path,
        )
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise HwnasError(
            f"{path} is a damaged PNAG generator file ({_reason(exc)})",
            _TRAIN_FIX,
        ) from None
    generator.eval()
    evaluator.eval()
    return model
