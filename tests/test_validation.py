"""Validation at the edge (issue 15): the checks table, config precedence, store marker, files."""

from __future__ import annotations

import json
import math
import pickle
import sqlite3
import sys
from pathlib import Path

import pytest
import typer.main

from hwnas.cli import checks
from hwnas.config import load_config, profile_setting
from hwnas.errors import HwnasError
from hwnas.store import APPLICATION_ID, LatencyStore
from hwnas.timing import Measurement


def _commands():
    from hwnas.cli.root import app

    def walk(command, path=()):
        subs = getattr(command, "commands", None)
        if subs:
            for name, sub in subs.items():
                yield from walk(sub, (*path, name))
        else:
            yield " ".join(path), command

    return list(walk(typer.main.get_command(app)))


def test_every_numeric_and_path_parameter_has_a_rule():
    """A new option cannot slip past the checks: every int, float and path has a rule."""
    missing = []
    for path, command in _commands():
        for param in command.params:
            annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
            if annotation in (int, float, Path) and checks.rule_for(path, param.name) is None:
                missing.append(f"{path} {checks.flag_name(param)}")
    assert not missing, missing
    assert len(_commands()) >= 20


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 0.0, -1.0])
def test_number_rule_rejects_non_finite_and_out_of_range(value):
    with pytest.raises(HwnasError) as info:
        checks.RULES["timeout"].check("--timeout", value)
    assert "--timeout" in str(info.value) and "e.g." in str(info.value)


def test_number_rule_names_its_bound():
    with pytest.raises(HwnasError, match="<= 100000"):
        checks.RULES["evals"].check("--evals", 10**20)
    checks.RULES["evals"].check("--evals", 100_000)  # the bound itself is allowed


# -- config: keys, types, precedence ------------------------------------------------------


def test_config_names_an_unknown_key_and_the_valid_ones(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[profile]\nwrokers = 2\n")
    with pytest.raises(HwnasError, match=r"'wrokers'.*valid keys: store, workers"):
        load_config(path)


@pytest.mark.parametrize(
    "text", ['workers = "abc"', "workers = 0", "workers = true", "store = 5", 'store = ""']
)
def test_config_wrong_types_name_the_key(tmp_path, text):
    path = tmp_path / "c.toml"
    path.write_text(f"[profile]\n{text}\n")
    key = text.split()[0]
    with pytest.raises(HwnasError, match=f"\\[profile\\] {key}"):
        load_config(path)


def test_precedence_flag_over_config_over_default(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[profile]\nworkers = 3\nstore = "cfg.sqlite"\n')
    cfg = load_config(path)
    assert profile_setting(cfg, "workers", 2, 1) == 2  # flag
    assert profile_setting(cfg, "workers", None, 1) == 3  # config
    assert profile_setting({}, "workers", None, 1) == 1  # default
    assert profile_setting(cfg, "store", None, None) == "cfg.sqlite"


def _profile_workers(tmp_path, monkeypatch, capsys, *flags: str) -> int:
    """Run ``hwnas profile`` up to the point of measuring; return the workers it would use."""
    import hwnas.profile
    from hwnas.cli.root import main

    seen = {}

    def fake_profile(*args, **kwargs):
        seen.update(kwargs)
        raise HwnasError("stopped by the test", "nothing to fix")

    monkeypatch.setattr(hwnas.profile, "profile_workloads", fake_profile)
    store = str(tmp_path / "s.sqlite")
    args = ["profile", "--target", "onnxruntime", "--layers", "0", "--ops", "SEP_k3"]
    monkeypatch.setattr(sys, "argv", ["hwnas", *args, "--store", store, *flags])
    with pytest.raises(SystemExit):
        main()
    assert "stopped by the test" in capsys.readouterr().err
    return seen["workers"]


def test_profile_workers_flag_beats_config_beats_default(tmp_path, monkeypatch, capsys):
    pytest.importorskip("onnxruntime")
    config = tmp_path / "c.toml"
    config.write_text("[profile]\nworkers = 1\n")
    assert _profile_workers(tmp_path, monkeypatch, capsys, "--config", str(config)) == 1
    assert (
        _profile_workers(tmp_path, monkeypatch, capsys, "--config", str(config), "--workers", "2")
        == 2
    )
    assert _profile_workers(tmp_path, monkeypatch, capsys) == 1
    config.write_text("[profile]\nworkers = 2\n")
    assert _profile_workers(tmp_path, monkeypatch, capsys, "--config", str(config)) == 2


# -- the store's marker and imports --------------------------------------------------------


def ok(ms: float) -> Measurement:
    return Measurement.from_repeats([ms, ms * 1.01, ms * 0.99], number=10)


def test_a_new_store_carries_the_marker(tmp_path):
    LatencyStore(tmp_path / "s.sqlite")
    with sqlite3.connect(tmp_path / "s.sqlite") as db:
        assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


def test_a_store_from_before_the_marker_opens_and_is_migrated(tmp_path):
    path = tmp_path / "old.sqlite"
    LatencyStore(path).put("fp", "w", ok(2.0))
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA application_id = 0")  # as written before the marker existed
    store = LatencyStore(path)
    assert store.get("fp", "w").measurement.median_ms == pytest.approx(2.0)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


@pytest.mark.parametrize(
    "setup",
    [
        "CREATE TABLE people (name TEXT)",
        "CREATE TABLE measurements (x INTEGER)",
        "PRAGMA application_id = 7",
    ],
)
def test_a_foreign_sqlite_file_is_refused_and_left_unchanged(tmp_path, setup):
    path = tmp_path / "foreign.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(setup)
        db.execute("CREATE TABLE IF NOT EXISTS other (y)")
    before = path.read_bytes()
    with pytest.raises(HwnasError, match="not an hwnas latency store"):
        LatencyStore(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["foreign.sqlite"]  # no -wal, no -shm


def test_a_bad_import_changes_nothing(tmp_path):
    store = LatencyStore(tmp_path / "s.sqlite")
    store.put("fp", "w1", ok(1.0))
    store.put("fp", "w2", Measurement.failed("timeout"))
    store.export_csv(tmp_path / "x.csv")
    other = LatencyStore(tmp_path / "o.sqlite")
    assert other.import_csv(tmp_path / "x.csv") == 2  # a real export imports cleanly
    lines = (tmp_path / "x.csv").read_text().splitlines()
    bad = lines[0] + "\n" + lines[1].replace("fp,w1", "fp,w9") + "\n"
    bad += lines[1].replace("fp,w1", "fp,w3").replace('"[', '"[nan, ') + "\n"
    (tmp_path / "bad.csv").write_text(bad)
    with pytest.raises(HwnasError, match="row 2: repeats_ms"):
        other.import_csv(tmp_path / "bad.csv")
    assert other.get("fp", "w9") is None and len(other.measurements()) == 2


# -- files ------------------------------------------------------------------------------


def test_a_pickled_file_is_never_loaded_and_the_error_gives_no_unsafe_advice(tmp_path):
    from hwnas.files import load_torch_file

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps(Path("x")))
    with pytest.raises(HwnasError) as info:
        load_torch_file(path, "weights file", "delete it")
    message = str(info.value)
    assert "evil.pt" in message and "weights_only" not in message and "pickled" in message


def test_a_foreign_weights_file_in_the_out_folder_is_one_line(tmp_path):
    import torch

    from hwnas.plugins.hurricane.strategy import load_weights

    path = tmp_path / "stage1-chunk-done.pt"
    torch.save({"something": torch.zeros(2)}, path)
    with pytest.raises(HwnasError, match=r"stage1-chunk-done\.pt does not fit this run"):
        load_weights(torch.nn.Linear(2, 2), path)
    path.write_bytes(b"not a torch file at all")
    with pytest.raises(HwnasError, match=r"stage1-chunk-done\.pt.*not a torch file"):
        load_weights(torch.nn.Linear(2, 2), path)


def test_json_output_is_strict(tmp_path, capsys):
    from hwnas.cli.common import print_json
    from hwnas.files import write_json

    data = {"a": math.nan, "b": [math.inf, 1.5], "c": -math.inf}
    print_json(data)
    assert json.loads(capsys.readouterr().out) == {"a": None, "b": [None, 1.5], "c": None}
    text = write_json(tmp_path / "x.json", data).read_text()
    assert "NaN" not in text and "Infinity" not in text


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"stage": 1, "bogus": true}'])
def test_a_foreign_stage_report_in_the_out_folder_is_one_line(tmp_path, content):
    from hwnas.plugins.hurricane.strategy import _stage_report

    path = tmp_path / "stage1.json"
    path.write_text(content)
    with pytest.raises(HwnasError, match=r"stage1\.json") as info:
        _stage_report(path)
    assert "delete" in str(info.value) and "\n" not in str(info.value)
