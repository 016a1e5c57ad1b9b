"""The allocator takes the devices the manager booked when they still fit, else its own."""

from __future__ import annotations

from decimal import Decimal

from cygnet.agent.allocation import DiscreteDeviceMap, FractionalDeviceMap, ResourceAllocator
from cygnet.common.resources import ResourceSlot

D = Decimal
SHARES = "cuda.shares"


def _allocator() -> ResourceAllocator:
    shares = FractionalDeviceMap(SHARES, {"0": D(1), "1": D(1)}, D("0.01"))
    return ResourceAllocator([0, 1], 1 << 30, {SHARES: shares})


def _request(shares: str) -> ResourceSlot:
    return ResourceSlot.from_json({"cpu": "1", "mem": str(1 << 20), SHARES: shares})


def test_the_booked_device_is_taken_even_where_best_fit_would_choose_another() -> None:
    alloc = _allocator()
    alloc.allocate(_request("0.5"), {SHARES: {"0": D("0.5")}})
    # best fit would now choose device 0 (0.5 left); the booking says device 1
    taken = alloc.allocate(_request("0.25"), {SHARES: {"1": D("0.25")}})
    assert taken.slots[SHARES] == {"1": D("0.25")}
    assert alloc.accelerators[SHARES].free_per_device() == {"0": D("0.5"), "1": D("0.75")}


def test_a_booking_that_no_longer_fits_falls_back_to_the_agents_choice() -> None:
    alloc = _allocator()
    alloc.allocate(_request("0.75"), {SHARES: {"0": D("0.75")}})
    for booking in (
        {"0": D("0.5")},  # device 0 has only 0.25 left
        {"1": D("0.25")},  # does not add up to the request
        {"7": D("0.5")},  # unknown device
        {"1": D("0.005")},  # off the quantum
    ):
        taken = alloc.allocate(_request("0.5"), {SHARES: booking})
        assert taken.slots[SHARES] == {"1": D("0.5")}
        alloc.release(taken)


def test_cpu_and_memory_are_always_the_agents_choice() -> None:
    alloc = _allocator()
    taken = alloc.allocate(_request("0"), {"cpu": {"1": D(1)}, "mem": {"host": D(5)}})
    assert taken.slots["cpu"] == {"0": D(1)}
    assert taken.slots["mem"] == {"host": D(1 << 20)}


def test_whole_devices_take_a_booking_of_whole_units_only() -> None:
    devices = DiscreteDeviceMap("cuda.device", ["0", "1"])
    assert devices.allocate(D(1), {"1": D(1)}) == {"1": D(1)}
    assert devices.allocate(D(1), {"0": D("0.5"), "1": D("0.5")}) == {"0": D(1)}
