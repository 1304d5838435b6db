"""``hwnas supernet``: train the HURRICANE SPOS supernet on real images, score paths with it."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from hwnas import interrupt
from hwnas.cli.common import JsonFlag, OptionList, console, load_space, parse_options, print_json
from hwnas.errors import HwnasError
from hwnas.progress import progress_bar

supernet_app = typer.Typer(
    help="Train the HURRICANE one-shot supernet on real images and score paths with it.",
    no_args_is_help=True,
)

#: Environment variable: a directory where every rank writes the digest of its final weights.
DIGEST_ENV = "HWNAS_SUPERNET_DIGEST_DIR"
#: Images (from the training images) held out as the validation set, and the split's seed.
SPLIT_SEED = 0

ProfileOption = Annotated[
    str | None,
    typer.Option(help="HURRICANE profile: tiny (default here), small or imagenet."),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        help="Image data set: IDX files, train/<class>/ + test/<class>/ images or CIFAR-10 "
        "batches (default $HWNAS_FASHION_MNIST or /usr/share/datasets/fashion-mnist)."
    ),
]
CheckpointOption = Annotated[Path, typer.Option(help="Supernet checkpoint file.")]
ProgressFlag = Annotated[bool, typer.Option(help="Show a progress bar.")]
DeviceOption = Annotated[
    str,
    typer.Option(
        help="Torch device: auto (cuda if available, else mps, else cpu), cpu, cuda, cuda:N "
        "or mps. Under torchrun, cuda is cuda:LOCAL_RANK and the ranks use nccl (gloo "
        "otherwise)."
    ),
]


def supernet_space(profile: str | None, option: list[str] | None, ops: str | None = None):
    """The HURRICANE space from ``--profile``, ``-o`` and ``--ops`` (default profile: tiny)."""
    options = list(option or [])
    given = parse_options(options).get("profile")
    if profile is not None and given is not None and given != profile:
        raise HwnasError(
            f"--profile {profile} contradicts -o profile={given}", "give the profile once"
        )
    if given is None:
        options.append(f"profile={profile or 'tiny'}")
    space = load_space("hurricane", options)
    if ops:
        names = [op.strip() for op in ops.split(",") if op.strip()]
        space = space.restrict([names] * len(space.positions))
    return space


@supernet_app.command("train")
def train(
    profile: ProfileOption = None,
    option: OptionList = None,
    ops: Annotated[
        str | None, typer.Option(help="Restrict every layer to these comma-separated ops.")
    ] = None,
    data_dir: DataDirOption = None,
    steps: Annotated[int | None, typer.Option(help="Optimizer steps (wins over --epochs).")] = None,
    epochs: Annotated[float, typer.Option(help="Epochs over the training split.")] = 1.0,
    batch_size: Annotated[int, typer.Option(help="Global batch size (all ranks).")] = 128,
    lr: Annotated[float, typer.Option(help="Peak learning rate (cosine to 0).")] = 0.1,
    label_smoothing: Annotated[float, typer.Option(help="Label smoothing.")] = 0.1,
    seed: Annotated[int, typer.Option(help="Seed of weights, batch order and paths.")] = 0,
    checkpoint: CheckpointOption = Path("supernet.pt"),
    resume: Annotated[bool, typer.Option(help="Continue from --checkpoint if it exists.")] = True,
    checkpoint_every: Annotated[int, typer.Option(help="Save every N steps.")] = 500,
    val_size: Annotated[
        int, typer.Option(help="Training images held out for validation (never trained on).")
    ] = 5000,
    train_images: Annotated[
        int | None, typer.Option(help="Train on only the first N images of the training split.")
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            help="torch threads (default and upper bound: the CPUs this process may use, "
            "shared among the ranks on this node)."
        ),
    ] = None,
    device: DeviceOption = "cpu",
    amp: Annotated[
        bool, typer.Option(help="Mixed precision (float16 autocast + grad scaler) on CUDA.")
    ] = True,
    channels_last: Annotated[
        bool, typer.Option(help="channels_last memory format for weights and images.")
    ] = True,
    loader_workers: Annotated[
        int, typer.Option(help="DataLoader worker processes (0: batches in this process).")
    ] = 0,
    micro_batches: Annotated[
        int,
        typer.Option(
            help="Split each rank's batch into N parts whose gradients are summed (one process "
            "with N parts computes what N data-parallel ranks do)."
        ),
    ] = 1,
    progress: ProgressFlag = True,
    as_json: JsonFlag = False,
) -> None:
    """Train the SPOS supernet (one uniformly sampled path per batch) and save a checkpoint.

    Under torchrun (WORLD_SIZE > 1) every rank joins a process group (nccl on
    CUDA, gloo otherwise) and trains its shard of each batch; rank 0 writes
    the checkpoint.
    """
    from hwnas.cpus import set_torch_threads
    from hwnas.plugins.hurricane.supernet.data import load_for_space
    from hwnas.plugins.hurricane.supernet.device import check_device, resolve_device
    from hwnas.plugins.hurricane.supernet.model import Supernet
    from hwnas.plugins.hurricane.supernet.train import (
        TrainConfig,
        init_distributed,
        state_digest,
        train_supernet,
        world,
    )

    resolve_device(device)  # one-line error now for a device unknown or not here
    set_torch_threads(threads)  # never more than the CPUs this process may use
    space = supernet_space(profile, option, ops)
    data = load_for_space(space, data_dir)
    train_split, _, _ = data.splits(val_size, SPLIT_SEED)
    if train_images is not None:
        if train_images < 1:
            raise HwnasError(f"--train-images must be >= 1, got {train_images}")
        train_split = train_split.head(train_images)
    config = TrainConfig(
        steps=steps,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        label_smoothing=label_smoothing,
        seed=seed,
        checkpoint_every=checkpoint_every,
        channels_last=channels_last,
        device=check_device(device),
        amp=amp,
        loader_workers=loader_workers,
        micro_batches=micro_batches,
    )
    started = init_distributed(device)
    if resume and checkpoint_every:
        interrupt.state_kept(f"checkpoint {checkpoint} (written every {checkpoint_every} steps)")
    try:
        rank, size = world()
        supernet = Supernet(space, seed=seed)
        show = progress and not as_json and rank == 0
        metadata = {
            "data": data.describe(),
            "val_size": val_size,
            "split_seed": SPLIT_SEED,
            "train_images": len(train_split),
        }
        label = f"supernet ({size} rank{'s' if size > 1 else ''})"
        with progress_bar(show, label=label, transient=True, terminal_only=False) as bar:
            task = bar.add_task("train", total=None, visible=show)

            def report(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            stats = train_supernet(
                supernet,
                train_split,
                config,
                checkpoint=checkpoint,
                resume=resume,
                progress=report if show else None,
                metadata=metadata,
            )
        digest_dir = os.environ.get(DIGEST_ENV)
        if digest_dir:
            Path(digest_dir).mkdir(parents=True, exist_ok=True)
            (Path(digest_dir) / f"digest-rank{rank}.txt").write_text(state_digest(supernet) + "\n")
    finally:
        if started:
            import torch.distributed as dist

            dist.destroy_process_group()
    if rank != 0:
        return
    report_data = {
        "checkpoint": str(checkpoint),
        "space": supernet.signature()["options"],
        "data": data.describe(),
        "iterations": stats.iterations,
        "step": stats.step,
        "total_steps": stats.total_steps,
        "resumed_from": stats.resumed_from,
        "seconds": stats.seconds,
        "images": stats.images,
        "images_per_second": stats.images_per_second,
        "final_loss": stats.final_loss,
        "world_size": stats.world_size,
        "device": str(resolve_device(device)),
    }
    if as_json:
        print_json(report_data)
        return
    if stats.resumed_from is not None:
        console.print(f"resumed from step {stats.resumed_from}", highlight=False)
    console.print(
        f"trained {stats.iterations} iterations ({stats.step}/{stats.total_steps}) in "
        f"{stats.seconds:.1f} s: {stats.images_per_second:,.0f} images/s on {stats.world_size} "
        f"rank(s), final loss {stats.final_loss:.4f}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"checkpoint: {checkpoint}", highlight=False, soft_wrap=True)


@supernet_app.command("eval")
def evaluate(
    arch: Annotated[
        list[str] | None,
        typer.Option(metavar="ARCH", help="Architecture 'op,op,...' (20 ops); repeat for several."),
    ] = None,
    checkpoint: CheckpointOption = Path("supernet.pt"),
    random: Annotated[int, typer.Option(help="Also score N random paths of the space.")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of --random.")] = 0,
    profile: ProfileOption = None,
    option: OptionList = None,
    data_dir: DataDirOption = None,
    bn_images: Annotated[int, typer.Option(help="Training images for BN recalibration.")] = 256,
    val_images: Annotated[int, typer.Option(help="Validation images scored.")] = 1000,
    device: DeviceOption = "cpu",
    as_json: JsonFlag = False,
) -> None:
    """Supernet validation top-1 of paths, after recalibrating BN on training images."""
    import numpy as np

    from hwnas.cpus import set_torch_threads
    from hwnas.plugins.hurricane.supernet.checkpoint import load_supernet
    from hwnas.plugins.hurricane.supernet.data import load_for_space
    from hwnas.plugins.hurricane.supernet.device import resolve_device
    from hwnas.plugins.hurricane.supernet.evaluate import SubnetEvaluator

    where = resolve_device(device)
    set_torch_threads()  # never more than the CPUs this process may use
    supernet, state = load_supernet(checkpoint)
    supernet.to(where)
    space = supernet.space
    if profile is not None or option:
        from hwnas.plugins.hurricane.supernet.checkpoint import check_signature

        wanted = supernet_space(profile, option)
        current = {**state["signature"], "options": dict(wanted.options)}
        check_signature(checkpoint, state["signature"], current)
    texts = list(arch or [])
    rng = np.random.default_rng(seed)
    archs = [space.parse(t) for t in texts] + [space.sample(rng) for _ in range(random)]
    if not archs:
        raise HwnasError("nothing to evaluate", "give --arch 'op,op,...' or --random N")
    meta = state.get("metadata") or {}
    data = load_for_space(space, data_dir if data_dir is not None else _data_dir(meta))
    train_split, val_split, _ = data.splits(
        int(meta.get("val_size", 5000)), int(meta.get("split_seed", SPLIT_SEED))
    )
    if bn_images < 1 or val_images < 1:
        raise HwnasError("--bn-images and --val-images must be >= 1")
    batch = min(128, bn_images)
    evaluator = SubnetEvaluator(
        supernet,
        train_split,
        val_split,
        bn_batches=max(1, bn_images // batch),
        bn_batch_size=batch,
        val_size=val_images,
    )
    rows: list[dict[str, Any]] = []
    for a in archs:
        began = time.perf_counter()
        accuracy = evaluator.accuracy(a.choices)
        rows.append(
            {
                "arch": space.format(a),
                "accuracy": accuracy,
                "seconds": time.perf_counter() - began,
            }
        )
    if as_json:
        print_json(
            {
                "checkpoint": str(checkpoint),
                "step": state["step"],
                "val_images": evaluator.val_images,
                "results": rows,
            }
        )
        return
    table = Table(
        "architecture",
        "top-1 %",
        "s",
        title=f"supernet {checkpoint} (step {state['step']}), "
        f"{evaluator.val_images} validation images",
    )
    for row in rows:
        table.add_row(row["arch"], f"{row['accuracy']:.2f}", f"{row['seconds']:.2f}")
    console.print(table)


def _data_dir(meta: dict[str, Any]) -> Path | None:
    """The data set the checkpoint was trained on, if it is still there."""
    source = (meta.get("data") or {}).get("source")
    return Path(source) if source and Path(source).is_dir() else None


def register(app: typer.Typer) -> None:
    """Add ``hwnas supernet`` to the main app."""
    app.add_typer(supernet_app, name="supernet")
