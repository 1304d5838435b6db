"""Rule-based TVM CPU schedules: numerics equal torch's on every op family, no build failure."""

from __future__ import annotations

import numpy as np
import pytest

tvm = pytest.importorskip("tvm")

from hwnas.spaces.hurricane.space import HurricaneSpace  # noqa: E402
from hwnas.targets.tvm import common, rules  # noqa: E402
from hwnas.targets.tvm.cpu import TvmCpuTarget  # noqa: E402
from hwnas.targets.tvm.fold import fold_with_numpy  # noqa: E402

#: (layer index, op): pointwise planes of 28x28 (no tail), 7x7 and 14x14 (tails),
#: depthwise 3/5/7 with stride 1 and 2, SE blocks (FC, pooling, scaling) and the
#: channel split/shuffle of ShuffleNet-style Choice blocks.
CASES = [
    (1, "MB_k3_e3"),
    (4, "MB_k7_e6"),
    (8, "SEP_k5_SE"),
    (9, "MB_k5_e6_SE"),
    (12, "Choice_x"),
    (13, "Choice_k7_SE"),
    (19, "MB_k3_e1"),
]


@pytest.fixture(scope="module")
def target():
    return TvmCpuTarget(mode="rules", threads=1)


@pytest.mark.parametrize(("layer", "op"), CASES)
def test_rules_match_torch_and_schedule_every_function(target, layer, op):
    workload = HurricaneSpace().layer_workload(layer, op)
    compiled = target.compile(workload)
    report = compiled.info["rules"]
    assert report["fallback"] == {}, report
    assert sum(report["rules"].values()) >= 1
    error = np.abs(target.run(compiled) - common.torch_output(workload)).max()
    assert error < 1e-4, f"{workload.key}: max abs error {error}"


def test_rule_failure_falls_back_to_tvms_code(target):
    class Broken(rules.Rule):
        name = "broken"

        def apply(self, func, target):
            raise RuntimeError("deliberately broken")

    workload = HurricaneSpace().layer_workload(1, "MB_k3_e3")
    tvm_target = target.tvm_target
    lowered = rules.prepare(fold_with_numpy(common.import_workload(workload)), tvm_target)
    scheduled, report = rules.apply_rules(lowered, tvm_target, (Broken(),))
    assert report.applied == {} and report.fallback
    assert all("deliberately broken" in reason for reason in report.fallback.values())
    vm = tvm.relax.VirtualMachine(rules.build(scheduled, tvm_target), tvm.cpu())
    x = tvm.runtime.tensor(common.example_numpy(workload), tvm.cpu())
    error = np.abs(vm["main"](x).numpy() - common.torch_output(workload)).max()
    assert error < 1e-4


def test_numpy_fold_leaves_results_unchanged(target):
    workload = HurricaneSpace().layer_workload(9, "MB_k5_e6_SE")
    mod = common.import_workload(workload)
    folded = fold_with_numpy(mod)
    assert len(folded["main"].script()) < len(mod["main"].script())
    x = tvm.runtime.tensor(common.example_numpy(workload), tvm.cpu())
    outputs = [
        tvm.relax.VirtualMachine(tvm.compile(m, target=target.tvm_target), tvm.cpu())["main"](x)
        for m in (mod, folded)
    ]
    np.testing.assert_array_equal(outputs[0].numpy(), outputs[1].numpy())


@pytest.mark.parametrize(("features", "lanes"), [(["+avx512f"], 16), (["+avx2"], 8), (None, 4)])
def test_vector_lanes_follow_cpu_features(features, lanes):
    spec = {"kind": "llvm", "mtriple": "x86_64-linux-gnu"}
    if features:
        spec["mattr"] = features
    else:
        spec = {"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mattr": ["+neon"]}
    assert rules.vector_lanes(tvm.target.Target(spec)) == lanes
