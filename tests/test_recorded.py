"""Recorded targets and accuracy sources against the published tables shipped with hwnas."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from hwnas.accuracy import accuracy_sources, create_accuracy, default_accuracy
from hwnas.errors import HwnasError
from hwnas.manager import get_plugin_manager
from hwnas.spaces.fbnet import FBNetSpace
from hwnas.spaces.ofa import OFASpace
from hwnas.targets.recorded import tables as data
from hwnas.targets.recorded.accuracy import NB201Accuracy, OFAPredictorAccuracy
from hwnas.targets.recorded.models import OFANote10, RecordedTable, note10_keys

DATA = data.resolve_data_dir()  # the tables ship with hwnas: no skip

ARCH1 = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|"
    "+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
)
SMALLEST = [3] * 20 + [3] * 20 + [2] * 5
LARGEST = [7] * 20 + [6] * 20 + [4] * 5


def csv_row(relative: str, index: int) -> dict[str, str]:
    with data.open_text(data.data_file(relative), newline="") as handle:
        for i, row in enumerate(csv.DictReader(handle)):
            if i == index:
                return row
    raise AssertionError(index)


def test_all_27_nb201_settings_answer_the_csv_value(pm):
    row = csv_row("nb201/latency.csv", 1)
    assert row["arch_str"] == ARCH1
    names = [i.name for i in pm.infos("target") if i.name.startswith("nb201/")]
    assert sorted(names) == sorted(f"nb201/{d}" for d in data.NB201_DEVICES)
    assert len(names) == 27
    arch = pm.create("space", "nb201").parse(ARCH1)
    for device in data.NB201_DEVICES:
        model = pm.create("target", f"nb201/{device}")
        latency = model.latency(arch)
        assert latency.source == "recorded"
        assert latency.ms == pytest.approx(float(row[device]), abs=1e-9), device


def test_vectorised_nb201_lookup_matches_per_arch(pm):
    model = pm.create("target", "nb201/pixel3")
    archs = list(model.table.archs)
    assert len(archs) == 15_625
    vector = model.latencies(archs)
    single = np.array([model.latency(a).ms for a in archs])
    np.testing.assert_array_equal(vector, single)
    np.testing.assert_array_equal(vector, model.all_latencies())
    shuffled = np.random.default_rng(0).permutation(len(archs))
    np.testing.assert_array_equal(model.latencies([archs[i] for i in shuffled]), vector[shuffled])


def test_listing_plugins_reads_no_table():
    code = (
        "from hwnas.manager import PluginManager; "
        "from hwnas.targets.recorded import tables as data; "
        "PluginManager().infos('target'); "
        "print(data._nb201.cache_info().currsize + data._sampled.cache_info().currsize)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"


@pytest.mark.parametrize("space", ["fbnet", "ofa"])
def test_sampled_tables_answer_their_rows(pm, space):
    records = json.loads(data.read_text(data.data_file(f"{space}/archs.json")))["archs"]
    device = "raspi4" if space == "fbnet" else "titan_rtx_1"
    model = pm.create("target", f"{space}/{device}")
    sp = FBNetSpace() if space == "fbnet" else OFASpace()
    for index in (0, 17, 4999):
        arch = (
            sp.architecture(records[index]["ops"])
            if space == "fbnet"
            else sp.from_ofa(records[index])
        )
        expected = float(csv_row(f"{space}/latency.csv", index)[device])
        assert model.latency(arch).ms == pytest.approx(expected)
        assert model.latency(arch).source == "recorded"


def test_ofa_lookup_ignores_inactive_blocks(pm):
    record = json.loads(data.read_text(data.data_file("ofa/archs.json")))["archs"][0]
    model = pm.create("target", "ofa/2080ti_1")
    sp = OFASpace()
    arch = sp.from_ofa(record)
    stage = next(s for s in range(5) if record["d"][s] < 4)
    changed = dict(record, ks=list(record["ks"]))
    changed["ks"][4 * stage + 3] = 3 if record["ks"][4 * stage + 3] != 3 else 5  # inactive block
    assert model.latency(sp.from_ofa(changed)).ms == model.latency(arch).ms


@pytest.mark.parametrize("name", ["fbnet/raspi4", "ofa/v100_1"])
def test_architecture_not_in_the_sampled_table_is_a_clear_error(pm, name):
    model = pm.create("target", name)
    sp = pm.create("space", name.split("/")[0])
    arch = sp.architecture(
        ["skip"] * 22 if sp.name == "fbnet" else [*SMALLEST, 128]
    )  # not among the 5,000
    with pytest.raises(HwnasError, match="not in the recorded table"):
        model.latency(arch)


@pytest.mark.parametrize("resolution", data.NOTE10_RESOLUTIONS)
def test_note10_answers_any_subnet_at_the_five_resolutions(pm, resolution):
    model = pm.create("target", "ofa/note10")
    sp = OFASpace()
    small = model.latency(sp.architecture([*SMALLEST, resolution])).ms
    large = model.latency(sp.architecture([*LARGEST, resolution])).ms
    # sum of 96 entries' worth of plausible CPU milliseconds: a few to ~100 ms, large >> small
    assert 5 < small < large < 120
    assert large > 3 * small
    rng = np.random.default_rng(resolution)
    lut = data.note10_lut(resolution)
    used = set()
    for _ in range(400):
        arch = sp.sample(rng)
        ofa = dict(sp.to_ofa(arch), r=resolution)
        keys = note10_keys(ofa)
        assert all(k in lut for k in keys)
        used.update(keys)
        ms = model.latency(sp.from_ofa(ofa)).ms
        assert small <= ms + 1e-9 and ms <= large + 1e-9
    assert used == set(lut)  # every operator of the table is reachable, none is missing


def test_note10_grows_with_resolution_and_rejects_others(pm):
    model = pm.create("target", "ofa/note10")
    sp = OFASpace()
    values = [model.latency(sp.architecture([*LARGEST, r])).ms for r in data.NOTE10_RESOLUTIONS]
    assert values == sorted(values)
    with pytest.raises(HwnasError, match="no lookup table for resolution 164"):
        model.latency(sp.architecture([*LARGEST, 164]))


def test_lut_parser_is_safe_and_strict():
    path = data.data_file("ofa/note10_lut/192_lookup_table.yaml")
    table = data.parse_lut_yaml(data.read_text(path))
    assert all({"mean", "std", "count"} <= set(entry) for entry in table.values())
    with pytest.raises(HwnasError, match="not valid YAML"):
        data.parse_lut_yaml("!!python/object:os.system\n")  # no arbitrary objects
    with pytest.raises(HwnasError, match="expected 'KEY"):
        data.parse_lut_yaml("- a list\n")


def test_missing_data_is_one_clear_error(tmp_path, monkeypatch):
    with pytest.raises(HwnasError, match="data directory /nonexistent not found"):
        RecordedTable("nb201", "raspi4", data_dir="/nonexistent")
    monkeypatch.setenv("HWNAS_DATA", str(tmp_path / "nope"))
    with pytest.raises(HwnasError, match=r"HWNAS_DATA"):
        OFANote10()
    (tmp_path / "nb201").mkdir()
    monkeypatch.setenv("HWNAS_DATA", str(tmp_path))
    with pytest.raises(HwnasError, match=r"nb201/latency.csv not found"):
        RecordedTable("nb201", "raspi4")


def test_unknown_device_lists_the_valid_ones():
    with pytest.raises(HwnasError, match=r"choose one of: .*raspi4"):
        RecordedTable("nb201", "nosuch")
    with pytest.raises(HwnasError, match="v100_1"):
        RecordedTable("ofa", "raspi4")


def test_nb201_accuracy_columns():
    row = csv_row("nb201/accuracy.csv", 1)
    arch = get_plugin_manager().create("space", "nb201").parse(ARCH1)
    c10 = NB201Accuracy("c10")
    assert c10.accuracy(arch) == pytest.approx(float(row["c10valid_valid_acc"]))
    assert c10.report_accuracy(arch) == pytest.approx(float(row["c10_test_acc"]))
    for dataset, column in (("c100", "c100_test_acc"), ("in16", "in16_test_acc")):
        source = NB201Accuracy(dataset)
        assert source.accuracy(arch) == source.report_accuracy(arch) == float(row[column])
    low = NB201Accuracy("c100", search_column="ep12_cifar100_val")
    assert low.accuracy(arch) == pytest.approx(float(row["ep12_cifar100_val"]))
    archs = list(c10.table.archs[:50])
    np.testing.assert_array_equal(c10.accuracies(archs), [c10.accuracy(a) for a in archs])
    with pytest.raises(HwnasError, match="unknown NB201 dataset"):
        NB201Accuracy("c1000")


def test_ofa_predictor_matches_the_published_values():
    source = OFAPredictorAccuracy()
    sp = OFASpace()
    assert source.accuracy(sp.architecture([*SMALLEST, 128])) == pytest.approx(76.7, abs=0.05)
    assert source.accuracy(sp.architecture([*LARGEST, 224])) == pytest.approx(83.6, abs=0.05)
    archs = [sp.sample(np.random.default_rng(i)) for i in range(20)]
    np.testing.assert_allclose(source.accuracies(archs), [source.accuracy(a) for a in archs])


def test_accuracy_registry():
    assert {"nb201", "ofa-predictor"} <= set(accuracy_sources())
    assert isinstance(default_accuracy("ofa"), OFAPredictorAccuracy)
    assert create_accuracy("nb201", dataset="c100").name == "nb201/c100"
    with pytest.raises(HwnasError, match="unknown accuracy source"):
        create_accuracy("nosuch")
