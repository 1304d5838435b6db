"""``hwnas search --strategy pnag`` and ``hwnas generate``, run as a user would (subprocesses)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

SEARCH = (
    "search",
    "--strategy",
    "pnag",
    "--space",
    "nb201",
    "--target",
    "nb201/raspi4",
    "--evals",
    "120",
    "-s",
    "iterations=200",
    "-s",
    "evaluator_steps=100",
    "-s",
    "refresh_steps=30",
    "-s",
    "budgets=5",
)


def hwnas(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hwnas", *args], capture_output=True, text=True, timeout=300
    )


def hwnas_in_process(args: tuple[str, ...], monkeypatch, capsys) -> subprocess.CompletedProcess:
    """The console entry point (``hwnas.cli.main``) in this process: exit code and output."""
    from hwnas.cli import main

    monkeypatch.setattr(sys, "argv", ["hwnas", *args])
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, captured.out, captured.err)


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, (result.args, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``hwnas search --strategy pnag`` (short): result.json, front.png and generator.pt."""
    out = tmp_path_factory.mktemp("pnag")
    done = hwnas(*SEARCH, "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out


def test_search_writes_the_generator_with_its_provenance(trained):
    from hwnas.plugins.pnag.model_file import load_generator

    report = json.loads((trained / "result.json").read_text())
    assert report["strategy"] == "pnag" and report["evaluations"] <= 120
    info = report["extra"]["pnag"]
    assert info["model"] == str(trained / "generator.pt")
    assert info["train_evaluations"] + info["generation_evaluations"] == report["evaluations"]
    assert len(info["generated"]) == 5 and (trained / "front.png").is_file()
    model = load_generator(trained / "generator.pt")
    assert model.space == "nb201" and model.space_options == {}
    assert model.target == "nb201/raspi4" and model.target_fingerprint["device"] == "raspi4"
    assert len(model.budgets_ms) == 5 and model.budgets_ms == sorted(model.budgets_ms)
    assert model.budgets_ms == pytest.approx(info["budgets_ms"])
    assert model.training is not None and model.summary["evaluations"] == info["train_evaluations"]


def test_generate_answers_budgets_in_range_quickly(trained, monkeypatch, capsys):
    from hwnas.plugins.pnag.model_file import load_generator

    lo, hi = load_generator(trained / "generator.pt").budget_range
    inside = [lo + f * (hi - lo) for f in (0.3, 0.6, 0.9)]
    model = str(trained / "generator.pt")
    text = hwnas("generate", "--model", model, "--budget-ms", f"{inside[1]}")
    budgets = ",".join(f"{b}" for b in inside)
    js = hwnas_in_process(
        ("generate", "--model", model, "--budgets", budgets, "--json"), monkeypatch, capsys
    )
    assert text.returncode == 0, text.stderr
    assert "generated 1 architecture(s) in" in text.stdout and "ms" in text.stdout
    assert js.returncode == 0, js.stderr
    out = json.loads(js.stdout)
    assert [r["budget_ms"] for r in out["generated"]] == pytest.approx(inside)
    for row in out["generated"]:
        assert row["generation_ms"] < 50, row
        assert row["latency_source"] == "recorded" and row["evaluated"] >= 1
        assert row["met"] == (row["latency_ms"] <= row["budget_ms"])
        assert 0 < row["report_accuracy"] <= 100
    assert sum(r["met"] for r in out["generated"]) >= 2
    assert out["evaluations"] == sum(r["evaluated"] for r in out["generated"])


def test_generate_with_refine_counts_its_evaluations_and_never_answers_worse(
    trained, monkeypatch, capsys
):
    from hwnas.plugins.pnag.model_file import load_generator

    lo, hi = load_generator(trained / "generator.pt").budget_range
    budgets = ",".join(f"{lo + f * (hi - lo)}" for f in (0.35, 0.7))
    base = ("generate", "--model", str(trained / "generator.pt"), "--budgets", budgets, "--json")
    plain = json.loads(hwnas_in_process(base, monkeypatch, capsys).stdout)
    done = hwnas_in_process((*base, "--refine", "10"), monkeypatch, capsys)
    assert done.returncode == 0, done.stderr
    refined = json.loads(done.stdout)
    rows = refined["generated"]
    assert [r["refined"] for r in rows] == [10, 10]
    # checks of architectures the training data holds are not evaluated again
    assert refined["evaluations"] <= sum(r["evaluated"] + r["refined"] for r in rows)
    assert refined["evaluations"] >= 20
    for a, b in zip(plain["generated"], rows, strict=True):
        assert b["met"] and b["latency_ms"] <= b["budget_ms"]
        assert b["accuracy"] >= a["accuracy"] if a["met"] else True
        assert b["generation_ms"] > 0 and b["evaluate_ms"] > 0


def test_generate_bad_input_is_one_line_and_exit_2(trained, tmp_path, monkeypatch, capsys):
    from hwnas.plugins.pnag.model_file import load_generator

    model = trained / "generator.pt"
    lo, hi = load_generator(model).budget_range
    (tmp_path / "cut.pt").write_bytes(model.read_bytes()[:2000])
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    cases = [
        (("--model", str(model), "--budget-ms", f"{hi * 3}"), ("outside", f"{lo:.4g}-{hi:.4g} ms")),
        (("--model", str(model), "--budgets", f"{lo},{lo / 10}"), ("outside the generator's",)),
        (
            ("--model", str(model), "--budget-ms", f"{hi}", "--target", "nb201/pixel3"),
            ("trained for target 'nb201/raspi4'", "nb201/pixel3"),
        ),
        (
            ("--model", str(model), "--budget-ms", f"{hi}", "--space", "ofa"),
            ("trained for space 'nb201'", "ofa"),
        ),
        (("--model", str(tmp_path / "missing.pt"), "--budget-ms", "5"), ("does not exist",)),
        (("--model", str(tmp_path / "cut.pt"), "--budget-ms", "5"), ("cannot read PNAG",)),
        (("--model", str(tmp_path / "foreign.pt"), "--budget-ms", "5"), ("not a PNAG",)),
        (("--model", str(model)), ("no latency budget",)),
        (("--model", str(model), "--budgets", "5,x"), ("bad budget 'x'",)),
        (("--model", str(model), "--budget-ms", f"{hi}", "--refine", "-1"), ("--refine",)),
        (
            ("--model", str(model), "--budget-ms", f"{hi}", "--band", "1.5"),
            ("--band must be", "0.99"),
        ),
    ]
    # the first as a real process, the rest through the same entry point in this process
    results = [hwnas("generate", *cases[0][0])]
    results += [hwnas_in_process(("generate", *args), monkeypatch, capsys) for args, _ in cases[1:]]
    for (_, fragments), result in zip(cases, results, strict=True):
        assert_one_line_error(result, *fragments)


def test_search_with_too_few_evaluations_is_one_line(tmp_path, monkeypatch, capsys):
    args = ("search", "--strategy", "pnag", "--target", "nb201/raspi4", "--space", "nb201",
            "--evals", "20", "--out", str(tmp_path))  # fmt: skip
    result = hwnas_in_process(args, monkeypatch, capsys)
    assert_one_line_error(result, "strategy pnag", "reserving 30 for generation")
