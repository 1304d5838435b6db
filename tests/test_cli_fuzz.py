"""CLI fuzz test (issue 15): every command driven with generated bad values of its options.

For every command and every number or path it takes (the rules of
:mod:`hwnas.cli.checks`), hypothesis generates values outside the rule: a
number below or above its bound, NaN, infinities, text, an empty path, a
folder for a file, a file for a folder, a path under a file. The promise:
one stderr line naming problem and fix, exit 2, no traceback, stdout empty
or valid JSON, no store or output file created, no given file changed.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import typer.main
from bad_inputs import HUR, NB, assert_promise, make_files, run_cli, snapshot
from hypothesis import given
from hypothesis import strategies as st

from hwnas.cli import checks

# Valid arguments each command needs besides the fuzzed one ({cwd}: an empty folder per run).
BASE: dict[str, list[str]] = {
    "targets": [],
    "profile": ["--target", "onnxruntime", "--layers", "0", "--ops", "SEP_k3"],
    "arena": ["--space", "nb201", "--device", "raspi4", "--strategies", "random"],
    "search": ["--strategy", "random", "--target", "nb201/raspi4", "--out", "{cwd}/run"],
    "generate": ["--model", "{tensor_pt}", "--budget-ms", "5"],
    "recorded": ["nb201/raspi4", NB],
    "space show": ["hurricane"],
    "space generate": ["--target", "onnxruntime", "--out", "{cwd}/space.json"],
    "arch sample": ["hurricane"],
    "arch export": ["hurricane", HUR, "--onnx", "{cwd}/a.onnx"],
    "store export": ["{csv_path}"],
    "store import": ["{csv_path}"],
    "predict train": ["--target", "onnxruntime"],
    "predict latency": ["--target", "onnxruntime"],
    "predict recorded": ["--device", "raspi4"],
    "supernet train": ["--steps", "1", "--checkpoint", "{cwd}/sn.pt"],
    "supernet eval": ["--random", "1", "--checkpoint", "{tensor_pt}"],
    "transfer analyze": ["--space", "nb201", "--out", "{cwd}/t"],
    "transfer adapt": ["--space", "nb201", "--measurements", "{meas_nan_csv}", "--out", "{cwd}/p"],
    "board emulate": ["--tracker", "127.0.0.1:1"],  # nothing listens there: never starts a board
}
POSITIONAL_DEFAULTS = {"csv_path": "{cwd}/x.csv"}
BAD_PATHS = {
    "file": ["", "{missing}", "{dir}", "{under_file}"],
    "dir": ["", "{missing}", "{file_txt}", "{under_file}"],
    "out-file": ["", "{dir}", "{missing_parent}", "{under_file}"],
    "out-dir": ["", "{file_txt}", "{under_file}"],
    "store": ["", "{dir}", "{under_file}"],
}


def _targets() -> list[tuple[str, object, object]]:
    """(command path, parameter, rule) of every ruled parameter of every command in BASE."""
    from hwnas.cli.root import app

    out = []

    def walk(command, path=()):
        subs = getattr(command, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, (*path, name))
            return
        name = " ".join(path)
        if name not in BASE:
            return
        for param in command.params:
            rule = checks.rule_for(name, param.name)
            if isinstance(rule, checks.Number | checks.PathRule):
                out.append((name, param, rule))

    walk(typer.main.get_command(app))
    return out


TARGETS = _targets()


def test_every_built_in_command_is_fuzzed():
    fuzzed = {name for name, _, _ in TARGETS}
    assert fuzzed >= set(BASE) - {"recorded"}  # recorded's own paths: --data-dir, --config
    assert len(TARGETS) >= 60


def bad_values(param, rule) -> st.SearchStrategy[str]:
    """Values that break ``rule`` for ``param`` (as the user would type them)."""
    if isinstance(rule, checks.PathRule):
        return st.sampled_from(BAD_PATHS[rule.kind])
    integer = getattr(param.type_descriptor, "annotation", None) is int
    junk = st.sampled_from(["nan", "inf", "-inf", "", "abc", "1e999", "0x"])
    low = math.floor(rule.low) if integer else rule.low
    below = (
        st.integers(max_value=low - (0 if rule.above else 1), min_value=low - 10**12)
        if integer
        else st.floats(max_value=rule.low, exclude_max=not rule.above, min_value=-1e12)
    )
    above = (
        st.integers(min_value=int(rule.high) + 1, max_value=int(rule.high) + 10**20)
        if integer
        else st.floats(min_value=rule.high, exclude_min=True, max_value=1e300)
    )
    numbers = (below | above).map(str)
    if integer:
        numbers = numbers | st.sampled_from(["1.5", "2e3"])
    return junk | numbers


@st.composite
def bad_command(draw, command: str):
    name, param, rule = draw(st.sampled_from([t for t in TARGETS if t[0] == command]))
    value = draw(bad_values(param, rule))
    positional = param.param_type_name == "argument"
    token = "{" + param.name + "}"
    args = [
        value if positional and a == token else POSITIONAL_DEFAULTS.get(a[1:-1], a)
        for a in BASE[name]
    ]
    if not positional:
        args += [checks.flag_name(param), value]
    return [*name.split(), *args]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return make_files(tmp_path_factory.mktemp("fuzz-files"))


@pytest.mark.parametrize("command", sorted({name for name, _, _ in TARGETS}))
@given(data=st.data())
def test_every_command_rejects_generated_bad_values(
    command, data, files, tmp_path_factory, monkeypatch, capsys
):
    argv = data.draw(bad_command(command), label="argv")
    cwd = tmp_path_factory.mktemp("cwd")
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("HWNAS_STORE", str(cwd / "store.sqlite"))
    names = {**files, "cwd": str(cwd)}
    argv = [a.format(**names) if "{" in a else a for a in argv]
    fixtures = Path(files["dir"]).parent
    before = snapshot(fixtures)
    code, out, err = run_cli(argv, monkeypatch, capsys)
    assert_promise(code, out, err)
    assert snapshot(cwd) == {}, f"{argv} created files"
    assert snapshot(fixtures) == before, f"{argv} changed a file it was given"


def _rejects(parse, text: str) -> bool:
    """Whether ``parse(text)`` raises a one-line error (then the command must reject it)."""
    from hwnas.errors import HwnasError

    try:
        parse(text)
    except HwnasError:
        return True
    return False


EVALS = ("--evals", "{}")


def _text_cases():
    """(command line with {}, parser that must reject the generated text) for text inputs."""
    from hwnas.cli.arena import _parse_evals
    from hwnas.cli.common import load_space, parse_options
    from hwnas.cli.measure import parse_index_ranges
    from hwnas.manager import get_plugin_manager
    from hwnas.plugins.pnag.commands import _budgets

    pm = get_plugin_manager()
    cases = {
        f"arch show {name}": (
            ["arch", "show", name, "{}"],
            pm.create("space", name).parse,
        )
        for name in ("hurricane", "nb201", "fbnet", "ofa")
    }
    cases["recorded"] = (["recorded", "nb201/raspi4", "{}"], pm.create("space", "nb201").parse)
    cases["profile --layers"] = (
        ["profile", "--target", "onnxruntime", "--ops", "SEP_k3", "--layers", "{}"],
        lambda t: parse_index_ranges(t, 20),
    )
    cases["generate --budgets"] = (
        ["generate", "--model", "{tensor_pt}", "--budgets", "{}"],
        lambda t: _budgets(None, t),
    )
    cases["arena --evals"] = (
        ["arena", "--space", "nb201", "--device", "raspi4", "--strategies", "random", *EVALS],
        _parse_evals,
    )
    cases["space show -o"] = (
        ["space", "show", "hurricane", "-o", "{}"],
        lambda t: load_space("hurricane", [t]),
    )
    cases["search -s"] = (
        ["search", "--strategy", "random", "--target", "nb201/raspi4", "-s", "{}"],
        lambda t: parse_options([t]),
    )
    return cases


TEXT_CASES = _text_cases()
junk = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40),
    st.sampled_from(["nan", "inf", "-1", "0", "1e999", "resolution=nan", "a=inf", ",", "-"]),
)


@pytest.mark.parametrize("case", sorted(TEXT_CASES))
@given(data=st.data())
def test_every_text_input_rejects_generated_bad_text(
    case, data, files, tmp_path_factory, monkeypatch, capsys
):
    template, parse = TEXT_CASES[case]
    text = data.draw(junk.filter(lambda t: _rejects(parse, t)), label="text")
    cwd = tmp_path_factory.mktemp("cwd")
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("HWNAS_STORE", str(cwd / "store.sqlite"))
    argv = [text if a == "{}" else a.format(**files, cwd=str(cwd)) for a in template]
    code, out, err = run_cli(argv, monkeypatch, capsys)
    assert_promise(code, out, err)
    assert snapshot(cwd) == {}, f"{argv} created files"
