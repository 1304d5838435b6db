"""Property-based tests (hypothesis) of every parser of user input (issue 15).

Each parser either returns a value that satisfies its contract or raises a
one-line :class:`HwnasError`; never another exception. Example counts come
from the hypothesis profile of ``tests/conftest.py`` (fixed and derandomised
unless ``HYPOTHESIS_PROFILE=dev``).
"""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from hwnas.errors import HwnasError
from hwnas.manager import get_plugin_manager

SPACES = ("hurricane", "nb201", "fbnet", "ofa")
printable = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)


def one_line(exc: HwnasError) -> None:
    assert "\n" not in str(exc).strip(), str(exc)


@pytest.fixture(scope="module")
def spaces():
    pm = get_plugin_manager()
    return {name: pm.create("space", name) for name in SPACES}


# -- architecture strings of every space ------------------------------------------------


@pytest.mark.parametrize("name", SPACES)
@given(seed=st.integers(0, 2**32 - 1))
def test_every_sampled_architecture_round_trips(spaces, name, seed):
    space = spaces[name]
    arch = space.sample(np.random.default_rng(seed))
    text = space.format(arch)
    assert space.parse(text) == arch
    assert space.format(space.parse(text)) == text


@pytest.mark.parametrize("name", SPACES)
@given(seed=st.integers(0, 2**16), data=st.data())
def test_mutated_architecture_strings_parse_or_fail_in_one_line(spaces, name, seed, data):
    space = spaces[name]
    text = space.format(space.sample(np.random.default_rng(seed)))
    where = data.draw(st.integers(0, len(text)))
    cut = data.draw(st.integers(0, 5))
    insert = data.draw(printable)
    mutated = text[:where] + insert + text[where + cut :]
    try:
        arch = space.parse(mutated)
    except HwnasError as exc:
        one_line(exc)
        return
    assert space.parse(space.format(arch)) == arch  # whatever parses is canonical


@pytest.mark.parametrize("name", SPACES)
@given(text=printable)
def test_arbitrary_text_is_an_architecture_or_one_line_error(spaces, name, text):
    try:
        spaces[name].parse(text)
    except HwnasError as exc:
        one_line(exc)


# -- -o / -s / -t KEY=VALUE and search's extra flags ------------------------------------

keys = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)


@given(pairs=st.lists(printable, max_size=5))
def test_parse_options_gives_finite_values_or_one_line_error(pairs):
    from hwnas.cli.common import parse_options

    try:
        options = parse_options(pairs)
    except HwnasError as exc:
        one_line(exc)
        return
    for key, value in options.items():
        assert key and "-" not in key
        assert not isinstance(value, float) or math.isfinite(value)


@given(values=st.dictionaries(keys, st.integers() | st.floats() | keys, max_size=5))
def test_parse_options_round_trips_numbers_and_words(values):
    from hwnas.cli.common import parse_options

    pairs = [f"{k}={v}" for k, v in values.items()]
    finite = all(not isinstance(v, float) or math.isfinite(v) for v in values.values())
    if not finite:
        with pytest.raises(HwnasError, match="not a finite number"):
            parse_options(pairs)
        return
    parsed = parse_options(pairs)
    for key, value in values.items():
        assert parsed[key] == value or (isinstance(value, str) and str(parsed[key]) == value)


@given(args=st.lists(printable, max_size=6))
def test_search_extra_flags_parse_or_fail_in_one_line(args):
    from hwnas.cli.search import extra_flags

    try:
        flags = extra_flags(args)
    except HwnasError as exc:
        one_line(exc)
        return
    assert len(flags) <= len(args)


# -- layer lists and budget lists -------------------------------------------------------


@given(text=printable, count=st.integers(1, 40))
def test_layer_lists_are_in_range_or_one_line_error(text, count):
    from hwnas.cli.measure import parse_index_ranges

    try:
        layers = parse_index_ranges(text, count)
    except HwnasError as exc:
        one_line(exc)
        return
    assert layers == sorted(set(layers)) and layers and all(0 <= i < count for i in layers)


@given(
    count=st.integers(1, 40),
    ranges=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), min_size=1, max_size=4),
)
def test_layer_lists_mean_what_they_say(count, ranges):
    from hwnas.cli.measure import parse_index_ranges

    text = ",".join(f"{a}-{b}" for a, b in ranges)
    expected = set()
    for a, b in ranges:
        expected.update(range(a, b + 1))
    valid = all(0 <= a <= b < count for a, b in ranges)
    if not valid:
        with pytest.raises(HwnasError):
            parse_index_ranges(text, count)
        return
    assert parse_index_ranges(text, count) == sorted(expected)


huge = st.integers(-(10**30), 10**30)


@given(text=st.one_of(printable, st.lists(huge | st.floats(), max_size=4).map(str)))
def test_generate_budget_lists_are_finite_and_positive_or_one_line_error(text):
    from hwnas.plugins.pnag.commands import _budgets

    text = text.strip("[]")
    try:
        budgets = _budgets(None, text)
    except HwnasError as exc:
        one_line(exc)
        return
    assert budgets and all(math.isfinite(b) and 0 < b <= 1e6 for b in budgets)


@given(text=st.one_of(printable, st.lists(huge, max_size=4).map(str)))
def test_arena_budget_lists_are_bounded_or_one_line_error(text):
    from hwnas.arena import MAX_EVALS
    from hwnas.cli.arena import _parse_evals

    try:
        evals = _parse_evals(text.strip("[]"))
    except HwnasError as exc:
        one_line(exc)
        return
    assert evals and all(1 <= e <= MAX_EVALS for e in evals)


# -- TOML configs -----------------------------------------------------------------------

toml_values = st.one_of(
    st.integers(-5, 300),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(st.characters(codec="ascii", blacklist_characters='"\\\n\r'), max_size=12),
)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, int):
        return str(value)
    return f'"{value}"'


@given(
    sections=st.dictionaries(
        st.sampled_from(["profile", "targets.onnxruntime", "profiel", "targets"]),
        st.dictionaries(
            st.sampled_from(["store", "workers", "wrokers", "threads", "stroe"]),
            toml_values,
            max_size=3,
        ),
        max_size=3,
    )
)
def test_toml_configs_are_valid_or_name_the_bad_key(tmp_path_factory, sections):
    from hwnas.config import PROFILE_KEYS, load_config

    text = ""
    for section, entries in sections.items():
        text += f"[{section}]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in entries.items())
    path = tmp_path_factory.mktemp("cfg") / "c.toml"
    path.write_text(text, encoding="utf-8")
    try:
        config = load_config(path)
    except HwnasError as exc:
        one_line(exc)
        return
    for key, value in config.get("profile", {}).items():
        kind, ok, _ = PROFILE_KEYS[key]
        assert type(value) is kind and ok(value)
    for options in config.get("targets", {}).values():
        for value in options.values():
            assert not isinstance(value, float) or math.isfinite(value)


@given(text=printable)
def test_arbitrary_config_text_loads_or_fails_in_one_line(tmp_path_factory, text):
    from hwnas.config import load_config

    path = tmp_path_factory.mktemp("cfg") / "c.toml"
    path.write_text(text, encoding="utf-8")
    try:
        load_config(path)
    except HwnasError as exc:
        one_line(exc)


# -- store CSV --------------------------------------------------------------------------

cells = st.one_of(
    st.sampled_from(["", "ok", "failed", "0", "1", "-1", "0.5", "nan", "inf", "[]", "{}"]),
    st.sampled_from(["[0.5, 0.6]", "[NaN]", "[-1]", '{"op": 1}', "[1,", "1.5", "x"]),
    printable,
)


@given(rows=st.lists(st.lists(cells, min_size=15, max_size=18), max_size=3))
def test_store_csv_rows_are_valid_or_name_their_row(tmp_path_factory, rows):
    from hwnas.store import COLUMNS
    from hwnas.store_csv import read_store_csv

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    path = tmp_path_factory.mktemp("csv") / "x.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    try:
        parsed = read_store_csv(path, COLUMNS)
    except HwnasError as exc:
        one_line(exc)
        assert "row" in str(exc) or "line" in str(exc) or "empty" in str(exc)
        return
    for row in parsed:
        record = dict(zip(COLUMNS, row, strict=True))
        assert record["status"] in ("ok", "failed")
        median = record["median_ms"]
        assert (median is None and record["status"] == "failed") or (
            math.isfinite(median) and median > 0
        )


@given(
    medians=st.lists(st.floats(1e-6, 1e6, allow_nan=False) | st.none(), min_size=1, max_size=4),
    label=printable,
)
def test_store_export_import_round_trips(tmp_path_factory, medians, label):
    from hwnas.store import LatencyStore
    from hwnas.timing import Measurement

    assume("\x00" not in label)
    root = tmp_path_factory.mktemp("rt")
    store = LatencyStore(root / "a.sqlite")
    for i, ms in enumerate(medians):
        m = Measurement.failed("x") if ms is None else Measurement.from_repeats([ms, ms], 1)
        store.put("fp", f"w{i}", m, label or None, {"i": i})
    store.export_csv(root / "x.csv")
    other = LatencyStore(root / "b.sqlite")
    assert other.import_csv(root / "x.csv") == len(medians)
    for i in range(len(medians)):
        assert other.get("fp", f"w{i}").measurement == store.get("fp", f"w{i}").measurement
