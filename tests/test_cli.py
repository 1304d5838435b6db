"""The command line, run as a user would: exit codes, JSON on stdout, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def hwnas(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hwnas", *args], capture_output=True, text=True, timeout=300
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_plugins_json_lists_builtin_spaces():
    result = hwnas("plugins", "--json")
    assert result.returncode == 0, result.stderr
    rows = {(r["kind"], r["name"]): r for r in json.loads(result.stdout)}
    for space in ("hurricane", "nb201", "fbnet", "ofa"):
        row = rows[("space", space)]
        assert row["available"] and row["package"] == "hwnas" and row["reason"] is None


def test_plugins_table_for_people():
    result = hwnas("plugins", "--kind", "space")
    assert result.returncode == 0 and "hurricane" in result.stdout and "available" in result.stdout


def test_space_show_hurricane_json():
    result = hwnas("space", "show", "hurricane", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["num_layers"] == 20 and len(info["layers"]) == 20
    for layer in info["layers"]:
        assert len(layer["ops"]) == 32
        assert all(op["flops"] > 0 and op["params"] > 0 for op in layer["ops"])


def test_space_show_with_options_and_a_table():
    result = hwnas("space", "show", "hurricane", "-o", "profile=imagenet", "--layer", "3")
    assert result.returncode == 0, result.stderr
    assert "imagenet" in result.stdout and "Choice_x_SE" in result.stdout


@pytest.mark.parametrize(
    "args, fragments",
    [
        (("space", "show", "nosuch"), ("unknown space 'nosuch'", "hurricane")),
        (("space", "show", "hurricane", "-o", "profile=mobile"), ("unknown hurricane profile",)),
        (("space", "show", "hurricane", "-o", "colour=red"), ("bad options", "profile")),
        (("space", "show", "hurricane", "-o", "noequals"), ("KEY=VALUE",)),
        (("space", "show", "hurricane", "--layer", "99"), ("no layer 99",)),
        (("arch", "show", "hurricane", "MB_k3_e3,SEP_k3"), ("needs 20 choices, got 2",)),
        (
            (
                "arch",
                "show",
                "hurricane",
                ",".join(["SEP_k3"] * 7 + ["MB_k4_e3"] + ["SEP_k3"] * 12),
            ),
            ("position 7 (layer7)", "'MB_k4_e3'", "valid: SEP_k3"),
        ),
        (("arch", "show", "nb201", "|nor_conv_3x3~0|+|nor_conv_3x3~0|"), ("nb201 string",)),
        (
            ("arch", "export", "nb201", "none,none,none,none,none,none", "--onnx", "x.onnx"),
            ("cannot build a torch model",),
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, fragments):
    assert_one_line_error(hwnas(*args), *fragments)


def test_usage_errors_exit_2_without_traceback():
    result = hwnas("space", "show")
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_sample_show_and_export_an_architecture(tmp_path):
    pytest.importorskip("onnxruntime")
    sample = hwnas("arch", "sample", "hurricane", "--seed", "5", "--json")
    (arch,) = json.loads(sample.stdout)
    shown = json.loads(hwnas("arch", "show", "hurricane", arch["arch"], "--json").stdout)
    assert shown["choices"] == arch["choices"] and shown["flops"] > 0
    onnx_path = tmp_path / "arch.onnx"
    result = hwnas("arch", "export", "hurricane", arch["arch"], "--onnx", str(onnx_path))
    assert result.returncode == 0, result.stderr
    assert onnx_path.stat().st_size > 10_000 and "max abs diff" in result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("arena", "--space", "nb201", "--device", "raspi4"), "Missing option '--strategies'"),
        (("nosuchcommand",), "No such command 'nosuchcommand'"),
        (("arch", "sample", "nb201", "-n", "many"), "Invalid value for '-n'"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args, expected):
    result = subprocess.run(
        [sys.executable, "-m", "hwnas", *args], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert expected in lines[0] and "--help" in lines[0]
    assert result.stdout == ""


def test_a_group_without_a_command_prints_its_help():
    result = subprocess.run(
        [sys.executable, "-m", "hwnas", "space"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2 and "show" in result.stdout and "Traceback" not in result.stderr
