"""The host speed probe: /proc/stat parsing, probe output and when a run is not quotable."""

from __future__ import annotations

from hwnas.host_speed import HostSample, compare, cpu_jiffies, probe, summarise, warning


def _sample(probe_ms=10.0, slow=0.0, steal=100, total=10_000, when=0.0):
    return HostSample(when, probe_ms, slow, steal, total, (0.1, 0.1, 0.1))


def test_cpu_jiffies_reads_steal_and_total(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 50 800 10 0 5 35 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n")
    assert cpu_jiffies(stat) == (35, 1000)
    assert cpu_jiffies(tmp_path / "missing") == (None, None)
    (tmp_path / "odd").write_text("intr 1 2 3\n")
    assert cpu_jiffies(tmp_path / "odd") == (None, None)


def test_probe_gives_a_positive_time_and_a_share():
    fastest, slow = probe(seconds=0.2)
    assert fastest > 0 and 0.0 <= slow <= 1.0


def test_a_steady_host_passes():
    change = compare(_sample(), _sample(probe_ms=10.2, steal=110, total=20_000, when=60.0))
    assert abs(change["probe_change"] - 0.02) < 1e-9 and change["steal_share"] == 0.001
    assert warning(change) is None


def test_speed_change_slow_runs_and_steal_are_each_reported():
    slower = compare(_sample(), _sample(probe_ms=13.0))
    assert "speed probe changed by +30 %" in warning(slower)
    jumpy = compare(_sample(slow=0.3), _sample())
    assert "30 % of the probe's runs" in warning(jumpy)
    stolen = compare(_sample(), _sample(steal=600, total=20_000))
    assert "5.0 % of CPU time was stolen" in warning(stolen)


def test_no_proc_stat_means_no_steal_figure():
    change = compare(_sample(steal=None, total=None), _sample(steal=None, total=None))
    assert change["steal_share"] is None and warning(change) is None


def test_summary_sees_a_change_in_the_middle_of_a_run():
    report = summarise([_sample(), _sample(probe_ms=12.0, when=30.0), _sample(when=60.0)])
    assert abs(report["overall"]["probe_change"] - 0.2) < 1e-9
    assert "+20 %" in report["warning"] and len(report["samples"]) == 3
    assert summarise([_sample(), _sample(when=5.0)])["warning"] is None
