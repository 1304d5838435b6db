"""Accuracy sources: the accuracy a search may see, and the one results are reported with."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from hwnas.space import Architecture


class AccuracySource(ABC):
    """Top-1 accuracy (percent) of architectures of one search space.

    ``accuracy(arch)`` is what a search is allowed to see (for NB201 the
    CIFAR-10 validation accuracy); ``report_accuracy(arch)`` is what results
    are judged with (test accuracy). Sources that have only one number
    (a predictor, a trained supernet) return it from both. Deterministic and
    thread-safe to read.
    """

    name: str = "accuracy"
    space: str = ""

    @abstractmethod
    def accuracy(self, arch: Architecture) -> float:
        """The accuracy the search sees (percent)."""

    def report_accuracy(self, arch: Architecture) -> float:
        """The accuracy results are reported with (percent); by default the same."""
        return self.accuracy(arch)

    def accuracies(self, archs: Sequence[Architecture]) -> np.ndarray:
        """Search-visible accuracies of many architectures at once."""
        return np.array([self.accuracy(a) for a in archs], dtype=float)
