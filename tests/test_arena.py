"""The arena end to end (CLI and library) and the one-line errors of bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

ARCH = (
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|"
    "+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
)
OFA_R164 = "ks=" + ",".join(["3"] * 20) + ";e=" + ",".join(["3"] * 20) + ";d=2,2,2,2,2;r=164"


NB201 = ("--space", "nb201", "--device", "raspi4", "--strategies", "random")


def hwnas(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hwnas", *args], capture_output=True, text=True, timeout=300
    )


def test_arena_cli_writes_json_and_png(tmp_path):
    out = tmp_path / "arena"
    result = hwnas(
        "arena", "--space", "nb201", "--device", "eyeriss", "--strategies",
        "random,evolution,nsga2", "--evals", "20,60", "--seeds", "2", "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "HV ratio" in result.stdout and "evolution" in result.stdout
    report = json.loads((out / "arena.json").read_text())
    assert report["device"] == "eyeriss" and report["latency_target"] == "nb201/eyeriss"
    assert report["search_accuracy"] == "c10valid_valid_acc"
    assert report["report_accuracy"] == "c10_test_acc"
    assert len(report["latency_budgets_ms"]) == 5
    assert len(report["results"]) == 6
    for row in report["results"]:
        assert row["seeds"] == 2 and row["evaluations_mean"] == row["evals"]
        assert 0 < row["hv_ratio_mean"] <= 1 and len(row["regret_mean"]) == 5
    assert set(report["fronts_at_largest_budget_seed0"]) == {"random", "evolution", "nsga2"}
    assert (out / "arena_eyeriss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_open_space_arena_scores_against_the_best_known_front(tmp_path):
    """OFA on note10 cannot be tabulated: the front is the best known one, and says so."""
    out = tmp_path / "ofa"
    result = hwnas(
        "arena", "--space", "ofa", "--device", "note10", "--strategies", "random,evolution",
        "--evals", "20,40", "--seeds", "1", "--reference-evals", "100", "--reference-seeds", "1",
        "--out", str(out), "--no-progress",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "arena.json").read_text())
    assert report["truth"].startswith("best known front")
    reference = {"strategy": "evolution", "evals": 100, "seeds": 1, "sample": 5000}
    assert report["reference"] == reference
    assert "not tabulated" in report["protocol"]
    assert report["latency_budgets_ms"] == sorted(report["latency_budgets_ms"])
    ratios = [r for row in report["results"] for r in row["hv_ratio"]]
    assert len(ratios) == 4 and all(0 < r <= 1 + 1e-12 for r in ratios)
    front = report["true_front"]
    lat = [p["latency_ms"] for p in front]
    acc = [p["report_accuracy"] for p in front]
    assert lat == sorted(lat) and acc == sorted(acc) and len(front) > 5
    assert {int(p["arch"].rsplit("r=", 1)[1]) for p in front} <= {160, 176, 192, 208, 224}
    # every run's returned front joined the best known one: nothing it found is better
    for row in report["results"]:
        assert all(r >= -1e-9 for regrets in row["regret"] for r in regrets if r == r)


def test_arena_json_flag_and_protocol_seeds(tmp_path):
    result = hwnas(
        "arena", "--space", "nb201", "--device", "fpga", "--strategies", "random", "--evals", "10",
        "--out", str(tmp_path), "--json", "--no-progress",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["results"][0]["seeds"] == 10  # the protocol's default for random


def test_run_arena_in_process_is_deterministic():
    from hwnas.arena import run_arena

    kwargs = dict(
        space="nb201", device="titan_rtx_1", strategies=["evolution"], evals=[40], seeds=2
    )
    first, second = run_arena(**kwargs), run_arena(**kwargs)
    assert first["results"][0]["hv_ratio"] == second["results"][0]["hv_ratio"]
    assert np.isclose(first["true_hv"], second["true_hv"])


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("arena", *NB201, "--data-dir", "/nonexistent"), "--data-dir /nonexistent does not exist"),
        (("arena", *NB201[:2], "--device", "nosuch", *NB201[4:]), "unknown nb201 device 'nosuch'"),
        (("arena", *NB201[:4], "--strategies", "random,nosuch"), "unknown strategy 'nosuch'"),
        (("arena", *NB201, "--evals", "0"), "evaluation budget must be >= 1"),
        (("arena", *NB201, "--evals", "ten"), "bad evaluation budget 'ten'"),
        (("arena", *NB201, "--reference-evals", "0"), "--reference-evals must be >= 1"),
        (("arena", *NB201, "--reference-seeds", "-1"), "--reference-seeds must be >= 0"),
        (("arena", "--space", "ofa", "--device", "v100_1", *NB201[4:]), "a fully tabulated space"),
        (
            ("arena", "--space", "hurricane", "--device", "x", *NB201[4:]),
            "the arena needs a space with recorded devices",
        ),
        (("recorded", "nb201/raspi4", "|nor_conv_9x9~0|+|x~0|"), "nb201 string"),
        (("recorded", "nb201/raspi4", ARCH, "--data-dir", "/nonexistent"), "/nonexistent"),
        (("recorded", "fbnet/raspi4", ",".join(["skip"] * 22)), "not in the recorded table"),
        (("recorded", "ofa/titan_rtx_1", OFA_R164), "not in the recorded table"),
        (("recorded", "ofa/note10", OFA_R164), "no lookup table for resolution 164"),
        (("recorded", "torch", ARCH), "live target"),
        (
            ("profile", "--target", "nb201/raspi4", "--layers", "0", "--ops", "MB_k3_e3"),
            "it has no workloads to time",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, fragment):
    result = hwnas(*args, *(("--out", str(tmp_path)) if args[0] == "arena" else ()))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0]


def test_recorded_cli_answers(tmp_path):
    result = hwnas("recorded", "nb201/raspi4", ARCH, "--json")
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["latency_ms"] == pytest.approx(10.481977) and row["latency_source"] == "recorded"
    assert row["accuracy"] == pytest.approx(81.982667)
    assert row["report_accuracy"] == pytest.approx(85.863333)


def test_data_dir_from_config_key(tmp_path):
    config = tmp_path / "hwnas.toml"
    config.write_text('[targets."nb201/raspi4"]\ndata_dir = "/nonexistent/from-config"\n')
    result = hwnas("arena", *NB201, "--config", str(config), "--out", str(tmp_path))
    assert result.returncode == 2 and "/nonexistent/from-config" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
