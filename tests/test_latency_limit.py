"""``--latency-ms``: absolute ms or a share of the space's latency range, parsed and resolved."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwnas.cli.search import parse_latency_limit
from hwnas.errors import HwnasError
from hwnas.testing import assert_one_line_error
from hwnas.testing import run_cli as hwnas


@given(st.floats(min_value=1e-6, max_value=1e6, allow_nan=False))
def test_a_positive_number_is_an_absolute_limit(ms):
    assert parse_latency_limit(repr(ms)) == (ms, None)


@given(st.floats(min_value=1e-3, max_value=100.0, allow_nan=False))
def test_a_share_in_range_is_a_relative_limit(percent):
    limit, share = parse_latency_limit(f"{percent!r}%")
    assert limit is None and share == pytest.approx(percent / 100)


@given(
    st.one_of(
        st.floats(max_value=0.0).map(repr),
        st.floats(min_value=100.0001, max_value=1e9).map(lambda v: f"{v!r}%"),
        st.floats(max_value=0.0).map(lambda v: f"{v!r}%"),
        st.text(alphabet="abc%x ,;", min_size=0, max_size=6),
    )
)
def test_anything_else_is_refused(text):
    with pytest.raises(HwnasError, match="--latency-ms"):
        parse_latency_limit(text)


def test_no_limit():
    assert parse_latency_limit(None) == (None, None)


def test_a_share_resolves_on_a_recorded_target(tmp_path):
    result = hwnas(
        "search", "--strategy", "random", "--target", "nb201/raspi4", "--evals", "20",
        "--latency-ms", "30%", "--out", str(tmp_path), "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    from hwnas.manager import get_plugin_manager

    table = np.asarray(get_plugin_manager().create("target", "nb201/raspi4").all_latencies())
    expected = table.min() + 0.3 * (table.max() - table.min())
    assert report["latency_limit_ms"] == pytest.approx(expected)
    assert report["latency_limit_share"] == 0.3


def test_a_share_needs_a_range(tmp_path):
    result = hwnas(
        "search", "--strategy", "random", "--target", "onnxruntime", "--space", "hurricane",
        "--latency-ms", "30%", "--out", str(tmp_path),
    )  # fmt: skip
    assert_one_line_error(result, "needs the space's latency range", "give the limit in ms")
