"""HURRICANE's final step: the winner is the most accurate candidate *measured* within the limit.

The layer model here is a deterministic stand-in that under-predicts: it sums
per-op costs, while the "target" (also a stand-in, a pure function of the
architecture) adds 15 % on top. No device is faked in product code; these
objects only exist in the tests.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from hwnas.accuracy import AccuracySource
from hwnas.plugins.hurricane.strategy import (
    Hurricane,
    choose_final,
    final_lines,
    near_limit_picks,
    ranked_candidates,
    safety_factor,
)
from hwnas.predict.model import Overhead, fit_overhead
from hwnas.problem import Evaluation
from hwnas.spaces.hurricane.space import HurricaneSpace

TRUE_SCALE = 1.15  # measured = 1.15 x the sum of the parts


@pytest.fixture(scope="module")
def space():
    return HurricaneSpace("tiny")


def parts_ms(space, arch) -> float:
    """The sum of per-layer costs: op j of any layer costs 0.01 * (j + 1) ms."""
    return float(sum(0.01 * (j + 1) for j in space.indices(arch)))


class UnderPredictingModel:
    """A layer model (sum of parts, overhead ``none`` until calibrated) and the store it reads."""

    def __init__(self, space):
        self.space = space
        self.overhead = Overhead()
        self.whole: dict = {}  # what the target measured end to end (the store's whole rows)
        self.fingerprint_key = "test"

    def latencies(self, archs):
        return np.array([self.overhead.apply(parts_ms(self.space, a)) for a in archs])

    def stored_whole_archs(self):
        return dict(self.whole)

    def calibrate(self, archs, whole_ms):
        parts = [parts_ms(self.space, a) for a in archs]
        self.overhead = fit_overhead(parts, whole_ms)
        return self.overhead


class Target:
    """End-to-end 'measurements': a deterministic function of the architecture."""

    def __init__(self, space, model, scale=TRUE_SCALE):
        self.space, self.model, self.scale, self.calls = space, model, scale, []

    def latencies(self, archs):
        self.calls.append(list(archs))
        ms = [self.scale * parts_ms(self.space, a) for a in archs]
        self.model.whole.update(zip(archs, ms, strict=True))
        return np.array(ms)


def stage_history(space, n=8):
    """n evaluations: arch i uses op i+1 in layer 0 (more accurate = slower), op 0 elsewhere."""
    out = []
    for i in range(n):
        choices = [space.positions[0].choices[i + 1]] + [p.choices[0] for p in space.positions[1:]]
        arch = space.architecture(choices)
        out.append(Evaluation(arch, parts_ms(space, arch), "predicted", 80.0 + i, i))
    return out


def test_ranking_keeps_feasible_distinct_archs_most_accurate_first(space):
    history = stage_history(space, 4)
    history.append(Evaluation(history[0].arch, history[0].latency_ms, "predicted", 79.0, 4))
    limit = history[2].latency_ms
    ranked = ranked_candidates(history, space, limit)
    assert [c["accuracy"] for c in ranked] == [82.0, 81.0, 80.0]  # arch 3 is over; no repeat


def test_under_predicting_layer_model_the_next_candidate_is_taken(space):
    history = stage_history(space)
    model = UnderPredictingModel(space)
    target = Target(space, model)
    # The limit lies between the measured latencies of the two most accurate candidates.
    top, second = history[-1], history[-2]
    limit = 0.5 * (TRUE_SCALE * top.latency_ms + TRUE_SCALE * second.latency_ms)
    assert top.latency_ms <= limit < TRUE_SCALE * top.latency_ms  # predicted in, measured out
    ranked = ranked_candidates(history, space, limit)
    choice = choose_final(
        ranked,
        space,
        model.latencies,
        target.latencies,
        lambda: model.calibrate(list(model.whole), list(model.whole.values())).as_dict(),
        limit,
        k=3,
    )
    rows = choice["candidates"]
    assert len(target.calls) == 1 and len(rows) == 3  # one round, top 3 measured
    assert rows[0]["arch"] == space.format(top.arch) and not rows[0]["within_limit"]
    assert rows[0]["measured_ms"] == pytest.approx(TRUE_SCALE * rows[0]["predicted_ms"])
    assert choice["chosen"]["arch"] == space.format(second.arch)
    assert choice["chosen_rank"] == 1
    # Recalibrated on the measurements, the layer model predicts them (ratio 1.15).
    assert choice["overhead"]["kind"] in ("ratio", "affine", "offset")
    for row in rows:
        assert row["recalibrated_ms"] == pytest.approx(row["measured_ms"], rel=1e-6)
    text = "\n".join(final_lines({**choice, "latency_source": "x", "arch": "a",
                                   "latency_ms": 1.0, "predicted_latency_ms": 1.0,
                                   "scratch": {"test_accuracy": 1.0, "epochs": 1.0,
                                               "seconds": 1.0}, "files": {}}, limit))  # fmt: skip
    assert "not the supernet's top candidate" in text and "OVER" in text


def test_a_second_measurement_over_the_limit_passes_the_choice_on(space):
    """The first measurement of the top candidate was lucky: its confirmation fails."""
    history = stage_history(space)
    model = UnderPredictingModel(space)
    target = Target(space, model, scale=1.0)  # first measurements: the layer model, exactly
    top, second = history[-1], history[-2]
    limit = top.latency_ms * 1.01  # both within the limit when first measured
    ranked = ranked_candidates(history, space, limit)
    confirmed = []

    def confirm(archs):  # a fresh session: the top one now measures 20 % slower
        confirmed.extend(archs)
        return np.array([(1.2 if a == top.arch else 1.0) * parts_ms(space, a) for a in archs])

    choice = choose_final(
        ranked, space, model.latencies, target.latencies,
        lambda: model.overhead.as_dict(), limit, k=3, confirm=confirm,
    )  # fmt: skip
    rows = choice["candidates"]
    assert confirmed == [top.arch, second.arch]  # most accurate first, stop at the first that holds
    assert rows[0]["confirm_failed"] and not rows[0]["within_limit"]
    assert rows[0]["confirmed_ms"] == pytest.approx(1.2 * top.latency_ms)
    assert rows[1]["within_limit"] and rows[1]["confirmed_ms"] <= limit
    assert "confirmed_ms" not in rows[2]  # never needed
    assert choice["chosen"]["arch"] == space.format(second.arch) and choice["chosen_rank"] == 1
    text = "\n".join(final_lines({**choice, "latency_source": "x", "arch": "a",
                                   "latency_ms": 1.0, "confirmed_latency_ms": 1.0,
                                   "confirm_sessions": 3, "predicted_latency_ms": 1.0,
                                   "scratch": {"test_accuracy": 1.0, "epochs": 1.0,
                                               "seconds": 1.0}, "files": {}}, limit))  # fmt: skip
    assert "(again, slowest session: " in text and "slowest of 3 fresh sessions 1.000 ms" in text


def test_confirmation_keeps_the_slowest_of_its_fresh_sessions(space, monkeypatch):
    """A host whose sessions land on different speeds is judged by its slow one."""
    import hwnas.live_latency
    from hwnas.plugins.hurricane.strategy import confirm_whole

    archs = [h.arch for h in stage_history(space, 2)]
    speeds = iter([1.0, 1.5, 0.7])  # one factor per fresh session
    stores = []

    def measure_whole(target, options, space_, asked, store, show_progress):
        stores.append(store.path)
        factor = next(speeds)
        return {a: factor * parts_ms(space, a) for a in asked}

    monkeypatch.setattr(hwnas.live_latency, "measure_whole", measure_whole)
    live = {"target": "onnxruntime", "options": {}}
    worst = confirm_whole(live, space, archs, sessions=3)
    assert worst == pytest.approx([1.5 * parts_ms(space, a) for a in archs])
    assert len(set(stores)) == 3  # a fresh store each time


def test_every_confirmation_failing_is_a_miss_not_a_winner(space):
    history = stage_history(space, 3)
    model = UnderPredictingModel(space)
    target = Target(space, model, scale=1.0)
    limit = history[-1].latency_ms * 1.01
    choice = choose_final(
        ranked_candidates(history, space, limit), space, model.latencies, target.latencies,
        lambda: model.overhead.as_dict(), limit, k=3, rounds=1,
        confirm=lambda archs: np.full(len(archs), 2 * limit),
    )  # fmt: skip
    assert choice["chosen"] is None
    assert all(r["confirm_failed"] for r in choice["candidates"])


def test_second_round_uses_the_recalibrated_model(space):
    history = stage_history(space)
    model = UnderPredictingModel(space)
    target = Target(space, model)
    limit = TRUE_SCALE * history[2].latency_ms * 1.001  # only archs 0..2 meet it as measured
    choice = choose_final(
        ranked_candidates(history, space, limit),
        space,
        model.latencies,
        target.latencies,
        lambda: model.calibrate(list(model.whole), list(model.whole.values())).as_dict(),
        limit,
        k=2,
        rounds=3,
    )
    rounds = [r["round"] for r in choice["candidates"]]
    # Round 1 measures the two most accurate layer-model-feasible archs (both over); round 2
    # skips those the recalibrated model now puts over the limit and measures archs 2 and 1.
    assert rounds == [1, 1, 2, 2]
    assert choice["chosen"]["accuracy"] == history[2].accuracy


def test_later_rounds_leave_room_for_the_recalibrations_error(space):
    """Round 2 skips candidates the model puts within the limit by less than its own error."""
    history = stage_history(space)
    parts = {h.arch: parts_ms(space, h.arch) for h in history}
    limit = parts[history[5].arch] * 1.001  # archs 0..5 within by the model, 6..7 over
    measured = []

    def measure(archs):  # round 1's two are over; everything after that meets the limit
        measured.append(list(archs))
        return np.array([(1.5 if len(measured) == 1 else 0.9) * parts[a] for a in archs])

    choice = choose_final(
        ranked_candidates(history, space, limit), space,
        lambda archs: np.array([parts[a] for a in archs]), measure,
        lambda: {"kind": "none", "loo_error": 0.1}, limit, k=2, rounds=2,
    )  # fmt: skip
    second = [r for r in choice["candidates"] if r["round"] == 2]
    assert second and all(parts[space.parse(r["arch"])] * np.exp(0.1) <= limit for r in second)
    skipped = [a for a in parts if parts[a] <= limit < parts[a] * np.exp(0.1)]
    assert skipped and not {space.format(a) for a in skipped} & {r["arch"] for r in second}
    assert safety_factor(None) == 1.0 and safety_factor({"loo_error": None}) == 1.0


def test_limit_calibration_picks_distinct_networks_just_under_the_limit(space):
    rng = np.random.default_rng(0)
    pool = [space.sample(rng) for _ in range(400)]
    pool += pool[:50]  # repeats are measured once
    ms = np.array([parts_ms(space, a) for a in pool])
    limit = float(np.quantile(ms, 0.6))
    picks = near_limit_picks(pool, ms, limit, 5)
    got = np.array([parts_ms(space, a) for a in picks])
    assert len({a.choices for a in picks}) == 5
    assert np.all(got <= limit) and np.all(got >= 0.85 * limit)
    assert got.max() - got.min() > 0.5 * (limit - max(0.85 * limit, ms.min()))  # spread out
    # A band too thin: the slowest within the limit instead.
    fastest = float(ms.min())
    few = near_limit_picks(pool, ms, fastest * 1.0001, 3)
    assert [parts_ms(space, a) for a in few] == [fastest] * len(few) and 1 <= len(few) <= 3
    assert near_limit_picks(pool, ms, fastest / 2, 3) == []


class TableAccuracy(AccuracySource):
    """The stage's supernet accuracies, as recorded."""

    name = "supernet validation top-1 (stand-in)"

    def __init__(self, table):
        self.table = table

    def accuracy(self, arch):
        return self.table[arch.choices]


def fake_search(none_meets: bool):
    """Replace the search: three evaluations, then the real final step on stand-in models."""

    def ask_and_tell(self, problem):
        space = problem.space.full()
        history = stage_history(space, 3)
        model = UnderPredictingModel(space)
        scale = 2.0 if none_meets else 1.0
        target = Target(space, model, scale)
        self._layer_model = model
        self._known = 0
        for e in history:
            self._last_stage.append(problem.record(e, notify=False))
        self._result_accuracy = TableAccuracy({e.arch.choices: e.accuracy for e in history})
        store = type("Store", (), {"keys": lambda self, fp: list(model.whole)})()
        live = {"model": target, "store": store, "target": "onnxruntime", "options": {}}
        self._final(problem, live, None, None, Path(self.workdir))

    return ask_and_tell


def run_main(monkeypatch, capsys, args):
    from hwnas.cli import root

    monkeypatch.setattr(sys, "argv", ["hwnas", *args])
    with pytest.raises(SystemExit) as info:
        root.main()
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


def test_no_candidate_meets_the_limit_exit_1_one_line_results_written(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(Hurricane, "ask_and_tell", fake_search(none_meets=True))
    out = tmp_path / "run"
    space = HurricaneSpace("tiny")
    limit = stage_history(space, 3)[-1].latency_ms * 1.01  # all three predicted in; 2x measured
    args = ["search", "--strategy", "hurricane", "--target", "onnxruntime", "--evals", "3",
            "--latency-ms", f"{limit}", "--out", str(out), "--store", str(tmp_path / "s.db"),
            "--json"]  # fmt: skip
    code, stdout, stderr = run_main(monkeypatch, capsys, args)
    assert code == 1, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert lines[0].startswith("warning:") and "no candidate met the latency limit" in lines[0]
    best = 2.0 * stage_history(space, 3)[0].latency_ms
    assert f"best measured {best:.3f} ms > limit {limit:g} ms" in lines[0]
    report = json.loads((out / "result.json").read_text())
    assert report["unmet"] and report["extra"]["final"]["chosen"] is None
    assert len(report["extra"]["final"]["candidates"]) == 3
    assert report["best"] is None and (out / "front.png").exists()
    assert json.loads(stdout)["extra"]["final"]["candidates"]  # --json output still printed
    assert report["latency_label"] == "predicted by the layer model (onnxruntime)"
    host = report["extra"]["host"]
    assert len(host["loadavg_before"]) == 3 and len(host["loadavg_after"]) == 3
    assert host["wall_seconds"] > 0
    assert set(host["speed_probe"]) >= {"probe_change", "slow_share", "steal_share"}
    assert "host_warning" in host  # None on a steady host, the reason otherwise
    assert any("load average (1/5/15 min)" in line for line in report["summary"])


def test_final_choice_is_kept_when_resumed(tmp_path, space):
    """A resumed run reads final.json instead of ranking and measuring again."""
    h = Hurricane(workdir=str(tmp_path))
    h._layer_model, h._known, h._unmet, h._extra = UnderPredictingModel(space), 0, None, {}
    row = {"arch": "x", "accuracy": 90.0, "predicted_ms": 0.5, "measured_ms": 0.75,
           "recalibrated_ms": 0.75, "round": 1, "within_limit": False}  # fmt: skip
    choice = {"candidates": [row], "chosen": None, "chosen_rank": None, "rounds": 1}
    (tmp_path / "final.json").write_text(json.dumps(choice))

    class Unused:
        def latencies(self, archs):
            raise AssertionError("measured again")

    store = type("Store", (), {"keys": lambda self, fp: []})()
    problem = type("P", (), {"space": space, "latency_limit_ms": 0.6, "history": []})()
    h._final(problem, {"model": Unused(), "store": store, "target": "t"}, None, None, tmp_path)
    assert h._extra["final"]["candidates"] == [row]
    assert "best measured 0.750 ms > limit 0.6 ms" in h._unmet


# -- the front plot says where its numbers come from ------------------------------------


def front_report(sources, latency_label=None):
    front = [
        {"arch": "a", "latency_ms": 0.4, "latency_source": sources[0], "accuracy": 80.0,
         "report_accuracy": 80.0, "index": 0},
        {"arch": "b", "latency_ms": 0.7, "latency_source": sources[-1], "accuracy": 85.0,
         "report_accuracy": 85.0, "index": 1},
    ]  # fmt: skip
    return {
        "strategy": "hurricane", "space": "hurricane", "target": "onnxruntime",
        "target_measurements": 3, "latency_limit_ms": 0.6, "truth": None, "front": front,
        "report_accuracy": "supernet on validation (top-1)",
        "latency_label": latency_label,
    }  # fmt: skip


def legend_texts(fig):
    return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


@pytest.mark.parametrize(
    "source, words",
    [
        ("measured", "measured end to end on onnxruntime"),
        ("predicted", "predicted by a latency model (onnxruntime)"),
        ("layer-sum", "sum of layers measured on onnxruntime"),
    ],
)
def test_plot_labels_come_from_the_latency_source(source, words):
    import matplotlib.pyplot as plt

    from hwnas.cli.search import front_figure

    fig = front_figure(front_report([source]))
    ax = fig.axes[0]
    assert ax.get_xlabel() == f"latency (ms): {words}"
    assert ax.get_ylabel() == "accuracy (%): supernet on validation (top-1)"
    texts = legend_texts(fig)
    assert any(f"latency: {words}" in t and "accuracy: supernet on validation" in t for t in texts)
    assert "latency limit 0.6 ms" in texts
    assert any(t.startswith("over the limit (1; infeasible)") for t in texts)
    vertical = [ln for ln in ax.get_lines() if list(ln.get_xdata()) == [0.6, 0.6]]
    assert vertical, "the limit is a vertical line"
    plt.close(fig)


def test_hurricane_plot_draws_the_measured_winner(space):
    import matplotlib.pyplot as plt

    from hwnas.cli.search import front_figure
    from hwnas.strategy import SearchResult

    history = stage_history(space)
    model = UnderPredictingModel(space)
    top, second = history[-1], history[-2]
    limit = 0.5 * TRUE_SCALE * (top.latency_ms + second.latency_ms)
    choice = choose_final(
        ranked_candidates(history, space, limit), space, model.latencies,
        Target(space, model).latencies,
        lambda: model.calibrate(list(model.whole), list(model.whole.values())).as_dict(),
        limit, k=3,
    )  # fmt: skip
    final = {**choice, "latency_source": "measured end to end on onnxruntime"}
    result = SearchResult("hurricane", [], [], extra={"final": final, "latency_limit_ms": limit})
    label = "predicted by the layer model (onnxruntime)"
    fig = front_figure(front_report(["predicted"], label), lambda ax: Hurricane().plot(result, ax))
    assert fig.axes[0].get_xlabel() == (
        f"latency (ms): {label}\nfinal candidates and winner: measured end to end on onnxruntime"
    )
    texts = legend_texts(fig)
    measured = choice["chosen"]["measured_ms"]
    assert any(
        t.startswith(f"winner: {measured:.3f} ms measured end to end on onnxruntime") for t in texts
    ), texts
    assert any(t.startswith("final candidates over the limit (1;") for t in texts), texts
    star = [ln for ln in fig.axes[0].get_lines() if ln.get_marker() == "*"]
    assert list(star[0].get_xdata()) == [measured]
    assert f"winner {measured:.3f} ms measured end to end" in fig.axes[0].get_title()
    plt.close(fig)


class TableModel:
    """A table-backed layer model: op j of any layer costs 0.01 * (j + 1) ms, plus 0.1 ms."""

    def __init__(self, space):
        self.space = space
        self.choices = [list(p.choices) for p in space.positions]
        width = max(len(c) for c in self.choices)
        self.table = np.tile(0.01 * (np.arange(width) + 1), (len(self.choices), 1))
        self.measured = np.ones_like(self.table, dtype=bool)

    def latencies(self, archs):
        return np.array([0.1 + parts_ms(self.space, a) for a in archs])


def test_a_relative_limit_resolves_on_the_space_range(space):
    from hwnas.plugins.hurricane.strategy import resolve_share
    from hwnas.problem import Problem

    model = TableModel(space)
    problem = Problem(space, model, None, budget=1, latency_limit_share=0.25)
    resolved = resolve_share(problem, model, space)
    widths = [len(p.choices) for p in space.positions]
    fastest, slowest = 0.1 + 0.01 * len(widths), 0.1 + 0.01 * sum(widths)
    assert resolved["fastest_ms"] == pytest.approx(fastest)
    assert resolved["slowest_ms"] == pytest.approx(slowest)
    assert problem.latency_limit_ms == pytest.approx(fastest + 0.25 * (slowest - fastest))
    assert resolved["limit_ms"] == problem.latency_limit_ms
    lines = Hurricane().summary(type("Result", (), {"extra": {"latency_limit": resolved}})())
    assert lines[0].startswith("latency limit 25% of the generated space's range")


class ScaledTableModel(TableModel):
    """A :class:`TableModel` whose overhead the calibration can rescale."""

    scale = 1.0

    def latencies(self, archs):
        return self.scale * super().latencies(archs)


def test_a_relative_limit_is_resolved_again_after_the_limit_calibration(space):
    from hwnas.plugins.hurricane.strategy import resolve_limit
    from hwnas.problem import Problem

    model = ScaledTableModel(space)
    seen = []

    def calibrate():  # the networks near the limit measured 20 % over the model
        seen.append(problem.latency_limit_ms)
        model.scale = 1.2
        return {"archs": ["a"], "overhead": {"kind": "ratio"}}

    problem = Problem(space, model, None, budget=1, latency_limit_share=0.25)
    relative, calibration = resolve_limit(problem, model, space, calibrate)
    first = relative["before_calibration"]
    assert seen == [first["limit_ms"]]  # calibrated near the first resolution
    assert calibration["overhead"]["kind"] == "ratio"
    assert relative["limit_ms"] == pytest.approx(1.2 * first["limit_ms"])
    assert problem.latency_limit_ms == relative["limit_ms"]
    line = Hurricane().summary(type("Result", (), {"extra": {"latency_limit": relative}})())[0]
    assert line.endswith(f"(before the limit calibration: {first['limit_ms']:.3f} ms)")

    model.scale = 1.0  # an absolute limit stays as given; no calibration, no second resolution
    problem = Problem(space, model, None, budget=1, latency_limit_ms=0.3)
    assert resolve_limit(problem, model, space, calibrate) == (None, calibration)
    assert problem.latency_limit_ms == 0.3
    problem = Problem(space, model, None, budget=1, latency_limit_share=0.25)
    relative, calibration = resolve_limit(problem, model, space, lambda: None)
    assert calibration is None and "before_calibration" not in relative
