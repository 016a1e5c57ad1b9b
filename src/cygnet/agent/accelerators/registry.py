"""Find accelerator plugins by name through the ``cygnet.accelerators`` entry points."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cygnet.agent.accelerators.base import AcceleratorPlugin
from cygnet.common.registry import load_plugin, plugin_names

GROUP = "cygnet.accelerators"


def available_accelerators() -> list[str]:
    """The names of the installed accelerator plugins, sorted."""
    return plugin_names(GROUP)


def load_accelerator(name: str, options: Mapping[str, Any]) -> AcceleratorPlugin:
    """Import the plugin registered as ``name`` and build it with ``options``."""
    cls: type[AcceleratorPlugin] = load_plugin(GROUP, name, AcceleratorPlugin, "accelerator plugin")
    return cls(options)
