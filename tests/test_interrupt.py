"""Ctrl-C and SIGTERM: one line, exit 130, workers ended, nothing poisoned; the same command resumes

Every test runs ``python -m hwnas`` as a user would, sends the signal mid-run
and runs the same command again.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from hwnas.profile import profile_workloads
from hwnas.runner import runner_failure
from hwnas.store import LatencyStore
from hwnas.testing import run_cli as hwnas
from hwnas.testing import tiny_workload
from hwnas.timing import Measurement, TimingProtocol

TESTS = Path(__file__).parent
RESUME = "run the same command again to resume"


def interrupt_when(
    args: list[str],
    ready: Callable[[], bool],
    sig: int,
    env: dict[str, str],
    wait: float = 0.0,
    group: bool = False,
) -> subprocess.CompletedProcess:
    """Start ``hwnas ARGS``, send ``sig`` once ``ready()`` (plus ``wait`` s); return the outcome.

    ``group``: to the whole process group (workers included), as a terminal's Ctrl-C does.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "hwnas", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=group,
    )
    deadline = time.time() + 600
    while not ready() and process.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    assert process.poll() is None, "the command ended before it could be interrupted"
    time.sleep(wait)
    if group:
        os.killpg(process.pid, sig)
    else:
        process.send_signal(sig)
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(args, process.returncode, out, err)


def assert_interrupted(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """Exit 130 and exactly one stderr line, no traceback; returns that line."""
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("interrupted: ") and lines[0].endswith(RESUME), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def processes_marked(mark: str) -> list[int]:
    """Live processes whose environment holds ``HWNAS_TEST_MARK=mark`` (the CLI's workers)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if f"HWNAS_TEST_MARK={mark}".encode() in environ.split(b"\0"):
            found.append(int(proc.name))
    return found


def rows(store: Path) -> list[tuple[str, str, str | None]]:
    try:
        with sqlite3.connect(store) as db:
            return db.execute("SELECT workload, status, reason FROM measurements").fetchall()
    except sqlite3.Error:
        return []


def integrity(store: Path) -> str:
    with sqlite3.connect(store) as db:
        return db.execute("PRAGMA integrity_check").fetchone()[0]


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(HWNAS_CACHE=str(tmp_path / "cache"), HWNAS_TEST_MARK=uuid.uuid4().hex, **extra)
    return env


# -- hwnas profile --------------------------------------------------------------


@pytest.mark.parametrize(
    "sig, workers, group",
    [(signal.SIGINT, "2", False), (signal.SIGTERM, "1", False), (signal.SIGTERM, "2", True)],
)
def test_profile_interrupted_keeps_what_was_measured_and_resumes(tmp_path, sig, workers, group):
    store = tmp_path / "p.sqlite"
    env = cli_env(
        tmp_path,
        HWNAS_PLUGINS="plugins_for_tests",
        PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    )
    args = [
        "profile", "--target", "test-sleep", "-t", "compile_s=0.4", "--layers", "0-7",
        "--ops", "SEP_k3,MB_k3_e3", "--store", str(store), "--repeats", "3",
        "--min-repeat-ms", "1", "--workers", workers, "--json",
    ]  # fmt: skip
    result = interrupt_when(args, lambda: len(rows(store)) >= 2, sig, env, group=group)
    kept = rows(store)
    line = assert_interrupted(result, f"{len(kept)} measurements kept in {store}")
    assert result.stdout == ""
    assert integrity(store) == "ok"
    assert 2 <= len(kept) < 6 and all(status == "ok" for _, status, _ in kept)  # nothing failed
    time.sleep(0.5)
    assert processes_marked(env["HWNAS_TEST_MARK"]) == []  # every worker ended
    assert not list((tmp_path / "cache").glob("onnx/partial-*"))

    rerun = subprocess.run(
        [sys.executable, "-m", "hwnas", *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads(rerun.stdout)
    assert (report["reused"], report["measured"], report["failed"]) == (len(kept), 6 - len(kept), 0)
    assert line.count(";") == 1


def test_a_runner_failure_is_measured_again_a_compiler_failure_is_not(tmp_path, monkeypatch):
    monkeypatch.setenv("HWNAS_PLUGINS", "plugins_for_tests")
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])
    )
    monkeypatch.syspath_prepend(str(TESTS))
    from hwnas.manager import get_plugin_manager

    get_plugin_manager.cache_clear()
    quick = TimingProtocol(warmup=1, repeats=3, min_repeat_ms=1.0, max_attempts=1)
    store = LatencyStore(tmp_path / "r.sqlite")
    interrupted, segfault, hung = (tiny_workload(channels=c) for c in (4, 8, 12))
    first = profile_workloads("test-sleep", {}, [hung], store, quick, show_progress=False)
    fp = first.target.fingerprint_key
    store.put(fp, interrupted.key, Measurement.failed("crash: worker died (exit code 1)"))
    store.put(fp, segfault.key, Measurement.failed("crash: worker died (exit code -11)"))
    store.put(fp, hung.key, Measurement.failed("timeout: no answer within 4 s (run hung)"))
    again = profile_workloads(
        "test-sleep", {}, [interrupted, segfault, hung], store, quick, show_progress=False
    )
    get_plugin_manager.cache_clear()
    assert (again.measured, again.reused, again.failed) == (1, 2, 0)
    assert again.results[interrupted.key].ok  # measured anew
    assert not again.results[segfault.key].ok and not again.results[hung.key].ok  # kept


@pytest.mark.parametrize(
    "reason, harness",
    [
        ("crash: worker died (exit code 1)", True),  # a worker's KeyboardInterrupt
        ("crash: worker died (exit code -2)", True),
        ("crash: worker died (exit code -15)", True),
        ("crash: worker died (exit code 143)", True),
        ("crash: worker died (exit code None)", True),
        ("worker died before the workload was sent", True),
        ("crash: worker died (exit code -11)", False),  # the compiler segfaulted
        ("crash: worker died (exit code 139)", False),
        ("crash: worker died (exit code -9)", False),  # out of memory
        ("timeout: no answer within 600 s (compile or run hung)", False),
        ("compile error: RuntimeError('unsupported operator')", False),
        (None, False),
    ],
)
def test_runner_failures_are_told_from_device_failures(reason, harness):
    assert runner_failure(reason) is harness


# -- hwnas search: the --out folder -----------------------------------------------------

RANDOM = ["search", "--space", "nb201", "--target", "nb201/raspi4", "--evals", "60", "--json"]


@pytest.mark.parametrize("strategy", ["random", "evolution", "nsga2"])
def test_the_same_search_resumes_its_out_folder_with_the_same_result(tmp_path, strategy):
    if strategy == "nsga2":
        pytest.importorskip("optuna")
    args = [*RANDOM, "--strategy", strategy, "--out", str(tmp_path / "run")]
    first = hwnas(*args)
    assert first.returncode == 0, first.stderr
    assert "resuming" not in first.stderr
    second = hwnas(*args)
    assert second.returncode == 0, second.stderr
    assert f"resuming from {tmp_path / 'run'}" in second.stderr
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    assert a["evaluations"] == b["evaluations"] == 60
    assert a["front"] == b["front"] and a["best"] == b["best"]


def test_another_search_in_the_same_out_folder_is_refused(tmp_path):
    out = tmp_path / "run"
    assert hwnas(*RANDOM, "--strategy", "random", "--out", str(out)).returncode == 0
    other = hwnas(*RANDOM, "--strategy", "random", "--seed", "4", "--out", str(out))
    assert other.returncode == 2 and "Traceback" not in other.stderr
    lines = other.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "holds another run (seed: 0 there, 4 now)" in lines[0] and "--fresh" in lines[0]
    assert json.loads((out / "result.json").read_text())["seed"] == 0  # untouched
    fresh = hwnas(*RANDOM, "--strategy", "random", "--seed", "4", "--out", str(out), "--fresh")
    assert fresh.returncode == 0, fresh.stderr
    assert json.loads(fresh.stdout)["seed"] == 4
    assert json.loads((out / "run.json").read_text())["seed"] == 4
    afile = tmp_path / "afile"
    afile.write_text("x")
    refused = hwnas(*RANDOM, "--strategy", "random", "--out", str(afile))
    assert refused.returncode == 2 and "is a file" in refused.stderr
    assert afile.read_text() == "x"


# -- hwnas search --strategy pnag -------------------------------------------------------

PNAG = [
    "search", "--strategy", "pnag", "--space", "nb201", "--target", "nb201/raspi4",
    "--evals", "120", "-s", "iterations=200", "-s", "evaluator_steps=100",
    "-s", "refresh_steps=30", "-s", "budgets=5", "-s", "checkpoint_every=10", "--json",
]  # fmt: skip


def test_pnag_interrupted_resumes_to_the_uninterrupted_result(tmp_path):
    env = cli_env(tmp_path)
    reference = hwnas(*PNAG, "--out", str(tmp_path / "whole"))
    assert reference.returncode == 0, reference.stderr
    out = tmp_path / "run"
    args = [*PNAG, "--out", str(out)]
    result = interrupt_when(args, (out / "generator.pt").exists, signal.SIGINT, env, wait=0.3)
    assert_interrupted(result, f"search state in {out}")
    assert result.stdout == "" and not (out / "result.json").exists()
    resumed = hwnas(*args)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from {out}" in resumed.stderr and "resuming pnag from" in resumed.stderr
    a, b = json.loads(reference.stdout), json.loads(resumed.stdout)
    assert b["extra"]["pnag"]["resumed_from_iteration"] >= 10  # training went on, not over
    assert a["evaluations"] == b["evaluations"] == 120  # honest across the resume
    assert a["front"] == b["front"] and a["best"] == b["best"]
    assert generated(a) == generated(b)
    again = hwnas(*args, "--fresh")  # --fresh trains anew: the same result from iteration 0
    assert again.returncode == 0, again.stderr
    c = json.loads(again.stdout)
    assert c["extra"]["pnag"]["resumed_from_iteration"] is None
    assert c["front"] == a["front"] and c["evaluations"] == 120


def generated(report: dict) -> list[tuple]:
    keys = ("budget_ms", "arch", "latency_ms", "accuracy", "met", "checked")
    return [tuple(g[k] for k in keys) for g in report["extra"]["pnag"]["generated"]]


# -- hwnas search --strategy hurricane ---------------------------------------------------

HURRICANE = [
    "search", "--strategy", "hurricane", "--target", "onnxruntime", "--evals", "8",
    "--latency-ms", "1000", "-s", "max_steps=10", "-s", "chunk_steps=5",
    "-s", "scratch_epochs=0.01", "-s", "val_images=100", "-s", "panel=2", "-s", "calibrate=1",
    "-s", "threads=1", "--json",
]  # fmt: skip


@pytest.mark.slow
def test_hurricane_interrupted_resumes_to_the_uninterrupted_result(tmp_path):
    env = cli_env(tmp_path)
    store = tmp_path / "store.sqlite"
    setup = hwnas(*HURRICANE, "-s", "measure=8", "--store", str(store), "--out", f"{tmp_path}/a")
    assert setup.returncode == 0, setup.stderr
    # the same generated space and layer model for both runs below (no new measurements)
    args = [*HURRICANE, "-s", f"generated={tmp_path / 'a' / 'space.json'}", "-s", "measure=0"]
    args += ["--store", str(store)]
    reference = hwnas(*args, "--out", str(tmp_path / "whole"))
    assert reference.returncode == 0, reference.stderr
    before = rows(store)
    out = tmp_path / "run"
    ready = (out / "stage1-progress.json").exists
    result = interrupt_when([*args, "--out", str(out)], ready, signal.SIGINT, env, wait=0.2)
    assert_interrupted(result, f"kept in {store}", f"search state in {out}")
    assert integrity(store) == "ok" and rows(store) == before  # nothing failed, nothing new
    assert processes_marked(env["HWNAS_TEST_MARK"]) == []
    resumed = hwnas(*args, "--out", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from {out}" in resumed.stderr
    a, b = json.loads(reference.stdout), json.loads(resumed.stdout)
    assert a["evaluations"] == b["evaluations"] == 8
    assert a["front"] == b["front"] and a["best"] == b["best"]
    assert [s["winner"] for s in a["extra"]["stages"]] == [
        s["winner"] for s in b["extra"]["stages"]
    ]
    assert (
        a["extra"]["final"]["scratch"]["test_accuracy"]
        == (b["extra"]["final"]["scratch"]["test_accuracy"])
    )


# -- hwnas arena ------------------------------------------------------------------------

ARENA = [
    "arena", "--space", "nb201", "--device", "eyeriss", "--strategies", "random,evolution",
    "--evals", "100,300", "--seeds", "4", "--json",
]  # fmt: skip


def arena_results(report: dict) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in report["results"]]


def test_arena_interrupted_resumes_to_the_uninterrupted_result(tmp_path):
    reference = hwnas(*ARENA, "--out", str(tmp_path / "whole"))
    assert reference.returncode == 0, reference.stderr
    out = tmp_path / "run"
    args = [*ARENA, "--out", str(out)]
    done = lambda: len(list((out / "runs").glob("*.json"))) >= 3  # noqa: E731
    result = interrupt_when(args, done, signal.SIGTERM, cli_env(tmp_path))
    assert_interrupted(result, f"arena state in {out}")
    kept = len(list((out / "runs").glob("*.json")))
    assert 3 <= kept < 16 and not (out / "arena.json").exists()
    resumed = hwnas(*args)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from {out}" in resumed.stderr
    a, b = json.loads(reference.stdout), json.loads(resumed.stdout)
    assert arena_results(a) == arena_results(b)
    assert [r["evaluations_mean"] for r in b["results"]] == [100, 300, 100, 300]
    other = hwnas(*ARENA[:-3], "--seeds", "2", "--json", "--out", str(out))
    assert other.returncode == 2 and "holds another run (seeds: 4 there, 2 now)" in other.stderr


def test_a_rejected_search_leaves_no_run_file(tmp_path):
    out = tmp_path / "new"
    result = hwnas(*RANDOM, "--strategy", "random", "--data-dir", "/nonexistent", "--out", str(out))
    assert result.returncode == 2, result.stderr
    assert not out.exists()


def test_an_interrupt_inside_a_deferred_block_is_raised_when_it_ends():
    from hwnas import interrupt

    previous = interrupt.install()
    finished = False
    try:
        with pytest.raises(interrupt.Interrupted), interrupt.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)  # the handler has run by now, but held the interrupt
            finished = True
    finally:
        interrupt.restore(previous)
    assert finished
    assert interrupt.message() == "interrupted (nothing to resume; run the command again)"


def _swallowing_command(*_args, **_kwargs):
    """Stands in for a command whose C extension catches the interrupt and raises its own error,
    as numpy's structured comparison (``np.unique(axis=0)``) does with a pending exception."""
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)
    except BaseException:
        raise TypeError("Cannot compare structured arrays") from None
    raise AssertionError("the signal never arrived")


def test_an_interrupt_a_library_turned_into_another_error_still_exits_130(monkeypatch, capsys):
    from hwnas.cli import root

    monkeypatch.setattr(root.typer.main, "get_command", lambda _app: _swallowing_command)
    monkeypatch.setattr(root.checks, "install", lambda _command: None)
    with pytest.raises(SystemExit) as exited:
        root.main()
    assert exited.value.code == 130
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == ["interrupted (nothing to resume; run the command again)"], lines


def test_an_error_without_an_interrupt_is_not_reported_as_one(monkeypatch):
    from hwnas.cli import root

    def failing(*_args, **_kwargs):
        raise TypeError("a real bug")

    monkeypatch.setattr(root.typer.main, "get_command", lambda _app: failing)
    monkeypatch.setattr(root.checks, "install", lambda _command: None)
    with pytest.raises(TypeError, match="a real bug"):
        root.main()


def test_a_swallowed_interrupt_stops_the_search_at_the_next_evaluation(truth):
    from hwnas import interrupt
    from hwnas.problem import Problem

    problem = Problem(truth.space, truth.latency, truth.accuracy, budget=10, seed=0)
    arch = truth.space.sample(np.random.default_rng(0))
    problem.evaluate(arch)
    previous = interrupt.install()
    try:
        with contextlib.suppress(interrupt.Interrupted):  # a library that swallows it
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
        with pytest.raises(interrupt.Interrupted):
            problem.evaluate(arch)
        assert problem.evaluations == 1
    finally:
        interrupt.restore(previous)
    problem.evaluate(arch)  # the command that was interrupted is over: the API works again
    assert problem.evaluations == 2


# -- hwnas space generate -----------------------------------------------------------------


@pytest.mark.slow
def test_space_generate_interrupted_spends_measure_once(tmp_path):
    store, out = tmp_path / "g.sqlite", tmp_path / "space.json"
    args = [
        "space", "generate", "--target", "onnxruntime", "-o", "profile=tiny", "--measure", "10",
        "--calibrate", "1", "--store", str(store), "--out", str(out), "--json",
    ]  # fmt: skip
    env = cli_env(tmp_path)
    result = interrupt_when(args, lambda: len(rows(store)) >= 2, signal.SIGINT, env)
    kept = rows(store)
    assert_interrupted(result, f"{len(kept)} measurements kept in {store}")
    assert integrity(store) == "ok" and all(status == "ok" for _, status, _ in kept)
    assert processes_marked(env["HWNAS_TEST_MARK"]) == []
    assert not list((tmp_path / "cache").glob("onnx/partial-*"))
    resumed = subprocess.run(
        [sys.executable, "-m", "hwnas", *args], capture_output=True, text=True, env=env, timeout=900
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming: {len(kept)} of --measure's workloads" in resumed.stderr
    assert len(rows(store)) == 10 + 1  # --measure 10 layer workloads in all, + 1 calibration
    assert out.exists() and not (tmp_path / "space.json.partial.json").exists()
