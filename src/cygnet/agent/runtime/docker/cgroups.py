"""Kernel CPU and memory use read straight from the container's cgroup files.

The Engine's one-shot stats call waits for its collector's next tick (up to a second); the
cgroup files answer in microseconds. Works for cgroup v1 (cpuacct, memory controllers) and
v2 (unified), any cgroup driver: the paths come from ``/proc/<pid>/cgroup`` and the mount
table. Returns None when the files cannot be read (e.g. the Engine runs on another host).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class CgroupUsage:
    cpu_seconds: float
    memory: int


def _mounts() -> tuple[dict[str, tuple[str, str]], tuple[str, str] | None]:
    """v1 controller -> (mount root, mount point), and the v2 (root, mount point)."""
    v1: dict[str, tuple[str, str]] = {}
    v2: tuple[str, str] | None = None
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        root, point, fstype = fields[3], fields[4], tail[0]
        if fstype == "cgroup2":
            v2 = (root, point)
        elif fstype == "cgroup":
            for option in tail[2].split(","):
                v1.setdefault(option, (root, point))
    return v1, v2


def _join(mount: tuple[str, str], path: str) -> Path:
    root, point = mount
    if root != "/" and path.startswith(root):
        path = path[len(root) :]
    return Path(point) / path.lstrip("/")


def _stat_value(text: str, key: str) -> int:
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    return 0


def read_usage(pid: int) -> CgroupUsage | None:
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        v1_mounts, v2_mount = _mounts()
        v1_paths: dict[str, str] = {}
        v2_path: str | None = None
        for line in lines:
            hierarchy, controllers, path = line.split(":", 2)
            if hierarchy == "0" and not controllers:
                v2_path = path
            for controller in controllers.split(","):
                v1_paths[controller] = path
        if "cpuacct" in v1_paths and "memory" in v1_paths:
            cpu_dir = _join(v1_mounts["cpuacct"], v1_paths["cpuacct"])
            mem_dir = _join(v1_mounts["memory"], v1_paths["memory"])
            cpu_ns = int((cpu_dir / "cpuacct.usage").read_text())
            used = int((mem_dir / "memory.usage_in_bytes").read_text())
            inactive = _stat_value((mem_dir / "memory.stat").read_text(), "total_inactive_file")
            return CgroupUsage(cpu_ns / 1e9, max(used - inactive, 0))
        if v2_path is not None and v2_mount is not None:
            group = _join(v2_mount, v2_path)
            cpu_us = _stat_value((group / "cpu.stat").read_text(), "usage_usec")
            used = int((group / "memory.current").read_text())
            inactive = _stat_value((group / "memory.stat").read_text(), "inactive_file")
            return CgroupUsage(cpu_us / 1e6, max(used - inactive, 0))
    except (OSError, ValueError, KeyError):
        return None
    return None
