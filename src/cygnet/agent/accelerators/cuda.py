"""NVIDIA GPUs as whole devices (``cuda.device``).

Discovery asks NVML (``libnvidia-ml.so.1`` through ctypes) and falls back to ``nvidia-smi``; a
host without the driver simply has no devices. Containers get their GPUs through a Docker
device request naming the host device ids, so inside the container they are numbered 0..k-1.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import ctypes
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from cygnet.agent.accelerators.base import (
    AcceleratorPlugin,
    ContainerHints,
    DeviceAllocation,
    allocated_devices,
)
from cygnet.agent.allocation import DeviceMap, DiscreteDeviceMap
from cygnet.agent.runtime.base import DeviceRequest
from cygnet.common.resources import SlotType
from cygnet.common.rpc import DeviceInfo

log = logging.getLogger(__name__)

SLOT = "cuda.device"
NVIDIA_SMI_QUERY = "index,uuid,name,memory.total,pci.bus_id,driver_version"
NVIDIA_SMI_TIMEOUT = 10.0
_MIB = 1 << 20


@dataclass(frozen=True, slots=True)
class GPU:
    """One GPU as the driver reports it."""

    index: int
    uuid: str
    name: str
    memory: int  # bytes
    pci_bus_id: str = ""
    driver_version: str = ""


def parse_nvidia_smi(text: str) -> list[GPU]:
    """Parse ``nvidia-smi --query-gpu=<NVIDIA_SMI_QUERY> --format=csv,noheader,nounits``."""
    gpus: list[GPU] = []
    lines = (line for line in text.splitlines() if line.strip())
    for row in csv.reader(lines, skipinitialspace=True):
        fields = [f.strip() for f in row]
        if len(fields) < 4:
            raise ValueError(f"unexpected nvidia-smi line: {','.join(row)!r}")
        index, uuid, name, memory = fields[:4]
        try:
            mem_bytes = int(Decimal(memory) * _MIB)
        except ArithmeticError:  # "[N/A]" and friends
            mem_bytes = 0
        gpus.append(
            GPU(
                index=int(index),
                uuid=uuid,
                name=name,
                memory=mem_bytes,
                pci_bus_id=fields[4] if len(fields) > 4 else "",
                driver_version=fields[5] if len(fields) > 5 else "",
            )
        )
    return gpus


def numa_node(pci_bus_id: str, sysfs: Path = Path("/sys/bus/pci/devices")) -> int | None:
    """The NUMA node of a PCI device (``00000000:19:00.0`` from NVML/nvidia-smi), if known."""
    if not pci_bus_id:
        return None
    domain, _, rest = pci_bus_id.lower().partition(":")
    address = f"{domain[-4:]:0>4}:{rest}"
    try:
        node = int((sysfs / address / "numa_node").read_text().strip())
    except (OSError, ValueError):
        return None
    return node if node >= 0 else None


class _Memory(ctypes.Structure):
    _fields_ = [
        ("total", ctypes.c_ulonglong),
        ("free", ctypes.c_ulonglong),
        ("used", ctypes.c_ulonglong),
    ]


class _PciInfo(ctypes.Structure):
    _fields_ = [
        ("busIdLegacy", ctypes.c_char * 16),
        ("domain", ctypes.c_uint),
        ("bus", ctypes.c_uint),
        ("device", ctypes.c_uint),
        ("pciDeviceId", ctypes.c_uint),
        ("pciSubSystemId", ctypes.c_uint),
        ("busId", ctypes.c_char * 32),
    ]


class NVMLError(RuntimeError):
    pass


def query_nvml(library: str = "libnvidia-ml.so.1") -> list[GPU] | None:
    """The GPUs NVML reports; None when the library cannot be loaded or initialised."""
    try:
        nvml = ctypes.CDLL(library)
    except OSError:
        return None

    def check(ret: int, what: str) -> None:
        if ret != 0:
            raise NVMLError(f"{what} failed with NVML error {ret}")

    try:
        check(nvml.nvmlInit_v2(), "nvmlInit_v2")
    except (NVMLError, AttributeError) as exc:
        log.info("NVML is unavailable: %s", exc)
        return None
    try:
        version = ctypes.create_string_buffer(96)
        check(nvml.nvmlSystemGetDriverVersion(version, ctypes.c_uint(96)), "driver version")
        count = ctypes.c_uint(0)
        check(nvml.nvmlDeviceGetCount_v2(ctypes.byref(count)), "device count")
        gpus = []
        for index in range(count.value):
            handle = ctypes.c_void_p()
            check(
                nvml.nvmlDeviceGetHandleByIndex_v2(ctypes.c_uint(index), ctypes.byref(handle)),
                "device handle",
            )
            name = ctypes.create_string_buffer(96)
            check(nvml.nvmlDeviceGetName(handle, name, ctypes.c_uint(96)), "device name")
            uuid = ctypes.create_string_buffer(96)
            check(nvml.nvmlDeviceGetUUID(handle, uuid, ctypes.c_uint(96)), "device uuid")
            memory = _Memory()
            check(nvml.nvmlDeviceGetMemoryInfo(handle, ctypes.byref(memory)), "memory info")
            gpus.append(
                GPU(
                    index=index,
                    uuid=uuid.value.decode(errors="replace"),
                    name=name.value.decode(errors="replace"),
                    memory=int(memory.total),
                    pci_bus_id=_nvml_bus_id(nvml, handle),
                    driver_version=version.value.decode(errors="replace"),
                )
            )
        return gpus
    except (NVMLError, AttributeError) as exc:
        log.warning("NVML query failed: %s", exc)
        return None
    finally:
        nvml.nvmlShutdown()


def _nvml_bus_id(nvml: ctypes.CDLL, handle: ctypes.c_void_p) -> str:
    """The PCI bus id, or "" when this NVML lacks ``nvmlDeviceGetPciInfo_v3``."""
    info = _PciInfo()
    try:
        ret = nvml.nvmlDeviceGetPciInfo_v3(handle, ctypes.byref(info))
    except AttributeError:
        return ""
    return info.busId.decode(errors="replace") if ret == 0 else ""


async def query_nvidia_smi(
    executable: str = "nvidia-smi", time_limit: float = NVIDIA_SMI_TIMEOUT
) -> list[GPU]:
    """The GPUs ``nvidia-smi`` lists; [] when it is missing, fails or hangs."""
    argv = [executable, f"--query-gpu={NVIDIA_SMI_QUERY}", "--format=csv,noheader,nounits"]
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
    except OSError:
        return []
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), time_limit)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        log.warning("nvidia-smi did not answer within %.0f s", time_limit)
        return []
    if proc.returncode != 0:
        log.info("nvidia-smi failed (%s): %s", proc.returncode, stderr.decode(errors="replace"))
        return []
    try:
        return parse_nvidia_smi(stdout.decode(errors="replace"))
    except ValueError as exc:
        log.warning("cannot parse nvidia-smi output: %s", exc)
        return []


class CUDAPlugin(AcceleratorPlugin):
    """Whole NVIDIA GPUs. Options: ``nvml_library``, ``nvidia_smi`` (paths, for odd installs)."""

    key = "cuda"

    def __init__(self, options: Mapping[str, Any]) -> None:
        super().__init__(options)
        self._nvml_library = str(self.options.get("nvml_library", "libnvidia-ml.so.1"))
        self._nvidia_smi = str(self.options.get("nvidia_smi", "nvidia-smi"))
        self._gpus: dict[str, GPU] = {}

    @property
    def slot_types(self) -> Mapping[str, SlotType]:
        return {SLOT: SlotType.COUNT}

    async def discover(self) -> list[DeviceInfo]:
        gpus = await asyncio.to_thread(query_nvml, self._nvml_library)
        if gpus is None:
            gpus = await query_nvidia_smi(self._nvidia_smi)
        self._gpus = {str(g.index): g for g in gpus}
        return [
            DeviceInfo(
                device_id=str(g.index),
                model=g.name,
                memory=g.memory,
                numa_node=numa_node(g.pci_bus_id),
                slots={SLOT: "1"},
            )
            for g in gpus
        ]

    def allocation_map(self, devices: list[DeviceInfo]) -> DeviceMap:
        return DiscreteDeviceMap(SLOT, [d.device_id for d in devices])

    def container_hints(
        self, devices: list[DeviceInfo], allocation: DeviceAllocation
    ) -> ContainerHints:
        taken = allocated_devices(devices, allocation)
        if not taken:
            return ContainerHints(
                environ={"NVIDIA_VISIBLE_DEVICES": "void", "CUDA_VISIBLE_DEVICES": ""}
            )
        host_ids = [self._gpus[d].uuid if d in self._gpus else d for d in taken]
        return ContainerHints(
            environ={
                "NVIDIA_VISIBLE_DEVICES": ",".join(host_ids),
                "CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in range(len(taken))),
            },
            devices=(DeviceRequest(driver="nvidia", device_ids=tuple(host_ids)),),
        )

    def metadata(self) -> dict[str, Any]:
        first = next(iter(self._gpus.values()), None)
        return {
            "display_name": "NVIDIA CUDA GPU",
            "driver_version": first.driver_version if first else "",
            "models": sorted({g.name for g in self._gpus.values()}),
            "uuids": {d: g.uuid for d, g in self._gpus.items()},
        }
