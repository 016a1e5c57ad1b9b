"""What an accelerator plugin provides to the agent.

A plugin declares its slots (``cuda.device`` counts whole devices, ``cuda.shares`` fractions of
devices), discovers its devices, builds the allocation map the agent allocates from, and turns
an allocation into what a container needs: environment variables, Docker device requests,
device nodes and mounts. Plugins are chosen by name in the agent config and found through the
``cygnet.accelerators`` entry points; each takes its options as a plain mapping.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

from cygnet.agent.allocation import DeviceMap
from cygnet.agent.runtime.base import DeviceRequest, Mount
from cygnet.common.resources import SlotType
from cygnet.common.rpc import DeviceInfo

# device id -> amount of the slot taken on that device (1 per whole device, or shares)
DeviceAllocation = Mapping[str, Decimal]


def allocated_devices(devices: list[DeviceInfo], allocation: DeviceAllocation) -> list[str]:
    """The ids of the devices that hold part of ``allocation``, in discovery order."""
    order = [d.device_id for d in devices]
    return sorted(
        (d for d, amount in allocation.items() if amount > 0),
        key=lambda d: order.index(d) if d in order else len(order),
    )


@dataclass(frozen=True, slots=True)
class ContainerHints:
    environ: Mapping[str, str] = field(default_factory=dict)
    devices: tuple[DeviceRequest, ...] = ()
    device_paths: tuple[str, ...] = ()
    mounts: tuple[Mount, ...] = ()


class AcceleratorPlugin(abc.ABC):
    key: ClassVar[str]  # the plugin's name in config and entry points

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.options = dict(options)

    @property
    @abc.abstractmethod
    def slot_types(self) -> Mapping[str, SlotType]:
        """The slots this plugin provides, e.g. ``{"cuda.device": SlotType.COUNT}``. A plugin
        provides exactly one slot to allocate from."""

    @abc.abstractmethod
    async def discover(self) -> list[DeviceInfo]:
        """The devices on this node (empty when there are none: the agent then runs without
        this plugin's slots)."""

    @abc.abstractmethod
    def allocation_map(self, devices: list[DeviceInfo]) -> DeviceMap:
        """A fresh allocation map over the discovered devices."""

    @abc.abstractmethod
    def container_hints(
        self, devices: list[DeviceInfo], allocation: DeviceAllocation
    ) -> ContainerHints:
        """What a container needs to use the allocated devices (``allocation`` is empty when
        the kernel asked for none of this plugin's slots: hide the devices then)."""

    def metadata(self) -> dict[str, Any]:
        """Extra facts reported to the manager (driver version, display name …)."""
        return {}
