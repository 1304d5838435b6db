"""The HURRICANE macro skeleton: fixed stem, 20 learnable layers, fixed head.

Every learnable layer picks one of the 32 ops of :mod:`.ops` (or one of the
ops a generated space keeps there, see ``ops``). Input profiles: ``imagenet``
(224x224x3, SPOS/ProxylessNAS-like channels), ``small`` (28x28x1
Fashion-MNIST by default, or 32x32x3 with ``resolution=32, in_channels=3``)
and ``tiny`` (``small`` with a stride-2 stem: 4x fewer FLOPs, so a supernet
trains in minutes on a 2-core CPU).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from hwnas.errors import HwnasError
from hwnas.space import Architecture, LayeredSpace, Position
from hwnas.spaces.hurricane.ops import (
    OP_NAMES,
    Cost,
    build_op,
    conv_cost,
    linear_cost,
    op_cost,
    output_size,
    parse_op,
)
from hwnas.workload import Workload, seeded


@dataclass(frozen=True)
class Profile:
    """Input shape and channel plan of the skeleton (stage depths sum to the layer count)."""

    name: str
    resolution: int
    in_channels: int
    num_classes: int
    stem_channels: int
    stem_stride: int
    stage_depths: tuple[int, ...]
    stage_channels: tuple[int, ...]
    stage_strides: tuple[int, ...]
    last_channels: int


#: The fixed parts of every HURRICANE network (see :meth:`HurricaneSpace.fixed_workloads`).
FIXED_PARTS = ("stem", "head")

PROFILES: dict[str, Profile] = {
    # Single Path One-Shot / HURRICANE ImageNet plan: 112 -> 56 -> 28 -> 14 -> 7.
    "imagenet": Profile(
        "imagenet", 224, 3, 1000, 16, 2, (4, 4, 8, 4), (64, 160, 320, 640), (2, 2, 2, 2), 1024
    ),
    # Small images (28x28x1 or 32x32x3): 28 -> 28 -> 14 -> 7 -> 4.
    "small": Profile("small", 28, 1, 10, 16, 1, (4, 4, 8, 4), (16, 32, 64, 128), (1, 2, 2, 2), 256),
    # The same with a stride-2 stem: 28 -> 14 -> 14 -> 7 -> 4 -> 2 (the CPU main job).
    "tiny": Profile("tiny", 28, 1, 10, 16, 2, (4, 4, 8, 4), (16, 32, 64, 128), (1, 2, 2, 2), 256),
}


@dataclass(frozen=True)
class LayerSpec:
    """A learnable layer: where it sits and the shapes every candidate op sees."""

    index: int
    stage: int
    in_channels: int
    out_channels: int
    stride: int
    height: int
    width: int

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the layer input."""
        return (self.in_channels, self.height, self.width)

    @property
    def output_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the layer output."""
        return (
            self.out_channels,
            output_size(self.height, 3, self.stride),
            output_size(self.width, 3, self.stride),
        )


def plan_layers(profile: Profile) -> tuple[LayerSpec, ...]:
    """Lay out the learnable layers: the first layer of each stage carries its stride."""
    size = output_size(profile.resolution, 3, profile.stem_stride)
    channels = profile.stem_channels
    layers = []
    for stage, (depth, width, stride) in enumerate(
        zip(profile.stage_depths, profile.stage_channels, profile.stage_strides, strict=True)
    ):
        for j in range(depth):
            s = stride if j == 0 else 1
            layers.append(LayerSpec(len(layers), stage, channels, width, s, size, size))
            size, channels = output_size(size, 3, s), width
    return tuple(layers)


class HurricaneSpace(LayeredSpace):
    """HURRICANE space: 20 learnable layers x 32 ops (16 structures, with/without SE).

    ``ops`` restricts the candidates per layer (a generated, hardware-specific
    space; one list per layer, each a subset of the 32). Architectures of a
    restricted space are architectures of the full space too, so latency
    tables and workloads are shared; ``options`` describes the shapes only.
    """

    name = "hurricane"

    def __init__(
        self,
        profile: str = "small",
        resolution: int | None = None,
        in_channels: int | None = None,
        num_classes: int | None = None,
        ops: Sequence[Sequence[str]] | None = None,
    ) -> None:
        if profile not in PROFILES:
            raise HwnasError(
                f"unknown hurricane profile {profile!r}", f"choose one of: {', '.join(PROFILES)}"
            )
        for key, value, high in (
            ("resolution", resolution, 1024),
            ("in_channels", in_channels, 64),
            ("num_classes", num_classes, 100_000),
        ):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high
            ):
                raise HwnasError(
                    f"hurricane option {key}={value} is not a whole number from 1 to {high}",
                    f"e.g. -o {key}={PROFILES[profile].__dict__.get(key, 32)}",
                )
        self.options = {
            "profile": profile,
            "resolution": resolution,
            "in_channels": in_channels,
            "num_classes": num_classes,
        }
        overrides = {
            "resolution": resolution,
            "in_channels": in_channels,
            "num_classes": num_classes,
        }
        self.profile = replace(
            PROFILES[profile], **{k: v for k, v in overrides.items() if v is not None}
        )
        self.layers = plan_layers(self.profile)
        self.restricted = ops is not None
        per_layer = _check_ops(ops, len(self.layers)) if ops is not None else None
        super().__init__(
            Position(f"layer{layer.index}", per_layer[layer.index] if per_layer else OP_NAMES)
            for layer in self.layers
        )

    def restrict(self, ops: Sequence[Sequence[str]]) -> HurricaneSpace:
        """The same skeleton with only ``ops[i]`` allowed at layer ``i``."""
        return HurricaneSpace(**self.options, ops=ops)

    def full(self) -> HurricaneSpace:
        """The unrestricted space with the same shapes."""
        return self if not self.restricted else HurricaneSpace(**self.options)

    # -- costs -------------------------------------------------------------
    def layer_cost(self, index: int, op: str) -> Cost:
        """Analytic FLOPs and params of ``op`` at learnable layer ``index``."""
        layer = self.layers[index]
        return op_cost(
            op, layer.in_channels, layer.out_channels, layer.height, layer.width, layer.stride
        )

    def fixed_cost(self) -> Cost:
        """FLOPs and params of the fixed layers: stem, last 1x1 conv, pooling, classifier."""
        p = self.profile
        stem_out = output_size(p.resolution, 3, p.stem_stride)
        last = self.layers[-1].output_shape
        return (
            conv_cost(p.in_channels, p.stem_channels, 3, stem_out, stem_out)
            + conv_cost(last[0], p.last_channels, 1, last[1], last[2])
            + linear_cost(p.last_channels, p.num_classes)
        )

    def cost(self, arch: Architecture) -> Cost:
        """Analytic FLOPs and params of a whole architecture."""
        self._check_space(arch)
        total = self.fixed_cost()
        for index, op in enumerate(arch.choices):
            total = total + self.layer_cost(index, op)
        return total

    # -- torch ---------------------------------------------------------------
    def build_model(self, arch: Architecture):
        """The ``torch.nn.Module`` of ``arch`` (stem, the chosen ops, head)."""
        from hwnas.spaces.hurricane.model import HurricaneNet

        self._check_space(arch)
        return HurricaneNet(self, arch.choices)

    def build_layer(self, index: int, op: str):
        """A fresh module for ``op`` at learnable layer ``index``."""
        layer = self.layers[index]
        return build_op(op, layer.in_channels, layer.out_channels, layer.stride)

    # -- workloads -------------------------------------------------------------
    def layer_workload(self, index: int, op: str, batch: int = 1) -> Workload:
        """The workload of ``op`` at learnable layer ``index`` (structural key, no index)."""
        layer = self.layers[index]
        spec = parse_op(op)
        cost = self.layer_cost(index, op)
        key = (
            f"hurricane/{op}/c{layer.in_channels}-{layer.out_channels}"
            f"/hw{layer.height}x{layer.width}/s{layer.stride}/b{batch}"
        )
        features = {
            "op": op,
            "family": spec.family,
            "kernel": spec.kernel,
            "expand": spec.expand,
            "se": int(spec.se),
            "stride": layer.stride,
            "in_channels": layer.in_channels,
            "out_channels": layer.out_channels,
            "height": layer.height,
            "width": layer.width,
            "flops": cost.flops,
            "params": cost.params,
            "batch": batch,
        }
        return Workload(
            key=key,
            space=self.name,
            input_shape=(batch, *layer.input_shape),
            label=f"layer {index} {op}",
            build=seeded(lambda: self.build_layer(index, op).eval()),
            features=features,
            recipe=(
                f"{__name__}:make_layer_workload",
                {"space": self.options, "index": index, "op": op, "batch": batch},
            ),
        )

    def arch_workload(self, arch: Architecture, batch: int = 1) -> Workload:
        """The workload of a whole architecture, for end-to-end measurement."""
        text = self.format(arch)
        p = self.profile
        cost = self.cost(arch)
        return Workload(
            key=f"hurricane[{p.name}:{p.resolution}x{p.in_channels}]/arch/{text}/b{batch}",
            space=self.name,
            input_shape=(batch, p.in_channels, p.resolution, p.resolution),
            label=f"arch {text[:40]}...",
            build=seeded(lambda: self.build_model(arch).eval()),
            features={"flops": cost.flops, "params": cost.params, "batch": batch},
            recipe=(
                f"{__name__}:make_arch_workload",
                {"space": self.options, "arch": text, "batch": batch},
            ),
        )

    def fixed_workloads(self, batch: int = 1) -> dict[str, Workload]:
        """Workloads of the fixed layers every architecture shares: ``stem`` and ``head``.

        ``stem`` is the first 3x3 conv (+BN, ReLU) on the network input; ``head``
        is the last 1x1 conv (+BN, ReLU), global pooling and the classifier on
        the output of the last learnable layer. An architecture's latency model
        measures them like the learnable layers instead of guessing them.
        """
        return {part: self.fixed_workload(part, batch) for part in FIXED_PARTS}

    def fixed_workload(self, part: str, batch: int = 1) -> Workload:
        """The workload of one fixed part (``"stem"`` or ``"head"``)."""
        from hwnas.spaces.hurricane.model import head, stem

        p = self.profile
        if part == "stem":
            size = p.resolution
            cin, cout, stride, kernel = p.in_channels, p.stem_channels, p.stem_stride, 3
            out_size = output_size(size, 3, stride)
            cost = conv_cost(cin, cout, 3, out_size, out_size)
            key = f"hurricane/stem/c{cin}-{cout}/hw{size}x{size}/s{stride}/b{batch}"

            def build():
                return stem(cin, cout, stride).eval()

        elif part == "head":
            cin, size, _ = self.layers[-1].output_shape
            cout, classes, stride, kernel = p.last_channels, p.num_classes, 1, 1
            cost = conv_cost(cin, cout, 1, size, size) + linear_cost(cout, classes)
            key = f"hurricane/head/c{cin}-{cout}-{classes}/hw{size}x{size}/b{batch}"

            def build():
                return head(cin, cout, classes).eval()

        else:
            raise HwnasError(
                f"unknown fixed part {part!r} of the hurricane space",
                f"choose one of: {', '.join(FIXED_PARTS)}",
            )
        features = {
            "op": part,
            "family": part,
            "kernel": kernel,
            "expand": 1,
            "se": 0,
            "stride": stride,
            "in_channels": cin,
            "out_channels": cout,
            "height": size,
            "width": size,
            "flops": cost.flops,
            "params": cost.params,
            "batch": batch,
        }
        return Workload(
            key=key,
            space=self.name,
            input_shape=(batch, cin, size, size),
            label=f"fixed {part}",
            build=seeded(build),
            features=features,
            recipe=(
                f"{__name__}:make_fixed_workload",
                {"space": self.options, "part": part, "batch": batch},
            ),
        )

    # -- description -------------------------------------------------------------
    def describe(self, with_costs: bool = True) -> dict[str, Any]:
        """Layers with shapes and strides; every candidate op with FLOPs and params."""
        layers = []
        for layer in self.layers:
            row: dict[str, Any] = {
                "index": layer.index,
                "stage": layer.stage,
                "input_shape": list(layer.input_shape),
                "output_shape": list(layer.output_shape),
                "stride": layer.stride,
            }
            choices = self.positions[layer.index].choices
            if with_costs:
                row["ops"] = [
                    {"op": op, **asdict(self.layer_cost(layer.index, op))} for op in choices
                ]
            else:
                row["ops"] = list(choices)
            layers.append(row)
        return {
            "space": self.name,
            "profile": asdict(self.profile),
            "size": self.size,
            "num_layers": len(self.layers),
            "num_ops": len(OP_NAMES),
            "restricted": self.restricted,
            "fixed_cost": asdict(self.fixed_cost()),
            "layers": layers,
        }


def _check_ops(ops: Sequence[Sequence[str]], num_layers: int) -> tuple[tuple[str, ...], ...]:
    """Validate per-layer op lists: one non-empty list of known, distinct ops per layer."""
    per_layer = tuple(tuple(str(op) for op in layer) for layer in ops)
    if len(per_layer) != num_layers:
        raise HwnasError(
            f"a restricted hurricane space needs {num_layers} op lists, got {len(per_layer)}",
            "give one list of ops per learnable layer",
        )
    for i, layer in enumerate(per_layer):
        unknown = [op for op in layer if op not in OP_NAMES]
        if not layer or unknown or len(set(layer)) != len(layer):
            raise HwnasError(
                f"hurricane layer {i}: op list {list(layer)} is empty, repeats an op "
                f"or has unknown ops {unknown}",
                "use distinct names from 'hwnas space show hurricane'",
            )
    return per_layer


def make_layer_workload(space: dict, index: int, op: str, batch: int = 1) -> Workload:
    """Recipe target: the workload of ``op`` at layer ``index`` of ``HurricaneSpace(**space)``."""
    return HurricaneSpace(**space).layer_workload(index, op, batch)


def make_fixed_workload(space: dict, part: str, batch: int = 1) -> Workload:
    """Recipe target: fixed part ``part`` (stem, head) of ``HurricaneSpace(**space)``."""
    return HurricaneSpace(**space).fixed_workload(part, batch)


def make_arch_workload(space: dict, arch: str, batch: int = 1) -> Workload:
    """Recipe target: the whole-network workload of ``arch`` in ``HurricaneSpace(**space)``."""
    search_space = HurricaneSpace(**space)
    return search_space.arch_workload(search_space.parse(arch), batch)
