"""Accuracy sources of the recorded spaces: the NAS-Bench-201 table and OFA's predictor.

- ``nb201``: the NAS-Bench-201 table. ``dataset="c10"``: a search sees
  ``c10valid_valid_acc`` (CIFAR-10 validation split, mean over seeds) and
  results are reported with ``c10_test_acc``. The table has no validation
  column at 200 epochs for CIFAR-100 and ImageNet16-120, so for ``c100`` and
  ``in16`` both numbers are the test accuracy (``c100_test_acc`` /
  ``in16_test_acc``): an oracle setting, say so when reporting. Any column can
  be chosen with ``search_column`` / ``report_column`` (e.g. the 12-epoch
  ``ep12_cifar100_val`` as a low-fidelity search signal).
- ``ofa-predictor``: OFA's released ImageNet top-1 predictor (MLP
  128-400-400-400-1, ReLU), run in numpy from ``acc_predictor_mbv3.npz``
  loaded without pickles; percent = 100 x output. The same number is seen and
  reported.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from hwnas.accuracy import AccuracySource
from hwnas.errors import ArchitectureError, HwnasError
from hwnas.space import Architecture
from hwnas.targets.recorded import tables as data

NB201_COLUMNS = {
    "c10": ("c10valid_valid_acc", "c10_test_acc"),
    "c100": ("c100_test_acc", "c100_test_acc"),
    "in16": ("in16_test_acc", "in16_test_acc"),
}


class _TableSource(AccuracySource):
    def _check(self, arch: Architecture) -> None:
        if arch.space != self.space:
            raise ArchitectureError(
                f"accuracy source {self.name} answers {self.space} architectures, "
                f"not {arch.space!r}"
            )


class NB201Accuracy(_TableSource):
    """NAS-Bench-201 accuracies (percent) from ``nb201/accuracy.csv`` (see module docstring)."""

    space = "nb201"

    def __init__(
        self,
        dataset: str = "c10",
        data_dir: str | os.PathLike | None = None,
        search_column: str | None = None,
        report_column: str | None = None,
    ) -> None:
        if dataset not in NB201_COLUMNS:
            raise HwnasError(
                f"unknown NB201 dataset {dataset!r}", f"choose one of: {', '.join(NB201_COLUMNS)}"
            )
        self.dataset = dataset
        self.search_column = search_column or NB201_COLUMNS[dataset][0]
        self.report_column = report_column or NB201_COLUMNS[dataset][1]
        self.name = f"nb201/{dataset}"
        self.data_dir = data.resolve_data_dir(data_dir)
        data.data_file("nb201/accuracy.csv", self.data_dir)

    @property
    def table(self) -> data.Table:
        """The cached NB201 table (kept on the instance: resolving its path per call is slow)."""
        table = self.__dict__.get("_table")
        if table is None:
            table = self._table = data.nb201_table(self.data_dir)
        return table

    def _values(self, column: str, archs: Sequence[Architecture]) -> np.ndarray:
        for arch in archs[:1]:
            self._check(arch)
        table = self.table
        values = table.column(column)
        try:
            return values[table.rows([a.choices for a in archs])].astype(float)
        except KeyError:
            for arch in archs:
                self._check(arch)
            raise HwnasError("architecture not in the NB201 table") from None

    @property
    def search_label(self) -> str:
        """The column a search sees."""
        return self.search_column

    @property
    def report_label(self) -> str:
        """The column results are reported with."""
        return self.report_column

    def accuracy(self, arch: Architecture) -> float:
        """What the search sees (``search_column``)."""
        return float(self._values(self.search_column, [arch])[0])

    def report_accuracy(self, arch: Architecture) -> float:
        """What results are reported with (``report_column``)."""
        return float(self._values(self.report_column, [arch])[0])

    def accuracies(self, archs: Sequence[Architecture]) -> np.ndarray:
        """Search-visible accuracies, vectorised."""
        return self._values(self.search_column, archs)

    def report_accuracies(self, archs: Sequence[Architecture]) -> np.ndarray:
        """Report accuracies, vectorised."""
        return self._values(self.report_column, archs)


class OFAPredictorAccuracy(_TableSource):
    """OFA's ImageNet top-1 accuracy predictor (percent) for any OFA subnet."""

    space = "ofa"
    name = "ofa-predictor"

    def __init__(self, data_dir: str | os.PathLike | None = None) -> None:
        self.data_dir = data.resolve_data_dir(data_dir)
        data.data_file("ofa/acc_predictor_mbv3.npz", self.data_dir)
        self._space = None

    def _forward(self, x: np.ndarray) -> np.ndarray:
        w = data.ofa_predictor_weights(self.data_dir)
        layers = sorted({int(k.split("__")[0]) for k in w})
        for i, layer in enumerate(layers):
            x = x @ w[f"{layer}__weight"].T + w[f"{layer}__bias"]
            if i < len(layers) - 1:
                x = np.maximum(x, 0.0)
        return x[:, 0]

    def accuracies(self, archs: Sequence[Architecture]) -> np.ndarray:
        """Predicted top-1 (percent) of many subnets at once."""
        if self._space is None:
            from hwnas.spaces.ofa import OFASpace

            self._space = OFASpace()
        for arch in archs:
            self._check(arch)
        if not archs:
            return np.zeros(0)
        x = np.stack([self._space.encode(a) for a in archs]).astype(np.float64)
        return 100.0 * self._forward(x)

    def accuracy(self, arch: Architecture) -> float:
        """Predicted top-1 (percent)."""
        return float(self.accuracies([arch])[0])
