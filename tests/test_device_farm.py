"""A device farm: two RPC servers under one tracker key, measured in parallel by two workers."""

from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("tvm")

from hwnas.profile import profile_workloads
from hwnas.spaces.hurricane.space import HurricaneSpace
from hwnas.store import LatencyStore
from hwnas.targets.tvm.local_farm import LocalDeviceFarm
from hwnas.testing import QUICK_PROTOCOL

KEY = "hwnas-farm-test"


def host_board_options(port: int) -> dict:
    """tvm-arm options that make this x86 host stand in for the boards."""
    import tvm

    return {
        "tracker_port": port,
        "key": KEY,
        "cc": "g++",
        "mtriple": tvm.target.codegen.llvm_get_system_triple(),
    }


def test_two_servers_under_one_key_are_used_in_parallel(tmp_path):
    space = HurricaneSpace()
    workloads = [
        space.layer_workload(i, op) for i in (16, 19) for op in ("SEP_k3", "MB_k3_e1", "Choice_k3")
    ]
    with LocalDeviceFarm(KEY, servers=2) as farm:
        busy_at_once, stop = [0], threading.Event()

        def watch() -> None:
            while not stop.is_set():
                busy_at_once[0] = max(busy_at_once[0], 2 - farm.free_devices())
                time.sleep(0.1)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        store = LatencyStore(tmp_path / "farm.sqlite")
        result = profile_workloads(
            "tvm-arm",
            host_board_options(farm.port),
            workloads,
            store,
            QUICK_PROTOCOL,
            workers=2,
            timeout_s=300,
            show_progress=False,
        )
        stop.set()
        watcher.join()
    assert result.measured == 6 and result.failed == 0, result.results
    assert all(m.ok and m.median_ms > 0 for m in result.results.values())
    assert busy_at_once[0] == 2, "both boards should have held a session at the same time"
