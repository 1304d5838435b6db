"""The HURRICANE space: skeleton, cost facts, every op at every layer, ONNX deployability."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import randomise_batchnorm
from torch.utils.flop_counter import FlopCounterMode

from hwnas.errors import HwnasError
from hwnas.export import export_onnx, onnxruntime_max_abs_diff
from hwnas.spaces.hurricane.ops import OP_NAMES
from hwnas.spaces.hurricane.space import HurricaneSpace

SMALL = HurricaneSpace()


def flops_and_params(model, x):
    with FlopCounterMode(display=False) as counter:
        model.eval()(x)
    return counter.get_total_flops(), sum(p.numel() for p in model.parameters())


def distinct_layers(space):
    """One learnable layer per distinct (shape, stride): identical layers share workloads."""
    seen = {}
    for layer in space.layers:
        seen.setdefault(space.layer_workload(layer.index, "SEP_k3").key, layer.index)
    return sorted(seen.values())


def test_skeleton_small_profile():
    assert len(SMALL.layers) == 20 and len(SMALL.positions) == 20
    assert all(p.choices == OP_NAMES for p in SMALL.positions)
    assert [layer.index for layer in SMALL.layers if layer.stride == 2] == [4, 8, 16]
    assert SMALL.layers[0].input_shape == (16, 28, 28)
    assert SMALL.layers[-1].output_shape == (128, 4, 4)
    assert SMALL.size == 32**20


def test_skeleton_imagenet_profile():
    space = HurricaneSpace(profile="imagenet")
    assert [layer.index for layer in space.layers if layer.stride == 2] == [0, 4, 8, 16]
    assert [space.layers[i].height for i in (0, 4, 8, 16)] == [112, 56, 28, 14]
    assert space.layers[-1].output_shape == (640, 7, 7)


def test_profile_overrides_and_errors():
    cifar = HurricaneSpace(resolution=32, in_channels=3)
    assert cifar.layers[0].input_shape == (16, 32, 32)
    assert cifar.arch_workload(cifar.sample(np.random.default_rng(0))).input_shape == (1, 3, 32, 32)
    with pytest.raises(HwnasError, match="unknown hurricane profile"):
        HurricaneSpace(profile="mobile")


def test_describe_has_costs_for_every_layer_and_op():
    info = SMALL.describe()
    assert info["num_layers"] == 20 and info["num_ops"] == 32
    for layer in info["layers"]:
        assert [op["op"] for op in layer["ops"]] == list(OP_NAMES)
        assert all(op["flops"] > 0 and op["params"] > 0 for op in layer["ops"])
        assert {"input_shape", "output_shape", "stride"} <= set(layer)


@pytest.mark.parametrize(
    "profile, seed", [("small", 0), ("small", 1), ("small", 2), ("imagenet", 0)]
)
def test_architecture_cost_matches_flop_counter(profile, seed):
    space = HurricaneSpace(profile=profile)
    arch = space.sample(np.random.default_rng(seed))
    workload = space.arch_workload(arch)
    flops, params = flops_and_params(workload.build(), workload.example_input())
    cost = space.cost(arch)
    assert (cost.flops, cost.params) == (flops, params)
    assert workload.features["flops"] == flops


@pytest.mark.parametrize("index", distinct_layers(SMALL))
def test_every_op_at_every_layer_runs_exports_and_matches_onnxruntime(index, tmp_path):
    """Each of the 32 ops at each distinct layer shape: forward shape, FLOPs, ONNX, ORT."""
    pytest.importorskip("onnxruntime")
    layer = SMALL.layers[index]
    for op in OP_NAMES:
        workload = SMALL.layer_workload(index, op, batch=2)
        module = randomise_batchnorm(workload.build())
        x = workload.example_input()
        with torch.no_grad():
            assert tuple(module(x).shape) == (2, *layer.output_shape), op
        path = export_onnx(module, x, tmp_path / f"{index}_{op}.onnx")
        assert onnxruntime_max_abs_diff(path, module, x) < 1e-4, op


@pytest.mark.parametrize("index", distinct_layers(HurricaneSpace(profile="imagenet")))
def test_every_op_at_every_imagenet_layer_matches_onnxruntime(index, tmp_path):
    pytest.importorskip("onnxruntime")
    space = HurricaneSpace(profile="imagenet")
    for op in OP_NAMES:
        workload = space.layer_workload(index, op)
        module = randomise_batchnorm(workload.build())
        x = workload.example_input()
        path = export_onnx(module, x, tmp_path / f"{index}_{op}.onnx")
        assert onnxruntime_max_abs_diff(path, module, x) < 1e-4, op


def test_random_architecture_round_trips_builds_exports_and_runs(tmp_path):
    pytest.importorskip("onnxruntime")
    arch = SMALL.sample(np.random.default_rng(11))
    again = SMALL.parse(SMALL.format(arch))
    assert again == arch
    workload = SMALL.arch_workload(again)
    model = randomise_batchnorm(workload.build())
    x = workload.example_input()
    assert model(x).shape == (1, 10)
    path = export_onnx(model, x, tmp_path / "arch.onnx")
    assert onnxruntime_max_abs_diff(path, model, x) < 1e-4


def test_workload_keys_are_structural():
    same_a, same_b = SMALL.layer_workload(1, "MB_k3_e6"), SMALL.layer_workload(2, "MB_k3_e6")
    assert same_a.key == same_b.key and same_a.label != same_b.label
    assert SMALL.layer_workload(0, "MB_k3_e6").key == same_a.key  # stage 1 has no channel change
    assert SMALL.layer_workload(4, "MB_k3_e6").key != same_a.key
    assert SMALL.layer_workload(1, "MB_k3_e6_SE").key != same_a.key
    assert SMALL.layer_workload(1, "MB_k3_e6", batch=8).input_shape == (8, 16, 28, 28)
    features = SMALL.layer_workload(8, "Choice_k5_SE").features
    assert features["family"] == "Choice" and features["kernel"] == 5 and features["se"] == 1
    assert (
        features["stride"] == 2 and features["flops"] == SMALL.layer_cost(8, "Choice_k5_SE").flops
    )


def test_workloads_rebuild_from_their_recipe_and_cache_onnx_once(tmp_path):
    import pickle

    from hwnas.onnx_cache import onnx_file
    from hwnas.workload import from_recipe

    space = HurricaneSpace(resolution=32, in_channels=3)
    original = space.layer_workload(6, "Choice_x_SE", batch=2)
    again = from_recipe(pickle.loads(pickle.dumps(original.recipe)))
    assert again == original and again.features == original.features
    arch = space.sample(np.random.default_rng(3))
    assert from_recipe(space.arch_workload(arch).recipe).input_shape == (1, 3, 32, 32)
    first = onnx_file(original, root=tmp_path)
    stamp = first.stat().st_mtime_ns
    assert onnx_file(again, root=tmp_path) == first and first.stat().st_mtime_ns == stamp
    assert len(list(tmp_path.iterdir())) == 1
