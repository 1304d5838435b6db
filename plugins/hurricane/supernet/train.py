"""SPOS training: one uniformly sampled path per batch, resumable, optionally data-parallel.

Everything random is a pure function of ``(seed, step)``: the path of step
``s`` comes from ``numpy.random.default_rng((seed, 1, s))`` and the batch
order of epoch ``e`` from ``default_rng((seed, 2, e))``. So a run resumed
from a checkpoint replays exactly what an uninterrupted run would have done
(bit-identical weights), and every data-parallel rank draws the same path.

Data parallel (``torchrun``; gloo on CPU, nccl on CUDA): when ``torch.distributed`` is
initialised, each rank takes its contiguous shard of every global batch and,
after backward, the gradients of the sampled path (the same tensors on every
rank) are averaged with one all-reduce. That is what DDP with
``find_unused_parameters=True`` computes, without walking the autograd graph
or reducing the unused ops' buckets. Weights start equal (broadcast from rank
0) and stay equal; BN running statistics are broadcast from rank 0 before a
checkpoint is written (only rank 0 writes) and at the end.

Run ``python -m hwnas.plugins.hurricane --help`` (or ``hwnas supernet train``);
under ``torchrun`` it joins the process group itself when WORLD_SIZE > 1.

``micro_batches`` splits each rank's share of a batch into equal parts whose
gradients are summed before the step: one process with ``micro_batches=2``
computes exactly what two data-parallel ranks compute (BatchNorm sees the
same per-part statistics), which is how the DDP path is tested.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from hwnas.errors import HwnasError
from hwnas.plugins.hurricane.supernet.checkpoint import (
    FORMAT,
    check_signature,
    read_checkpoint,
    save_atomic,
)
from hwnas.plugins.hurricane.supernet.device import (
    autocast,
    distributed_backend,
    grad_scaler,
    resolve_device,
)

Progress = Callable[[int, int], None]

#: Config fields that change the trajectory: a resumed run must match them.
_TRAJECTORY_FIELDS = (
    "steps",
    "epochs",
    "batch_size",
    "lr",
    "momentum",
    "weight_decay",
    "label_smoothing",
    "grad_clip",
    "warmup_steps",
    "seed",
    "micro_batches",
)
#: Defaults of trajectory fields added later (checkpoints written before lack them).
_FIELD_DEFAULTS = {"micro_batches": 1}


@dataclass
class TrainConfig:
    """SPOS training settings.

    ``steps`` wins over ``epochs`` when given. The learning rate follows a
    cosine from ``lr`` to 0 over the run (after ``warmup_steps`` of linear
    warm-up); weight decay applies to conv and linear weights only (not BN,
    not biases); gradients are clipped to norm ``grad_clip`` (None: off).
    ``device`` is ``auto``, ``cpu``, ``cuda[:N]`` or ``mps``; ``amp`` turns on
    float16 autocast with a gradient scaler on CUDA (ignored elsewhere);
    ``loader_workers`` > 0 assembles batches in that many DataLoader worker
    processes (pinned memory on CUDA); ``micro_batches`` see the module doc.
    """

    steps: int | None = None
    epochs: float = 1.0
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 4e-5
    label_smoothing: float = 0.1
    grad_clip: float | None = 5.0
    warmup_steps: int = 0
    seed: int = 0
    checkpoint_every: int = 500
    channels_last: bool = True
    device: str = "cpu"
    amp: bool = True
    loader_workers: int = 0
    micro_batches: int = 1

    def total_steps(self, n_train: int) -> int:
        """Optimizer steps of the whole run on ``n_train`` images."""
        if self.steps is not None:
            return int(self.steps)
        return max(1, math.ceil(self.epochs * (n_train // self.batch_size)))

    def check(self, n_train: int) -> None:
        """One-line errors for settings that cannot work."""
        if self.batch_size < 1 or n_train < self.batch_size:
            raise HwnasError(
                f"batch size {self.batch_size} needs at least that many training images, "
                f"have {n_train}",
                "use a smaller --batch-size or more data",
            )
        if self.steps is not None and self.steps < 1:
            raise HwnasError(f"steps must be >= 1, got {self.steps}", "give --steps 1 or more")
        if self.steps is None and self.epochs <= 0:
            raise HwnasError(f"epochs must be > 0, got {self.epochs}", "give --epochs > 0")
        if self.loader_workers < 0 or self.micro_batches < 1:
            raise HwnasError(
                "loader_workers must be >= 0 and micro_batches >= 1",
                f"got loader_workers={self.loader_workers}, micro_batches={self.micro_batches}",
            )
        if self.lr <= 0 or self.seed < 0 or self.checkpoint_every < 1:
            raise HwnasError(
                "lr must be > 0, seed >= 0 and checkpoint_every >= 1",
                f"got lr={self.lr}, seed={self.seed}, checkpoint_every={self.checkpoint_every}",
            )


@dataclass
class TrainStats:
    """What one :func:`train_supernet` call did.

    ``iterations``, ``seconds`` and ``images`` count this call only (images
    over all ranks); ``step`` / ``total_steps`` are the run's position;
    ``resumed_from`` is the checkpoint step it continued from (None: fresh);
    ``final_loss`` is the mean training loss of the run's last 20 steps.
    """

    iterations: int
    seconds: float
    images: int
    final_loss: float
    resumed_from: int | None
    step: int = 0
    total_steps: int = 0
    world_size: int = 1
    losses: list[float] = field(default_factory=list, repr=False)

    @property
    def images_per_second(self) -> float:
        """Training throughput of this call (all ranks)."""
        return self.images / self.seconds if self.seconds > 0 else 0.0


# ---------------------------------------------------------------------------
# deterministic randomness
# ---------------------------------------------------------------------------


def sample_path(choices: Sequence[Sequence[str]], seed: int, step: int) -> tuple[str, ...]:
    """The path of ``step``: one op per layer, uniform over ``choices[i]``, from (seed, step)."""
    rng = np.random.default_rng((seed, 1, step))
    return tuple(c[int(rng.integers(len(c)))] for c in choices)


class BatchOrder:
    """Seeded per-epoch shuffling: the image indices of any global step, as a pure function."""

    def __init__(self, n: int, batch_size: int, seed: int) -> None:
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.per_epoch = n // batch_size
        self._epoch, self._perm = -1, np.empty(0, dtype=np.int64)

    def indices(self, step: int) -> np.ndarray:
        """The ``batch_size`` indices of ``step`` (incomplete last batches are dropped)."""
        epoch, j = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            self._epoch = epoch
            self._perm = np.random.default_rng((self.seed, 2, epoch)).permutation(self.n)
        return self._perm[j * self.batch_size : (j + 1) * self.batch_size]


def cosine_lr(step: int, total: int, lr: float, warmup: int = 0) -> float:
    """Learning rate at ``step``: linear warm-up, then cosine from ``lr`` to 0 at ``total``."""
    if step < warmup:
        return lr * (step + 1) / warmup
    span = max(1, total - warmup)
    return 0.5 * lr * (1.0 + math.cos(math.pi * (step - warmup) / span))


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two SGD groups: conv/linear weights (decayed), BN parameters and biases (not decayed)."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    rest = [p for p in model.parameters() if p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


def state_digest(module: nn.Module) -> str:
    """SHA-256 of every parameter and buffer (names, shapes, values): equal iff bit-identical."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(name.encode())
        digest.update(str(tuple(t.shape)).encode())
        digest.update(t.numpy().tobytes() if t.ndim else str(t.item()).encode())
    return digest.hexdigest()


# ---------------------------------------------------------------------------
# distributed helpers
# ---------------------------------------------------------------------------


def world() -> tuple[int, int]:
    """(rank, world size); (0, 1) without an initialised process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed(device: str | torch.device = "cpu") -> bool:
    """Join the process group when launched by torchrun with WORLD_SIZE > 1.

    The backend is nccl when ``device`` is CUDA (each rank on ``cuda:LOCAL_RANK``
    unless an index is given), gloo otherwise.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        resolved = resolve_device(device)
        if resolved.type == "cuda":
            torch.cuda.set_device(resolved)
        dist.init_process_group(distributed_backend(resolved))
        return True
    return False


def _broadcast(tensors: Sequence[torch.Tensor]) -> None:
    """Copy rank 0's values of ``tensors`` to every rank (one flat broadcast)."""
    if not tensors:
        return
    flat = torch.cat([t.detach().reshape(-1).to(torch.float64) for t in tensors])
    dist.broadcast(flat, 0)
    offset = 0
    with torch.no_grad():
        for t in tensors:
            n = t.numel()
            t.copy_(flat[offset : offset + n].view(t.shape).to(t.dtype))
            offset += n


def _average_gradients(params: Sequence[torch.Tensor], loss: torch.Tensor, size: int) -> float:
    """All-reduce the path's gradients (and the loss) to their mean over ranks."""
    grads = [p.grad for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads] + [loss.detach().reshape(1)])
    dist.all_reduce(flat)
    flat.div_(size)
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset : offset + n].view(g.shape))
        offset += n
    return float(flat[-1])


# ---------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------


def check_choices(supernet, sample_choices: Sequence[Sequence[str]]) -> list[list[str]]:
    """Validate per-layer sampling lists against the supernet's candidates."""
    choices = [list(c) for c in sample_choices]
    if len(choices) != len(supernet.layers):
        raise HwnasError(
            f"sample_choices needs {len(supernet.layers)} lists, got {len(choices)}",
            "give one list of ops per layer",
        )
    for i, ops in enumerate(choices):
        bad = [op for op in ops if op not in supernet.layers[i]]
        if not ops or bad:
            raise HwnasError(
                f"layer {i}: sample choices {ops} are empty or not in the supernet ({bad})",
                f"choose from: {', '.join(supernet.layers[i].keys())}",
            )
    return choices


def train_supernet(
    supernet,
    train_data,
    config: TrainConfig,
    sample_choices: Sequence[Sequence[str]] | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = True,
    progress: Progress | None = None,
    metadata: dict | None = None,
) -> TrainStats:
    """Train ``supernet`` with SPOS on ``train_data`` (``.x`` images, ``.y`` labels).

    ``sample_choices[i]`` lists the ops layer ``i`` is drawn from, uniformly
    per batch (default: all candidates; a one-element list fixes a layer).
    With ``checkpoint``, state is saved every ``config.checkpoint_every``
    steps and at the end (atomically, rank 0 only); with ``resume`` and an
    existing checkpoint of the same supernet, config and choices, training
    continues from its step. Without one, training starts at step 0 from the
    supernet's current weights with a fresh optimizer and schedule: that is
    how a second search stage warm-starts from the first. ``metadata``
    (JSON-like) is stored in the checkpoint as is. The supernet is moved to
    channels_last (if configured) and left in train mode.
    """
    choices = check_choices(
        supernet, sample_choices if sample_choices is not None else supernet.choices
    )
    n_train = len(train_data.y)
    config.check(n_train)
    rank, size = world()
    if config.batch_size % size:
        raise HwnasError(
            f"batch size {config.batch_size} is not divisible by {size} ranks",
            f"use a multiple of {size}",
        )
    if (config.batch_size // size) % config.micro_batches:
        raise HwnasError(
            f"batch size {config.batch_size} on {size} rank(s) does not split into "
            f"{config.micro_batches} micro-batches",
            f"use a multiple of {size * config.micro_batches}",
        )
    total = config.total_steps(n_train)
    device = resolve_device(config.device)
    supernet.to(device)
    if config.channels_last:
        supernet.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(
        param_groups(supernet, config.weight_decay), lr=config.lr, momentum=config.momentum
    )
    meta = {
        "format": FORMAT,
        "signature": supernet.signature(),
        "config": asdict(config),
        "sample_choices": choices,
        "data": {"images": n_train, "shape": list(train_data.x.shape[1:])},
        "total_steps": total,
        "metadata": dict(metadata or {}),
    }
    start, losses, resumed_from = 0, [], None
    totals = {"images": 0, "seconds": 0.0}
    if checkpoint is not None and resume and Path(checkpoint).exists():
        state = read_checkpoint(checkpoint)
        _check_resumable(checkpoint, state, meta)
        supernet.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start, losses = int(state["step"]), list(state["losses"])
        totals = {"images": int(state["images"]), "seconds": float(state["seconds"])}
        resumed_from = start
    if size > 1:
        _broadcast(list(supernet.state_dict().values()))

    def save(step: int, seconds: float) -> None:
        if checkpoint is None:
            return
        if size > 1:
            _broadcast(list(supernet.buffers()))
        if rank == 0:
            state = {
                **meta,
                "step": step,
                "model": supernet.state_dict(),
                "optimizer": optimizer.state_dict(),
                "losses": losses,
                "images": totals["images"] + (step - start) * config.batch_size,
                "seconds": totals["seconds"] + seconds,
                "world_size": size,
            }
            save_atomic(state, checkpoint)
        if size > 1:
            dist.barrier()

    order = BatchOrder(n_train, config.batch_size, config.seed)
    shard = config.batch_size // size
    part = shard // config.micro_batches
    params = list(supernet.parameters())
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    scaler = grad_scaler(device, config.amp)
    batches = step_batches(
        train_data, order, range(start, total), rank * shard, shard, config.loader_workers,
        pin=device.type == "cuda",
    )  # fmt: skip
    supernet.train()
    began = time.perf_counter()
    for step, (x_all, y_all) in zip(range(start, total), batches, strict=False):
        lr = cosine_lr(step, total, config.lr, config.warmup_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        ops = sample_path(choices, config.seed, step)
        optimizer.zero_grad(set_to_none=True)
        loss_sum = torch.zeros((), device=device)
        for m in range(config.micro_batches):
            x = x_all[m * part : (m + 1) * part].to(device, non_blocking=True)
            x = x.contiguous(memory_format=memory_format)
            y = y_all[m * part : (m + 1) * part].to(device, non_blocking=True)
            with autocast(device, config.amp):
                loss = F.cross_entropy(supernet(x, ops), y, label_smoothing=config.label_smoothing)
            loss = loss.float() / config.micro_batches
            scaler.scale(loss).backward()
            loss_sum += loss.detach()
        used = [p for p in params if p.grad is not None]
        value = _average_gradients(used, loss_sum, size) if size > 1 else float(loss_sum)
        if not math.isfinite(value):
            raise HwnasError(
                f"supernet training diverged at step {step} (loss {value})", "lower the lr"
            )
        scaler.unscale_(optimizer)
        if config.grad_clip is not None:
            nn.utils.clip_grad_norm_(used, config.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        losses.append(value)
        done = step + 1
        if done % config.checkpoint_every == 0 and done < total:
            save(done, time.perf_counter() - began)
        if progress is not None:
            progress(done, total)
    seconds = time.perf_counter() - began
    if start < total:
        save(total, seconds)
    elif size > 1:
        _broadcast(list(supernet.buffers()))
    tail = losses[-20:]
    return TrainStats(
        iterations=total - start,
        seconds=seconds,
        images=(total - start) * config.batch_size,
        final_loss=float(np.mean(tail)) if tail else float("nan"),
        resumed_from=resumed_from,
        step=total,
        total_steps=total,
        world_size=size,
        losses=losses,
    )


class _StepBatches(torch.utils.data.Dataset):
    """Item ``i`` is the (images, labels) shard of global step ``steps[i]``."""

    def __init__(self, data, order: BatchOrder, steps: range, offset: int, shard: int) -> None:
        self.data, self.order, self.steps = data, order, steps
        self.offset, self.shard = offset, shard

    def __len__(self) -> int:
        return len(self.steps)

    def __getitem__(self, i: int):
        indices = self.order.indices(self.steps[i])[self.offset : self.offset + self.shard]
        index = torch.from_numpy(np.ascontiguousarray(indices))
        return self.data.x[index], self.data.y[index]


def step_batches(data, order: BatchOrder, steps: range, offset: int, shard: int, workers: int = 0,
                 pin: bool = False):  # fmt: skip
    """The (images, labels) of each step's shard, in step order.

    With ``workers`` > 0 a DataLoader assembles them in worker processes
    (``pin``: page-locked memory for fast host-to-GPU copies); the batches are
    the same either way (the order is a pure function of the step).
    """
    dataset = _StepBatches(data, order, steps, offset, shard)
    if workers <= 0:
        return (dataset[i] for i in range(len(dataset)))
    # forkserver: forking this process, whose runtimes (torch, TVM, OpenMP) run thread pools,
    # is unsafe; a fresh server process forks the workers instead.
    return iter(
        torch.utils.data.DataLoader(
            dataset,
            batch_size=None,
            shuffle=False,
            num_workers=workers,
            pin_memory=pin,
            multiprocessing_context="forkserver",
        )
    )


def _check_resumable(path, state: dict, meta: dict) -> None:
    """A checkpoint may be resumed only with the same supernet, trajectory, choices and data."""
    check_signature(path, state["signature"], meta["signature"])
    fix = "pass --no-resume (resume=False) to start over, or use another checkpoint path"
    saved, now = state["config"], meta["config"]
    differs = [
        k
        for k in _TRAJECTORY_FIELDS
        if saved.get(k, _FIELD_DEFAULTS.get(k)) != now.get(k, _FIELD_DEFAULTS.get(k))
    ]
    if differs:
        detail = ", ".join(f"{k} {saved.get(k)} -> {now.get(k)}" for k in differs)
        raise HwnasError(f"checkpoint {path} was trained with other settings ({detail})", fix)
    if state["sample_choices"] != meta["sample_choices"]:
        raise HwnasError(f"checkpoint {path} was trained with other per-layer sample choices", fix)
    if state["data"] != meta["data"]:
        raise HwnasError(
            f"checkpoint {path} was trained on other data ({state['data']} vs {meta['data']})", fix
        )
