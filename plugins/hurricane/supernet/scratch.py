"""Train one architecture from random initialisation and score it on the test set.

The reference the supernet's ranking is judged against: ``space.build_model``
trained alone (SGD, momentum, cosine learning rate, channels_last) on the
training split, then top-1 on the *test* split.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hwnas.errors import HwnasError
from hwnas.plugins.hurricane.supernet.device import autocast, grad_scaler, resolve_device
from hwnas.plugins.hurricane.supernet.evaluate import recalibrate_bn, top1
from hwnas.plugins.hurricane.supernet.train import BatchOrder, Progress, cosine_lr, param_groups
from hwnas.space import Architecture


@dataclass
class ScratchResult:
    """A trained standalone network, its test top-1 (percent) and what training cost."""

    model: nn.Module
    test_accuracy: float
    seconds: float
    epochs: float
    images: int
    final_loss: float = float("nan")

    @property
    def images_per_second(self) -> float:
        """Training throughput."""
        return self.images / self.seconds if self.seconds > 0 else 0.0


def _architecture(space, arch) -> Architecture:
    if isinstance(arch, Architecture):
        return space.architecture(arch.choices)
    if isinstance(arch, str):
        return space.parse(arch)
    return space.architecture(tuple(arch))


def train_from_scratch(
    space,
    arch: Architecture | str | Sequence[str],
    train,
    test,
    epochs: float = 1,
    batch_size: int = 128,
    lr: float = 0.1,
    seed: int = 0,
    progress: Progress | None = None,
    momentum: float = 0.9,
    weight_decay: float = 4e-5,
    label_smoothing: float = 0.0,
    grad_clip: float | None = 5.0,
    bn_images: int = 2048,
    device: str = "cpu",
    amp: bool = True,
    channels_last: bool = True,
) -> ScratchResult:
    """Train ``space.build_model(arch)`` from a seeded random init on ``train``; test top-1.

    ``train`` / ``test`` have ``.x`` (N,C,H,W float) and ``.y``; batches are
    drawn like :func:`~hwnas.plugins.hurricane.supernet.train.train_supernet` (seeded per-epoch
    shuffling, last incomplete batch dropped). ``progress(done, total)`` is
    called after every step. Before testing, the BN running statistics are
    recomputed on ``bn_images`` training images with the final weights
    (precise BN; 0 keeps the running averages of training), so short runs
    are not judged by statistics that lag behind the weights. Deterministic
    for a given seed and thread count. ``device``, ``amp`` and
    ``channels_last`` as in :class:`~hwnas.plugins.hurricane.supernet.train.TrainConfig`;
    the returned model is on the CPU.
    """
    arch = _architecture(space, arch)
    n = len(train.y)
    if batch_size < 1 or n < batch_size:
        raise HwnasError(
            f"batch size {batch_size} needs at least that many training images, have {n}",
            "use a smaller batch size",
        )
    if epochs <= 0:
        raise HwnasError(f"epochs must be > 0, got {epochs}", "train for at least part of one")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = space.build_model(arch)
    where = resolve_device(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(where).to(memory_format=fmt)
    scaler = grad_scaler(where, amp)
    optimizer = torch.optim.SGD(param_groups(model, weight_decay), lr=lr, momentum=momentum)
    order = BatchOrder(n, batch_size, seed)
    total = max(1, math.ceil(epochs * order.per_epoch))
    model.train()
    losses: list[float] = []
    began = time.perf_counter()
    for step in range(total):
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(step, total, lr)
        index = torch.from_numpy(order.indices(step))
        x = train.x[index].to(where, non_blocking=True).contiguous(memory_format=fmt)
        y = train.y[index].to(where, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        with autocast(where, amp):
            loss = F.cross_entropy(model(x), y, label_smoothing=label_smoothing).float()
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        if grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        scaler.step(optimizer)
        scaler.update()
        losses.append(float(loss.detach()))
        if not math.isfinite(losses[-1]):
            raise HwnasError(f"training diverged at step {step} (loss {losses[-1]})", "lower lr")
        if progress is not None:
            progress(step + 1, total)
    if bn_images > 0:
        subset = torch.from_numpy(np.random.default_rng((seed, 3)).permutation(n)[:bn_images])
        batches = [
            train.x[subset[i : i + batch_size]].contiguous(memory_format=fmt)
            for i in range(0, len(subset), batch_size)
        ]
        recalibrate_bn(model, batches)
    seconds = time.perf_counter() - began
    accuracy = top1(model, test.x, test.y, channels_last=channels_last)
    model = model.cpu()
    tail = losses[-20:]
    return ScratchResult(
        model=model,
        test_accuracy=accuracy,
        seconds=seconds,
        epochs=total / order.per_epoch,
        images=total * batch_size,
        final_loss=sum(tail) / len(tail),
    )
