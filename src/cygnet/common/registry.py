"""Plugins by name from entry-point groups (``cygnet.runtimes``, ``cygnet.accelerators``,
``cygnet.scheduler_plugins``, ``cygnet.volumes``), imported only when first asked for."""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any


@cache
def _group(group: str) -> dict[str, EntryPoint]:
    # Scanning the installed distributions is slow (it reads every package's metadata), and
    # the set does not change while the process runs: scan each group once.
    return {ep.name: ep for ep in entry_points(group=group)}


def plugin_names(group: str) -> list[str]:
    """The names registered in ``group``, sorted."""
    return sorted(_group(group))


def load_plugin(group: str, name: str, base: type, what: str = "plugin") -> Any:
    """The class registered as ``name`` in ``group``; it must subclass ``base`` (callers
    annotate the result, e.g. ``type[Runtime]``: abstract bases cannot be a ``type[T]``).
    An unknown name raises ``ValueError`` listing the available ones."""
    found = _group(group)
    if name not in found:
        names = ", ".join(sorted(found)) or "none"
        raise ValueError(f"unknown {what} {name!r} (available: {names})")
    cls = found[name].load()
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise TypeError(f"entry point {name!r} in {group} is not a {base.__name__}: {cls!r}")
    return cls
