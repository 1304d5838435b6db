"""The bad-input table (issue 15): every command, every category, and the files they point at.

Each row is ``(args, fragments)``: the command line (``{name}`` is replaced by a
file of :func:`make_files`) and words the one-line error must contain.
``tests/test_bad_inputs.py`` runs them all and asserts the promise: one line on
stderr naming problem and fix, exit status 2, no traceback, stdout empty, no
file created or changed.
"""

from __future__ import annotations

import csv
import hashlib
import json
import pickle
import signal
import sqlite3
import sys
from pathlib import Path

from hwnas.store import COLUMNS

HUR = (
    "MB_k7_e6_SE,MB_k3_e3_SE,SEP_k3_SE,MB_k5_e6,MB_k7_e1,SEP_k5,SEP_k7,SEP_k3,MB_k3_e6,"
    "MB_k7_e3_SE,MB_k3_e3_SE,Choice_k5_SE,SEP_k3_SE,MB_k3_e1_SE,Choice_x_SE,MB_k5_e3_SE,"
    "MB_k3_e3_SE,SEP_k5_SE,SEP_k5_SE,Choice_k5_SE"
)
NB = "|avg_pool_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|skip_connect~1|none~2|"
FB = (
    "k5_e6,k5_e1_g2,k5_e1,k3_e3,k3_e3,k3_e1,k3_e1,k3_e1,k3_e1_g2,k5_e6,k5_e1_g2,skip,k5_e1,"
    "k5_e1_g2,skip,k5_e3,k5_e1_g2,k5_e1,k5_e1_g2,skip,k3_e3,k5_e6"
)
STORE_COLUMNS = COLUMNS
GOOD_ROW = {
    "fingerprint": "abc",
    "workload": "w1",
    "label": "L0",
    "status": "ok",
    "median_ms": "0.5",
    "iqr_ms": "0.01",
    "cv": "0.02",
    "number": "10",
    "attempts": "1",
    "noisy": "0",
    "threads": "1",
    "compile_s": "0.1",
    "repeats_ms": "[0.5, 0.51]",
    "reason": "",
    "source": "measured",
    "features": "{}",
    "created": "1700000000.0",
}


def _store_csv(path: Path, **changes: str) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, STORE_COLUMNS)
        writer.writeheader()
        writer.writerow(GOOD_ROW)
        writer.writerow({**GOOD_ROW, "workload": "w2", **changes})


STORE_ROWS = {  # file name -> the bad second row of a store export
    "imp_text_median": {"median_ms": "fast"},
    "imp_nan_median": {"median_ms": "nan"},
    "imp_inf_median": {"median_ms": "inf"},
    "imp_neg_median": {"median_ms": "-1"},
    "imp_zero_median": {"median_ms": "0"},
    "imp_ok_no_median": {"median_ms": ""},
    "imp_empty_status": {"status": ""},
    "imp_bogus_status": {"status": "great"},
    "imp_bad_repeats": {"repeats_ms": "[0.5,"},
    "imp_repeats_object": {"repeats_ms": '{"a": 1}'},
    "imp_nan_repeats": {"repeats_ms": "[NaN]"},
    "imp_bad_features": {"features": "{not json"},
    "imp_features_list": {"features": "[1, 2]"},
    "imp_text_number": {"number": "ten"},
    "imp_neg_attempts": {"attempts": "-1"},
    "imp_float_threads": {"threads": "1.5"},
    "imp_noisy_2": {"noisy": "2"},
    "imp_text_created": {"created": "yesterday"},
    "imp_empty_fingerprint": {"fingerprint": ""},
    "imp_empty_workload": {"workload": ""},
    "imp_empty_source": {"source": ""},
    "imp_nan_cv": {"cv": "nan"},
    "imp_neg_iqr": {"iqr_ms": "-0.1"},
}


def make_files(root: Path) -> dict[str, str]:
    """Write the bad files every row may point at; return ``{name: path}``."""
    import torch

    root.mkdir(parents=True, exist_ok=True)
    f: dict[str, Path] = {}

    def text(name: str, content: str | bytes) -> Path:
        path = root / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        f[name.replace(".", "_")] = path
        return path

    f["dir"] = root / "a_folder"
    f["dir"].mkdir(exist_ok=True)
    f["missing"] = root / "missing.file"
    f["missing_parent"] = root / "no_such_folder" / "x.out"
    text("file.txt", "just text\n")
    f["under_file"] = root / "file.txt" / "sub"
    # configs
    text("bad.toml", "[profile\nworkers = 2\n")
    text("section.toml", "[profiel]\nworkers = 2\n")
    text("key.toml", "[profile]\nwrokers = 2\n")
    text("stroe.toml", "[profile]\nstroe = 'x.sqlite'\n")
    text("workers_text.toml", '[profile]\nworkers = "abc"\n')
    text("workers_zero.toml", "[profile]\nworkers = 0\n")
    text("workers_float.toml", "[profile]\nworkers = 1.5\n")
    text("store_int.toml", "[profile]\nstore = 5\n")
    text("targets_value.toml", "targets = 3\n")
    text("target_scalar.toml", "[targets]\nonnxruntime = 3\n")
    text("target_key.toml", "[targets.onnxruntime]\nthredas = 2\n")
    text("bin.toml", b"\xff\xfe[profile]\n")
    text("target_name.toml", "[targets.onnxrutime]\nthreads = 2\n")
    text("target_nan.toml", "[targets.onnxruntime]\nthreads = nan\n")
    # stores
    foreign = root / "foreign.sqlite"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE people (name TEXT)")
    f["foreign_sqlite"] = foreign
    foreign_m = root / "foreign_measurements.sqlite"
    with sqlite3.connect(foreign_m) as db:
        db.execute("CREATE TABLE measurements (x INTEGER)")
    f["foreign_measurements_sqlite"] = foreign_m
    other_app = root / "other_app.sqlite"
    with sqlite3.connect(other_app) as db:
        db.execute("PRAGMA application_id = 12345")
        db.execute("CREATE TABLE t (x)")
    f["other_app_sqlite"] = other_app
    # store CSVs
    for name, changes in STORE_ROWS.items():
        _store_csv(root / f"{name}.csv", **changes)
        f[name] = root / f"{name}.csv"
    text("imp_missing_cols.csv", "fingerprint,workload\nabc,w1\n")
    text("imp_empty.csv", "")
    text("imp_latin1.csv", (root / "imp_text_median.csv").read_text().replace("fast", "caf\xe9"))
    (root / "imp_latin1.csv").write_bytes((root / "imp_latin1.csv").read_text().encode("latin-1"))
    text("imp_nul.csv", (root / "imp_text_median.csv").read_text().replace("fast", "0.5\x00"))
    text("imp_short_row.csv", ",".join(STORE_COLUMNS) + "\nabc,w1,L0\n")
    # checkpoints and model files
    text("damaged.pt", b"PK\x03\x04 this is not a whole zip file")
    torch.save(torch.zeros(3), root / "tensor.pt")
    f["tensor_pt"] = root / "tensor.pt"
    torch.save({"format": "something-else"}, root / "foreign_dict.pt")
    f["foreign_dict_pt"] = root / "foreign_dict.pt"
    with open(root / "pickled.pt", "wb") as handle:
        pickle.dump(Path("x"), handle)  # a pickled object: never unpickled by hwnas
    f["pickled_pt"] = root / "pickled.pt"
    # transfer adapt measurements
    text("meas_header.csv", "architecture,ms\na,1\n")
    text("meas_text.csv", f"arch,latency_ms\n{NB},fast\n")
    text("meas_nan.csv", f"arch,latency_ms\n{NB},nan\n")
    text("meas_neg.csv", f"arch,latency_ms\n{NB},-3\n")
    text("meas_arch.csv", "arch,latency_ms\nnot-an-arch,3\n")
    text("meas_empty.csv", "")
    # data dirs
    for name, files in {
        "data_empty_csv": {"nb201/latency.csv": "", "nb201/accuracy.csv": ""},
        "data_header_only": {
            "nb201/latency.csv": "index,arch,raspi4\n",
            "nb201/accuracy.csv": "index,arch,c10\n",
        },
        "data_short_rows": {
            "nb201/latency.csv": "index,arch,raspi4\n0\n",
            "nb201/accuracy.csv": "index,arch,c10\n0\n",
        },
        "data_fbnet_no_ops": {
            "fbnet/archs.json": '{"archs": [{"opz": []}]}',
            "fbnet/latency.csv": "index,raspi4\n0,1.0\n",
        },
        "data_fbnet_not_json": {
            "fbnet/archs.json": "{archs",
            "fbnet/latency.csv": "index,raspi4\n0,1.0\n",
        },
    }.items():
        for rel, content in files.items():
            path = root / name / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        f[name] = root / name
    return {k: str(v) for k, v in f.items()}


LIMIT_S = 60


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


ST = ("--store", "{cwd_store}")
BOARD = ("board", "emulate", "--tracker", "127.0.0.1:1")  # nothing listens there
TVM_ARM = ("profile", "--target", "tvm-arm", "--layers", "0", "--ops", "SEP_k3", *ST)
HURRICANE = ("search", "--strategy", "hurricane", "--target", "onnxruntime", "--latency-ms", "0.6",
             "--out", "{cwd}/run", *ST)  # fmt: skip
PROFILE = ("profile", "--target", "onnxruntime", "--layers", "0", "--ops", "SEP_k3", *ST)
SEARCH = ("search", "--strategy", "random", "--target", "nb201/raspi4", "--out", "{cwd}/run")
ARENA = ("arena", "--space", "nb201", "--device", "raspi4", "--strategies", "random")
ARENA_OUT = (*ARENA, "--evals", "10", "--seeds", "1", "--out", "{cwd}/arena")
GEN = ("space", "generate", "--target", "onnxruntime", *ST, "--out", "{cwd}/space.json")
PREC = ("predict", "recorded", "--device", "raspi4")
SN_TRAIN = ("supernet", "train", "--steps", "1", "--checkpoint", "{cwd}/sn.pt")
SN_EVAL = ("supernet", "eval", "--random", "1")
ADAPT = ("transfer", "adapt", "--space", "nb201", "--out", "{cwd}/pred.csv")
GENERATE = ("generate", "--model", "{tensor_pt}")


def _n(base, *numbers):
    """Rows for one option of ``base`` given each value of ``numbers``: (args, [flag])."""
    flag, *values = numbers
    return [((*base, flag, str(v)), (flag,)) for v in values]


CASES: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
    # --- hwnas plugins / data / targets ---------------------------------------------
    (("plugins", "--kind", "bogus"), ("bogus", "target")),
    (("plugins", "--bogus"), ("--bogus",)),
    (("data", "--bogus"), ("--bogus",)),
    (("targets", "--config", "{missing}"), ("--config",)),
    (("targets", "--config", "{dir}"), ("folder",)),
    (("targets", "--config", ""), ("--config", "empty")),
    (("targets", "--config", "{bad_toml}"), ("TOML",)),
    (("targets", "--config", "{section_toml}"), ("profiel",)),
    (("targets", "--config", "{bin_toml}"), ("config",)),
    (("targets", "--config", "{targets_value_toml}"), ("targets",)),
    (("targets", "--config", "{target_scalar_toml}"), ("targets.onnxruntime",)),
    (("targets", "--config", "{target_name_toml}"), ("onnxrutime", "onnxruntime")),
    (("targets", "--config", "{target_nan_toml}"), ("threads",)),
    # --- hwnas profile: numbers ------------------------------------------------------
    *_n(PROFILE, "--batch", 0, -1, 5000),
    *_n(PROFILE, "--workers", 0, -2, 100000),
    *_n(PROFILE, "--timeout", 0, -1, "nan", "inf"),
    *_n(PROFILE, "--repeats", 0, -3),
    *_n(PROFILE, "--min-repeat-ms", -5, "inf", "nan"),
    *_n(PROFILE, "--measure", -1, 10**9),
    *_n(PROFILE, "--rounds", -1),
    *_n(PROFILE, "--workers", "two"),
    (
        ("profile", "--target", "onnxruntime", "--layers", "0-1000000000", *ST),
        ("layers", "0-19"),
    ),
    (("profile", "--target", "onnxruntime", "--layers", "abc", *ST), ("layer",)),
    (("profile", "--target", "onnxruntime", "--layers", "99", *ST), ("0-19",)),
    (("profile", "--target", "onnxruntime", "--layers", "5-3", *ST), ("0-19",)),
    (("profile", "--target", "onnxruntime", "--layers", ",", *ST), ("layer",)),
    (("profile", "--target", "onnxruntime", "--layers", "", *ST), ("layer",)),
    (("profile", "--target", "onnxruntime", "--layers", "0", "--ops", "", *ST), ("--ops",)),
    (("profile", "--target", "onnxruntime", "--layers", "0", "--ops", ",", *ST), ("--ops",)),
    (("profile", "--target", "onnxruntime", "--layers", "-1", *ST), ("layer",)),
    (("profile", "--target", "onnxruntime", "--layers", "0", "--ops", "NOPE", *ST), ("NOPE",)),
    ((*PROFILE, "--fill", "bogus"), ("--fill",)),
    # --- hwnas profile: names, options, config, store ---------------------------------
    (("profile", "--target", "nosuch", *ST), ("nosuch",)),
    (("profile", "--target", "onnxruntime", "--space", "nb201", *ST), ("nb201",)),
    (("profile", "--target", "onnxruntime", "--space", "nosuch", *ST), ("nosuch",)),
    ((*PROFILE, "-t", "threads"), ("KEY=VALUE",)),
    ((*PROFILE, "-t", "=2"), ("KEY=VALUE",)),
    ((*PROFILE, "-t", "threads=nan"), ("threads",)),
    ((*PROFILE, "-t", "bogus=1"), ("bogus",)),
    ((*PROFILE, "-o", "profile=nosuch"), ("nosuch",)),
    ((*PROFILE, "-o", "resolution=nan"), ("resolution",)),
    ((*PROFILE, "-o", "resolution=inf"), ("resolution",)),
    ((*PROFILE, "-o", "resolution=0"), ("resolution",)),
    ((*PROFILE, "-o", "resolution=-32"), ("resolution",)),
    ((*PROFILE, "--config", "{missing}"), ("--config",)),
    ((*PROFILE, "--config", "{dir}"), ("--config",)),
    ((*PROFILE, "--config", ""), ("--config",)),
    ((*PROFILE, "--config", "{key_toml}"), ("wrokers", "workers")),
    ((*PROFILE, "--config", "{stroe_toml}"), ("stroe", "store")),
    ((*PROFILE, "--config", "{workers_text_toml}"), ("workers",)),
    ((*PROFILE, "--config", "{workers_zero_toml}"), ("workers",)),
    ((*PROFILE, "--config", "{workers_float_toml}"), ("workers",)),
    ((*PROFILE, "--config", "{store_int_toml}"), ("store",)),
    ((*PROFILE, "--config", "{target_key_toml}"), ("thredas",)),
    ((*PROFILE[:-2], "--store", "{dir}"), ("--store",)),
    ((*PROFILE[:-2], "--store", ""), ("--store",)),
    ((*PROFILE[:-2], "--store", "{foreign_sqlite}"), ("not an hwnas",)),
    ((*PROFILE[:-2], "--store", "{foreign_measurements_sqlite}"), ("not an hwnas",)),
    ((*PROFILE[:-2], "--store", "{other_app_sqlite}"), ("not an hwnas",)),
    ((*PROFILE[:-2], "--store", "{file_txt}"), ("not an hwnas",)),
    ((*PROFILE[:-2], "--store", "{under_file}"), ("--store",)),
    # --- hwnas store ---------------------------------------------------------------
    (("store", "export", "{dir}", *ST), ("folder",)),
    (("store", "export", "{missing_parent}", *ST), ("create it",)),
    (("store", "export", "", *ST), ("empty",)),
    (("store", "export", "{under_file}", *ST), ("folder",)),
    (("store", "export", "{cwd}/x.csv", "--store", "{foreign_sqlite}"), ("not an hwnas",)),
    (("store", "export", "{cwd}/x.csv", "--store", "{foreign_measurements_sqlite}"), ("hwnas",)),
    (("store", "export", "{cwd}/x.csv", "--store", "{file_txt}"), ("not an hwnas",)),
    (("store", "export", "{cwd}/x.csv", "--store", "{dir}"), ("--store",)),
    (("store", "import", "{missing}", *ST), ("does not exist",)),
    (("store", "import", "{dir}", *ST), ("folder",)),
    (("store", "import", "", *ST), ("empty",)),
    *[(("store", "import", "{" + name + "}", *ST), ("row 2",)) for name in STORE_ROWS],
    (("store", "import", "{imp_missing_cols_csv}", *ST), ("missing",)),
    (("store", "import", "{imp_empty_csv}", *ST), ("empty",)),
    (("store", "import", "{imp_latin1_csv}", *ST), ("UTF-8",)),
    (("store", "import", "{imp_nul_csv}", *ST), ("line",)),
    (("store", "import", "{imp_short_row_csv}", *ST), ("row 1",)),
    (("store", "import", "{imp_text_median}", "--store", "{foreign_sqlite}"), ("hwnas",)),
    (("store", "bogus"), ("bogus",)),
    # --- hwnas space ---------------------------------------------------------------
    (("space", "show", "nosuch"), ("nosuch",)),
    (("space", "show", "hurricane", "-o", "novalue"), ("KEY=VALUE",)),
    (("space", "show", "hurricane", "-o", "bogus=1"), ("bogus",)),
    (("space", "show", "hurricane", "-o", "resolution=nan", "--json"), ("resolution",)),
    (("space", "show", "hurricane", "-o", "resolution=0"), ("resolution",)),
    (("space", "show", "hurricane", "-o", "resolution=-32"), ("resolution",)),
    (("space", "show", "hurricane", "-o", "in_channels=0"), ("in_channels",)),
    (("space", "show", "hurricane", "-o", "generated={missing}"), ("generated",)),
    (("space", "show", "hurricane", "-o", "generated={file_txt}"), ("generated",)),
    (("space", "show", "hurricane", "--layer", "99"), ("layer",)),
    (("space", "show", "hurricane", "--layer", "-1"), ("--layer",)),
    *_n(GEN, "--p", 0, 100),
    *_n(GEN, "--alpha", "nan", "inf", -1),
    *_n(GEN, "--explore", -1, 99),
    *_n(GEN, "--measure", -1),
    *_n(GEN, "--calibrate", -1),
    (("space", "generate", "--target", "nosuch", *ST), ("nosuch",)),
    (("space", "generate", "--target", "nb201/raspi4", *ST), ("live",)),
    ((*GEN[:-2], "--out", "{dir}"), ("--out",)),
    ((*GEN[:-2], "--out", "{missing_parent}"), ("create it",)),
    ((*GEN[:-2], "--out", ""), ("--out",)),
    ((*GEN, "--config", "{dir}"), ("--config",)),
    ((*GEN, "-o", "profile=bogus"), ("bogus",)),
    # --- hwnas arch ----------------------------------------------------------------
    (("arch", "sample", "hurricane", "-n", "0"), ("-n",)),
    (("arch", "sample", "hurricane", "-n", "-1"), ("-n",)),
    (("arch", "sample", "hurricane", "-n", "10000000000000"), ("-n",)),
    (("arch", "sample", "hurricane", "--seed", "-1"), ("--seed",)),
    (("arch", "sample", "hurricane", "--seed", str(2**40)), ("--seed",)),
    (("arch", "sample", "nosuch"), ("nosuch",)),
    (("arch", "sample", "nb201", "-o", "x=1"), ("x",)),
    (("arch", "show", "hurricane", "SEP_k3"), ("20",)),
    (("arch", "show", "hurricane", HUR.replace("SEP_k5", "SEP_k9", 1)), ("SEP_k9",)),
    (("arch", "show", "hurricane", ""), ("architecture",)),
    (("arch", "show", "nb201", "|none~0|"), ("architecture",)),
    (("arch", "show", "nb201", NB.replace("none", "conv", 1)), ("conv",)),
    (("arch", "show", "fbnet", "k3_e1"), ("architecture",)),
    (("arch", "show", "ofa", "ks=7;e=3"), ("architecture",)),
    (("arch", "show", "ofa", "r=999"), ("architecture",)),
    (("arch", "export", "hurricane", HUR, "--onnx", "{dir}"), ("folder",)),
    (("arch", "export", "hurricane", HUR, "--onnx", "{missing_parent}"), ("create it",)),
    (("arch", "export", "hurricane", HUR, "--onnx", ""), ("--onnx",)),
    (("arch", "export", "hurricane", "SEP_k3", "--onnx", "{cwd}/a.onnx"), ("20",)),
    # --- hwnas predict -------------------------------------------------------------
    (("predict", "train", "--target", "nosuch", *ST), ("nosuch",)),
    (("predict", "train", "--target", "onnxruntime", "--folds", "-1", *ST), ("--folds",)),
    (("predict", "train", "--target", "onnxruntime", "--config", "{dir}", *ST), ("--config",)),
    (("predict", "train", "--target", "onnxruntime", "--store", "{dir}"), ("--store",)),
    (("predict", "train", "--target", "onnxruntime", "--store", "{foreign_sqlite}"), ("hwnas",)),
    (("predict", "latency", "--target", "onnxruntime", "--sample", "-1", *ST), ("--sample",)),
    (("predict", "latency", "--target", "onnxruntime", "--calibrate", "-1", *ST), ("--cal",)),
    (("predict", "latency", "--target", "onnxruntime", "--batch", "0", *ST), ("--batch",)),
    (("predict", "latency", "--target", "onnxruntime", "--seed", "-1", *ST), ("--seed",)),
    (("predict", "latency", "--target", "onnxruntime", "SEP_k3", *ST), ("20",)),
    (("predict", "latency", "--target", "nosuch", *ST), ("nosuch",)),
    (("predict", "recorded", "-n", "0"), ("-n",)),
    (("predict", "recorded", "-n", "-5"), ("-n",)),
    ((*PREC, "--seeds", "0"), ("--seeds",)),
    ((*PREC, "-n", "20000"), ("15625",)),
    ((*PREC, "-n", "1"), ("-n",)),
    (("predict", "recorded", "--space", "nosuch"), ("nosuch",)),
    (("predict", "recorded", "--device", "nosuch"), ("nosuch",)),
    ((*PREC, "--data-dir", "{missing}"), ("--data-dir",)),
    ((*PREC, "--data-dir", "{file_txt}"), ("--data-dir",)),
    ((*PREC, "--data-dir", "{data_empty_csv}"), ("latency.csv",)),
    ((*PREC, "--data-dir", "{data_header_only}"), ("latency.csv",)),
    ((*PREC, "--data-dir", "{data_short_rows}"), ("latency.csv",)),
    (("predict", "bogus"), ("bogus",)),
    # --- hwnas recorded ------------------------------------------------------------
    (("recorded", "nosuch/dev", NB), ("nosuch/dev",)),
    (("recorded", "onnxruntime", NB), ("live",)),
    (("recorded", "nb201/raspi4", "|none~0|"), ("architecture",)),
    (("recorded", "nb201/raspi4", NB, "--data-dir", "{missing}"), ("--data-dir",)),
    (("recorded", "nb201/raspi4", NB, "--data-dir", "{data_empty_csv}"), ("latency.csv",)),
    (("recorded", "nb201/raspi4", NB, "--data-dir", "{data_short_rows}"), ("latency.csv",)),
    (("recorded", "fbnet/raspi4", FB, "--data-dir", "{data_fbnet_no_ops}"), ("archs",)),
    (("recorded", "fbnet/raspi4", FB, "--data-dir", "{data_fbnet_not_json}"), ("archs",)),
    (("recorded", "nb201/raspi4", NB, "--config", "{dir}"), ("--config",)),
    (("recorded", "nb201/raspi4"), ("ARCHS",)),
    # --- hwnas search --------------------------------------------------------------
    *_n(SEARCH, "--evals", 0, -1, 99999999999999999999, 100000000),
    *_n(SEARCH, "--latency-ms", "nan", "inf", 0, -1, "0%", "101%", "x%", "%", "-5%"),
    *_n(SEARCH, "--seed", -1),
    (("search", "--strategy", "random", "--target", "nb201/raspi4", "--out", "{file_txt}"), ()),
    (("search", "--strategy", "random", "--target", "nb201/raspi4", "--out", ""), ("--out",)),
    (("search", "--strategy", "random", "--target", "nb201/raspi4", "--out", "{under_file}"), ()),
    (("search", "--strategy", "nosuch", "--target", "nb201/raspi4"), ("nosuch",)),
    (("search", "--strategy", "random", "--target", "nosuch"), ("nosuch",)),
    ((*SEARCH, "--space", "nosuch"), ("nosuch",)),
    ((*SEARCH, "-s", "novalue"), ("KEY=VALUE",)),
    ((*SEARCH, "--bogus-flag", "1"), ("--bogus-flag",)),
    ((*SEARCH, "--bogus-flag"), ("--bogus-flag",)),
    ((*SEARCH, "stray"), ("stray",)),
    ((*SEARCH, "--data-dir", "{missing}"), ("--data-dir",)),
    ((*SEARCH, "--data-dir", "{data_empty_csv}"), ("latency.csv",)),
    ((*SEARCH, "--store", "{dir}"), ("--store",)),
    ((*SEARCH, "--dataset", "bogus"), ("bogus",)),
    (
        (
            "search",
            "--strategy",
            "random",
            "--target",
            "onnxruntime",
            "--space",
            "hurricane",
            "-o",
            "resolution=nan",
            "--out",
            "{cwd}/run",
            *ST,
        ),
        ("resolution",),
    ),
    (
        ("search", "--strategy", "random", "--target", "nosuch", "--space", "hurricane", *ST),
        ("nosuch",),
    ),
    # --- hwnas arena ---------------------------------------------------------------
    ((*ARENA, "--evals", "0"), ("budget",)),
    ((*ARENA, "--evals", "abc"), ("abc",)),
    ((*ARENA, "--evals", ""), ("evals",)),
    ((*ARENA, "--evals", ",,"), ("evals",)),
    ((*ARENA, "--evals", "99999999"), ("budget",)),
    ((*ARENA, "--evals", "nan"), ("nan",)),
    *_n(ARENA, "--seeds", 0, -1, 10**6),
    (("arena", "--space", "nosuch", "--device", "raspi4", "--strategies", "random"), ("nosuch",)),
    (("arena", "--space", "nb201", "--device", "nosuch", "--strategies", "random"), ("nosuch",)),
    (("arena", "--space", "nb201", "--device", "raspi4", "--strategies", "nosuch"), ("nosuch",)),
    (("arena", "--space", "nb201", "--device", "raspi4", "--strategies", ""), ("strategies",)),
    ((*ARENA_OUT[:-2], "--out", "{file_txt}"), ("--out",)),
    ((*ARENA_OUT[:-2], "--out", ""), ("--out",)),
    ((*ARENA_OUT, "--data-dir", "{missing}"), ("--data-dir",)),
    ((*ARENA_OUT, "--config", "{dir}"), ("--config",)),
    ((*ARENA_OUT, "--dataset", "bogus"), ("bogus",)),
    # --- hwnas transfer ------------------------------------------------------------
    (("transfer", "analyze", "--space", "nosuch", "--out", "{cwd}/t"), ("nosuch",)),
    (("transfer", "analyze", "--space", "nb201", "--devices", "raspi4", "--out", "{cwd}/t"), ()),
    (("transfer", "analyze", "--space", "nb201", "--devices", "raspi4,nosuch"), ("nosuch",)),
    (("transfer", "analyze", "--space", "nb201", "--out", "{file_txt}"), ("--out",)),
    (("transfer", "analyze", "--space", "nb201", "--out", ""), ("--out",)),
    (("transfer", "analyze", "--space", "nb201", "--data-dir", "{missing}"), ("--data-dir",)),
    ((*ADAPT, "--measurements", "{missing}"), ("--measurements",)),
    ((*ADAPT, "--measurements", "{dir}"), ("--measurements",)),
    ((*ADAPT, "--measurements", ""), ("--measurements",)),
    ((*ADAPT, "--measurements", "{meas_empty_csv}"), ()),
    ((*ADAPT, "--measurements", "{meas_header_csv}"), ("arch,latency_ms",)),
    ((*ADAPT, "--measurements", "{meas_text_csv}"), ("fast",)),
    ((*ADAPT, "--measurements", "{meas_nan_csv}"), ("nan",)),
    ((*ADAPT, "--measurements", "{meas_neg_csv}"), ("-3",)),
    ((*ADAPT, "--measurements", "{meas_arch_csv}"), ("line 2", "architecture")),
    (
        (
            "transfer",
            "adapt",
            "--space",
            "nb201",
            "--measurements",
            "{meas_nan_csv}",
            "--out",
            "{dir}",
        ),
        ("--out",),
    ),
    (
        (
            "transfer",
            "adapt",
            "--space",
            "nb201",
            "--measurements",
            "{meas_nan_csv}",
            "--out",
            "{missing_parent}",
        ),
        ("create it",),
    ),
    (
        (
            "transfer",
            "adapt",
            "--space",
            "nosuch",
            "--measurements",
            "{meas_nan_csv}",
            "--out",
            "{cwd}/p.csv",
        ),
        (),
    ),
    # --- hwnas generate ------------------------------------------------------------
    (("generate", "--model", "{missing}", "--budget-ms", "5"), ("--model",)),
    (("generate", "--model", "{dir}", "--budget-ms", "5"), ("--model",)),
    (("generate", "--model", "", "--budget-ms", "5"), ("--model",)),
    (("generate", "--model", "{damaged_pt}", "--budget-ms", "5"), ("damaged.pt",)),
    (("generate", "--model", "{tensor_pt}", "--budget-ms", "5"), ("tensor.pt",)),
    (("generate", "--model", "{pickled_pt}", "--budget-ms", "5"), ("pickled.pt",)),
    (("generate", "--model", "{file_txt}", "--budget-ms", "5"), ("file.txt",)),
    *_n(GENERATE, "--budget-ms", "nan", "inf", 0, -1),
    ((*GENERATE, "--budgets", "abc"), ("abc",)),
    ((*GENERATE, "--budgets", "5,nan"), ("nan",)),
    ((*GENERATE, "--budgets", "5,inf"), ("inf",)),
    ((*GENERATE, "--budgets", "5,-1"), ("-1",)),
    ((*GENERATE,), ("budget",)),
    *_n((*GENERATE, "--budget-ms", "5"), "--samples", -1),
    *_n((*GENERATE, "--budget-ms", "5"), "--checks", 0),
    *_n((*GENERATE, "--budget-ms", "5"), "--threads", 0),
    # --- hwnas supernet ------------------------------------------------------------
    *_n(SN_TRAIN, "--steps", 0, -1),
    *_n(SN_TRAIN, "--epochs", "nan", 0, -1, "inf"),
    *_n(SN_TRAIN, "--batch-size", 0),
    *_n(SN_TRAIN, "--lr", "nan", 0, -1),
    *_n(SN_TRAIN, "--label-smoothing", 1.5, "nan"),
    *_n(SN_TRAIN, "--seed", -1),
    *_n(SN_TRAIN, "--checkpoint-every", 0),
    *_n(SN_TRAIN, "--val-size", 0),
    *_n(SN_TRAIN, "--train-images", 0),
    *_n(SN_TRAIN, "--threads", 0),
    *_n(SN_TRAIN, "--loader-workers", -1, 65, "nan"),
    *_n(SN_TRAIN, "--micro-batches", 0, -2),
    ((*SN_TRAIN, "--device", "tpu"), ("--device", "tpu", "cuda:N")),
    ((*SN_TRAIN, "--device", "cuda:x"), ("--device", "cuda:x")),
    ((*SN_TRAIN, "--device", ""), ("--device",)),
    ((*SN_TRAIN, "--data-dir", "{missing}"), ("--data-dir",)),
    ((*SN_TRAIN, "--data-dir", "{file_txt}"), ("--data-dir",)),
    ((*SN_TRAIN, "--data-dir", "{dir}"), ("a_folder",)),
    ((*SN_TRAIN, "--profile", "bogus"), ("bogus",)),
    ((*SN_TRAIN, "--ops", "NOPE"), ("NOPE",)),
    ((*SN_TRAIN, "--profile", "tiny", "-o", "profile=small"), ("profile",)),
    (("supernet", "train", "--steps", "1", "--checkpoint", "{dir}"), ("--checkpoint",)),
    (("supernet", "train", "--steps", "1", "--checkpoint", ""), ("--checkpoint",)),
    (("supernet", "train", "--steps", "1", "--checkpoint", "{missing_parent}"), ("create",)),
    (("supernet", "train", "--steps", "1", "--checkpoint", "{damaged_pt}"), ("damaged.pt",)),
    ((*SN_EVAL, "--checkpoint", "{missing}"), ("--checkpoint",)),
    ((*SN_EVAL, "--checkpoint", "{dir}"), ("--checkpoint",)),
    ((*SN_EVAL, "--checkpoint", "{damaged_pt}"), ("damaged.pt",)),
    ((*SN_EVAL, "--checkpoint", "{tensor_pt}"), ("tensor.pt",)),
    ((*SN_EVAL, "--checkpoint", "{foreign_dict_pt}"), ("foreign_dict.pt",)),
    ((*SN_EVAL, "--checkpoint", "{pickled_pt}"), ("pickled.pt",)),
    (("supernet", "eval", "--random", "-1", "--checkpoint", "{tensor_pt}"), ("--random",)),
    (("supernet", "eval", "--bn-images", "0", "--checkpoint", "{tensor_pt}"), ("--bn-images",)),
    (("supernet", "eval", "--val-images", "0", "--checkpoint", "{tensor_pt}"), ("--val",)),
    (("supernet", "eval", "--device", "tpu", "--checkpoint", "{tensor_pt}"), ("--device", "tpu")),
    (("supernet", "bogus"), ("bogus",)),
    # --- hwnas board (an emulated AArch64 board; no row may start it) ---------------
    (("board", "emulate", "--tracker", "nohost"), ("HOST:PORT",)),
    (("board", "emulate", "--tracker", "127.0.0.1:99999"), ("HOST:PORT",)),
    (("board", "emulate", "--tracker", "127.0.0.1:"), ("HOST:PORT",)),
    (("board", "emulate", "--tracker", "127.0.0.1:1"), ("127.0.0.1:1", "--start-tracker")),
    (("board", "emulate", "--key", " "), ("--key",)),
    *_n(BOARD, "--timeout", 0, -1, "nan", "inf", 10**6),
    ((*BOARD, "--cache-dir", "{file_txt}"), ("--cache-dir",)),
    ((*BOARD, "--cache-dir", "{under_file}"), ("--cache-dir",)),
    ((*BOARD, "--cache-dir", ""), ("--cache-dir",)),
    ((*BOARD, "--bogus"), ("--bogus",)),
    (("board", "bogus"), ("bogus",)),
    ((*TVM_ARM, "-t", "emulated=maybe"), ("emulated",)),
    ((*TVM_ARM, "-t", "tolerance=0"), ("tolerance",)),
    ((*TVM_ARM, "-t", "tolerance=2"), ("tolerance",)),
    ((*TVM_ARM, "-t", "check=perhaps"), ("check",)),
    *[
        ((*HURRICANE, *extra), fragments)
        for extra, fragments in [
            (("--device", "tpu"), ("--device", "tpu")),
            (("-s", "device=npu"), ("npu",)),
            (("-s", "final_candidates=0"), ("final_candidates",)),
            (("-s", "final_rounds=0"), ("final_rounds",)),
            (("-s", "loader_workers=-1"), ("loader_workers",)),
            (("-s", "amp=maybe"), ("maybe",)),
        ]
    ],
]
