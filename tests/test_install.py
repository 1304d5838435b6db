"""A user with nothing but the wheel can run hwnas.

Builds a wheel from a copy of this checkout, installs it into a fresh virtualenv
(no system site-packages) and runs the documented commands with the venv's
``hwnas`` from an empty directory: ``HWNAS_*`` unset (but ``HWNAS_STORE`` in tmp),
``HOME`` and the XDG folders in tmp, no ``shared/`` folder reachable. Only the
recorded tables shipped inside the wheel are used, so no extras are installed.

Slow (a minute or two for the install, ~1 min for the commands). It fails,
never skips, when something is missing: installing needs PyPI (or pip's cache).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
# hwnas asks for ``torch>=2.1``; any request but this exact pin pulls a multi-GB CUDA
# build (or the capped newest one) from PyPI. ``torch==2.13.0`` is the CPU build that
# scripts/setup.sh installs from a local file, so it goes in first and the wheel's
# requirement is then already satisfied.
TORCH = "torch==2.13.0"
SHIPPED_FILES = 12  # entries of targets/recorded/data/MANIFEST.json
# Not part of the source a user would build from (and slow or large to copy).
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", "build", "dist", "*.egg-info", "__pycache__", "*.pyc", ".pytest_cache",
    ".ruff_cache", ".import_linter_cache", ".benchmarks", ".venv", "venv", "runs",
)  # fmt: skip


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _check(cmd: list[str], what: str, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """Run a setup step; a failure says which step and shows the end of its output."""
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what}: timed out after {timeout:.0f} s: {' '.join(map(str, cmd))}")
    if result.returncode != 0:
        pytest.fail(
            f"{what} failed (exit {result.returncode}): {' '.join(map(str, cmd))}\n"
            f"(installing needs PyPI or pip's cache; {TORCH} needs its local CPU wheel)\n"
            f"stdout:\n{_tail(result.stdout)}\nstderr:\n{_tail(result.stderr)}"
        )
    return result


@dataclass
class Installed:
    venv: Path
    python: Path
    hwnas: Path
    site_packages: Path
    workdir: Path
    env: dict[str, str]

    def run(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        """``hwnas ARGS`` with the venv's executable, from the empty working directory."""
        return subprocess.run(
            [str(self.hwnas), *args],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def ok(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        result = self.run(*args, timeout=timeout)
        where = f"hwnas {' '.join(args)}"
        assert result.returncode == 0, f"{where}: exit {result.returncode}\n{result.stderr}"
        assert "Traceback" not in result.stderr, f"{where}:\n{result.stderr}"
        return result


def _clean_env() -> dict[str, str]:
    """The caller's environment without anything that points Python or hwnas elsewhere."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HWNAS_", "PYTHON", "VIRTUAL_ENV", "CONDA", "PYTEST"))
    }
    env["PYTHONNOUSERSITE"] = "1"
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Iterator[Installed]:
    """Build the wheel once, install it into a fresh venv, and make an empty sandbox."""
    tmp = tmp_path_factory.mktemp("install")

    # Build from a copy, so the checkout gets no build/ or egg-info from this test.
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=_NOT_SOURCE)
    wheels = tmp / "wheels"
    _check(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-w", str(wheels), str(src)],
        "building the wheel", timeout=600,
    )  # fmt: skip
    built = sorted(wheels.glob("hwnas-*.whl"))
    assert len(built) == 1, f"expected one hwnas wheel, got {built}"

    venv = tmp / "venv"
    _check([sys.executable, "-m", "venv", str(venv)], "creating the venv", timeout=300)
    python = venv / "bin" / "python"
    # pip keeps the caller's HOME: its user config (indexes, find-links) and its cache
    # live there. Only hwnas itself runs with HOME in tmp below.
    pip_env = _clean_env()
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
    _check([*pip, TORCH], f"installing {TORCH} into the venv", timeout=1800, env=pip_env, cwd=tmp)
    _check([*pip, str(built[0])], "installing the wheel", timeout=1800, env=pip_env, cwd=tmp)

    site_packages = Path(
        _check(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            "locating site-packages", timeout=60, env=pip_env, cwd=tmp,
        ).stdout.strip()
    )  # fmt: skip

    # The sandbox: an empty working directory with no shared/ beside it, caches in tmp.
    sandbox = tmp / "sandbox"
    home = sandbox / "home"
    workdir = sandbox / "work"
    for folder in (home, workdir):
        folder.mkdir(parents=True)
    env = _clean_env()
    env.update(
        HOME=str(home),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        HWNAS_STORE=str(sandbox / "store" / "latency.sqlite"),
        MPLBACKEND="Agg",
        PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    yield Installed(venv, python, venv / "bin" / "hwnas", site_packages, workdir, env)
    shutil.rmtree(venv, ignore_errors=True)  # 1.3 GB (torch); the outputs in work/ stay


def _json(path: Path):
    assert path.is_file(), f"{path} was not written"
    return json.loads(path.read_text())


def test_sandbox_is_isolated(installed):
    for up in (installed.workdir, *installed.workdir.parents):
        assert not (up / "shared").exists(), f"{up / 'shared'} is reachable from the sandbox"
    assert "HWNAS_DATA" not in installed.env
    assert installed.hwnas.is_file(), "the wheel installed no hwnas executable"


def test_imports_the_installed_package(installed):
    result = subprocess.run(
        [str(installed.python), "-c", "import hwnas, sys; print(hwnas.__file__)"],
        cwd=installed.workdir,
        env=installed.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    where = Path(result.stdout.strip()).resolve()
    assert where.is_relative_to(installed.venv.resolve()), f"hwnas imported from {where}"


def test_installed_package_never_looks_for_shared_data(installed):
    package = installed.site_packages / "hwnas"
    assert package.is_dir(), f"no hwnas package in {installed.site_packages}"
    hits = [
        str(p.relative_to(package))
        for p in package.rglob("*")
        if p.is_file() and b"shared/data" in p.read_bytes()
    ]
    assert hits == [], f"the installed package mentions shared/data: {hits}"


def test_data(installed):
    installed.ok("data")
    result = installed.ok("data", "--verify", "--json")
    report = json.loads(result.stdout)
    assert report["problems"] == []
    assert len(report["files"]) == SHIPPED_FILES
    data_dir = Path(report["data_dir"]).resolve()
    assert data_dir.is_relative_to(installed.site_packages.resolve()), data_dir


def test_arena(installed):
    installed.ok(
        "arena", "--space", "nb201", "--device", "raspi4", "--strategies", "random,evolution",
        "--evals", "100", "--seeds", "2", "--out", "A",
    )  # fmt: skip
    arena = _json(installed.workdir / "A" / "arena.json")
    rows = arena["results"]
    assert [r["strategy"] for r in rows] == ["random", "evolution"]
    for row in rows:
        assert len(row["hv_ratio"]) == 2, row
        assert all(0 < hv <= 1 for hv in row["hv_ratio"]), row
        assert 0 < row["hv_ratio_mean"] <= 1, row


def test_search_pnag(installed):
    # Default options: on this 2-core machine the generator trains in ~30 s.
    installed.ok(
        "search", "--strategy", "pnag", "--space", "nb201", "--target", "nb201/raspi4",
        "--out", "B",
    )  # fmt: skip
    report = _json(installed.workdir / "B" / "result.json")
    assert report["strategy"] == "pnag"
    assert report["front"], "pnag returned an empty front"


def test_search_proxy(installed):
    result = installed.ok(
        "search", "--strategy", "proxy", "--space", "nb201", "--proxy", "nb201/pixel3",
        "--target", "nb201/raspi4", "--samples", "10", "--out", "C",
    )  # fmt: skip
    report = _json(installed.workdir / "C" / "result.json")
    measured = report.get("extra", {}).get("target_measurements", report.get("target_measurements"))
    assert measured is not None and measured >= 10, measured
    # Rich wraps long lines to the terminal width; compare with whitespace collapsed.
    printed = " ".join((result.stdout + result.stderr).split())
    assert "proxy nb201/pixel3: SRCC" in printed, printed[-2000:]
    assert "from 10 samples" in printed, printed[-2000:]


def test_transfer_analyze(installed):
    installed.ok("transfer", "analyze", "--space", "nb201", "--out", "D")
    srcc = _json(installed.workdir / "D" / "srcc.json")
    assert srcc["space"] == "nb201"
    assert srcc["srcc"], "empty SRCC matrix"


def test_bad_input_is_one_line(installed):
    result = installed.run(
        "arena", "--space", "nb201", "--device", "nosuch", "--strategies", "random"
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "nosuch" in lines[0], lines[0]
