"""HURRICANE's accuracy source: a one-shot supernet's validation accuracy."""

from __future__ import annotations

from hwnas.accuracy import AccuracySource
from hwnas.errors import HwnasError
from hwnas.space import Architecture


class OneShotAccuracy(AccuracySource):
    """HURRICANE accuracy from a one-shot supernet (validation top-1 after BN recalibration).

    The ``hurricane`` strategy trains its own supernet; other strategies need
    a checkpoint written by ``hwnas supernet train`` (``checkpoint=PATH``).
    ``data_dir`` holds the images (default Fashion-MNIST).
    """

    name = "supernet"
    space = "hurricane"

    def __init__(self, data_dir=None, checkpoint=None) -> None:
        self.data_dir = data_dir
        self.checkpoint = checkpoint
        self._evaluator = None

    def accuracy(self, arch: Architecture) -> float:
        """Supernet validation top-1 (percent) of ``arch``."""
        if self._evaluator is None:
            self._evaluator = self._load()
        return self._evaluator.accuracy(arch.choices)

    def _load(self):
        if self.checkpoint is None:
            raise HwnasError(
                "hurricane accuracy comes from a one-shot supernet, and none was given",
                "use --strategy hurricane (it trains one), or a checkpoint of "
                "'hwnas supernet train'",
            )
        from hwnas.plugins.hurricane.supernet.checkpoint import load_supernet
        from hwnas.plugins.hurricane.supernet.data import load_for_space
        from hwnas.plugins.hurricane.supernet.evaluate import SubnetEvaluator

        supernet, _ = load_supernet(self.checkpoint)
        train, val, _ = load_for_space(supernet.space, self.data_dir).splits()
        return SubnetEvaluator(supernet, train, val)
