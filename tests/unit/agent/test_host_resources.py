from __future__ import annotations

import os
from pathlib import Path

import pytest

from cygnet.agent.resources import (
    CpuTimes,
    HostSampler,
    cpu_percent,
    detect_cores,
    detect_memory,
    disk_space,
    parse_cpuset,
    parse_meminfo,
    parse_memory_limit,
    parse_proc_stat,
)

GiB = 2**30

MEMINFO = """\
MemTotal:       32768000 kB
MemFree:         1024000 kB
MemAvailable:   16384000 kB
Buffers:          123456 kB
HugePages_Total:       0
"""

PROC_STAT = """\
cpu  100 10 50 800 40 0 0 0 5 0
cpu0 50 5 25 400 20 0 0 0 5 0
cpu1 50 5 25 400 20 0 0 0 0 0
intr 12345 0 0
ctxt 999
"""

PROC_STAT_LATER = """\
cpu  250 10 100 1000 40 0 0 0 5 0
cpu0 125 5 50 500 20 0 0 0 5 0
cpu1 125 5 50 500 20 0 0 0 0 0
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0-3,6", [0, 1, 2, 3, 6]),
        ("5", [5]),
        ("0-1, 8-9\n", [0, 1, 8, 9]),
        ("3,1-2,2", [1, 2, 3]),
        ("", []),
        ("\n", []),
    ],
)
def test_parse_cpuset(text: str, expected: list[int]) -> None:
    assert parse_cpuset(text) == expected


@pytest.mark.parametrize("text", ["a-b", "3-1", "1-", "-1"])
def test_parse_cpuset_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        parse_cpuset(text)


def test_parse_meminfo() -> None:
    info = parse_meminfo(MEMINFO)
    assert info["MemTotal"] == 32768000 * 1024
    assert info["MemAvailable"] == 16384000 * 1024
    assert info["HugePages_Total"] == 0


def test_parse_memory_limit() -> None:
    assert parse_memory_limit("max\n") is None
    assert parse_memory_limit("9223372036854771712\n") is None  # cgroup v1 "unlimited"
    assert parse_memory_limit("4294967296\n") == 4 * GiB
    with pytest.raises(ValueError):
        parse_memory_limit("lots")


def test_parse_proc_stat_and_cpu_percent() -> None:
    before = parse_proc_stat(PROC_STAT)
    assert before == CpuTimes(busy=160, total=1000, cores=2)
    after = parse_proc_stat(PROC_STAT_LATER)
    assert after == CpuTimes(busy=360, total=1400, cores=2)
    # 200 busy ticks of 400 on 2 cores: half of the machine, 100 % in top's terms
    assert cpu_percent(before, after) == pytest.approx(100.0)
    assert cpu_percent(after, after) == 0.0
    with pytest.raises(ValueError):
        parse_proc_stat("intr 1 2 3")


def write(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_detect_cores_on_this_host(tmp_path: Path) -> None:
    affinity = sorted(os.sched_getaffinity(0))
    cores = detect_cores()
    assert cores and set(cores) <= set(affinity)
    assert detect_cores(tmp_path) == affinity  # no cgroup files: the affinity
    write(tmp_path / "v2", "cpuset.cpus.effective", f"{affinity[0]}\n")
    assert detect_cores(tmp_path / "v2") == [affinity[0]]
    write(tmp_path / "v1", "cpuset/cpuset.effective_cpus", f"{affinity[-1]}\n")
    assert detect_cores(tmp_path / "v1") == [affinity[-1]]
    write(tmp_path / "bad", "cpuset.cpus.effective", "100000-100001\n")  # disjoint: ignored
    assert detect_cores(tmp_path / "bad") == affinity


def test_detect_memory_on_this_host() -> None:
    total = parse_meminfo(Path("/proc/meminfo").read_text())["MemTotal"]
    assert 0 < detect_memory() <= total


def test_detect_memory_respects_cgroup_limits(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    write(proc, "meminfo", MEMINFO)
    full = 32768000 * 1024
    assert detect_memory(proc, tmp_path / "none") == full
    write(tmp_path / "v2", "memory.max", "max\n")
    assert detect_memory(proc, tmp_path / "v2") == full
    write(tmp_path / "v2l", "memory.max", f"{4 * GiB}\n")
    assert detect_memory(proc, tmp_path / "v2l") == 4 * GiB
    write(tmp_path / "v1", "memory/memory.limit_in_bytes", "9223372036854771712\n")
    assert detect_memory(proc, tmp_path / "v1") == full
    write(tmp_path / "v1l", "memory/memory.limit_in_bytes", f"{2 * GiB}\n")
    assert detect_memory(proc, tmp_path / "v1l") == 2 * GiB
    write(tmp_path / "big", "memory.max", f"{64 * GiB}\n")
    assert detect_memory(proc, tmp_path / "big") == full


def test_disk_space(tmp_path: Path) -> None:
    total, used = disk_space(tmp_path)
    assert 0 < used <= total


def test_host_sampler_measures_between_samples(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    write(proc, "meminfo", MEMINFO)
    write(proc, "stat", PROC_STAT)
    sampler = HostSampler(proc)
    first = sampler.sample(kernels=3, disk_path=tmp_path)
    assert first.cpu_percent == 0.0
    assert first.kernels == 3
    assert first.mem_total == 32768000 * 1024
    assert first.mem_used == (32768000 - 16384000) * 1024
    assert 0 < first.disk_used <= first.disk_total
    write(proc, "stat", PROC_STAT_LATER)
    assert sampler.sample(kernels=0, disk_path=tmp_path).cpu_percent == pytest.approx(100.0)


def test_host_sampler_on_this_host(tmp_path: Path) -> None:
    sampler = HostSampler()
    sampler.sample(0, tmp_path)
    sum(range(200_000))
    stat = sampler.sample(1, tmp_path)
    assert 0.0 <= stat.cpu_percent <= 100.0 * (os.cpu_count() or 1)
    assert 0 < stat.mem_used < stat.mem_total
