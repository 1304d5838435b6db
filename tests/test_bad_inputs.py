"""Every bad input of the table in ``tests/bad_inputs.py``: one line, exit 2, nothing created.

The commands run in this process (``hwnas.cli.root.main``) for speed; a
command that has not rejected its input after ``bad_inputs.LIMIT_S`` seconds
fails the test (it started real work).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bad_inputs import CASES, assert_promise, make_files, run_cli, snapshot


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    return make_files(tmp_path_factory.mktemp("bad-files"))


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
