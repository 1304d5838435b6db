"""The HURRICANE supernet: SPOS training (determinism, resume, DDP), evaluation, scratch, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import randomise_batchnorm

from hwnas.errors import ArchitectureError, HwnasError
from hwnas.plugins.hurricane.supernet.checkpoint import load_supernet, read_checkpoint
from hwnas.plugins.hurricane.supernet.data import DEFAULT_DIR, Split, load_images, write_idx
from hwnas.plugins.hurricane.supernet.evaluate import (
    SubnetEvaluator,
    SupernetAccuracy,
    recalibrate_bn,
)
from hwnas.plugins.hurricane.supernet.model import Supernet
from hwnas.plugins.hurricane.supernet.scratch import ScratchResult, train_from_scratch
from hwnas.plugins.hurricane.supernet.train import (
    BatchOrder,
    TrainConfig,
    sample_path,
    state_digest,
    train_supernet,
)
from hwnas.spaces.hurricane.model import HurricaneNet
from hwnas.spaces.hurricane.space import HurricaneSpace

OPS = ["SEP_k3", "Choice_k3_SE"]
FASHION = Path(DEFAULT_DIR)


@pytest.fixture(scope="module")
def space():
    return HurricaneSpace("tiny", ops=[OPS] * 20)


def synthetic(n: int, seed: int = 0, classes: int = 10) -> Split:
    """Learnable stand-in images: a class-specific 28x28 pattern plus noise."""
    g = torch.Generator().manual_seed(seed)
    patterns = torch.randn(classes, 1, 28, 28, generator=torch.Generator().manual_seed(99))
    y = torch.randint(0, classes, (n,), generator=g)
    x = patterns[y] + 0.5 * torch.randn(n, 1, 28, 28, generator=g)
    return Split(x, y, "synthetic")


class Stop(Exception):
    pass


def stop_after(k: int):
    def progress(done: int, total: int) -> None:
        if done == k:
            raise Stop

    return progress


def assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


# ---------------------------------------------------------------------------
# model
# ---------------------------------------------------------------------------


def test_supernet_holds_every_candidate_and_runs_one_path(space):
    supernet = Supernet(space)
    assert supernet.choices == tuple(tuple(OPS) for _ in range(20))
    assert [list(layer.keys()) for layer in supernet.layers] == [OPS] * 20
    out = supernet(torch.randn(3, 1, 28, 28), [OPS[0]] * 20)
    assert out.shape == (3, 10)
    with pytest.raises(ArchitectureError, match="not a candidate of supernet layer 4"):
        supernet.check_ops([OPS[0]] * 4 + ["MB_k3_e6"] + [OPS[0]] * 15)
    with pytest.raises(ArchitectureError, match="needs 20 ops"):
        supernet.check_ops(OPS)
    full = Supernet(HurricaneSpace("tiny"), seed=None)
    assert all(len(layer) == 32 for layer in full.layers)


def test_extract_is_the_supernet_path_exactly(space):
    supernet = randomise_batchnorm(Supernet(space, seed=3)).eval()
    x = torch.randn(4, 1, 28, 28)
    rng = np.random.default_rng(0)
    for _ in range(3):
        ops = space.sample(rng).choices
        model = supernet.extract(ops)
        assert isinstance(model, HurricaneNet) and not model.training
        reference = space.build_model(space.architecture(ops))
        assert model.state_dict().keys() == reference.state_dict().keys()
        with torch.no_grad():
            assert torch.equal(model(x), supernet(x, ops))
        # A copy: changing the subnet leaves the supernet alone.
        with torch.no_grad():
            next(model.parameters()).add_(1.0)
            assert not torch.equal(model(x), supernet(x, ops))
    other = [OPS[1] if op == OPS[0] else OPS[0] for op in ops]
    with torch.no_grad():
        assert not torch.equal(supernet.extract(other)(x), supernet(x, ops))


def test_seeded_construction(space):
    assert state_digest(Supernet(space, seed=0)) == state_digest(Supernet(space, seed=0))
    assert state_digest(Supernet(space, seed=0)) != state_digest(Supernet(space, seed=1))
    before = torch.random.get_rng_state()
    Supernet(space, seed=5)
    assert torch.equal(before, torch.random.get_rng_state())


# ---------------------------------------------------------------------------
# sampling and data order
# ---------------------------------------------------------------------------


def test_sample_path_is_a_uniform_pure_function_of_seed_and_step():
    choices = [["a", "b"], ["c"], ["d", "e", "f"]]
    assert sample_path(choices, 0, 7) == sample_path(choices, 0, 7)
    paths = [sample_path(choices, 0, s) for s in range(3000)]
    assert len(set(paths)) == 6 and all(p[1] == "c" for p in paths)
    counts = {op: sum(p[2] == op for p in paths) for op in "def"}
    assert all(900 < c < 1100 for c in counts.values()), counts
    assert [sample_path(choices, 1, s) for s in range(50)] != paths[:50]


def test_batch_order_covers_each_epoch_once():
    order = BatchOrder(10, 3, seed=0)
    assert order.per_epoch == 3
    epoch0 = np.concatenate([order.indices(s) for s in range(3)])
    epoch1 = np.concatenate([order.indices(s) for s in range(3, 6)])
    assert len(set(epoch0)) == 9 and len(set(epoch1)) == 9 and list(epoch0) != list(epoch1)
    assert list(BatchOrder(10, 3, seed=0).indices(4)) == list(order.indices(4))


# ---------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------


def test_training_is_deterministic_and_follows_the_seed(space):
    data = synthetic(96)
    config = TrainConfig(steps=3, batch_size=32, seed=0)
    runs = []
    for seed in (0, 0, 1):
        supernet = Supernet(space, seed=0)
        stats = train_supernet(supernet, data, TrainConfig(steps=3, batch_size=32, seed=seed))
        runs.append(state_digest(supernet))
    assert runs[0] == runs[1] != runs[2]
    assert runs[0] != state_digest(Supernet(space, seed=0))
    assert stats.iterations == 3 and stats.images == 96 and stats.resumed_from is None
    assert stats.images_per_second > 0 and np.isfinite(stats.final_loss)
    assert config.total_steps(96) == 3 and TrainConfig(epochs=2, batch_size=32).total_steps(96) == 6


def test_resume_gives_bit_identical_weights(space, tmp_path):
    data = synthetic(128)
    config = TrainConfig(steps=6, batch_size=32, seed=4, checkpoint_every=3)
    straight = Supernet(space, seed=0)
    full = train_supernet(straight, data, config, checkpoint=tmp_path / "a.pt")
    # Interrupted after step 3 (the checkpoint of step 3 is on disk), then resumed in a
    # fresh supernet whose own initial weights differ: everything comes from the file.
    with pytest.raises(Stop):
        train_supernet(
            Supernet(space, seed=0),
            data,
            config,
            checkpoint=tmp_path / "b.pt",
            progress=stop_after(4),
        )
    assert read_checkpoint(tmp_path / "b.pt")["step"] == 3
    resumed = Supernet(space, seed=123)
    stats = train_supernet(resumed, data, config, checkpoint=tmp_path / "b.pt")
    assert stats.resumed_from == 3 and stats.iterations == 3 and stats.step == 6
    assert_same_state(straight, resumed)
    assert stats.final_loss == full.final_loss and stats.losses == full.losses
    saved = read_checkpoint(tmp_path / "b.pt")
    assert saved["step"] == 6 and saved["sample_choices"] == [OPS] * 20
    # Resuming a finished run trains nothing and loads the final weights.
    again = Supernet(space, seed=9)
    done = train_supernet(again, data, config, checkpoint=tmp_path / "b.pt")
    assert done.iterations == 0 and done.resumed_from == 6
    assert_same_state(straight, again)
    loaded, _ = load_supernet(tmp_path / "b.pt")
    assert_same_state(straight.to(memory_format=torch.contiguous_format), loaded)


def test_resume_refuses_another_space_or_settings(space, tmp_path):
    data = synthetic(64)
    config = TrainConfig(steps=1, batch_size=32)
    path = tmp_path / "c.pt"
    train_supernet(Supernet(space), data, config, checkpoint=path)
    other_space = HurricaneSpace("tiny", ops=[["SEP_k3", "MB_k3_e1"]] * 20)
    with pytest.raises(HwnasError, match="other candidate ops"):
        train_supernet(Supernet(other_space), data, config, checkpoint=path)
    with pytest.raises(HwnasError, match="profile=small"):
        train_supernet(Supernet(HurricaneSpace("small", ops=[OPS] * 20)), data, config, None, path)
    with pytest.raises(HwnasError, match=r"lr 0.1 -> 0.05"):
        train_supernet(
            Supernet(space), data, TrainConfig(steps=1, batch_size=32, lr=0.05), None, path
        )
    with pytest.raises(HwnasError, match="sample choices"):
        train_supernet(Supernet(space), data, config, [[OPS[0]]] * 20, checkpoint=path)
    # resume=False starts over.
    stats = train_supernet(Supernet(space), data, config, [[OPS[0]]] * 20, path, resume=False)
    assert stats.resumed_from is None and read_checkpoint(path)["sample_choices"] == [[OPS[0]]] * 20
    path.write_bytes(b"garbage")
    with pytest.raises(HwnasError, match="cannot read supernet checkpoint"):
        train_supernet(Supernet(space), data, config, checkpoint=path)


def test_second_stage_warm_starts_and_leaves_unsampled_ops_alone(space):
    data = synthetic(96)
    supernet = Supernet(space, seed=0)
    train_supernet(supernet, data, TrainConfig(steps=2, batch_size=32))
    before = {k: v.clone() for k, v in supernet.state_dict().items()}
    # Stage 2: layers 0-9 fixed to OPS[0], the rest still free.
    choices = [[OPS[0]]] * 10 + [OPS] * 10
    stats = train_supernet(supernet, data, TrainConfig(steps=2, batch_size=32, seed=1), choices)
    assert stats.resumed_from is None and stats.step == 2
    after = supernet.state_dict()
    fixed = [k for k in before if any(k.startswith(f"layers.{i}.") for i in range(10))]
    for key in fixed:
        if f".{OPS[1]}." in key:
            assert torch.equal(before[key], after[key]), key  # never sampled: untouched
    assert all(
        not torch.equal(before[k], after[k])
        for k in fixed
        if f".{OPS[0]}." in k and k.endswith("0.weight")
    )
    with pytest.raises(HwnasError, match="layer 3"):
        train_supernet(supernet, data, TrainConfig(steps=1, batch_size=32), [OPS] * 3 + [[]] * 17)


@pytest.mark.slow
@pytest.mark.skipif(not FASHION.is_dir(), reason="Debian's dataset-fashion-mnist not installed")
def test_supernet_learns_fashion_mnist():
    space = HurricaneSpace("tiny", ops=[["SEP_k3", "MB_k3_e1"]] * 20)
    train, val, _ = load_images(FASHION).splits(val_size=5000, seed=0)
    supernet = Supernet(space, seed=0)
    stats = train_supernet(supernet, train.head(9600), TrainConfig(steps=150, batch_size=64))
    assert np.mean(stats.losses[-20:]) < 0.8 * np.mean(stats.losses[:20])
    evaluator = SubnetEvaluator(supernet, train, val, val_size=500)
    rng = np.random.default_rng(0)
    accuracies = [evaluator.accuracy(space.sample(rng).choices) for _ in range(2)]
    assert min(accuracies) > 25.0, accuracies  # chance is 10%


# ---------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------


def test_recalibrate_bn_is_the_exact_average_of_batch_statistics():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4))
    batches = [torch.randn(16, 1, 8, 8) for _ in range(3)]
    recalibrate_bn(model, batches)
    assert not model.training and model[1].momentum == 0.1
    with torch.no_grad():
        features = [model[0](b) for b in batches]
    means = torch.stack([f.mean(dim=(0, 2, 3)) for f in features]).mean(0)
    variances = torch.stack([f.var(dim=(0, 2, 3), unbiased=True) for f in features]).mean(0)
    assert torch.allclose(model[1].running_mean, means, atol=1e-6)
    assert torch.allclose(model[1].running_var, variances, atol=1e-5)


def test_evaluator_caches_and_leaves_the_supernet_alone(space):
    data = synthetic(200)
    supernet = randomise_batchnorm(Supernet(space, seed=0))
    digest = state_digest(supernet)
    evaluator = SubnetEvaluator(
        supernet, data, synthetic(300, seed=1), bn_batches=2, bn_batch_size=32, val_size=100
    )
    assert evaluator.val_images == 100
    ops = [OPS[0]] * 20
    first = evaluator.accuracy(ops)
    assert 0.0 <= first <= 100.0 and evaluator.evaluations == 1
    assert evaluator.accuracy(tuple(ops)) == first and evaluator.evaluations == 1
    assert state_digest(supernet) == digest
    # The score uses recalibrated statistics: it equals a subnet recalibrated by hand ...
    model = recalibrate_bn(supernet.extract(ops), [b.contiguous() for b in evaluator.bn_batches])
    with torch.no_grad():
        manual = (model(evaluator.val_x).argmax(1) == evaluator.val_y).float().mean() * 100
    assert abs(float(manual) - first) < 1e-4
    # ... and stale (randomised) statistics give another model.
    stale = supernet.extract(ops)
    assert not torch.equal(stale.stem[1].running_mean, model.stem[1].running_mean)
    evaluator.clear()
    assert evaluator.evaluations == 0


def test_supernet_accuracy_source(space):
    from hwnas.space import Architecture

    supernet = Supernet(space, seed=0)
    evaluator = SubnetEvaluator(
        supernet, synthetic(64), synthetic(64, 1), bn_batches=1, bn_batch_size=32, val_size=64
    )
    stage2 = space.restrict([[OPS[0]]] * 5 + [OPS] * 15)
    source = SupernetAccuracy(stage2, evaluator)
    arch = stage2.sample(np.random.default_rng(0))
    assert source.space == "hurricane" and source.name == "supernet"
    assert source.accuracy(arch) == evaluator.accuracy(arch.choices)
    assert source.report_accuracy(arch) == source.accuracy(arch)
    with pytest.raises(ArchitectureError, match="not 'nb201'"):
        source.accuracy(Architecture("nb201", arch.choices))
    with pytest.raises(ArchitectureError, match="position 0"):
        source.accuracy(Architecture("hurricane", (OPS[1], *arch.choices[1:])))
    with pytest.raises(ArchitectureError, match="not trained with"):
        SupernetAccuracy(HurricaneSpace("tiny"), evaluator)


# ---------------------------------------------------------------------------
# from scratch
# ---------------------------------------------------------------------------


def test_train_from_scratch_is_seeded_and_scores_the_test_set(space):
    train, test = synthetic(256), synthetic(128, seed=1)
    arch = ",".join([OPS[0]] * 20)
    a = train_from_scratch(space, arch, train, test, epochs=2, batch_size=32, lr=0.1, seed=0)
    b = train_from_scratch(space, arch, train, test, epochs=2, batch_size=32, lr=0.1, seed=0)
    assert isinstance(a, ScratchResult) and isinstance(a.model, HurricaneNet)
    assert a.images == 2 * 8 * 32 and a.epochs == 2 and a.seconds > 0
    assert a.test_accuracy == b.test_accuracy
    assert_same_state(a.model, b.model)
    with torch.no_grad():
        a.model.eval()
        manual = (a.model(test.x).argmax(1) == test.y).float().mean() * 100
    assert abs(float(manual) - a.test_accuracy) < 1e-4
    assert a.test_accuracy > 50.0  # the synthetic classes are separable; chance is 10%
    c = train_from_scratch(space, arch, train, test, epochs=1, batch_size=32, seed=1)
    assert state_digest(c.model) != state_digest(a.model)


# ---------------------------------------------------------------------------
# command line and torchrun
# ---------------------------------------------------------------------------


def write_fashion_like(root: Path, n_train=192, n_test=32) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(root / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    return root


def hwnas(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hwnas", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def invoke(*args: str):
    """Run ``hwnas ARGS`` in this process; HwnasErrors come back as ``result.exception``."""
    from typer.testing import CliRunner

    from hwnas.cli import app

    return CliRunner().invoke(app, list(args))


def test_cli_train_eval_and_errors(tmp_path):
    data = write_fashion_like(tmp_path / "data")
    ckpt = tmp_path / "sn.pt"
    common = ["--data-dir", str(data), "--checkpoint", str(ckpt)]
    args = ["supernet", "train", "--ops", ",".join(OPS), "--steps", "3", "--batch-size", "16"]
    args += ["--val-size", "32"]
    result = hwnas(*args, *common, "--json")  # as a user runs it
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["iterations"] == 3 and report["world_size"] == 1 and ckpt.is_file()
    assert report["space"]["profile"] == "tiny" and report["data"]["train"] == 192
    one_line_error(hwnas(*args, *common, "-o", "profile=small"), "profile=small", "checkpoint")

    arch = ",".join([OPS[1]] * 20)
    result = invoke("supernet", "eval", "--arch", arch, "--random", "1", *common, "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["results"]
    assert rows[0]["arch"] == arch and len(rows) == 2
    assert all(0 <= r["accuracy"] <= 100 for r in rows)
    result = invoke(*args, *common)  # finished run: resumes, trains nothing
    assert result.exit_code == 0 and "resumed from step 3" in result.stdout, result.output
    for bad, fragments in [
        (("supernet", "eval", "--arch", "SEP_k3", *common), ("needs 20 choices",)),
        (("supernet", "eval", "--random", "1", *common, "--profile", "small"), ("profile=small",)),
        (
            (*args, "--data-dir", str(tmp_path / "none"), "--checkpoint", str(ckpt)),
            ("no image data set", "dataset-fashion-mnist"),
        ),
        ((*args, "--lr", "0.5", *common), ("lr 0.1 -> 0.5", "--no-resume")),
        (("supernet", "eval", "--random", "1", "--checkpoint", str(data)), ("no supernet",)),
    ]:
        result = invoke(*bad)
        assert isinstance(result.exception, HwnasError), result.output
        assert all(f in str(result.exception) for f in fragments), str(result.exception)
    (tmp_path / "bad.pt").write_bytes(b"junk")
    result = invoke("supernet", "eval", "--random", "1", "--checkpoint", str(tmp_path / "bad.pt"))
    assert "cannot read supernet checkpoint" in str(result.exception)


def test_torchrun_two_ranks_train_identical_weights(tmp_path):
    data = write_fashion_like(tmp_path / "data", n_train=256)
    ckpt, digests = tmp_path / "ddp.pt", tmp_path / "digests"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "hwnas.plugins.hurricane",
        "--profile",
        "tiny",
        "--ops",
        ",".join(OPS),
        "--steps",
        "4",
        "--batch-size",
        "32",
        "--checkpoint-every",
        "2",
        "--val-size",
        "32",
        "--seed",
        "3",
        "--data-dir",
        str(data),
        "--checkpoint",
        str(ckpt),
        "--json",
    ]
    env = {**os.environ, "HWNAS_SUPERNET_DIGEST_DIR": str(digests), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert report["world_size"] == 2 and report["iterations"] == 4
    rank0 = (digests / "digest-rank0.txt").read_text()
    rank1 = (digests / "digest-rank1.txt").read_text()
    assert rank0 == rank1
    state = read_checkpoint(ckpt)
    assert state["step"] == 4 and state["world_size"] == 2
    supernet, _ = load_supernet(ckpt)
    assert state_digest(supernet) + "\n" == rank0
    initial = dict(Supernet(supernet.space, seed=3).named_parameters())
    # The ranks did train: the weights moved away from the seeded initial ones.
    assert state_digest(Supernet(supernet.space, seed=3)) + "\n" != rank0

    # One process on the same global batches, split like the two ranks' shards
    # (--micro-batches 2: BN sees the same per-shard statistics), reaches the same weights.
    # One thread, like each rank: another thread count sums convolutions in another order.
    single = tmp_path / "single.pt"
    args = cmd[cmd.index("--profile") : cmd.index("--checkpoint")]
    result = hwnas("supernet", "train", *args, "--micro-batches", "2", "--threads", "1",
                   "--checkpoint", str(single), "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout)["world_size"] == 1
    one, _ = load_supernet(single)
    ddp = dict(supernet.named_parameters())
    for name, value in one.named_parameters():
        assert torch.allclose(value, ddp[name], rtol=1e-5, atol=1e-7), name
    moved = [n for n, v in one.named_parameters() if not torch.equal(v, initial[n])]
    assert moved, "the single process did not train"
