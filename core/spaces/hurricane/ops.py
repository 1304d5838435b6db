"""HURRICANE operator pool (Zhang et al., "Fast Hardware-Aware NAS", CVPRW 2020).

16 base structures (SEP, MobileNetV2 MB, ShuffleNetV2 Choice / Choice_x as in SPOS), each with and
without squeeze-and-excitation: 32 ops.  Every op is described once as a small *plan* (a tuple of
conv/SE layer descriptions per branch); the same plan builds the torch module (``build_op``) and
yields the analytic cost (``op_cost``), so structure and cost cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "BASE_OPS",
    "OP_NAMES",
    "Cost",
    "HurricaneOp",
    "OpSpec",
    "SqueezeExcite",
    "build_op",
    "channel_shuffle",
    "conv_bn",
    "conv_cost",
    "linear_cost",
    "op_cost",
    "output_size",
    "parse_op",
    "se_cost",
]


# --------------------------------------------------------------------------- names
@dataclass(frozen=True)
class OpSpec:
    """Parsed op name: family ("SEP" | "MB" | "Choice" | "ChoiceX"), kernel, expansion, SE flag."""

    name: str
    family: str
    kernel: int
    expand: int
    se: bool


def _base_name(family: str, kernel: int, expand: int) -> str:
    if family == "SEP":
        return f"SEP_k{kernel}"
    if family == "MB":
        return f"MB_k{kernel}_e{expand}"
    return f"Choice_k{kernel}" if family == "Choice" else "Choice_x"


_BASE_SPECS = (
    *(("SEP", k, 1) for k in (3, 5, 7)),
    *(("MB", k, e) for k in (3, 5, 7) for e in (1, 3, 6)),
    *(("Choice", k, 1) for k in (3, 5, 7)),
    ("ChoiceX", 3, 1),
)
_SPECS: dict[str, OpSpec] = {
    _base_name(f, k, e) + ("_SE" if se else ""): OpSpec(
        _base_name(f, k, e) + ("_SE" if se else ""), f, k, e, se
    )
    for se in (False, True)
    for f, k, e in _BASE_SPECS
}
OP_NAMES: tuple[str, ...] = tuple(_SPECS)
BASE_OPS: tuple[str, ...] = OP_NAMES[: len(_BASE_SPECS)]


def parse_op(name: str) -> OpSpec:
    """Parse an op name into an OpSpec; ValueError listing the valid names if unknown."""
    try:
        return _SPECS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown HURRICANE op {name!r}; valid ops: {', '.join(OP_NAMES)}"
        ) from None


# --------------------------------------------------------------------------- costs
@dataclass(frozen=True)
class Cost:
    """FLOPs (2 x MACs of conv/linear layers, as FlopCounterMode) and parameter count."""

    flops: int
    params: int

    def __add__(self, other: Cost) -> Cost:
        """Element-wise sum."""
        if not isinstance(other, Cost):
            return NotImplemented
        return Cost(self.flops + other.flops, self.params + other.params)

    def __radd__(self, other: object) -> Cost:
        """Allow ``sum(costs)`` (starting from 0)."""
        if other == 0:
            return self
        return NotImplemented


def output_size(size: int, kernel: int, stride: int) -> int:
    """Spatial size after a conv padded by kernel // 2 (= ceil(size / stride) for odd kernels)."""
    return (size + 2 * (kernel // 2) - kernel) // stride + 1


def conv_cost(
    cin: int,
    cout: int,
    k: int,
    h_out: int,
    w_out: int,
    groups: int = 1,
    bias: bool = False,
    bn: bool = True,
) -> Cost:
    """Analytic cost of a kxk conv (optionally with bias and a following BatchNorm2d)."""
    if cin % groups or cout % groups:
        raise ValueError(f"cin={cin} and cout={cout} must be divisible by groups={groups}")
    weights = cout * (cin // groups) * k * k
    params = weights + (cout if bias else 0) + (2 * cout if bn else 0)
    return Cost(flops=2 * weights * h_out * w_out, params=params)


def linear_cost(cin: int, cout: int, bias: bool = True) -> Cost:
    """Analytic cost of an nn.Linear applied to one vector."""
    return Cost(flops=2 * cin * cout, params=cin * cout + (cout if bias else 0))


def _se_reduced(channels: int) -> int:
    return max(1, channels // 4)


def se_cost(channels: int) -> Cost:
    """Analytic cost of a SqueezeExcite block on `channels` channels."""
    r = _se_reduced(channels)
    return conv_cost(channels, r, 1, 1, 1, bias=True, bn=False) + conv_cost(
        r, channels, 1, 1, 1, bias=True, bn=False
    )


# --------------------------------------------------------------------------- plans
@dataclass(frozen=True)
class ConvStep:
    """One convolution (+BN, optional activation) of an op's plan."""

    cin: int
    cout: int
    k: int
    stride: int = 1
    groups: int = 1
    act: str | None = None  # None | "relu" | "relu6"


@dataclass(frozen=True)
class SEStep:
    """A squeeze-and-excitation block (reduction 4) of an op's plan."""

    channels: int


PlanStep = ConvStep | SEStep


@dataclass(frozen=True)
class OpPlan:
    """An op as steps: its main branch, its projection branch and how they combine."""

    mode: str  # "plain" | "residual" | "split" | "concat"
    main: tuple[PlanStep, ...]
    proj: tuple[PlanStep, ...] = ()


def _dw(c: int, k: int, stride: int = 1, act: str | None = None) -> ConvStep:
    return ConvStep(c, c, k, stride, c, act)


def _pw(cin: int, cout: int, act: str | None = None) -> ConvStep:
    return ConvStep(cin, cout, 1, 1, 1, act)


def _maybe_se(channels: int, se: bool) -> tuple[PlanStep, ...]:
    return (SEStep(channels),) if se else ()


def op_plan(name: str, cin: int, cout: int, stride: int) -> OpPlan:
    """Layer-level description of op `name`; single source of truth for build_op and op_cost."""
    spec = parse_op(name)
    if min(cin, cout, stride) < 1:
        raise ValueError(f"cin, cout and stride must be positive, got {cin}, {cout}, {stride}")
    k, se = spec.kernel, spec.se
    same = stride == 1 and cin == cout
    if spec.family == "SEP":
        main = (_dw(cin, k, stride, "relu"), *_maybe_se(cin, se), _pw(cin, cout, "relu"))
        return OpPlan("residual" if same else "plain", main)
    if spec.family == "MB":
        hid = cin * spec.expand
        expand = (_pw(cin, hid, "relu6"),) if spec.expand > 1 else ()
        main = (*expand, _dw(hid, k, stride, "relu6"), *_maybe_se(hid, se), _pw(hid, cout))
        return OpPlan("residual" if same else "plain", main)

    # ShuffleNetV2 blocks (SPOS): split form if shape-preserving, else two-branch form.
    if cout % 2:
        raise ValueError(f"{name}: cout={cout} must be even for the 2-group channel shuffle")
    if same:
        mode, inp, out, proj = "split", cin // 2, cout - cin // 2, ()
    else:
        if cout <= cin:
            raise ValueError(
                f"{name}: the two-branch form (stride={stride}, cin={cin}) needs cout > cin, "
                f"got cout={cout}"
            )
        mode, inp, out = "concat", cin, cout - cin
        proj = (_dw(cin, k, stride), _pw(cin, cin, "relu"))
    mid = cout // 2
    if spec.family == "Choice":
        main = (_pw(inp, mid, "relu"), _dw(mid, k, stride), _pw(mid, out, "relu"))
    else:  # ChoiceX (Xception-like), k = 3
        main = (
            _dw(inp, k, stride),
            _pw(inp, mid, "relu"),
            _dw(mid, k),
            _pw(mid, mid, "relu"),
            _dw(mid, k),
            _pw(mid, out, "relu"),
        )
    return OpPlan(mode, (*main, *_maybe_se(out, se)), proj)


def _layers_cost(layers: tuple[PlanStep, ...], h: int, w: int) -> Cost:
    total = Cost(0, 0)
    for layer in layers:
        if isinstance(layer, SEStep):
            total += se_cost(layer.channels)
        else:
            h, w = output_size(h, layer.k, layer.stride), output_size(w, layer.k, layer.stride)
            total += conv_cost(layer.cin, layer.cout, layer.k, h, w, groups=layer.groups)
    return total


def op_cost(name: str, cin: int, cout: int, height: int, width: int, stride: int) -> Cost:
    """Analytic cost of op `name` on a cin x height x width input (shape formulas, no module)."""
    plan = op_plan(name, cin, cout, stride)
    return _layers_cost(plan.main, height, width) + _layers_cost(plan.proj, height, width)


# --------------------------------------------------------------------------- modules
_ACTS = {None: nn.Identity, "relu": nn.ReLU, "relu6": nn.ReLU6}


def conv_bn(
    cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, act: str | None = None
) -> nn.Sequential:
    """Conv2d (bias=False, padding k // 2) + BatchNorm2d + activation (None | "relu" | "relu6")."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        _ACTS[act](),
    )


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation, reduction 4, gate relu6(s + 3) / 6 (hard sigmoid)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        r = _se_reduced(channels)
        self.reduce = nn.Conv2d(channels, r, 1, bias=True)
        self.expand = nn.Conv2d(r, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale x channel-wise by its excitation gate."""
        s = self.expand(F.relu(self.reduce(F.adaptive_avg_pool2d(x, 1))))
        return x * F.relu6(s + 3.0) / 6.0


def channel_shuffle(x: torch.Tensor, groups: int = 2) -> torch.Tensor:
    """ShuffleNet channel shuffle via reshape / transpose / reshape (ONNX-exportable)."""
    n, c, h, w = x.shape
    return x.reshape(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


def _build(layers: tuple[PlanStep, ...]) -> nn.Sequential:
    return nn.Sequential(
        *(
            SqueezeExcite(layer.channels)
            if isinstance(layer, SEStep)
            else conv_bn(layer.cin, layer.cout, layer.k, layer.stride, layer.groups, layer.act)
            for layer in layers
        )
    )


class HurricaneOp(nn.Module):
    """One HURRICANE op: main branch, optional projection branch, residual/split/concat combine."""

    def __init__(self, name: str, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        plan = op_plan(name, cin, cout, stride)
        self.name, self.mode = name, plan.mode
        self.use_residual = plan.mode == "residual"
        self.main = _build(plan.main)
        self.proj = _build(plan.proj) if plan.proj else None
        self.half = cin // 2  # a constant, so the exported split has static shapes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the op."""
        if self.mode == "split":
            x1, x2 = x[:, : self.half], x[:, self.half :]
            return channel_shuffle(torch.cat((x1, self.main(x2)), dim=1))
        if self.proj is not None:
            return channel_shuffle(torch.cat((self.proj(x), self.main(x)), dim=1))
        out = self.main(x)
        return out + x if self.use_residual else out

    def extra_repr(self) -> str:
        """Show the op name and combine mode."""
        return f"name={self.name}, mode={self.mode}"


def build_op(name: str, cin: int, cout: int, stride: int) -> nn.Module:
    """Build op `name` as a torch module mapping cin -> cout channels with the given stride."""
    return HurricaneOp(name, cin, cout, stride)
