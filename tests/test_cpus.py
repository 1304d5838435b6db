"""hwnas.cpus: the CPUs a process may use (affinity mask and cgroup quota), torch threads;
hwnas.target.describe_cpu: the CPU line of target fingerprints."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwnas import cpus
from hwnas.target import describe_cpu


@pytest.fixture
def eight_cores(monkeypatch, tmp_path):
    """An affinity mask of 8 CPUs and no /proc/self/cgroup entry to follow."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    monkeypatch.setattr(cpus, "_own_cgroup_v2", lambda root: [root])
    return tmp_path


def write(root, name, text):
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def test_no_cgroup_files_the_affinity_mask_counts(eight_cores):
    assert cpus.quota_cpus(eight_cores) is None
    assert cpus.available_cpus(eight_cores) == 8


@pytest.mark.parametrize(
    "text, expected", [("max 100000", 8), ("200000 100000", 2), ("150000 100000", 2),
                       ("50000 100000", 1), ("1600000 100000", 8)],
)  # fmt: skip
def test_cgroup_v2_cpu_max(eight_cores, text, expected):
    write(eight_cores, "cpu.max", text)
    assert cpus.available_cpus(eight_cores) == expected


@pytest.mark.parametrize(
    "quota, period, expected", [("-1", "100000", 8), ("300000", "100000", 3), ("25000", "50000", 1)]
)
def test_cgroup_v1_cfs_quota(eight_cores, quota, period, expected):
    write(eight_cores, "cpu/cpu.cfs_quota_us", quota)
    write(eight_cores, "cpu/cpu.cfs_period_us", period)
    assert cpus.available_cpus(eight_cores) == expected


def test_affinity_smaller_than_the_quota(monkeypatch, eight_cores):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3}, raising=False)
    write(eight_cores, "cpu.max", "400000 100000")
    assert cpus.available_cpus(eight_cores) == 1


def test_own_cgroup_v2_folder_is_read_first(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    write(tmp_path, "cpu.max", "max 100000")
    write(tmp_path, "job/cpu.max", "300000 100000")
    real_read = cpus._read
    monkeypatch.setattr(
        cpus,
        "_read",
        lambda path: "0::/job" if str(path) == "/proc/self/cgroup" else real_read(path),
    )
    assert cpus.available_cpus(tmp_path) == 3


def test_training_threads_never_exceed_the_available_cpus(monkeypatch):
    monkeypatch.setattr(cpus, "available_cpus", lambda root=None: 4)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert cpus.training_threads() == 4
    assert cpus.training_threads(2) == 2
    assert cpus.training_threads(64) == 4
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")  # two ranks on this node share the CPUs
    assert cpus.training_threads() == 2
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")
    assert cpus.training_threads() == 1


def test_set_torch_threads(monkeypatch):
    import torch

    before = torch.get_num_threads()
    monkeypatch.setattr(cpus, "available_cpus", lambda root=None: 1)
    try:
        assert cpus.set_torch_threads() == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
stepping\t: 1
flags\t\t: fpu sse sse2 avx avx2 fma {extra}

processor\t: 1
model name\t: something else
"""
NON_ISA = st.lists(
    st.sampled_from(["hypervisor", "tsc_known_freq", "rdpid", "constant_tsc", "x2apic", "umip"]),
    max_size=6,
)


@given(NON_ISA, NON_ISA)
def test_cpu_description_ignores_flags_outside_the_instruction_set(first, second):
    a = describe_cpu(CPUINFO.format(extra=" ".join(first)))
    b = describe_cpu(CPUINFO.format(extra=" ".join(second)))
    assert a == b
    assert a.startswith("AMD EPYC (family 25 model 17 stepping 1, isa ")


@given(st.sampled_from(["avx512f", "avx512_bf16", "amx_tile", "sha_ni", "vaes", "f16c"]), NON_ISA)
def test_cpu_description_tells_instruction_sets_apart(isa_flag, noise):
    plain = describe_cpu(CPUINFO.format(extra=" ".join(noise)))
    assert describe_cpu(CPUINFO.format(extra=" ".join([isa_flag, *noise]))) != plain


def test_cpu_description_is_empty_without_a_model_name():
    assert describe_cpu("processor\t: 0\nflags\t: sse avx\n") == ""
    assert describe_cpu("") == ""
