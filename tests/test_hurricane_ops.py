"""Tests for the HURRICANE operator pool (hwnas.spaces.hurricane.ops)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from hwnas.spaces.hurricane import ops

# (cin, cout, stride, size)
SHAPES = [(16, 16, 1, 14), (16, 24, 2, 14), (16, 32, 1, 7), (16, 24, 2, 7)]


def _make(name: str, cin: int, cout: int, stride: int) -> nn.Module:
    torch.manual_seed(0)
    return ops.build_op(name, cin, cout, stride)


def test_names():
    assert len(ops.OP_NAMES) == 32 and len(set(ops.OP_NAMES)) == 32
    assert ops.OP_NAMES[:16] == ops.BASE_OPS
    assert ops.OP_NAMES[16:] == tuple(f"{n}_SE" for n in ops.BASE_OPS)
    assert ops.BASE_OPS[:4] == ("SEP_k3", "SEP_k5", "SEP_k7", "MB_k3_e1")
    assert ops.BASE_OPS[-4:] == ("Choice_k3", "Choice_k5", "Choice_k7", "Choice_x")
    assert ops.parse_op("MB_k5_e6_SE") == ops.OpSpec("MB_k5_e6_SE", "MB", 5, 6, True)
    assert ops.parse_op("Choice_x") == ops.OpSpec("Choice_x", "ChoiceX", 3, 1, False)
    assert ops.parse_op("SEP_k7").expand == 1


@pytest.mark.parametrize("bad", ["MB_k3_e2", "sep_k3", "Choice_x_se", ""])
def test_parse_op_rejects_unknown(bad):
    with pytest.raises(ValueError, match="valid ops: SEP_k3, SEP_k5"):
        ops.parse_op(bad)
    with pytest.raises(ValueError):
        ops.build_op(bad, 16, 16, 1)


@pytest.mark.parametrize("name", [n for n in ops.OP_NAMES if n.startswith("Choice")])
@pytest.mark.parametrize("cin,cout,stride", [(16, 16, 2), (16, 8, 2), (16, 8, 1)])
def test_choice_two_branch_needs_wider_output(name, cin, cout, stride):
    with pytest.raises(ValueError, match="cout > cin"):
        ops.build_op(name, cin, cout, stride)
    with pytest.raises(ValueError, match="cout > cin"):
        ops.op_cost(name, cin, cout, 8, 8, stride)


def test_output_size():
    assert [ops.output_size(s, 3, 2) for s in (7, 8, 14, 1)] == [4, 4, 7, 1]
    assert ops.output_size(7, 7, 1) == 7 and ops.output_size(7, 1, 2) == 4


@pytest.mark.parametrize("cin,cout,stride,size", SHAPES)
@pytest.mark.parametrize("name", ops.OP_NAMES)
def test_shape_flops_params(name, cin, cout, stride, size):
    module = _make(name, cin, cout, stride)
    x = torch.randn(1, cin, size, size)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        y = module(x)
    out = -(-size // stride)
    assert y.shape == (1, cout, out, out)
    assert out == ops.output_size(size, ops.parse_op(name).kernel, stride)
    cost = ops.op_cost(name, cin, cout, size, size, stride)
    assert cost.flops == counter.get_total_flops()
    assert cost.params == sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name", ops.OP_NAMES)
def test_residual_and_split(name):
    spec = ops.parse_op(name)
    x = torch.randn(2, 16, 7, 7)
    module = _make(name, 16, 16, 1).eval()
    if spec.family in ("SEP", "MB"):
        assert module.use_residual
        assert not _make(name, 16, 24, 1).use_residual
        assert not _make(name, 16, 16, 2).use_residual
        # Zeroing the last BN kills the main branch: only the identity path remains.
        last_bn = [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)][-1]
        with torch.no_grad():
            last_bn.weight.zero_()
            last_bn.bias.zero_()
            torch.testing.assert_close(module(x), x)
    else:
        assert module.mode == "split" and not module.use_residual
        assert _make(name, 16, 24, 2).mode == "concat"
        # After the 2-group shuffle the untouched half sits in the even output channels.
        with torch.no_grad():
            torch.testing.assert_close(module(x)[:, 0::2], x[:, :8])


def test_se_gate_and_helpers():
    se = ops.SqueezeExcite(8)
    assert se.reduce.out_channels == 2
    assert ops.SqueezeExcite(3).reduce.out_channels == 1
    x = torch.randn(2, 8, 5, 5)
    s = se.expand(torch.relu(se.reduce(x.mean((2, 3), keepdim=True))))
    torch.testing.assert_close(se(x), x * torch.nn.functional.hardsigmoid(s))
    assert ops.Cost(1, 2) + ops.Cost(3, 4) == ops.Cost(4, 6)
    assert sum([ops.Cost(1, 2), ops.Cost(3, 4)]) == ops.Cost(4, 6)

    linear = nn.Linear(32, 10)
    with FlopCounterMode(display=False) as counter:
        linear(torch.randn(1, 32))
    cost = ops.linear_cost(32, 10)
    assert cost == ops.Cost(counter.get_total_flops(), sum(p.numel() for p in linear.parameters()))

    conv = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16))
    with FlopCounterMode(display=False) as counter:
        conv(torch.randn(1, 3, 15, 15))
    cost = ops.conv_cost(3, 16, 3, 8, 8)
    assert cost == ops.Cost(counter.get_total_flops(), sum(p.numel() for p in conv.parameters()))
