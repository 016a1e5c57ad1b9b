from __future__ import annotations

import ctypes
import shutil
import stat
from decimal import Decimal
from pathlib import Path

import pytest

from cygnet.agent.accelerators.cuda import (
    GPU,
    CUDAPlugin,
    numa_node,
    parse_nvidia_smi,
    query_nvidia_smi,
)
from cygnet.agent.accelerators.mock import MockPlugin
from cygnet.agent.accelerators.registry import available_accelerators, load_accelerator
from cygnet.agent.allocation import DiscreteDeviceMap, FractionalDeviceMap
from cygnet.agent.runtime.base import DeviceRequest
from cygnet.common.resources import SlotType

D = Decimal
GiB = 2**30

# --- mock -----------------------------------------------------------------------------------


async def test_mock_fractional_discovery_and_map() -> None:
    plugin = MockPlugin({"devices": 3, "memory": "8g", "shares_per_device": "2"})
    assert plugin.slot_types == {"cuda.shares": SlotType.COUNT}
    devices = await plugin.discover()
    assert [d.device_id for d in devices] == ["0", "1", "2"]
    assert all(d.model == "Mock GPU" and d.memory == 8 * GiB for d in devices)
    assert devices[0].slots == {"cuda.shares": "2"}
    dmap = plugin.allocation_map(devices)
    assert isinstance(dmap, FractionalDeviceMap)
    assert (dmap.slot_name, dmap.capacity(), dmap.quantum) == ("cuda.shares", D(6), D("0.01"))
    assert dmap.allocate(D("0.3")) == {"0": D("0.3")}
    assert dmap.allocate(D("2.5")) == {"1": D(2), "0": D("0.5")}


async def test_mock_fractional_hints() -> None:
    plugin = MockPlugin({})
    devices = await plugin.discover()
    hints = plugin.container_hints(devices, {"1": D("0.50"), "0": D("0.25")})
    assert hints.environ == {
        "CUDA_VISIBLE_DEVICES": "0,1",
        "CYGNET_MOCK_DEVICES": "0,1",
        "CYGNET_MOCK_SHARES": "0:0.25,1:0.5",
    }
    assert hints.devices == ()
    assert plugin.metadata() == {"display_name": "Mock GPU", "mode": "fractional"}


async def test_mock_discrete_mode() -> None:
    plugin = MockPlugin({"mode": "discrete", "devices": 4, "slot_prefix": "rocm", "model": "X"})
    assert plugin.slot_types == {"rocm.device": SlotType.COUNT}
    devices = await plugin.discover()
    dmap = plugin.allocation_map(devices)
    assert isinstance(dmap, DiscreteDeviceMap)
    assert dmap.capacity() == 4
    taken = dmap.allocate(D(2))
    hints = plugin.container_hints(devices, taken)
    assert hints.environ == {"CUDA_VISIBLE_DEVICES": "0,1", "CYGNET_MOCK_DEVICES": "0,1"}
    assert plugin.metadata() == {"display_name": "X", "mode": "discrete"}


async def test_mock_hides_devices_when_none_allocated() -> None:
    plugin = MockPlugin({})
    hints = plugin.container_hints(await plugin.discover(), {})
    assert hints.environ["CUDA_VISIBLE_DEVICES"] == ""
    assert hints.environ["CYGNET_MOCK_SHARES"] == ""


@pytest.mark.parametrize(
    "options",
    [
        {"mode": "shared"},
        {"devices": -1},
        {"memory": "lots"},
        {"quantum": "0"},
        {"shares_per_device": "1", "quantum": "0.3"},
        {"colour": "blue"},
    ],
)
def test_mock_rejects_bad_options(options: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        MockPlugin(options)


# --- registry -------------------------------------------------------------------------------


def test_registry_lists_and_loads_plugins() -> None:
    assert {"mock", "cuda"} <= set(available_accelerators())
    plugin = load_accelerator("mock", {"mode": "discrete", "devices": 1})
    assert isinstance(plugin, MockPlugin)
    assert plugin.options == {"mode": "discrete", "devices": 1}
    assert isinstance(load_accelerator("cuda", {}), CUDAPlugin)


def test_registry_unknown_name_lists_the_available_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown accelerator plugin 'tpu'.*cuda.*mock"):
        load_accelerator("tpu", {})


# --- cuda -----------------------------------------------------------------------------------

NVIDIA_SMI_SAMPLE = (
    "0, GPU-4a3c1b2e-0000-1111-2222-333344445555, NVIDIA H100 80GB HBM3, 81559, "
    "00000000:19:00.0, 550.54.15\n"
    "1, GPU-9f8e7d6c-aaaa-bbbb-cccc-ddddeeeeffff, NVIDIA H100 80GB HBM3, 81559, "
    "00000000:3B:00.0, 550.54.15\n"
    "\n"
    '2, GPU-00000000-1111-2222-3333-444444444444, "NVIDIA A100-SXM4-40GB, rev 2", [N/A], '
    "00000000:4C:00.0, 550.54.15\n"
)


def test_parse_nvidia_smi() -> None:
    gpus = parse_nvidia_smi(NVIDIA_SMI_SAMPLE)
    assert gpus[0] == GPU(
        index=0,
        uuid="GPU-4a3c1b2e-0000-1111-2222-333344445555",
        name="NVIDIA H100 80GB HBM3",
        memory=81559 * 2**20,
        pci_bus_id="00000000:19:00.0",
        driver_version="550.54.15",
    )
    assert [g.index for g in gpus] == [0, 1, 2]
    assert gpus[2].name == "NVIDIA A100-SXM4-40GB, rev 2"
    assert gpus[2].memory == 0
    assert parse_nvidia_smi("") == []
    short = parse_nvidia_smi("3, GPU-x, Tesla T4, 15360")
    assert (short[0].index, short[0].memory, short[0].pci_bus_id) == (3, 15360 * 2**20, "")


def test_parse_nvidia_smi_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        parse_nvidia_smi("No devices were found")
    with pytest.raises(ValueError):
        parse_nvidia_smi("zero, GPU-x, Tesla T4, 15360")


def test_numa_node_from_sysfs(tmp_path: Path) -> None:
    (tmp_path / "0000:19:00.0").mkdir()
    (tmp_path / "0000:19:00.0" / "numa_node").write_text("1\n")
    (tmp_path / "0000:3b:00.0").mkdir()
    (tmp_path / "0000:3b:00.0" / "numa_node").write_text("-1\n")
    assert numa_node("00000000:19:00.0", tmp_path) == 1
    assert numa_node("00000000:3B:00.0", tmp_path) is None
    assert numa_node("00000000:99:00.0", tmp_path) is None
    assert numa_node("", tmp_path) is None


def fake_nvidia_smi(tmp_path: Path, body: str) -> str:
    script = tmp_path / "nvidia-smi"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


async def test_cuda_discovers_through_nvidia_smi_and_builds_hints(tmp_path: Path) -> None:
    smi = fake_nvidia_smi(tmp_path, f"cat <<'EOF'\n{NVIDIA_SMI_SAMPLE}EOF")
    plugin = CUDAPlugin({"nvml_library": str(tmp_path / "missing.so"), "nvidia_smi": smi})
    assert plugin.slot_types == {"cuda.device": SlotType.COUNT}
    devices = await plugin.discover()
    assert [(d.device_id, d.slots) for d in devices] == [
        ("0", {"cuda.device": "1"}),
        ("1", {"cuda.device": "1"}),
        ("2", {"cuda.device": "1"}),
    ]
    dmap = plugin.allocation_map(devices)
    assert isinstance(dmap, DiscreteDeviceMap)
    dmap.allocate(D(1))
    taken = dmap.allocate(D(2))
    assert taken == {"1": D(1), "2": D(1)}
    hints = plugin.container_hints(devices, taken)
    uuids = ("GPU-9f8e7d6c-aaaa-bbbb-cccc-ddddeeeeffff", "GPU-00000000-1111-2222-3333-444444444444")
    assert hints.environ == {
        "NVIDIA_VISIBLE_DEVICES": ",".join(uuids),
        "CUDA_VISIBLE_DEVICES": "0,1",
    }
    assert hints.devices == (DeviceRequest(driver="nvidia", device_ids=uuids),)
    meta = plugin.metadata()
    assert meta["driver_version"] == "550.54.15"
    assert meta["display_name"]


def test_cuda_hides_gpus_without_an_allocation() -> None:
    hints = CUDAPlugin({}).container_hints([], {})
    assert hints.environ == {"NVIDIA_VISIBLE_DEVICES": "void", "CUDA_VISIBLE_DEVICES": ""}
    assert hints.devices == ()


async def test_nvidia_smi_failures_mean_no_devices(tmp_path: Path) -> None:
    assert await query_nvidia_smi(str(tmp_path / "absent")) == []
    failing = fake_nvidia_smi(tmp_path, "echo 'NVIDIA-SMI has failed' >&2; exit 9")
    assert await query_nvidia_smi(failing) == []
    hanging = fake_nvidia_smi(tmp_path, "exec sleep 30")
    assert await query_nvidia_smi(hanging, time_limit=0.2) == []


def _driver_present() -> bool:
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return shutil.which("nvidia-smi") is not None
    return True


async def test_cuda_discovery_on_this_host() -> None:
    devices = await CUDAPlugin({}).discover()
    if _driver_present():  # a GPU host: every device is one whole cuda.device
        assert devices
        assert all(d.slots == {"cuda.device": "1"} and d.memory > 0 for d in devices)
    else:
        assert devices == []
