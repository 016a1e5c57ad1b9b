"""A fake accelerator that behaves like a CUDA plugin, for tests, demos and benchmarks.

It "discovers" a configured number of devices and sets the same environment a CUDA container
would get, without touching any hardware or asking Docker for devices.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cygnet.agent.accelerators.base import (
    AcceleratorPlugin,
    ContainerHints,
    DeviceAllocation,
    allocated_devices,
)
from cygnet.agent.allocation import DeviceMap, DiscreteDeviceMap, FractionalDeviceMap
from cygnet.common.resources import BinarySize, SlotType
from cygnet.common.rpc import DeviceInfo


class MockOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    slot_prefix: str = Field("cuda", min_length=1)
    mode: Literal["discrete", "fractional"] = "fractional"
    devices: int = Field(2, ge=0)
    memory: int = BinarySize(16 << 30)  # bytes per device; "16g" in config
    model: str = "Mock GPU"
    shares_per_device: Decimal = Field(Decimal(1), gt=0, allow_inf_nan=False)
    quantum: Decimal = Field(Decimal("0.01"), gt=0, allow_inf_nan=False)

    @field_validator("memory", mode="before")
    @classmethod
    def _parse_memory(cls, value: Any) -> int:
        if isinstance(value, str):
            return int(BinarySize.from_str(value))
        return int(BinarySize(value))

    @model_validator(mode="after")
    def _check_shares(self) -> MockOptions:
        if self.mode == "fractional" and self.shares_per_device % self.quantum != 0:
            raise ValueError("shares_per_device must be a multiple of quantum")
        return self


class MockPlugin(AcceleratorPlugin):
    """Fake GPUs ``"0".."N-1"``: whole devices (``<prefix>.device``) or shares of them."""

    key = "mock"

    def __init__(self, options: Mapping[str, Any]) -> None:
        super().__init__(options)
        self.config = MockOptions.model_validate(dict(options))

    @property
    def slot_name(self) -> str:
        suffix = "device" if self.config.mode == "discrete" else "shares"
        return f"{self.config.slot_prefix}.{suffix}"

    @property
    def slot_types(self) -> Mapping[str, SlotType]:
        return {self.slot_name: SlotType.COUNT}

    def _per_device(self) -> Decimal:
        return Decimal(1) if self.config.mode == "discrete" else self.config.shares_per_device

    async def discover(self) -> list[DeviceInfo]:
        per_device = str(self._per_device())
        return [
            DeviceInfo(
                device_id=str(index),
                model=self.config.model,
                memory=self.config.memory,
                slots={self.slot_name: per_device},
            )
            for index in range(self.config.devices)
        ]

    def allocation_map(self, devices: list[DeviceInfo]) -> DeviceMap:
        caps = {
            d.device_id: Decimal(d.slots.get(self.slot_name, self._per_device())) for d in devices
        }
        if self.config.mode == "discrete":
            return DiscreteDeviceMap(self.slot_name, caps)
        return FractionalDeviceMap(self.slot_name, caps, self.config.quantum)

    def container_hints(
        self, devices: list[DeviceInfo], allocation: DeviceAllocation
    ) -> ContainerHints:
        taken = allocated_devices(devices, allocation)
        visible = ",".join(taken)
        environ = {"CUDA_VISIBLE_DEVICES": visible, "CYGNET_MOCK_DEVICES": visible}
        if self.config.mode == "fractional":
            environ["CYGNET_MOCK_SHARES"] = ",".join(f"{d}:{_plain(allocation[d])}" for d in taken)
        return ContainerHints(environ=environ)

    def metadata(self) -> dict[str, Any]:
        return {"display_name": self.config.model, "mode": self.config.mode}


def _plain(number: Decimal) -> str:
    text = format(number, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
