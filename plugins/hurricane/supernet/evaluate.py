"""Subnet accuracy from a trained supernet: BN recalibration, then top-1 on a fixed subset.

A SPOS supernet's BN running statistics are a mix over all paths, so before
a path is scored its statistics are recomputed: the path is copied out of the
supernet (:meth:`Supernet.extract`, no side effects on the supernet), its BN
layers are reset and fed ``bn_batches`` batches of training images in train
mode with a cumulative average (``momentum=None``), and then it is scored in
eval mode on a fixed, seeded subset of the validation images.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import torch
from torch import nn

from hwnas.accuracy import AccuracySource
from hwnas.errors import ArchitectureError
from hwnas.space import Architecture


def recalibrate_bn(model: nn.Module, batches: Sequence[torch.Tensor]) -> nn.Module:
    """Recompute every BatchNorm's running mean/var of ``model`` on ``batches`` (no grad).

    Statistics are reset, then accumulated as an exact average over the
    batches; the model is left in eval mode with its BN momenta restored.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        # One batch: momentum 1 gives the same statistics on torch's fast fused kernel
        # (momentum=None, the cumulative average, is several times slower on CPU).
        m.momentum = 1.0 if len(batches) == 1 else None
    model.train()
    device = _device_of(model)
    with torch.no_grad():
        for x in batches:
            model(x.to(device))
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    return model.eval()


def _device_of(model: nn.Module) -> torch.device:
    """The device of ``model``'s first parameter (CPU for a model without any)."""
    first = next(iter(model.parameters()), None)
    return first.device if first is not None else torch.device("cpu")


def top1(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int = 1000,
    channels_last: bool = True,
) -> float:
    """Top-1 accuracy (percent) of ``model`` (eval mode, no grad) on images ``x``, labels ``y``."""
    model.eval()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    device = _device_of(model)
    correct = 0
    with torch.inference_mode():
        for start in range(0, len(y), batch_size):
            xb = x[start : start + batch_size].to(device).contiguous(memory_format=fmt)
            yb = y[start : start + batch_size].to(device)
            correct += int((model(xb).argmax(1) == yb).sum())
    return 100.0 * correct / max(1, len(y))


class SubnetEvaluator:
    """Supernet accuracy (percent) of paths, with BN recalibration, cached by ops tuple.

    ``bn_data`` (training images) gives ``bn_batches`` x ``bn_batch_size``
    images for recalibration; ``val_data`` gives ``val_size`` images to score
    on (both seeded subsets, fixed for the evaluator's life, so scores are
    deterministic and comparable). Call :meth:`clear` after the supernet's
    weights change. Thread-safe.
    """

    def __init__(
        self,
        supernet,
        bn_data,
        val_data,
        bn_batches: int = 2,
        bn_batch_size: int = 128,
        val_size: int | None = 1000,
        batch_size: int = 1000,
        seed: int = 0,
        channels_last: bool = True,
    ) -> None:
        self.supernet = supernet
        self.channels_last = channels_last
        self.batch_size = batch_size
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        bn = _subset(bn_data, bn_batches * bn_batch_size, seed)
        self.bn_batches = [
            bn.x[i : i + bn_batch_size].contiguous(memory_format=fmt)
            for i in range(0, len(bn.y), bn_batch_size)
        ]
        val = _subset(val_data, val_size, seed)
        self.val_x = val.x.contiguous(memory_format=fmt)
        self.val_y = val.y
        self._cache: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    @property
    def val_images(self) -> int:
        """How many validation images a score is computed on."""
        return len(self.val_y)

    def accuracy(self, ops: Sequence[str]) -> float:
        """Top-1 (percent) of path ``ops`` after BN recalibration (cached)."""
        key = self.supernet.check_ops(ops)
        with self._lock:
            if key not in self._cache:
                model = self.subnet(key)
                self._cache[key] = top1(
                    model, self.val_x, self.val_y, self.batch_size, self.channels_last
                )
            return self._cache[key]

    def subnet(self, ops: Sequence[str]) -> nn.Module:
        """The standalone network of ``ops`` with recalibrated BN statistics (eval mode)."""
        model = self.supernet.extract(ops)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        return recalibrate_bn(model, self.bn_batches)

    def clear(self) -> None:
        """Forget cached scores (after the supernet was trained further)."""
        with self._lock:
            self._cache.clear()

    @property
    def evaluations(self) -> int:
        """How many distinct paths have been scored."""
        return len(self._cache)


class SupernetAccuracy(AccuracySource):
    """:class:`~hwnas.accuracy.AccuracySource` of a HURRICANE space backed by a supernet.

    ``space`` is the (possibly restricted) :class:`HurricaneSpace` the search
    runs in; its choices must be candidates of the evaluator's supernet. The
    search sees and reports the same number: supernet validation top-1.
    """

    name = "supernet"
    #: What the number is (plot and report labels).
    label = "supernet on validation (top-1)"

    @property
    def search_label(self) -> str:
        """Supernet validation top-1."""
        return self.label

    @property
    def report_label(self) -> str:
        """The same number: supernet validation top-1."""
        return self.label

    def __init__(self, space, evaluator: SubnetEvaluator) -> None:
        self.search_space = space
        self.space = space.name
        self.evaluator = evaluator
        for i, position in enumerate(space.positions):
            missing = [op for op in position.choices if op not in evaluator.supernet.layers[i]]
            if missing:
                raise ArchitectureError(
                    f"space layer {i} has ops {missing} the supernet was not trained with",
                    "restrict the space to the supernet's candidate ops",
                )

    def accuracy(self, arch: Architecture) -> float:
        """Supernet validation top-1 (percent) of ``arch`` after BN recalibration."""
        if arch.space != self.space:
            raise ArchitectureError(
                f"accuracy source {self.name} answers {self.space} architectures, "
                f"not {arch.space!r}"
            )
        self.search_space.architecture(arch.choices)  # each choice allowed in the search space
        return self.evaluator.accuracy(arch.choices)


def _subset(data, n: int | None, seed: int):
    """A seeded subset of ``n`` items of a split (all of it if ``n`` is None or too big)."""
    if hasattr(data, "subset"):
        return data.subset(n, seed)
    from hwnas.plugins.hurricane.supernet.data import Split

    return Split(data.x, data.y).subset(n, seed)
