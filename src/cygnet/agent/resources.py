"""What this Linux host offers: usable CPU cores, memory, disk, and live usage samples.

Parsing is kept in pure functions over text; the rest reads ``/proc`` and the cgroup files
(both v2 and v1 layouts), so the agent reports the limits of the container it runs in.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from cygnet.common.rpc import LiveStat

PROC = Path("/proc")
CGROUP = Path("/sys/fs/cgroup")
_CPUSET_FILES = ("cpuset.cpus.effective", "cpuset/cpuset.effective_cpus", "cpuset/cpuset.cpus")
_MEMORY_LIMIT_FILES = ("memory.max", "memory/memory.limit_in_bytes")
_NO_LIMIT = 1 << 60  # v1 reports "unlimited" as a page-rounded 2**63 - 1


def parse_cpuset(text: str) -> list[int]:
    """``"0-3,6"`` -> ``[0, 1, 2, 3, 6]`` (sorted, unique; empty text -> [])."""
    cores: set[int] = set()
    for part in text.strip().split(","):
        part = part.strip()
        if not part:
            continue
        first, sep, last = part.partition("-")
        try:
            low = int(first)
            high = int(last) if sep else low
        except ValueError:
            raise ValueError(f"invalid cpuset: {text!r}") from None
        if low < 0 or high < low:
            raise ValueError(f"invalid cpuset range {part!r}")
        cores.update(range(low, high + 1))
    return sorted(cores)


def parse_meminfo(text: str) -> dict[str, int]:
    """``/proc/meminfo`` as bytes per field (``MemTotal``, ``MemAvailable`` …)."""
    fields: dict[str, int] = {}
    for line in text.splitlines():
        name, sep, rest = line.partition(":")
        parts = rest.split()
        if not sep or not parts:
            continue
        try:
            value = int(parts[0])
        except ValueError:
            continue
        unit = parts[1].lower() if len(parts) > 1 else ""
        fields[name.strip()] = value * 1024 if unit == "kb" else value
    return fields


def parse_memory_limit(text: str) -> int | None:
    """A cgroup memory limit (v2 ``memory.max`` / v1 ``limit_in_bytes``); None when unlimited."""
    value = text.strip()
    if value == "max" or not value:
        return None
    limit = int(value)
    return limit if 0 < limit < _NO_LIMIT else None


@dataclass(frozen=True, slots=True)
class CpuTimes:
    """Aggregate CPU time from ``/proc/stat``, in clock ticks."""

    busy: int
    total: int
    cores: int  # online CPUs listed (cpuN lines)


def parse_proc_stat(text: str) -> CpuTimes:
    """The aggregate ``cpu`` line of ``/proc/stat`` (idle and iowait count as idle)."""
    busy = total = cores = 0
    found = False
    for line in text.splitlines():
        if line.startswith("cpu "):
            # user nice system idle iowait irq softirq steal [guest guest_nice]: guest time
            # is already part of user/nice
            ticks = [int(x) for x in line.split()[1:9]]
            total = sum(ticks)
            idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
            busy = total - idle
            found = True
        elif line.startswith("cpu") and line[3:4].isdigit():
            cores += 1
    if not found:
        raise ValueError("no aggregate cpu line in /proc/stat")
    return CpuTimes(busy=busy, total=total, cores=cores)


def cpu_percent(before: CpuTimes, after: CpuTimes) -> float:
    """Node CPU use between two samples, 0-100 per core (like ``top``)."""
    elapsed = after.total - before.total
    if elapsed <= 0:
        return 0.0
    busy = min(max(after.busy - before.busy, 0), elapsed)
    return 100.0 * busy / elapsed * max(after.cores, 1)


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def detect_cores(cgroup_root: Path = CGROUP) -> list[int]:
    """The cores this process may run on: its affinity, narrowed by the cgroup cpuset."""
    cores = set(os.sched_getaffinity(0))
    for name in _CPUSET_FILES:
        text = _read(cgroup_root / name)
        if text is None or not text.strip():
            continue
        try:
            allowed = set(parse_cpuset(text))
        except ValueError:
            continue
        if cores & allowed:
            cores &= allowed
        break
    return sorted(cores)


def detect_memory(proc_root: Path = PROC, cgroup_root: Path = CGROUP) -> int:
    """Physical memory in bytes, capped by the cgroup memory limit when there is one."""
    text = _read(proc_root / "meminfo")
    total = parse_meminfo(text).get("MemTotal", 0) if text is not None else 0
    for name in _MEMORY_LIMIT_FILES:
        limit_text = _read(cgroup_root / name)
        if limit_text is None:
            continue
        try:
            limit = parse_memory_limit(limit_text)
        except ValueError:
            continue
        if limit is not None:
            total = min(total, limit) if total else limit
        break
    return total


def disk_space(path: Path | str) -> tuple[int, int]:
    """(total, used) bytes of the file system holding ``path``."""
    usage = shutil.disk_usage(path)
    return usage.total, usage.used


class HostSampler:
    """Live node statistics; CPU use is measured between consecutive ``sample`` calls."""

    def __init__(self, proc_root: Path = PROC) -> None:
        self._proc = proc_root
        self._last: CpuTimes | None = None

    def sample(self, kernels: int, disk_path: Path) -> LiveStat:
        """A snapshot; the first call reports 0 % CPU (there is nothing to compare with yet)."""
        percent = 0.0
        stat = _read(self._proc / "stat")
        if stat is not None:
            now = parse_proc_stat(stat)
            if self._last is not None:
                percent = cpu_percent(self._last, now)
            self._last = now
        meminfo = parse_meminfo(_read(self._proc / "meminfo") or "")
        mem_total = meminfo.get("MemTotal", 0)
        mem_available = meminfo.get("MemAvailable", meminfo.get("MemFree", 0))
        disk_total, disk_used = disk_space(disk_path)
        return LiveStat(
            cpu_percent=round(percent, 2),
            mem_used=max(mem_total - mem_available, 0),
            mem_total=mem_total,
            disk_used=disk_used,
            disk_total=disk_total,
            kernels=kernels,
        )
