"""Per-kernel cgroups, v1 or v2, made with plain file writes under the cgroup mounts.

v2: one directory ``<mount>/<root>/<kernel>``; the controllers wanted (memory, cpu, cpuset,
pids) are enabled in the parents' ``cgroup.subtree_control`` where the host allows it.
v1 (or hybrid hosts, where the v1 hierarchies hold the controllers): one directory per
hierarchy, ``<mount of controller>/<root>/<kernel>``; cpuset directories get ``cpus`` and
``mems`` copied from their parent, as v1 requires.

A controller that cannot be set up is left out rather than failing the kernel: the caller falls
back to rlimits / CPU affinity for what is missing. ``KernelCgroup`` is what gets recorded in
the kernel's state blob.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger(__name__)

MOUNTINFO = Path("/proc/self/mountinfo")
V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "cpuset", "pids")
V2_CONTROLLERS = ("memory", "cpu", "cpuset", "pids")
UNIFIED = "unified"  # key of the v2 directory itself in ``KernelCgroup.dirs``
CFS_PERIOD_US = 100_000


@dataclass(frozen=True, slots=True)
class CgroupLayout:
    """Where the host mounts its cgroups: v1 controller -> mount point, or the v2 mount."""

    version: Literal[1, 2]
    mounts: Mapping[str, Path]  # v1: controller -> mount; v2: {UNIFIED: mount}


@dataclass(frozen=True, slots=True)
class CgroupLimits:
    memory: int  # bytes; 0: no limit
    cpus: Decimal  # cores; 0: no quota
    cpuset: tuple[int, ...]  # (): the parent's cpus
    pids: int  # 0: no limit


@dataclass(frozen=True, slots=True)
class KernelCgroup:
    """One kernel's cgroup directories: controller -> directory (v2: all the same one)."""

    version: Literal[1, 2]
    dirs: dict[str, str] = field(default_factory=dict)

    def has(self, controller: str) -> bool:
        return controller in self.dirs

    def unique_dirs(self) -> list[Path]:
        return [Path(d) for d in sorted(set(self.dirs.values()))]

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "dirs": dict(self.dirs)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> KernelCgroup | None:
        if not data:
            return None
        version: Literal[1, 2] = 2 if int(data["version"]) == 2 else 1
        return cls(version=version, dirs={str(k): str(v) for k, v in data["dirs"].items()})


def _unescape(path: str) -> str:
    """Undo the octal escapes (``\\040`` for a space) of ``/proc/self/mountinfo``."""
    out, i = [], 0
    while i < len(path):
        if path[i] == "\\" and i + 4 <= len(path) and path[i + 1 : i + 4].isdigit():
            out.append(chr(int(path[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(path[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> CgroupLayout | None:
    """The cgroup layout described by a ``mountinfo`` text (v1 wins on hybrid hosts)."""
    v1: dict[str, Path] = {}
    v2: Path | None = None
    for line in text.splitlines():
        parts = line.split()
        if "-" not in parts:
            continue
        sep = parts.index("-")
        if len(parts) < sep + 4 or len(parts) < 5:
            continue
        fstype, mountpoint = parts[sep + 1], Path(_unescape(parts[4]))
        if fstype == "cgroup":
            for option in parts[sep + 3].split(","):
                if option in V1_CONTROLLERS:
                    v1.setdefault(option, mountpoint)
        elif fstype == "cgroup2" and (v2 is None or str(mountpoint) == "/sys/fs/cgroup"):
            v2 = mountpoint
    if v1:
        return CgroupLayout(version=1, mounts=v1)
    if v2 is not None:
        return CgroupLayout(version=2, mounts={UNIFIED: v2})
    return None


def detect_layout() -> CgroupLayout | None:
    """This host's cgroup layout, or None without cgroups."""
    try:
        return parse_mountinfo(MOUNTINFO.read_text())
    except OSError:
        return None


def _read(path: Path) -> str:
    return path.read_text().strip()


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _cpuset_text(cpus: tuple[int, ...]) -> str:
    return ",".join(str(c) for c in sorted(set(cpus)))


def _init_v1_cpuset(directory: Path, parent: Path) -> None:
    """v1 cpuset directories start empty; a task can join only once cpus and mems are set."""
    for name in ("cpuset.cpus", "cpuset.mems"):
        if not _read(directory / name):
            _write(directory / name, _read(parent / name))


def _mkdir(path: Path) -> None:
    with contextlib.suppress(FileExistsError):
        path.mkdir()


def _apply_limit(directory: Path, controller: str, limits: CgroupLimits, v2: bool) -> None:
    if controller == "memory" and limits.memory > 0:
        if v2:
            _write(directory / "memory.max", str(limits.memory))
            with contextlib.suppress(OSError):  # no swap accounting: nothing to limit
                _write(directory / "memory.swap.max", "0")
        else:
            _write(directory / "memory.limit_in_bytes", str(limits.memory))
            with contextlib.suppress(OSError):
                _write(directory / "memory.memsw.limit_in_bytes", str(limits.memory))
    elif controller == "cpu" and limits.cpus > 0:
        quota = max(1000, int(limits.cpus * CFS_PERIOD_US))
        if v2:
            _write(directory / "cpu.max", f"{quota} {CFS_PERIOD_US}")
        else:
            _write(directory / "cpu.cfs_period_us", str(CFS_PERIOD_US))
            _write(directory / "cpu.cfs_quota_us", str(quota))
    elif controller == "cpuset":
        if v2:
            if limits.cpuset:
                _write(directory / "cpuset.cpus", _cpuset_text(limits.cpuset))
        else:
            parent = directory.parent
            cpus = _cpuset_text(limits.cpuset) if limits.cpuset else _read(parent / "cpuset.cpus")
            _write(directory / "cpuset.cpus", cpus)
            _write(directory / "cpuset.mems", _read(parent / "cpuset.mems"))
    elif controller == "pids" and limits.pids > 0:
        _write(directory / "pids.max", str(limits.pids))


def _create_v1(layout: CgroupLayout, root: str, name: str, limits: CgroupLimits) -> KernelCgroup:
    by_mount: dict[Path, list[str]] = {}
    for controller, mount in layout.mounts.items():
        by_mount.setdefault(mount, []).append(controller)
    dirs: dict[str, str] = {}
    for mount, controllers in sorted(by_mount.items()):
        directory = mount / root / name
        try:
            _mkdir(mount / root)
            if "cpuset" in controllers:
                _init_v1_cpuset(mount / root, mount)
            _mkdir(directory)
        except OSError as e:
            log.debug("no v1 cgroup under %s: %s", mount, e)
            continue
        for controller in controllers:
            try:
                _apply_limit(directory, controller, limits, v2=False)
            except OSError as e:
                log.warning("cgroup %s: cannot set %s limits: %s", directory, controller, e)
                continue
            dirs[controller] = str(directory)
        if str(directory) not in dirs.values():
            _rmdir_quietly(directory)
    return KernelCgroup(version=1, dirs=dirs)


def _enable_controllers(directory: Path) -> None:
    """Enable what we want of ``directory``'s controllers for its children, one at a time."""
    available = set(_read(directory / "cgroup.controllers").split())
    enabled = set(_read(directory / "cgroup.subtree_control").split())
    for controller in V2_CONTROLLERS:
        if controller in available and controller not in enabled:
            try:
                _write(directory / "cgroup.subtree_control", f"+{controller}")
            except OSError as e:  # e.g. EBUSY: the namespace root holds processes
                log.debug("cannot enable %s in %s: %s", controller, directory, e)


def _create_v2(layout: CgroupLayout, root: str, name: str, limits: CgroupLimits) -> KernelCgroup:
    mount = layout.mounts[UNIFIED]
    parent, directory = mount / root, mount / root / name
    try:
        _enable_controllers(mount)
        _mkdir(parent)
        _enable_controllers(parent)
        _mkdir(directory)
        controllers = set(_read(directory / "cgroup.controllers").split())
    except OSError as e:
        log.debug("no v2 cgroup under %s: %s", mount, e)
        return KernelCgroup(version=2)
    dirs = {UNIFIED: str(directory)}
    for controller in V2_CONTROLLERS:
        if controller not in controllers:
            continue
        try:
            _apply_limit(directory, controller, limits, v2=True)
        except OSError as e:
            log.warning("cgroup %s: cannot set %s limits: %s", directory, controller, e)
            continue
        dirs[controller] = str(directory)
    return KernelCgroup(version=2, dirs=dirs)


def create(layout: CgroupLayout, root: str, name: str, limits: CgroupLimits) -> KernelCgroup:
    """Make the kernel's cgroups with their limits; what could not be made is left out."""
    if layout.version == 2:
        return _create_v2(layout, root, name, limits)
    return _create_v1(layout, root, name, limits)


def place(cgroup: KernelCgroup, pid: int, *, strict: bool = False) -> KernelCgroup:
    """Move ``pid`` into every directory of ``cgroup``. A directory that refuses it is dropped
    (and removed) unless ``strict``, where the error is raised instead."""
    dirs = dict(cgroup.dirs)
    for directory in cgroup.unique_dirs():
        try:
            _write(directory / "cgroup.procs", str(pid))
        except OSError as e:
            if strict:
                raise
            log.warning("cannot move pid %d into %s: %s", pid, directory, e)
            dirs = {c: d for c, d in dirs.items() if d != str(directory)}
            _rmdir_quietly(directory)
    if cgroup.version == 2 and UNIFIED not in dirs:
        dirs = {}
    return KernelCgroup(version=cgroup.version, dirs=dirs)


def pids(cgroup: KernelCgroup) -> set[int]:
    """Every process in the kernel's cgroups now."""
    found: set[int] = set()
    for directory in cgroup.unique_dirs():
        try:
            found.update(int(line) for line in _read(directory / "cgroup.procs").split())
        except (OSError, ValueError):
            continue
    return found


def _signal_dirs(directories: list[Path], sig: int) -> None:
    members: set[int] = set()
    for directory in directories:
        if sig == signal.SIGKILL and (directory / "cgroup.kill").exists():  # v2, Linux >= 5.14
            with contextlib.suppress(OSError):
                _write(directory / "cgroup.kill", "1")
        with contextlib.suppress(OSError, ValueError):
            members.update(int(line) for line in _read(directory / "cgroup.procs").split())
    for pid in members:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def kill(cgroup: KernelCgroup, sig: int) -> None:
    """Send ``sig`` to every process in the kernel's cgroups (v2 ``cgroup.kill`` for SIGKILL)."""
    _signal_dirs(cgroup.unique_dirs(), sig)


def _stat_field(path: Path, key: str) -> int | None:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        return None
    return None


def cpu_seconds(cgroup: KernelCgroup) -> float | None:
    """CPU time used by the kernel's cgroup, if the host accounts it."""
    try:
        if cgroup.version == 2 and UNIFIED in cgroup.dirs:
            usec = _stat_field(Path(cgroup.dirs[UNIFIED]) / "cpu.stat", "usage_usec")
            return None if usec is None else usec / 1e6
        if cgroup.version == 1 and "cpuacct" in cgroup.dirs:
            return int(_read(Path(cgroup.dirs["cpuacct"]) / "cpuacct.usage")) / 1e9
    except (OSError, ValueError):
        return None
    return None


def memory_bytes(cgroup: KernelCgroup) -> int | None:
    """Memory in use by the kernel's cgroup, less inactive file cache (as ``docker stats``)."""
    if "memory" not in cgroup.dirs:
        return None
    directory = Path(cgroup.dirs["memory"])
    try:
        if cgroup.version == 2:
            usage = int(_read(directory / "memory.current"))
            inactive = _stat_field(directory / "memory.stat", "inactive_file") or 0
        else:
            usage = int(_read(directory / "memory.usage_in_bytes"))
            inactive = _stat_field(directory / "memory.stat", "total_inactive_file") or 0
    except (OSError, ValueError):
        return None
    return max(0, usage - inactive)


def _rmdir_quietly(directory: Path) -> None:
    with contextlib.suppress(OSError):
        directory.rmdir()


async def remove(cgroup: KernelCgroup, grace: float = 5.0) -> bool:
    """Remove the kernel's cgroup directories, killing stragglers and retrying while the
    kernel still holds them (EBUSY). True once all are gone."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    remaining = cgroup.unique_dirs()
    failed = False
    while remaining:
        busy = []
        for directory in remaining:
            try:
                directory.rmdir()
            except FileNotFoundError:
                continue
            except OSError as e:
                if e.errno != errno.EBUSY:
                    log.warning("cannot remove cgroup %s: %s", directory, e)
                    failed = True
                    continue
                busy.append(directory)
        remaining = busy
        if not remaining:
            break
        if loop.time() >= deadline:
            log.warning("cgroups still busy after %.1fs: %s", grace, remaining)
            return False
        _signal_dirs(remaining, signal.SIGKILL)
        await asyncio.sleep(0.02)
    return not failed
