"""Scheduler plugins by name, and the ``Profile`` a resource group schedules with.

Plugins are classes registered in the entry-point group ``cygnet.scheduler_plugins`` (the
built-ins are listed in ``pyproject.toml`` and, as a fallback for a source checkout that was
not installed, in ``BUILTIN``). A class is imported only when a profile asks for it, and is
built with the resource group's ``scheduler_opts`` dict. What a plugin does is decided by the
protocols it implements (``framework.QueueSortPlugin``, ``PreFilterPlugin`` …).

``build_profile(scheduler, scheduler_opts)`` reads a resource group's settings:

* ``scheduler``: the queue policy (``fifo``, ``lifo``, ``drf``, ``priority`` or a plugin's).
* ``scheduler_opts``:
  - ``strict`` (bool): stop the cycle at the first session that cannot be placed.
  - ``agent_selection_strategy``: ``concentrated`` (default), ``dispersed``, ``roundrobin``,
    ``fragmentation``, ``metric`` or a plugin's; ``sample_size`` (feasible agents scored,
    0 = all).
  - ``score_weights`` (``{plugin: weight}``): extra scorers, or the selector's own weight.
  - ``plugins`` (list): extra plugins; ``disabled_plugins`` (list): built-ins to leave out.
  - plugin options, e.g. ``pending_timeout`` (``timing``), ``metric`` (``metric``).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any

from cygnet.common.registry import load_plugin as _load_entry_point
from cygnet.common.registry import plugin_names
from cygnet.manager.scheduler.framework import (
    BindPlugin,
    CandidatesPlugin,
    DefaultBinder,
    FilterPlugin,
    PermitPlugin,
    PreFilterPlugin,
    Profile,
    QueueSortPlugin,
    ReservePlugin,
    ScorePlugin,
    SelectorPlugin,
)

GROUP = "cygnet.scheduler_plugins"

_P = "cygnet.manager.scheduler.plugins"
BUILTIN: Mapping[str, str] = {
    "fifo": f"{_P}.fifo:FIFO",
    "lifo": f"{_P}.lifo:LIFO",
    "drf": f"{_P}.drf:DRF",
    "priority": f"{_P}.priority:Priority",
    "timing": f"{_P}.timing:Timing",
    "dependencies": f"{_P}.dependencies:Dependencies",
    "resource-group-access": f"{_P}.resource_group_access:ResourceGroupAccess",
    "keypair-quota": f"{_P}.keypair_quota:KeypairQuota",
    "user-quota": f"{_P}.scope_quota:UserQuota",
    "project-quota": f"{_P}.scope_quota:ProjectQuota",
    "domain-quota": f"{_P}.scope_quota:DomainQuota",
    "designated-agents": f"{_P}.designated_agents:DesignatedAgents",
    "agent-pool": f"{_P}.agent_pool:AgentPool",
    "image": f"{_P}.image:Image",
    "resources": f"{_P}.resources:Resources",
    "gang": f"{_P}.gang:Gang",
    "concentrated": f"{_P}.concentrated:Concentrated",
    "dispersed": f"{_P}.dispersed:Dispersed",
    "roundrobin": f"{_P}.roundrobin:RoundRobin",
    "fragmentation": f"{_P}.fragmentation:Fragmentation",
    "metric": f"{_P}.metric:Metric",
}

# The predicates every profile runs, in pipeline order (cancelling checks first).
DEFAULT_PLUGINS: tuple[str, ...] = (
    "timing",
    "dependencies",
    "resource-group-access",
    "keypair-quota",
    "user-quota",
    "project-quota",
    "domain-quota",
    "designated-agents",
    "agent-pool",
    "image",
    "resources",
    "gang",
)
DEFAULT_STRATEGY = "concentrated"


def available() -> list[str]:
    """Every plugin name: the built-ins and the installed entry points."""
    return sorted(set(BUILTIN) | set(plugin_names(GROUP)))


def plugin_class(name: str) -> type:
    """The class registered as ``name``; unknown names raise ``ValueError``."""
    if name in plugin_names(GROUP):
        cls: type = _load_entry_point(GROUP, name, object, "scheduler plugin")
        return cls
    target = BUILTIN.get(name)
    if target is None:
        raise ValueError(f"unknown scheduler plugin {name!r} (available: {', '.join(available())})")
    module, _, attr = target.partition(":")
    found = getattr(importlib.import_module(module), attr)
    if not isinstance(found, type):
        raise TypeError(f"scheduler plugin {name!r} is not a class: {found!r}")
    return found


def make_plugin(name: str, opts: Mapping[str, Any]) -> Any:
    plugin = plugin_class(name)(opts)
    if getattr(plugin, "name", None) != name:
        # a plugin registered under another name answers to that name in verdicts
        try:
            plugin.name = name
        except AttributeError:  # pragma: no cover - a read-only name is kept
            pass
    return plugin


def build_profile(
    scheduler: str = "fifo", scheduler_opts: Mapping[str, Any] | None = None
) -> Profile:
    """The profile for a resource group's ``scheduler`` and ``scheduler_opts``."""
    opts: dict[str, Any] = dict(scheduler_opts or {})
    disabled = set(_names(opts.get("disabled_plugins"), "disabled_plugins"))
    extra = _names(opts.get("plugins"), "plugins")
    weights = opts.get("score_weights") or {}
    if not isinstance(weights, Mapping):
        raise ValueError("scheduler_opts 'score_weights' must map plugin names to weights")
    strategy = str(opts.get("agent_selection_strategy") or DEFAULT_STRATEGY)

    queue_sort = make_plugin(scheduler, opts)
    if not isinstance(queue_sort, QueueSortPlugin):
        raise ValueError(f"scheduler {scheduler!r} is not a queue-sort plugin")
    selector = make_plugin(strategy, opts)
    if not isinstance(selector, SelectorPlugin):
        raise ValueError(f"agent_selection_strategy {strategy!r} is not an agent selector")

    plugins: dict[str, Any] = {}
    for name in [*DEFAULT_PLUGINS, *extra]:
        if name not in disabled and name not in plugins:
            plugins[name] = make_plugin(name, opts)
    plugins[selector.name] = selector
    scorers: list[tuple[ScorePlugin, int]] = [(selector, int(weights.get(strategy, 1)))]
    for name, weight in weights.items():
        if name == strategy:
            continue
        plugin = plugins.get(name) or make_plugin(str(name), opts)
        if not isinstance(plugin, ScorePlugin):
            raise ValueError(f"score_weights names {name!r}, which is not a scorer")
        plugins.setdefault(plugin.name, plugin)
        scorers.append((plugin, int(weight)))

    members = list(plugins.values())
    binders = [p for p in members if isinstance(p, BindPlugin)]
    return Profile(
        name=scheduler,
        queue_sort=queue_sort,
        pre_filters=tuple(p for p in members if isinstance(p, PreFilterPlugin)),
        narrowers=tuple(p for p in members if isinstance(p, CandidatesPlugin)),
        filters=tuple(p for p in members if isinstance(p, FilterPlugin)),
        selector=selector,
        scorers=tuple(scorers),
        reservers=tuple(p for p in members if isinstance(p, ReservePlugin)),
        permits=tuple(p for p in members if isinstance(p, PermitPlugin)),
        binder=binders[-1] if binders else DefaultBinder(),
        strict=bool(opts.get("strict", False)),
        options=opts,
    )


def _names(value: Any, what: str) -> Sequence[str]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"scheduler_opts {what!r} must be a list of plugin names")
    return [str(v) for v in value]
