"""Architectures and the four built-in spaces: syntax, JSON, sampling, encodings."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from hwnas.errors import ArchitectureError, HwnasError
from hwnas.manager import PluginManager
from hwnas.space import Architecture

SPACES = ["hurricane", "nb201", "fbnet", "ofa"]
NB201_EXAMPLE = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+"
    "|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
)


@pytest.fixture(scope="module")
def pm():
    return PluginManager(load_external=False)


@pytest.mark.parametrize("name", SPACES)
def test_random_architectures_round_trip(pm, name):
    space = pm.create("space", name)
    rng = np.random.default_rng(7)
    for _ in range(25):
        arch = space.sample(rng)
        assert space.parse(space.format(arch)) == arch
        assert space.from_dict(json.loads(json.dumps(space.to_dict(arch)))) == arch
        assert space.from_dict({"arch": space.format(arch)}) == arch
        assert hash(arch) == hash(Architecture(arch.space, tuple(arch.choices)))
        assert len(arch) == len(space.positions)


@pytest.mark.parametrize("name", ["hurricane", "nb201", "fbnet"])
def test_one_hot_encoding(pm, name):
    space = pm.create("space", name)
    arch = space.sample(np.random.default_rng(0))
    vector = space.encode(arch)
    assert vector.shape == (sum(len(p.choices) for p in space.positions),)
    assert vector.sum() == len(space.positions)
    assert np.array_equal(
        np.flatnonzero(vector),
        np.cumsum([0, *[len(p.choices) for p in space.positions][:-1]]) + space.indices(arch),
    )


@pytest.mark.parametrize("name", SPACES)
def test_wrong_length_is_rejected(pm, name):
    space = pm.create("space", name)
    arch = space.sample(np.random.default_rng(1))
    with pytest.raises(ArchitectureError, match=f"needs {len(space.positions)} choices"):
        space.architecture(arch.choices[:-1])


def test_bad_choice_names_position_and_valid_choices(pm):
    space = pm.create("space", "hurricane")
    ops = ["MB_k3_e3"] * 20
    ops[5] = "MB_k9_e3"
    with pytest.raises(ArchitectureError) as info:
        space.parse(",".join(ops))
    message = str(info.value)
    assert "position 5 (layer5)" in message and "'MB_k9_e3'" in message
    assert "SEP_k3" in message and "Choice_x_SE" in message


def test_architecture_of_another_space_is_refused(pm):
    nb201, fbnet = pm.create("space", "nb201"), pm.create("space", "fbnet")
    arch = nb201.parse(NB201_EXAMPLE)
    with pytest.raises(ArchitectureError, match="belongs to space 'nb201'"):
        fbnet.format(arch)
    with pytest.raises(ArchitectureError, match="is for space"):
        fbnet.from_dict(nb201.to_dict(arch))
    with pytest.raises(ArchitectureError, match="needs a 'choices' list"):
        fbnet.from_dict({"foo": 1})


def test_nb201_string_matches_the_benchmark_format(pm):
    space = pm.create("space", "nb201")
    arch = space.parse(NB201_EXAMPLE)
    assert arch.choices == (
        "nor_conv_3x3",
        "nor_conv_3x3",
        "avg_pool_3x3",
        "skip_connect",
        "nor_conv_3x3",
        "skip_connect",
    )
    assert space.format(arch) == NB201_EXAMPLE
    assert space.parse(",".join(arch.choices)) == arch


def test_nb201_enumerates_all_15625_distinct_cells(pm):
    space = pm.create("space", "nb201")
    strings = {
        space.format(space.architecture(c))
        for c in itertools.product(*(p.choices for p in space.positions))
    }
    assert len(strings) == space.size == 15625


@pytest.mark.parametrize(
    "text, error",
    [
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|+|skip_connect~0|none~1|none~2|", "node 2 needs 2"),
        ("|nor_conv_3x3~1|+|none~0|none~1|+|none~0|none~1|none~2|", "bad edge token"),
        ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "'conv' is not a valid choice"),
    ],
)
def test_nb201_malformed_strings(pm, text, error):
    with pytest.raises(ArchitectureError, match=error):
        pm.create("space", "nb201").parse(text)


@pytest.mark.parametrize(
    "text, effective",
    [
        ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", (0, 0, 0, 0, 0, 0)),
        ("|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|", (0, 0, 0, 1, 0, 0)),
        # node 1 is fed but feeds nothing that reaches the output
        (
            "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|skip_connect~0|none~1|none~2|",
            (0, 0, 0, 1, 0, 0),
        ),
        # node 2 reaches the output but is never fed
        ("|none~0|+|none~0|none~1|+|skip_connect~0|none~1|nor_conv_1x1~2|", (0, 0, 0, 1, 0, 0)),
        (NB201_EXAMPLE, (1, 1, 1, 1, 1, 1)),
    ],
)
def test_nb201_effective_edges(pm, text, effective):
    space = pm.create("space", "nb201")
    arch = space.parse(text)
    assert space.effective_edges(arch) == tuple(bool(e) for e in effective)
    assert space.effective_op_counts(arch).sum() == sum(effective)


def test_fbnet_reads_the_published_op_names(pm):
    space = pm.create("space", "fbnet")
    ops = [
        "k5_e6",
        "skip",
        "k3_e1_g2",
        "skip",
        "k5_e1",
        "skip",
        "skip",
        "skip",
        "k5_e6",
        "k5_e1",
        "k3_e1_g2",
        "k5_e1",
        "k5_e6",
        "k3_e6",
        "k3_e3",
        "k5_e6",
        "k3_e6",
        "k3_e3",
        "k5_e1",
        "k3_e3",
        "k5_e1",
        "k5_e1_g2",
    ]
    arch = space.parse(",".join(ops))
    assert space.indices(arch).tolist()[:4] == [7, 8, 1, 8]


def test_ofa_encoding_is_the_accuracy_predictor_layout(pm):
    space = pm.create("space", "ofa")
    ofa = {
        "ks": [7, 5, 5, 5, 7, 7, 5, 7, 5, 7, 3, 7, 5, 3, 7, 3, 5, 3, 5, 3],
        "e": [6, 4, 4, 6, 6, 3, 4, 3, 3, 6, 3, 3, 3, 6, 3, 4, 6, 4, 3, 6],
        "d": [2, 2, 2, 2, 3],
        "r": 204,
    }
    arch = space.from_ofa(ofa)
    assert space.to_ofa(arch) == ofa
    vector = space.encode(arch)
    assert vector.shape == (128,)
    active = space.active_blocks(arch)
    assert active.sum() == sum(ofa["d"]) == vector[:60].sum() == vector[60:120].sum()
    assert vector[0 * 3 + 2] == 1 and vector[60 + 0 * 3 + 2] == 1  # block 0: k7, e6
    assert vector[2 * 3 : 4 * 3].sum() == 0  # blocks 2, 3 are beyond stage 0's depth 2
    assert vector[120 + (204 - 112) // 16] == 1 and vector[120:].sum() == 1


def test_ofa_malformed_strings(pm):
    space = pm.create("space", "ofa")
    with pytest.raises(ArchitectureError, match="bad part"):
        space.parse("ks=3;colour=red")
    with pytest.raises(ArchitectureError, match="lacks e, d, r"):
        space.parse("ks=" + ",".join(["3"] * 20))
    with pytest.raises(ArchitectureError, match="integers"):
        space.parse("ks=a,b")


def test_ofa_resolutions_option_keeps_a_subset(pm):
    full = pm.create("space", "ofa")
    kept = pm.create("space", "ofa", resolutions="224, 160,192")
    assert kept.positions[-1].choices == (160, 192, 224)
    assert kept.size * len(full.positions[-1].choices) == full.size * 3
    rng = np.random.default_rng(0)
    assert {kept.to_ofa(kept.sample(rng))["r"] for _ in range(200)} == {160, 192, 224}
    r164 = "ks=" + ",".join(["3"] * 20) + ";e=" + ",".join(["3"] * 20) + ";d=2,2,2,2,2;r=164"
    full.parse(r164)
    with pytest.raises(ArchitectureError):
        kept.parse(r164)
    for bad, fragment in [("150", "not in 128..224"), ("a,160", "integers"), ("", "not in")]:
        with pytest.raises(HwnasError, match=fragment):
            pm.create("space", "ofa", resolutions=bad)


def test_ofa_note10_declares_its_resolutions_and_any_strategy_searches_it(tmp_path):
    """ofa/note10 answers five resolutions; hwnas search keeps the space to them."""
    import subprocess
    import sys

    for strategy in ("random", "evolution"):
        out = tmp_path / strategy
        done = subprocess.run(
            [sys.executable, "-m", "hwnas", "search", "--strategy", strategy, "--target",
             "ofa/note10", "--evals", "30", "--out", str(out), "--json"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        run = json.loads((out / "run.json").read_text())
        assert run["space_options"] == {"resolutions": "160,176,192,208,224"}
        result = json.loads((out / "result.json").read_text())
        assert result["evaluations"] == 30 and result["front"]
        assert all(int(e["arch"].rsplit("r=", 1)[1]) % 16 == 0 for e in result["front"])
        assert result["truth"] is None  # no exact truth for a sampled space
