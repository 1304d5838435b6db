"""Every bad input of the table in ``tests/bad_inputs.py``: one line, exit 2, nothing created.

The commands run in this process (``hwnas.cli.root.main``) for speed; a
command that has not rejected its input after :data:`LIMIT_S` seconds fails
the test (it started real work).
"""

from __future__ import annotations

import hashlib
import json
import signal
import sys
from pathlib import Path

import pytest
from bad_inputs import CASES, make_files

LIMIT_S = 60


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    return make_files(tmp_path_factory.mktemp("bad-files"))


def snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under ``root`` with a digest of its content."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        out[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


class Overtime(Exception):
    pass


def run_cli(args: list[str], monkeypatch, capsys) -> tuple[int, str, str]:
    """Run ``hwnas ARGS`` in this process: (exit status, stdout, stderr)."""
    from hwnas.cli.root import main

    def overtime(signum, frame):
        raise Overtime(f"still running after {LIMIT_S} s: {' '.join(args)}")

    monkeypatch.setattr(sys, "argv", ["hwnas", *args])
    previous = signal.signal(signal.SIGALRM, overtime)
    signal.alarm(LIMIT_S)
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    out, err = capsys.readouterr()
    return code, out, err


def assert_promise(code: int, out: str, err: str, fragments=()) -> str:
    """One line on stderr naming problem and fix, exit 2, no traceback, stdout empty or JSON."""
    assert code == 2, f"exit {code}; stderr: {err[-2000:]}"
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("error: "), line
    assert "(" in line and line.rstrip().endswith(")"), f"no fix in: {line}"
    assert "weights_only" not in line, line
    if out.strip():
        json.loads(out)
    for fragment in fragments:
        assert fragment.lower() in line.lower(), f"{fragment!r} not in: {line}"
    return line


def test_the_table_is_large_and_covers_every_command():
    commands = {args[0] for args, _ in CASES}
    assert len(CASES) >= 170
    assert commands >= {
        "plugins", "data", "targets", "profile", "store", "space", "arch", "predict",
        "recorded", "search", "arena", "transfer", "generate", "supernet",
    }  # fmt: skip


@pytest.mark.parametrize("args, fragments", CASES, ids=[" ".join(a)[:90] for a, _ in CASES])
def test_bad_input(args, fragments, files, tmp_path, monkeypatch, capsys):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("HWNAS_STORE", str(cwd / "default-store.sqlite"))
    names = {**files, "cwd": str(cwd), "cwd_store": str(cwd / "store.sqlite")}
    argv = [a.format(**names) if "{" in a else a for a in args]
    fixtures = Path(files["dir"]).parent
    before = snapshot(fixtures)
    code, out, err = run_cli(argv, monkeypatch, capsys)
    assert_promise(code, out, err, fragments)
    assert snapshot(cwd) == {}, "a rejected command created files"
    assert snapshot(fixtures) == before, "a rejected command changed a file it was given"
