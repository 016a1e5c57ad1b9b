"""Reading ``/proc``: process status, start times (to tell a reused pid apart) and groups."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` this runtime uses."""

    pid: int
    state: str  # R, S, D, Z, X, …
    ppid: int
    pgrp: int
    session: int
    cpu_ticks: int  # utime + stime + cutime + cstime
    start_time: int  # clock ticks after boot (field 22)
    rss_pages: int

    @property
    def alive(self) -> bool:
        """Running (or sleeping), not a zombie waiting to be reaped."""
        return self.state not in ("Z", "X", "x")


def parse_stat(pid: int, text: str) -> ProcStat:
    # The command name (field 2) is in parentheses and may hold spaces or ')'.
    rest = text[text.rindex(")") + 2 :].split()
    return ProcStat(
        pid=pid,
        state=rest[0],
        ppid=int(rest[1]),
        pgrp=int(rest[2]),
        session=int(rest[3]),
        cpu_ticks=sum(int(value) for value in rest[11:15]),
        start_time=int(rest[19]),
        rss_pages=int(rest[21]),
    )


def read_stat(pid: int) -> ProcStat | None:
    """The stat of ``pid``, or None if there is no such process."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return None
    try:
        return parse_stat(pid, text)
    except (ValueError, IndexError):
        return None


def caught_signals(pid: int) -> int | None:
    """The mask of signals ``pid`` has handlers for (``SigCgt``), or None if it is gone."""
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("SigCgt:"):
                return int(line.split()[1], 16)
    except (OSError, ValueError):
        return None
    return None


def all_stats() -> list[ProcStat]:
    """Every process there is now."""
    stats = []
    for entry in os.listdir(PROC):
        if entry.isdigit():
            stat = read_stat(int(entry))
            if stat is not None:
                stats.append(stat)
    return stats


def group_members(pgids: Iterable[int], stats: list[ProcStat] | None = None) -> list[ProcStat]:
    """The live (non-zombie) processes whose process group is one of ``pgids``."""
    wanted = set(pgids)
    if not wanted:
        return []
    return [s for s in (all_stats() if stats is None else stats) if s.pgrp in wanted and s.alive]
