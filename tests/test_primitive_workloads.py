"""Primitive instances of the HURRICANE ops as workloads (benchmarks/primitive_sum.py)."""

from __future__ import annotations

import pytest
import torch

from hwnas.predict.primitives import primitives
from hwnas.spaces.hurricane.ops import OP_NAMES, build_op
from hwnas.spaces.hurricane.primitive_workloads import (
    make_primitive_workload,
    op_primitive_keys,
    primitive_workloads,
)
from hwnas.spaces.hurricane.space import HurricaneSpace
from hwnas.workload import from_recipe


@pytest.fixture(scope="module")
def ops():
    space = HurricaneSpace()
    cells = [space.layer_workload(i, op) for i in range(len(space.layers)) for op in OP_NAMES]
    return list({w.key: w for w in cells}.values())


def test_every_op_primitive_is_one_workload_and_runs(ops):
    prims = {w.key: w for w in primitive_workloads(ops)}
    wanted = {k for w in ops for k in op_primitive_keys(w.features)}
    assert set(prims) == wanted
    # the same instances as the additive model's, minus its combine steps
    model = {p.key for w in ops for p in primitives(w.features) if p.kind[:7] != "combine"}
    assert len(prims) == len(model)
    for workload in list(prims.values())[::17]:
        out = workload.build()(workload.example_input())
        assert out.shape[:2] == (1, workload.features["out_channels"])


def test_an_mb_op_runs_expand_depthwise_project(ops):
    op = next(w for w in ops if w.features["op"] == "MB_k5_e6" and w.features["stride"] == 2)
    keys = op_primitive_keys(op.features)
    c = op.features["in_channels"]
    assert [k.split("/")[2] for k in keys] == [
        f"c{c}-{6 * c}",
        f"c{6 * c}-{6 * c}",
        keys[2].split("/")[2],
    ]
    assert "/k5/s2/" in keys[1] and f"/g{6 * c}/" in keys[1]


def test_primitives_chain_to_the_op_output_shape(ops):
    op = next(w for w in ops if w.features["op"] == "MB_k3_e3_SE" and w.features["stride"] == 2)
    x = op.example_input()
    y = x
    for key in op_primitive_keys(op.features):
        workload = next(w for w in primitive_workloads([op]) if w.key == key)
        assert workload.input_shape == tuple(y.shape)
        y = workload.build()(y)
    f = op.features
    full = build_op(f["op"], f["in_channels"], f["out_channels"], f["stride"]).eval()(x)
    assert y.shape == full.shape


def test_recipe_rebuilds_the_same_workload():
    workload = make_primitive_workload("conv", 16, 16, k=3, stride=2, groups=16, height=8, width=8)
    again = from_recipe(workload.recipe)
    assert again.key == workload.key
    x = workload.example_input()
    assert torch.equal(workload.build()(x), again.build()(x))


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown primitive kind"):
        make_primitive_workload("pool", 8, 8)
