"""Latency store, isolated workers and the profile loop: nothing measured is ever lost."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from hwnas.errors import HwnasError
from hwnas.profile import profile_workloads
from hwnas.runner import IsolatedTarget
from hwnas.store import LatencyStore
from hwnas.testing import tiny_workload
from hwnas.timing import Measurement, TimingProtocol

TESTS = Path(__file__).parent
QUICK = TimingProtocol(warmup=1, repeats=3, min_repeat_ms=1.0, max_attempts=1)


@pytest.fixture(autouse=True)
def test_plugins(monkeypatch):
    """Make the misbehaving test targets visible to the spawned workers."""
    monkeypatch.setenv("HWNAS_PLUGINS", "plugins_for_tests")
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])
    )
    monkeypatch.syspath_prepend(str(TESTS))
    from hwnas.manager import get_plugin_manager

    get_plugin_manager.cache_clear()
    yield
    get_plugin_manager.cache_clear()


def ok(median: float) -> Measurement:
    return Measurement.from_repeats([median, median * 1.1, median * 0.9], number=3, threads=1)


# -- store -------------------------------------------------------------------


def test_store_round_trip_keeps_raw_repeats_and_failures(tmp_path):
    store = LatencyStore(tmp_path / "s.sqlite")
    store.register_target("fp1", "t", {"cpu": "x"})
    store.put("fp1", "w1", ok(2.0), "layer 0", {"flops": 10})
    store.put("fp1", "w2", Measurement.failed("compile error: boom"))
    row = store.get("fp1", "w1")
    assert row.measurement.repeats_ms == (2.0, 2.2, 1.8) and row.measurement.median_ms == 2.0
    assert row.features == {"flops": 10} and row.label == "layer 0"
    assert store.get("fp1", "w2").measurement.reason == "compile error: boom"
    assert store.keys("fp1") == {"w1", "w2"} and store.keys("fp1", status="ok") == {"w1"}
    assert store.get("fp2", "w1") is None and store.targets()["fp1"]["details"] == {"cpu": "x"}
    store.put("fp1", "w1", ok(3.0))  # replacing never duplicates
    assert (
        len(store.measurements("fp1")) == 2 and store.get("fp1", "w1").measurement.median_ms == 3.0
    )


def test_store_csv_export_import(tmp_path):
    store = LatencyStore(tmp_path / "a.sqlite")
    store.put("fp", "w1", ok(1.5), "l", {"op": "SEP_k3"})
    store.put("fp", "w2", Measurement.failed("timeout"))
    assert store.export_csv(tmp_path / "x.csv") == 2
    other = LatencyStore(tmp_path / "b.sqlite")
    assert other.import_csv(tmp_path / "x.csv") == 2
    assert other.get("fp", "w1").measurement == store.get("fp", "w1").measurement
    assert other.get("fp", "w2").measurement.median_ms is None
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(HwnasError, match="not a store export"):
        other.import_csv(tmp_path / "bad.csv")


def test_copy_is_a_separate_store_with_the_same_measurements(tmp_path):
    store = LatencyStore(tmp_path / "main.sqlite")
    store.put("fp", "w1", ok(1.5), "l", {"op": "SEP_k3"})
    copy = store.copy_to(tmp_path / "copies" / "row.sqlite")
    assert copy.get("fp", "w1").measurement.median_ms == 1.5
    copy.put("fp", "w2", ok(2.0))
    store.put("fp", "w3", ok(3.0))
    assert copy.keys("fp") == {"w1", "w2"}
    assert store.keys("fp") == {"w1", "w3"}
    again = store.copy_to(copy.path)  # replaces the old copy
    assert again.keys("fp") == {"w1", "w3"}


def test_unwritable_store_is_a_user_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(HwnasError, match="cannot open latency store"):
        LatencyStore(tmp_path / "file" / "s.sqlite")


def _write_many(args):
    path, writer = args
    store = LatencyStore(path)
    for i in range(25):
        store.put("fp", f"w{writer}-{i}", ok(1.0 + i))
    return writer


def test_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / "c.sqlite"
    LatencyStore(path)
    with ProcessPoolExecutor(4) as pool:
        list(pool.map(_write_many, [(path, w) for w in range(4)]))
    assert len(LatencyStore(path).keys("fp")) == 100


# -- isolation -----------------------------------------------------------------


@pytest.mark.parametrize(
    "mode, reason",
    [
        ("crash", "crash: worker died (exit code 139)"),
        ("hang", "timeout"),
        ("error", "unsupported operator"),
    ],
)
def test_a_failing_compiler_is_isolated_and_reported(mode, reason):
    with IsolatedTarget("test-sleep", {"mode": mode}, timeout_s=4) as target:
        bad = target.measure(tiny_workload(channels=16), QUICK)
        good = target.measure(tiny_workload(channels=8), QUICK)
    assert bad.status == "failed" and reason in bad.reason
    assert good.ok and good.median_ms > 0.1  # a fresh worker carried on


def test_a_target_that_cannot_start_is_one_error():
    with pytest.raises(HwnasError, match="failed to start"):
        IsolatedTarget("test-sleep", {"mode": "ok", "colour": 1}).start()


@pytest.mark.parametrize("deaths, starts", [(1, True), (2, False)])
def test_a_worker_that_dies_silently_at_start_is_started_once_more(tmp_path, deaths, starts):
    counter = tmp_path / "deaths"
    counter.write_text(str(deaths))
    target = IsolatedTarget("test-sleep", {"starts_to_die": str(counter)})
    try:
        if starts:
            assert target.start().fingerprint["target"] == "sleep"
            assert target.measure(tiny_workload(), QUICK).ok
        else:
            with pytest.raises(HwnasError, match=r"failed to start: worker died \(exit code 255\)"):
                target.start()
    finally:
        target.stop()
    assert counter.read_text() == "0"


def test_profile_skips_what_the_store_holds(tmp_path):
    store = LatencyStore(tmp_path / "p.sqlite")
    workloads = [tiny_workload(channels=c) for c in (4, 8, 8, 12)]  # one duplicate key
    first = profile_workloads("test-sleep", {}, workloads, store, QUICK, show_progress=False)
    assert (first.measured, first.reused, first.failed) == (3, 0, 0)
    assert len(first.results) == 3 and all(m.ok for m in first.results.values())
    second = profile_workloads("test-sleep", {}, workloads, store, QUICK, show_progress=False)
    assert (second.measured, second.reused) == (0, 3)
    assert second.results == first.results
    other = profile_workloads(
        "test-sleep", {"mode": "error"}, workloads, store, QUICK, show_progress=False
    )  # another fingerprint: measured anew
    assert other.measured == 3


def test_failures_are_kept_and_retried_on_request(tmp_path):
    store = LatencyStore(tmp_path / "f.sqlite")
    workloads = [tiny_workload(channels=16), tiny_workload(channels=8)]
    run = profile_workloads(
        "test-sleep", {"mode": "error"}, workloads, store, QUICK, show_progress=False
    )
    assert run.failed == 1
    again = profile_workloads(
        "test-sleep", {"mode": "error"}, workloads, store, QUICK, show_progress=False
    )
    assert again.measured == 0
    retry = profile_workloads(
        "test-sleep",
        {"mode": "error"},
        workloads,
        store,
        QUICK,
        retry_failed=True,
        show_progress=False,
    )
    assert retry.measured == 1 and retry.failed == 1


def test_two_workers_share_the_queue(tmp_path):
    store = LatencyStore(tmp_path / "w.sqlite")
    workloads = [tiny_workload(channels=c) for c in range(2, 10)]
    run = profile_workloads(
        "test-sleep", {"compile_s": 0.2}, workloads, store, QUICK, workers=2, show_progress=False
    )
    assert run.measured == 8 and len(store.keys(run.target.fingerprint_key)) == 8


def test_kill_9_mid_run_loses_nothing_committed(tmp_path):
    store_path = tmp_path / "k.sqlite"
    command = [
        sys.executable,
        "-m",
        "hwnas",
        "profile",
        "--target",
        "test-sleep",
        "-t",
        "compile_s=0.4",
        "--layers",
        "0-7",
        "--ops",
        "SEP_k3,MB_k3_e3",
        "--store",
        str(store_path),
        "--repeats",
        "3",
        "--min-repeat-ms",
        "1",
        "--no-progress",
        "--json",
    ]
    process = subprocess.Popen(
        command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        time.sleep(0.3)
        if store_path.exists() and _count(store_path) >= 2:
            break
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert sqlite3.connect(store_path).execute("PRAGMA integrity_check").fetchone() == ("ok",)
    before = {r.workload: r.created for r in LatencyStore(store_path).measurements()}
    assert 2 <= len(before) < 6  # 3 distinct layer shapes in 0-7, x 2 ops
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads(rerun.stdout)
    assert report["reused"] == len(before) and report["measured"] == 6 - len(before)
    after = {r.workload: r.created for r in LatencyStore(store_path).measurements()}
    assert len(after) == 6 and all(after[k] == v for k, v in before.items())


def _count(path: Path) -> int:
    try:
        return sqlite3.connect(path).execute("SELECT COUNT(*) FROM measurements").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_workers_started_from_several_threads_each_get_the_worker_env():
    """A device farm starts workers from threads; the shared environment must not race."""
    import threading

    from hwnas.runner import WORKER_ENV, start_with_worker_env

    before = {k: os.environ.get(k) for k in WORKER_ENV}
    seen: list[dict] = []

    class SlowStart:  # stands in for a Process: start() reads the environment it inherits
        def start(self) -> None:
            time.sleep(0.02)
            seen.append({k: os.environ.get(k) for k in WORKER_ENV})

    threads = [
        threading.Thread(target=start_with_worker_env, args=(SlowStart(),)) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [WORKER_ENV] * 8
    assert {k: os.environ.get(k) for k in WORKER_ENV} == before
