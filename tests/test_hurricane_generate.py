"""Hardware-specific HURRICANE spaces: scoring, kept and exploring ops, files, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hwnas.errors import HwnasError
from hwnas.plugins.hurricane.space_generation import GeneratedSpace, generate_space
from hwnas.spaces.hurricane.ops import OP_NAMES
from hwnas.spaces.hurricane.space import HurricaneSpace
from hwnas.testing import assert_one_line_error
from hwnas.testing import run_cli as hwnas


@pytest.fixture(scope="module")
def space() -> HurricaneSpace:
    return HurricaneSpace("tiny")


def latency_table(space, seed=0):
    """A latency table shaped like a layer model's output (values drawn, not claimed measured)."""
    rng = np.random.default_rng(seed)
    return {
        (i, op): {"ms": float(rng.uniform(0.01, 0.2)), "source": "predicted"}
        for i in range(len(space.positions))
        for op in OP_NAMES
    }


def test_kept_ops_are_the_top_scored_and_alpha_zero_keeps_the_fastest(space):
    table = latency_table(space)
    fast = generate_space(space, table, "t", "fp", alpha=0.0, p=3, explore_layers=0)
    for i, kept in enumerate(fast.ops):
        fastest = sorted(OP_NAMES, key=lambda op, i=i: table[(i, op)]["ms"])[:3]
        assert kept == fastest
    heavy = generate_space(space, table, "t", "fp", alpha=0.5, p=3, explore_layers=0)
    for i, kept in enumerate(heavy.ops):

        def score(op, i=i):
            cost = space.layer_cost(i, op)
            return (cost.flops * cost.params) ** 0.5 / table[(i, op)]["ms"]

        assert kept == sorted(OP_NAMES, key=score, reverse=True)[:3]
    assert fast.ops != heavy.ops


def test_exploring_ops_only_in_the_last_layers_and_chosen_for_capacity(space):
    gen = generate_space(space, latency_table(space), "t", "fp", alpha=0.5, p=4, explore_layers=4)
    n = len(space.positions)
    for i, (kept, explore) in enumerate(zip(gen.ops, gen.exploring, strict=True)):
        if i < n - 4:
            assert explore is None and len(kept) == 4
            continue
        assert explore == kept[-1] and len(kept) == 5 and explore not in kept[:4]
        rest = [op for op in OP_NAMES if op not in kept[:4]]
        capacity = {
            op: space.layer_cost(i, op).flops * space.layer_cost(i, op).params for op in rest
        }
        assert capacity[explore] == max(capacity.values())
    assert gen.size == 4 ** (n - 4) * 5**4
    assert gen.initial_winner() == [max(s, key=lambda x: x.score).op for s in gen.scores]
    assert all(w in kept for w, kept in zip(gen.initial_winner(), gen.ops, strict=True))


def test_round_trip_and_restricted_space(space, tmp_path):
    gen = generate_space(space, latency_table(space, 1), "onnxruntime", "abc", p=2)
    path = gen.save(tmp_path / "space.json")
    again = GeneratedSpace.load(path)
    assert again.ops == gen.ops and again.fingerprint == "abc" and again.size == gen.size
    restricted = again.space()
    assert restricted.restricted and restricted.size == gen.size
    arch = restricted.sample(np.random.default_rng(0))
    assert all(op in kept for op, kept in zip(arch.choices, gen.ops, strict=True))
    # An architecture of the generated space is one of the full space too (shared tables).
    assert restricted.full().parse(restricted.format(arch)) == arch
    from hwnas.manager import get_plugin_manager

    loaded = get_plugin_manager().create("space", "hurricane", generated=str(path))
    assert [p.choices for p in loaded.positions] == [tuple(k) for k in gen.ops]


@pytest.mark.parametrize(
    "content, fragment",
    [("{not json", "cannot read"), ('{"format": "other"}', "not a generated hurricane space")],
)
def test_bad_files_are_one_line_errors(tmp_path, content, fragment):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(HwnasError, match=fragment):
        GeneratedSpace.load(path)
    with pytest.raises(HwnasError, match="does not exist"):
        GeneratedSpace.load(tmp_path / "missing.json")


def test_bad_parameters(space):
    table = latency_table(space)
    with pytest.raises(HwnasError, match="p must be"):
        generate_space(space, table, "t", "fp", p=0)
    with pytest.raises(HwnasError, match="alpha"):
        generate_space(space, table, "t", "fp", alpha=-1)
    with pytest.raises(HwnasError, match="op lists"):
        HurricaneSpace("tiny", ops=[["MB_k3_e3"]] * 3)
    with pytest.raises(HwnasError, match="unknown ops"):
        HurricaneSpace("tiny", ops=[["MB_k9_e3"]] * 20)


@pytest.mark.slow
def test_cli_generates_from_real_onnxruntime_measurements(tmp_path):
    out = tmp_path / "space.json"
    result = hwnas(
        "space", "generate", "--target", "onnxruntime", "-o", "profile=tiny",
        "--measure", "24", "--calibrate", "1", "--store", str(tmp_path / "s.sqlite"),
        "--out", str(out), "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["path"] == str(out) and out.exists()
    sources = {s["source"] for layer in data["layers"] for s in layer["scores"]}
    assert sources == {"measured", "predicted"}
    assert [len(layer["ops"]) for layer in data["layers"]] == [4] * 16 + [5] * 4
    notes = data["notes"]
    assert notes["fastest_ms_generated"] >= notes["fastest_ms_full"] > 0
    assert 0 < notes["latency_cells_measured"] < notes["latency_cells"] == 640


def test_cli_bad_input_is_one_line(tmp_path):
    result = hwnas("space", "generate", "--target", "nosuch", "--out", str(tmp_path / "x.json"))
    assert_one_line_error(result, "nosuch")


def test_cli_unknown_reference_target_is_one_line(tmp_path):
    result = hwnas(
        "space", "generate", "--target", "onnxruntime", "--reference", "nosuch:mode=x",
        "--measure", "4",
        "--out", str(tmp_path / "x.json"),
    )  # fmt: skip
    assert_one_line_error(result, "nosuch")


def test_cli_reference_without_measure_is_one_line(tmp_path):
    result = hwnas(
        "space", "generate", "--target", "onnxruntime", "--reference", "torch",
        "--out", str(tmp_path / "x.json"),
    )  # fmt: skip
    assert_one_line_error(result, "--measure")


def test_flops_cost_ignores_the_target_and_ranks_capacity_per_flop(space):
    """The hardware-agnostic ablation: two different latency tables give the same space."""
    one = generate_space(
        space, latency_table(space, 1), "t", "fp", p=3, explore_layers=0, cost="flops"
    )
    two = generate_space(
        space, latency_table(space, 2), "t", "fp", p=3, explore_layers=0, cost="flops"
    )
    assert one.ops == two.ops and one.notes["cost"] == "flops"
    for i, kept in enumerate(one.ops):

        def score(op, i=i):
            cost = space.layer_cost(i, op)
            return (cost.flops * max(cost.params, 1)) ** 0.5 / max(cost.flops, 1)

        assert kept == sorted(OP_NAMES, key=score, reverse=True)[:3]
    by_latency = generate_space(space, latency_table(space, 1), "t", "fp", p=3, explore_layers=0)
    assert by_latency.ops != one.ops


def test_an_unknown_op_cost_is_one_line(space):
    with pytest.raises(HwnasError, match="unknown op cost 'watts'"):
        generate_space(space, latency_table(space), "t", "fp", cost="watts")
