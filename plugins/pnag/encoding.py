"""Between generator tokens, architectures and evaluator features, for any search space.

Tokens are choice indices per position (``space.indices``); features are
``space.encode`` (one-hot by default, OFA's 128-float predictor encoding for
``ofa``) followed, when the space offers ``effective_op_counts`` (NB201: ops
on edges that lie on an input-output path, a strong latency and accuracy
feature), by those counts. Features are cached per architecture because the
REINFORCE loop scores the same architectures many times.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from hwnas.space import Architecture, SearchSpace


class Encoder:
    """Token <-> architecture conversion and cached feature vectors of one space."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.vocab = [len(p.choices) for p in space.positions]
        self._features: dict[tuple[int, ...], np.ndarray] = {}
        self._counts = getattr(space, "effective_op_counts", None)
        probe = self.encode(Architecture(space.name, tuple(p.choices[0] for p in space.positions)))
        self.width = int(probe.size)

    def encode(self, arch: Architecture) -> np.ndarray:
        """The feature vector of one architecture (float32)."""
        parts = [np.asarray(self.space.encode(arch), dtype=np.float32).reshape(-1)]
        if self._counts is not None:
            parts.append(np.asarray(self._counts(arch), dtype=np.float32).reshape(-1))
        return np.concatenate(parts)

    def arch(self, tokens: Sequence[int]) -> Architecture:
        """The architecture of one token row."""
        return Architecture(
            self.space.name,
            tuple(p.choices[int(t)] for p, t in zip(self.space.positions, tokens, strict=True)),
        )

    def tokens(self, arch: Architecture) -> tuple[int, ...]:
        """Choice indices of ``arch``."""
        return tuple(int(i) for i in self.space.indices(arch))

    def features(self, rows: torch.Tensor | np.ndarray | Sequence[Sequence[int]]) -> torch.Tensor:
        """``(n, width)`` float32 features of token rows (cached per architecture)."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1, len(self.vocab))
        out = np.empty((len(rows), self.width), dtype=np.float32)
        for r, row in enumerate(rows):
            key = tuple(row.tolist())
            vec = self._features.get(key)
            if vec is None:
                vec = self.encode(self.arch(key))
                self._features[key] = vec
            out[r] = vec
        return torch.from_numpy(out)
