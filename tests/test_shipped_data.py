"""The measurement tables ship inside hwnas (package data) and load with no external folder.

These tests never skip for missing shipped data: a wheel or checkout without
the tables must fail here. Only the comparison with an external copy of the
plain (uncompressed) tables skips, when ``HWNAS_REFERENCE_DATA`` does not name
such a folder.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.resources
import shutil
from pathlib import Path

import numpy as np
import pytest

import hwnas.targets.recorded
from hwnas.errors import HwnasError
from hwnas.targets.recorded import tables

PREDICTOR_SHAPES = {
    "0__weight": (400, 128),
    "0__bias": (400,),
    "2__weight": (400, 400),
    "2__bias": (400,),
    "4__weight": (400, 400),
    "4__bias": (400,),
    "6__weight": (1, 400),
    "6__bias": (1,),
}


def _clear_caches() -> None:
    for loader in (tables._nb201, tables._sampled, tables._lut, tables._npz):
        loader.cache_clear()


@pytest.fixture(autouse=True)
def shipped_only(monkeypatch):
    """No ``$HWNAS_DATA`` and fresh loader caches, so each test sees what it sets up."""
    monkeypatch.delenv(tables.DATA_ENV, raising=False)
    _clear_caches()
    yield
    _clear_caches()


def _package_dir() -> Path:
    """The installed package's folder (in a strict editable install its files are links)."""
    return Path(hwnas.targets.recorded.__file__).parent.resolve()


def _gunzip_into(relative: str, destination: Path) -> Path:
    """Write the shipped ``<relative>.gz`` uncompressed as ``destination/<relative>``."""
    target = destination / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(tables.shipped_data_dir() / f"{relative}.gz", "rb") as source:
        target.write_bytes(source.read())
    return target


# ---------------------------------------------------------------------------
# Where the data comes from
# ---------------------------------------------------------------------------


def test_default_data_dir_is_inside_the_installed_package():
    path = tables.resolve_data_dir()
    expected = Path(str(importlib.resources.files("hwnas.targets.recorded") / "data")).resolve()
    assert path == expected
    assert path.is_relative_to(_package_dir())
    assert path.name == "data" and path.is_dir()
    assert "shared" not in path.parts


def test_data_file_finds_the_compressed_table():
    path = tables.data_file("nb201/latency.csv")
    assert path.name == "latency.csv.gz"
    assert path.is_relative_to(_package_dir())


def test_environment_variable_overrides_the_shipped_tables(monkeypatch, tmp_path):
    monkeypatch.setenv(tables.DATA_ENV, str(tmp_path))
    assert tables.resolve_data_dir() == tmp_path.resolve()
    # an explicit data_dir wins over the environment variable
    other = tmp_path / "other"
    other.mkdir()
    assert tables.resolve_data_dir(other) == other.resolve()


# ---------------------------------------------------------------------------
# The shipped tables load, with the expected shapes
# ---------------------------------------------------------------------------


def test_nb201_table_has_every_cell():
    table = tables.nb201_table()
    assert len(table.archs) == 15_625
    assert len(table.row_of) == 15_625
    for device in tables.NB201_DEVICES:
        column = table.column(device)
        assert column.shape == (15_625,) and np.isfinite(column).all(), device
    assert table.column("c10_test_acc").max() == pytest.approx(94.37, abs=0.01)


@pytest.mark.parametrize(
    ("space", "devices"), [("fbnet", tables.FBNET_DEVICES), ("ofa", tables.OFA_DEVICES)]
)
def test_sampled_tables_have_5000_rows(space, devices):
    table = tables.sampled_table(space)
    assert len(table.archs) == 5_000
    assert sorted(table.columns) == sorted(devices)
    assert all(column.shape == (5_000,) for column in table.columns.values())


@pytest.mark.parametrize("resolution", tables.NOTE10_RESOLUTIONS)
def test_note10_lookup_tables_are_not_empty(resolution):
    lut = tables.note10_lut(resolution)
    assert len(lut) > 50
    assert all(isinstance(v, float) and v > 0 for v in lut.values())


def test_ofa_predictor_weights():
    weights = tables.ofa_predictor_weights()
    assert {key: value.shape for key, value in weights.items()} == PREDICTOR_SHAPES
    assert all(value.dtype == np.float64 for value in weights.values())


# ---------------------------------------------------------------------------
# Manifest and integrity
# ---------------------------------------------------------------------------


def test_verify_shipped_finds_no_problem():
    assert tables.verify_shipped() == []


def test_manifest_lists_every_table_with_source_and_licence():
    entries = tables.shipped_manifest()
    paths = [entry["path"] for entry in entries]
    assert sorted(paths) == sorted(tables._SHIPPED_TABLES)
    root = tables.shipped_data_dir()
    for entry in entries:
        assert set(entry) >= {"path", "uncompressed_name", "source", "licence", "bytes", "sha256"}
        assert entry["source"] and entry["licence"]
        data = (root / entry["path"]).read_bytes()
        assert len(data) == entry["bytes"]
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    for name in ("PROVENANCE.md", "LICENSES.md"):
        assert (root / name).is_file()
    total = sum(entry["bytes"] for entry in entries)
    assert total < 8_000_000  # the shipped tables stay small


def test_no_pickles_are_shipped():
    root = tables.shipped_data_dir()
    suffixes = {p.suffix for p in root.rglob("*") if p.is_file()}
    assert suffixes <= {".gz", ".npz", ".json", ".md"}
    with np.load(root / "ofa" / "acc_predictor_mbv3.npz", allow_pickle=False) as npz:
        assert all(npz[key].dtype != object for key in npz.files)


def test_verify_shipped_reports_a_changed_and_an_unlisted_file(monkeypatch, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(tables.shipped_data_dir(), copy)
    lut = copy / "ofa" / "note10_lut" / "224_lookup_table.yaml.gz"
    lut.write_bytes(lut.read_bytes() + b"\0")
    (copy / "nb201" / "extra.csv").write_text("idx\n")
    (copy / "ofa" / "latency.csv.gz").unlink()
    monkeypatch.setattr(tables, "shipped_data_dir", lambda: copy)
    problems = tables.verify_shipped()
    assert len(problems) == 4, problems
    assert any("224_lookup_table.yaml.gz" in p and "bytes" in p for p in problems)
    assert any("224_lookup_table.yaml.gz" in p and "sha256" in p for p in problems)
    assert any("extra.csv" in p and "not listed" in p for p in problems)
    assert any("latency.csv.gz" in p and "missing" in p for p in problems)


def test_verify_shipped_reports_a_missing_manifest(monkeypatch, tmp_path):
    monkeypatch.setattr(tables, "shipped_data_dir", lambda: tmp_path)
    problems = tables.verify_shipped()
    assert len(problems) == 1 and "MANIFEST.json" in problems[0]


# ---------------------------------------------------------------------------
# A user's own data directory (plain files) and missing files
# ---------------------------------------------------------------------------


def test_a_directory_of_plain_files_works(tmp_path):
    for relative in ("nb201/latency.csv", "nb201/accuracy.csv", "ofa/archs.json"):
        _gunzip_into(relative, tmp_path)
    _gunzip_into("ofa/note10_lut/224_lookup_table.yaml", tmp_path)
    shutil.copy(tables.shipped_data_dir() / "ofa" / "acc_predictor_mbv3.npz", tmp_path / "ofa")
    assert tables.data_file("nb201/latency.csv", tmp_path) == (tmp_path / "nb201/latency.csv")
    plain = tables.nb201_table(tmp_path)
    shipped = tables.nb201_table()
    assert plain.path == (tmp_path / "nb201").resolve()
    assert plain.archs == shipped.archs
    for name, column in shipped.columns.items():
        np.testing.assert_array_equal(plain.columns[name], column, err_msg=name)
    assert tables.note10_lut(224, tmp_path) == tables.note10_lut(224)
    weights = tables.ofa_predictor_weights(tmp_path)
    for key, value in tables.ofa_predictor_weights().items():
        np.testing.assert_array_equal(weights[key], value, err_msg=key)


def test_a_plain_file_is_preferred_to_its_gz_neighbour(tmp_path):
    plain = _gunzip_into("ofa/note10_lut/160_lookup_table.yaml", tmp_path)
    shutil.copy(
        tables.shipped_data_dir() / "ofa" / "note10_lut" / "160_lookup_table.yaml.gz",
        plain.parent,
    )
    assert tables.data_file("ofa/note10_lut/160_lookup_table.yaml", tmp_path) == plain


def test_a_gz_file_in_a_user_directory_is_read(monkeypatch, tmp_path):
    target = tmp_path / "ofa" / "note10_lut"
    target.mkdir(parents=True)
    shutil.copy(
        tables.shipped_data_dir() / "ofa" / "note10_lut" / "176_lookup_table.yaml.gz", target
    )
    monkeypatch.setenv(tables.DATA_ENV, str(tmp_path))
    lut = tables.note10_lut(176)
    assert lut
    _clear_caches()
    monkeypatch.delenv(tables.DATA_ENV)
    assert lut == tables.note10_lut(176)


def test_a_missing_file_is_a_one_line_error_naming_the_path(tmp_path):
    (tmp_path / "nb201").mkdir()
    with pytest.raises(HwnasError) as info:
        tables.nb201_table(tmp_path)
    message = str(info.value)
    assert str(tmp_path / "nb201" / "latency.csv") in message
    assert "\n" not in message
    assert "HWNAS_DATA" in message and "--data-dir" in message
    assert "shared" not in message


@pytest.mark.parametrize(
    "call",
    [
        lambda d: tables.sampled_table("fbnet", d),
        lambda d: tables.note10_lut(208, d),
        lambda d: tables.ofa_predictor_weights(d),
    ],
)
def test_every_loader_reports_a_missing_file_as_hwnas_error(tmp_path, call):
    with pytest.raises(HwnasError, match="not found"):
        call(tmp_path)


def test_a_missing_directory_is_an_hwnas_error(monkeypatch, tmp_path):
    with pytest.raises(HwnasError, match="not found"):
        tables.resolve_data_dir(tmp_path / "absent")
    monkeypatch.setenv(tables.DATA_ENV, str(tmp_path / "absent"))
    with pytest.raises(HwnasError, match=r"\$HWNAS_DATA"):
        tables.resolve_data_dir()


def test_a_missing_shipped_folder_is_an_hwnas_error(monkeypatch, tmp_path):
    monkeypatch.setattr(tables, "shipped_data_dir", lambda: tmp_path / "gone")
    with pytest.raises(HwnasError) as info:
        tables.resolve_data_dir()
    assert "reinstall" in str(info.value)


def test_a_corrupt_gz_file_is_an_hwnas_error(tmp_path):
    target = tmp_path / "ofa" / "note10_lut"
    target.mkdir(parents=True)
    (target / "192_lookup_table.yaml.gz").write_bytes(b"not gzip at all")
    with pytest.raises(HwnasError, match="cannot read data file"):
        tables.note10_lut(192, tmp_path)


# ---------------------------------------------------------------------------
# The shipped tables equal the published originals
# ---------------------------------------------------------------------------


def test_every_shipped_table_has_the_content_of_the_published_original():
    # content_sha256 in the manifest was computed from the original plain files;
    # the .gz tables must decompress to exactly them, the .npz hold the same arrays.
    for entry in tables.shipped_manifest():
        shipped = tables.shipped_data_dir() / entry["path"]
        assert tables.content_sha256(shipped) == entry["content_sha256"], entry["path"]


def test_content_hash_sees_a_changed_value_and_not_the_compression(tmp_path):
    shipped = tables.shipped_data_dir() / "ofa" / "latency.csv.gz"
    plain = tmp_path / "latency.csv"
    plain.write_bytes(gzip.decompress(shipped.read_bytes()))
    assert tables.content_sha256(plain) == tables.content_sha256(shipped)
    text = plain.read_text(encoding="utf-8")
    plain.write_text(text.replace("\n1,", "\n1,9", 1), encoding="utf-8")
    assert tables.content_sha256(plain) != tables.content_sha256(shipped)


def test_hwnas_data_override_reads_plain_tables(tmp_path, monkeypatch):
    for entry in tables.shipped_manifest():
        if not entry["path"].startswith("nb201/"):
            continue
        target = tmp_path / entry["uncompressed_name"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(
            gzip.decompress((tables.shipped_data_dir() / entry["path"]).read_bytes())
        )
    monkeypatch.setenv(tables.DATA_ENV, str(tmp_path))
    assert tables.resolve_data_dir() == tmp_path.resolve()
    assert tables.data_file("nb201/latency.csv").name == "latency.csv"
    monkeypatch.delenv(tables.DATA_ENV)
    shipped = tables.nb201_table().column("raspi4")
    np.testing.assert_array_equal(tables.nb201_table(tmp_path).column("raspi4"), shipped)
