"""Accuracy sources: the accuracy a search may see, and the one results are reported with."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from hwnas.errors import HwnasError
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

    def report_accuracies(self, archs: Sequence[Architecture]) -> np.ndarray:
        """Report accuracies of many architectures at once."""
        return np.array([self.report_accuracy(a) for a in archs], dtype=float)

    @property
    def search_label(self) -> str:
        """What the search-visible number is (e.g. a table column); by default the name."""
        return self.name

    @property
    def report_label(self) -> str:
        """What the reported number is; by default the name."""
        return self.name


# ---------------------------------------------------------------------------
# the sources plugins declare (hook ``hwnas_accuracy_sources``)
# ---------------------------------------------------------------------------


def accuracy_sources(space: str | None = None, plugin_manager=None) -> dict[str, str]:
    """Declared sources (name -> summary), optionally only those of ``space``."""
    from hwnas.manager import get_plugin_manager

    pm = plugin_manager or get_plugin_manager()
    return {
        info.name: info.summary
        for info in pm.infos("accuracy")
        if space is None or info.spec.space == space
    }


def create_accuracy(name: str, plugin_manager=None, **options: Any) -> AccuracySource:
    """Instantiate accuracy source ``name`` (one-line error listing the valid names)."""
    from hwnas.manager import get_plugin_manager

    pm = plugin_manager or get_plugin_manager()
    return pm.create("accuracy", name, **options)


def default_accuracy(space: str, plugin_manager=None, **options: Any) -> AccuracySource:
    """The first declared source of ``space``, built with the options it accepts."""
    from hwnas.manager import accepted_options, get_plugin_manager

    pm = plugin_manager or get_plugin_manager()
    for info in pm.infos("accuracy"):
        if info.spec.space == space:
            accepted = accepted_options(info.spec.factory)
            kept = {k: v for k, v in options.items() if accepted is None or k in accepted}
            return pm.create("accuracy", info.name, **kept)
    spaces = sorted({info.spec.space for info in pm.infos("accuracy")})
    raise HwnasError(
        f"no accuracy source for space {space!r}",
        f"spaces with one: {', '.join(spaces) or 'none'}; see 'hwnas plugins --kind accuracy'",
    )
