"""Supernet and scratch training on every torch device this machine has (GPU cases skip here)."""

from __future__ import annotations

import pytest
import torch
from test_supernet import OPS, synthetic

from hwnas.errors import HwnasError
from hwnas.plugins.hurricane.supernet.device import (
    available_devices,
    check_device,
    distributed_backend,
    resolve_device,
)
from hwnas.plugins.hurricane.supernet.evaluate import SubnetEvaluator
from hwnas.plugins.hurricane.supernet.model import Supernet
from hwnas.plugins.hurricane.supernet.scratch import train_from_scratch
from hwnas.plugins.hurricane.supernet.train import TrainConfig, state_digest, train_supernet
from hwnas.spaces.hurricane.space import HurricaneSpace


def _device_params():
    """cpu always; cuda and mps as cases that skip with the reason when absent."""
    found = available_devices()
    cuda = next((d for d in found if d.startswith("cuda")), None)
    return [
        pytest.param("cpu", id="cpu"),
        pytest.param(
            cuda or "cuda",
            id="cuda",
            marks=pytest.mark.skipif(cuda is None, reason="no CUDA GPU on this machine"),
        ),
        pytest.param(
            "mps",
            id="mps",
            marks=pytest.mark.skipif("mps" not in found, reason="no Apple MPS device here"),
        ),
    ]


@pytest.fixture(scope="module")
def space():
    return HurricaneSpace("tiny", ops=[OPS] * 20)


@pytest.mark.parametrize("device", _device_params())
def test_supernet_and_scratch_train_on_the_device(space, device):
    train, val = synthetic(96, seed=0), synthetic(64, seed=1)
    supernet = Supernet(space, seed=0)
    before = state_digest(supernet)
    config = TrainConfig(steps=4, batch_size=16, lr=0.05, device=device, checkpoint_every=10)
    stats = train_supernet(supernet, train, config)
    where = resolve_device(device)
    assert next(supernet.parameters()).device.type == where.type
    assert stats.iterations == 4 and all(torch.isfinite(torch.tensor(stats.losses)))
    assert state_digest(supernet) != before
    evaluator = SubnetEvaluator(supernet, train, val, bn_batches=1, bn_batch_size=32, val_size=64)
    assert 0.0 <= evaluator.accuracy([OPS[0]] * 20) <= 100.0
    result = train_from_scratch(
        space, [OPS[1]] * 20, train, val, epochs=0.5, batch_size=16, device=device, bn_images=32
    )
    assert 0.0 <= result.test_accuracy <= 100.0
    assert next(result.model.parameters()).device.type == "cpu"  # handed back on the CPU


def test_cpu_training_is_the_same_with_dataloader_workers(space):
    train = synthetic(96, seed=0)
    digests = {}
    for name, extra in {
        "plain": {},
        "workers": {"loader_workers": 2},
    }.items():
        supernet = Supernet(space, seed=0)
        train_supernet(supernet, train, TrainConfig(steps=3, batch_size=16, seed=1, **extra))
        digests[name] = state_digest(supernet)
    assert digests["plain"] == digests["workers"]  # the same batches, assembled elsewhere


def test_device_names():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in {"cpu", "cuda", "mps"}
    assert check_device("CUDA:1") == "cuda:1"
    assert distributed_backend(torch.device("cpu")) == "gloo"
    assert distributed_backend(torch.device("cuda", 0)) == "nccl"
    for bad in ("tpu", "cuda:", "cuda:x", "", "gpu"):
        with pytest.raises(HwnasError, match="--device"):
            check_device(bad)
        with pytest.raises(HwnasError, match="--device"):
            resolve_device(bad)
    if not torch.cuda.is_available():
        with pytest.raises(HwnasError, match="no CUDA GPU"):
            resolve_device("cuda")
