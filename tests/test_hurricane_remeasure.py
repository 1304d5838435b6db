"""benchmarks/hurricane_remeasure.py: part D's winners measured again side by side."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hwnas.spaces.hurricane.space import HurricaneSpace

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "hurricane_remeasure.py"


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=900
    )


def test_every_winner_is_measured_again_in_a_fresh_store(tmp_path):
    pytest.importorskip("onnxruntime")
    space = HurricaneSpace("tiny")
    rng = np.random.default_rng(0)
    archs = [space.format(space.sample(rng)) for _ in range(2)]
    rows = [
        {"target": "onnxruntime", "variant": name, "seed": 0, "arch": arch, "latency_ms": 1.0}
        for name, arch in zip(("a", "b"), archs, strict=True)
    ]
    rows.append({"target": "onnxruntime", "variant": "c", "seed": 0, "arch": None})
    path = tmp_path / "equal.json"
    path.write_text(
        json.dumps({"equal": {"rows": rows, "targets": {"onnxruntime": {"limit_ms": 50.0}}}})
    )
    done = run_script("--out", str(path), "--rounds", "2")
    assert done.returncode == 0, done.stderr
    again = json.loads(path.read_text())["equal"]["remeasure"]
    assert again["rounds"] == 2 and "before" in again["load_average"]
    measured = again["ms"]["onnxruntime"]
    assert set(measured) == set(archs)  # the row without a winner is skipped
    for arch in archs:
        assert len(measured[arch]["rounds_ms"]) == 2
        assert measured[arch]["median_ms"] == pytest.approx(np.median(measured[arch]["rounds_ms"]))
        assert 0 < measured[arch]["median_ms"] < 50
    assert done.stdout.count("onnxruntime") >= 2


def test_missing_or_empty_results_are_one_line_errors(tmp_path):
    done = run_script("--out", str(tmp_path / "none.json"))
    assert done.returncode == 2 and "does not exist" in done.stderr
    assert "Traceback" not in done.stderr
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"equal": {"rows": [], "targets": {}}}))
    done = run_script("--out", str(empty))
    assert done.returncode == 2 and "no part D row" in done.stderr
