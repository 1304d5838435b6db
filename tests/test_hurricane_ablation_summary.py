"""benchmarks/hurricane_ablation.py part D: the table rebuilt from stored rows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "hurricane_ablation.py"
LIMIT = 1.0


def row(seed: int, latency: float, accuracy: float | None, arch: str | None) -> dict:
    out = {"target": "openvino", "variant": "gen-a1", "seed": seed, "arch": arch}
    out |= {"latency_ms": latency, "test_accuracy": accuracy}
    if arch is None:
        out["winner"] = False  # its latency is the rejected candidate's
    return out


def report(rows: list[dict], remeasured: dict | None = None) -> dict:
    space = {"size": 10.0, "feasible": True, "fastest_ms": 0.2}
    part = {"rows": rows, "targets": {"openvino": {"limit_ms": LIMIT, "spaces": {"gen-a1": space}}}}
    if remeasured is not None:
        part["remeasure"] = {"ms": {"openvino": remeasured}}
    return {"settings": {"hours": 2.0}, "equal": part}


def summarise(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--summarise", "--out", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_row_without_a_winner_is_not_within_the_limit(tmp_path):
    rows = [row(0, 0.8, 91.0, "a"), row(1, 0.9, 92.0, "b"), row(2, 0.95, None, None)]
    path = tmp_path / "equal.json"
    path.write_text(json.dumps(report(rows)))
    done = summarise(path)
    assert done.returncode == 0, done.stderr
    saved = json.loads(path.read_text())
    (summary,) = saved["equal"]["summary"]
    assert summary["within_limit"] == 2 and summary["no_winner"] == 1
    assert summary["rejected"] == [False, False, True]
    assert summary["winners"] == 2 and abs(summary["accuracy"] - 91.5) < 1e-9
    assert saved["settings"] == {"hours": 2.0}  # the run's own settings are kept
    assert "0.950 (rejected)" in done.stdout and "within the limit 2/3" in done.stdout


def test_remeasured_latencies_are_counted_against_the_limit(tmp_path):
    rows = [row(0, 0.8, 91.0, "a"), row(1, 0.9, 92.0, "b")]
    again = {"a": {"median_ms": 0.85}, "b": {"median_ms": 1.2}}
    path = tmp_path / "equal.json"
    path.write_text(json.dumps(report(rows, again)))
    done = summarise(path)
    assert done.returncode == 0, done.stderr
    (summary,) = json.loads(path.read_text())["equal"]["summary"]
    assert summary["remeasured_ms"] == [0.85, 1.2]
    assert summary["within_limit"] == 2 and summary["within_limit_again"] == 1
    assert "again 0.850, 1.200" in done.stdout and "again 1/2" in done.stdout


def test_a_file_without_part_d_is_a_one_line_error(tmp_path):
    done = summarise(tmp_path / "none.json")
    assert done.returncode == 2 and "no part D row" in done.stderr
    assert "Traceback" not in done.stderr


def test_each_space_is_tested_against_the_hand_designed_space(tmp_path):
    rows = [row(s, 0.8, acc, f"g{s}") for s, acc in enumerate([92.0, 92.4, 92.2])]
    hand = [row(s, 0.5, acc, f"h{s}") for s, acc in enumerate([91.0, 91.3, 91.1])]
    for r in hand:
        r["variant"] = "hand-designed"
    saved = report(rows + hand)
    spaces = saved["equal"]["targets"]["openvino"]["spaces"]
    spaces["hand-designed"] = dict(spaces["gen-a1"])
    path = tmp_path / "equal.json"
    path.write_text(json.dumps(saved))
    done = summarise(path)
    assert done.returncode == 0, done.stderr
    ours, theirs = json.loads(path.read_text())["equal"]["summary"]
    assert theirs["vs_hand_designed"] is None
    test = ours["vs_hand_designed"]
    assert abs(test["difference"] - 1.0667) < 1e-3 and test["p"] < 0.01
    assert 0 < test["interval"][0] < test["difference"] < test["interval"][1]
    assert "Against the hand-designed space" in done.stdout


def test_what_each_space_costs_is_summed_over_layers(tmp_path):
    rows = [row(0, 0.8, 91.0, "b,d"), row(1, 0.9, None, None)]
    saved = report(rows)
    layers = [
        {"ops": ["a", "b"], "scores": [{"op": "a", "flops": 1e6}, {"op": "b", "flops": 3e6}]},
        {"ops": ["c", "d", "e"], "scores": [{"op": o, "flops": 2e6} for o in "cde"]},
    ]
    space = saved["equal"]["targets"]["openvino"]["spaces"]["gen-a1"]
    space |= {"kept_mflops": [2.0, 2.0], "kept_ms": [0.1, 0.25], "file": {"layers": layers}}
    path = tmp_path / "equal.json"
    path.write_text(json.dumps(saved))
    done = summarise(path)
    assert done.returncode == 0, done.stderr
    (summary,) = json.loads(path.read_text())["equal"]["summary"]
    cost = summary["cost"]
    assert cost["ops_per_layer"] == 2.5 and cost["mean_mflops"] == 4.0
    assert abs(cost["mean_layer_ms"] - 0.35) < 1e-9
    assert cost["winner_mflops"] == [5.0, None]  # b (3) + d (2); the second row has no winner
    assert "What each space's ops cost" in done.stdout and "5.0, -" in done.stdout
