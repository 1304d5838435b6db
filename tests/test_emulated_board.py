"""The emulated AArch64 board (``hwnas board emulate``) and tvm-arm's output check and marking.

The slow test starts a tracker and the board under qemu-aarch64 and runs
tvm-arm through it. The board's files (~450 MB) live in the user's hwnas
cache (``$HWNAS_BOARD_CACHE`` or ``~/.cache/hwnas``), not in the tests'
private one, so only the first run on a machine downloads them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

tvm = pytest.importorskip("tvm")

from bad_inputs import assert_promise, run_cli  # noqa: E402

from hwnas.errors import HwnasError  # noqa: E402
from hwnas.spaces.hurricane.space import HurricaneSpace  # noqa: E402
from hwnas.targets.tvm import common, emulated_board  # noqa: E402
from hwnas.targets.tvm.arm import TvmArmTarget  # noqa: E402
from hwnas.targets.tvm.board_commands import parse_tracker  # noqa: E402
from hwnas.targets.tvm.emulated_board import EmulatedBoard  # noqa: E402
from hwnas.targets.tvm.local_farm import free_port  # noqa: E402
from hwnas.testing import QUICK_PROTOCOL, check_target_contract  # noqa: E402

BOARD_CACHE = Path(os.environ.get("HWNAS_BOARD_CACHE") or Path.home() / ".cache" / "hwnas")


def test_emulated_boards_get_their_own_fingerprint():
    real = TvmArmTarget(key="rpi4")
    emulated = TvmArmTarget(key="qemu-a72")
    assert "emulated" not in real.fingerprint()  # real boards keep their existing keys
    assert emulated.fingerprint()["emulated"] is True
    plain = TvmArmTarget(key="qemu-a72", emulated="false")
    assert emulated.fingerprint_key() != plain.fingerprint_key()
    assert TvmArmTarget(key="rpi4", emulated="true").fingerprint()["emulated"] is True
    with pytest.raises(HwnasError, match="emulated"):
        TvmArmTarget(emulated="maybe")
    with pytest.raises(HwnasError, match="tolerance"):
        TvmArmTarget(tolerance=0)


def test_output_check_reports_the_error_and_rejects_a_wrong_output():
    expected = np.linspace(-3, 3, 24, dtype="float32").reshape(1, 2, 3, 4)
    report = common.output_check(expected + 1e-6, expected, 1e-4)
    assert report["max_abs_error"] == pytest.approx(1e-6, rel=0.1)
    assert report["max_abs_torch"] == pytest.approx(3.0)
    with pytest.raises(common.OutputMismatch, match="max abs error"):
        common.output_check(expected + 0.01, expected, 1e-4)
    with pytest.raises(common.OutputMismatch, match="shape"):
        common.output_check(expected[0], expected, 1e-4)
    with pytest.raises(common.OutputMismatch):
        common.output_check(expected * np.nan, expected, 1e-4)


@pytest.mark.parametrize("text", ["nohost", "host:", ":9190", "host:99999", "host:abc"])
def test_bad_tracker_addresses_are_one_line_errors(text):
    with pytest.raises(HwnasError, match="HOST:PORT"):
        parse_tracker(text)
    assert parse_tracker("127.0.0.1:9190") == ("127.0.0.1", 9190)


def test_missing_qemu_names_the_fix(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(emulated_board, "QEMU", "no-such-qemu-aarch64")
    args = ["board", "emulate", "--start-tracker", "--cache-dir", str(tmp_path / "c")]
    code, out, err = run_cli(args, monkeypatch, capsys)
    assert_promise(code, out, err, ("no-such-qemu-aarch64", "apt-get install qemu-user"))
    assert not (tmp_path / "c").exists()


@pytest.mark.slow
def test_tvm_arm_on_the_emulated_board_matches_torch():
    """Tracker + board under qemu: the contract, then two hurricane layers checked against torch."""
    if emulated_board.shutil.which(emulated_board.QEMU) is None:
        pytest.skip(emulated_board.QEMU_FIX)
    port = free_port()
    with EmulatedBoard("qemu-a72", "127.0.0.1", port, BOARD_CACHE, start_tracker=True, log=print):
        target = TvmArmTarget(tracker_port=port, key="qemu-a72")
        try:
            assert target.available() is None
            result = check_target_contract(target)
            assert result.extra["emulated"] is True
            assert result.extra["output_check"]["max_abs_error"] < 1e-4
            space = HurricaneSpace()
            for op in ("SEP_k3", "MB_k3_e3"):
                m = target.measure(space.layer_workload(0, op), QUICK_PROTOCOL)
                assert m.ok, m.reason
                check = m.extra["output_check"]
                assert check["max_abs_error"] <= 1e-4 * max(1.0, check["max_abs_torch"])
                assert m.extra["tvm"]["target"].count("aarch64")
        finally:
            target.close()
