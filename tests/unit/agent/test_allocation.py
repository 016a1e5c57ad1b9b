from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from cygnet.agent.allocation import (
    Allocation,
    DeviceMap,
    DiscreteDeviceMap,
    FractionalDeviceMap,
    InsufficientCapacity,
    MemoryMap,
    ResourceAllocator,
)
from cygnet.common.resources import ResourceSlot

D = Decimal
GiB = 2**30


def shares(n: int = 2, quantum: str = "0.01") -> FractionalDeviceMap:
    return FractionalDeviceMap("cuda.shares", {str(i): D(1) for i in range(n)}, D(quantum))


def gpus(n: int = 4) -> DiscreteDeviceMap:
    return DiscreteDeviceMap("cuda.device", [str(i) for i in range(n)])


# --- FractionalDeviceMap packing ------------------------------------------------------------


def test_small_requests_share_one_device() -> None:
    m = shares()
    assert m.allocate(D("0.3")) == {"0": D("0.3")}
    assert m.allocate(D("0.5")) == {"0": D("0.5")}
    assert m.free_per_device() == {"0": D("0.2"), "1": D(1)}


def test_best_fit_prefers_the_fullest_device_that_fits() -> None:
    m = shares(3)
    m.restore({"1": D("0.5"), "2": D("0.7")})
    assert m.allocate(D("0.4")) == {"1": D("0.4")}  # 0.3 free on "2" is too little
    assert m.allocate(D("0.1")) == {"1": D("0.1")}  # "1" is now full-est (0.1 free)
    assert m.allocate(D("0.3")) == {"2": D("0.3")}
    assert m.allocate(D("0.6")) == {"0": D("0.6")}


def test_ties_go_to_the_first_device() -> None:
    m = shares(3)
    assert m.allocate(D("1")) == {"0": D(1)}
    assert m.allocate(D("0.5")) == {"1": D("0.5")}


def test_large_request_takes_whole_free_devices_then_best_fit() -> None:
    m = shares(3)
    m.restore({"0": D("0.5")})
    assert m.allocate(D("1.5")) == {"1": D(1), "0": D("0.5")}
    assert m.free_per_device() == {"0": D(0), "1": D(0), "2": D(1)}


def test_large_request_on_fresh_devices_opens_as_few_as_possible() -> None:
    m = shares(4)
    assert m.allocate(D("2.25")) == {"0": D(1), "1": D(1), "2": D("0.25")}


def test_spread_fills_the_fullest_devices_first() -> None:
    m = shares(3)
    m.restore({"0": D("0.8"), "1": D("0.3"), "2": D("0.5")})  # free 0.2, 0.7, 0.5
    assert m.allocate(D("1.0")) == {"0": D("0.2"), "2": D("0.5"), "1": D("0.3")}
    assert m.free() == D("0.4")
    assert all(v <= 1 for v in m.used_per_device().values())


def test_fractional_request_fails_only_when_the_total_is_short() -> None:
    m = shares(2)
    m.restore({"0": D("0.6"), "1": D("0.6")})
    assert m.allocate(D("0.8")) == {"0": D("0.4"), "1": D("0.4")}
    with pytest.raises(InsufficientCapacity) as info:
        m.allocate(D("0.01"))
    assert (info.value.requested, info.value.free, info.value.largest_free) == (
        D("0.01"),
        D(0),
        D(0),
    )


def test_insufficient_capacity_message() -> None:
    m = shares(1)
    m.allocate(D("0.7"))
    with pytest.raises(InsufficientCapacity) as info:
        m.allocate(D("0.5"))
    assert str(info.value) == (
        "not enough cuda.shares (need 0.5, free 0.3, largest free on one device 0.3)"
    )
    assert info.value.slot == "cuda.shares"
    assert m.used() == D("0.7")


@pytest.mark.parametrize("bad", [D("-0.1"), D("0.005"), D("NaN"), D("Infinity"), D("1E+40")])
def test_invalid_amounts_are_rejected(bad: Decimal) -> None:
    m = shares()
    with pytest.raises(ValueError):
        m.allocate(bad)
    assert m.used() == 0


def test_zero_allocates_nothing() -> None:
    assert shares().allocate(D(0)) == {}
    assert gpus().allocate(D(0)) == {}


# --- DiscreteDeviceMap ----------------------------------------------------------------------


def test_whole_devices_are_taken_fresh_in_order() -> None:
    m = gpus(4)
    assert m.allocate(D(1)) == {"0": D(1)}
    assert m.allocate(D(2)) == {"1": D(1), "2": D(1)}
    m.release({"1": D(1)})
    assert m.allocate(D(2)) == {"1": D(1), "3": D(1)}
    with pytest.raises(InsufficientCapacity) as info:
        m.allocate(D(1))
    assert info.value.free == 0


def test_discrete_amounts_must_be_whole() -> None:
    m = gpus(2)
    with pytest.raises(ValueError, match="multiple of 1"):
        m.allocate(D("0.5"))
    with pytest.raises(ValueError, match="not whole"):
        m.restore({"0": D("0.5")})
    with pytest.raises(ValueError, match="whole capacity"):
        DiscreteDeviceMap("x.device", {"0": D("1.5")})


# --- release / restore ----------------------------------------------------------------------


def test_release_is_exact() -> None:
    m = shares(2)
    a = m.allocate(D("0.3"))
    b = m.allocate(D("1.2"))
    m.release(a)
    assert m.used() == D("1.2")
    m.release(b)
    assert m.used() == 0
    assert m.free_per_device() == {"0": D(1), "1": D(1)}


def test_release_more_than_held_changes_nothing() -> None:
    m = shares(2)
    m.allocate(D("1.5"))
    before = m.used_per_device()
    with pytest.raises(ValueError, match="holds only"):
        m.release({"0": D(1), "1": D("0.6")})
    with pytest.raises(ValueError, match="unknown device"):
        m.release({"0": D(1), "9": D("0.1")})
    with pytest.raises(ValueError):
        m.release({"0": D("-0.1")})
    assert m.used_per_device() == before


def test_restore_rebuilds_the_state_on_a_fresh_map() -> None:
    m = shares(3)
    held = [m.allocate(D(x)) for x in ("0.3", "1.4", "0.25")]
    fresh = shares(3)
    for allocation in held:
        fresh.restore(allocation)
    assert fresh.used_per_device() == m.used_per_device()


def test_restore_refuses_overcommit_and_changes_nothing() -> None:
    m = shares(2)
    m.allocate(D("0.8"))
    with pytest.raises(InsufficientCapacity):
        m.restore({"1": D("0.5"), "0": D("0.3")})
    with pytest.raises(ValueError, match="unknown device"):
        m.restore({"1": D("0.5"), "7": D("0.3")})
    assert m.used_per_device() == {"0": D("0.8"), "1": D(0)}


# --- MemoryMap and Allocation ---------------------------------------------------------------


def test_memory_map_counts_bytes_without_overcommit() -> None:
    mem = MemoryMap(4 * GiB)
    mem.allocate(3 * GiB)
    with pytest.raises(InsufficientCapacity) as info:
        mem.allocate(2 * GiB)
    assert info.value.free == GiB
    with pytest.raises(ValueError):
        mem.release(4 * GiB)
    with pytest.raises(ValueError):
        mem.allocate(-1)
    mem.release(3 * GiB)
    assert (mem.used(), mem.free()) == (0, 4 * GiB)


def test_allocation_json_round_trip_and_views() -> None:
    a = Allocation(
        {
            "cpu": {"10": D("0.5"), "2": D(1), "3": D(0)},
            "mem": {"host": D(GiB)},
            "cuda.shares": {"0": D("0.25")},
        }
    )
    data = a.to_json()
    assert data == {
        "cpu": {"10": "0.5", "2": "1", "3": "0"},
        "mem": {"host": str(GiB)},
        "cuda.shares": {"0": "0.25"},
    }
    assert Allocation.from_json(data) == a
    assert a.cpuset() == (2, 10)
    assert a.occupied() == ResourceSlot({"cpu": "1.5", "mem": GiB, "cuda.shares": "0.25"})


# --- ResourceAllocator ----------------------------------------------------------------------


def allocator() -> ResourceAllocator:
    return ResourceAllocator(
        cores=[0, 1, 2, 3],
        memory=8 * GiB,
        accelerators={"cuda.device": gpus(2), "cuda.shares": shares(2)},
    )


def test_allocator_takes_every_slot() -> None:
    alloc = allocator()
    assert alloc.capacity() == ResourceSlot(
        {"cpu": 4, "mem": 8 * GiB, "cuda.device": 2, "cuda.shares": 2}
    )
    a = alloc.allocate(
        ResourceSlot({"cpu": "1.5", "mem": 2 * GiB, "cuda.device": 1, "cuda.shares": 0})
    )
    assert a.slots == {
        "cpu": {"0": D(1), "1": D("0.5")},
        "mem": {"host": D(2 * GiB)},
        "cuda.device": {"0": D(1)},
    }
    assert a.cpuset() == (0, 1)
    assert alloc.occupied() == a.occupied()
    alloc.release(a)
    assert alloc.occupied().is_zero()


def test_allocator_rolls_back_when_one_slot_fails() -> None:
    alloc = allocator()
    with pytest.raises(InsufficientCapacity) as info:
        alloc.allocate(ResourceSlot({"cpu": 2, "mem": GiB, "cuda.device": 3}))
    assert info.value.slot == "cuda.device"
    assert alloc.occupied().is_zero()
    with pytest.raises(InsufficientCapacity) as info:
        alloc.allocate(ResourceSlot({"cpu": 2, "mem": 9 * GiB}))
    assert info.value.slot == "mem"
    assert alloc.occupied().is_zero()


def test_allocator_unknown_slot_has_no_capacity() -> None:
    alloc = allocator()
    with pytest.raises(InsufficientCapacity) as info:
        alloc.allocate(ResourceSlot({"cpu": 1, "rocm.device": 1}))
    assert (info.value.slot, info.value.free, info.value.largest_free) == (
        "rocm.device",
        D(0),
        D(0),
    )
    assert alloc.occupied().is_zero()
    assert alloc.allocate(ResourceSlot({"rocm.device": 0})) == Allocation({})


def test_allocator_restore_and_bad_release_are_all_or_nothing() -> None:
    alloc = allocator()
    a = alloc.allocate(ResourceSlot({"cpu": 3, "mem": 4 * GiB, "cuda.shares": "0.5"}))
    fresh = allocator()
    fresh.restore(Allocation.from_json(a.to_json()))
    assert fresh.occupied() == alloc.occupied()
    with pytest.raises(InsufficientCapacity):
        fresh.restore(Allocation({"cpu": {"3": D(1)}, "mem": {"host": D(5 * GiB)}}))
    assert fresh.occupied() == alloc.occupied()
    wrong = Allocation({"cpu": a.slots["cpu"], "cuda.shares": {"1": D("0.5")}})
    with pytest.raises(ValueError):
        fresh.release(wrong)
    assert fresh.occupied() == alloc.occupied()


def test_allocator_rejects_mismatched_maps() -> None:
    with pytest.raises(ValueError):
        ResourceAllocator([0], GiB, {"cuda.device": shares(1)})
    with pytest.raises(ValueError):
        ResourceAllocator([0], GiB, {"cpu": FractionalDeviceMap("cpu", {"0": D(1)}, D(1))})


# --- property tests -------------------------------------------------------------------------


def check_map(m: DeviceMap, live: list[dict[str, Decimal]]) -> None:
    caps = m.devices
    used = m.used_per_device()
    for device_id, cap in caps.items():
        assert 0 <= used[device_id] <= cap
        held = sum((a.get(device_id, D(0)) for a in live), D(0))
        assert held == used[device_id]
    assert m.used() + m.free() == m.capacity()


class DeviceMapMachine(RuleBasedStateMachine):
    """Random allocate/release/restore sequences on one device map."""

    def __init__(self) -> None:
        super().__init__()
        self.map: DeviceMap = gpus(1)
        self.live: list[dict[str, Decimal]] = []

    @initialize(
        discrete=st.booleans(),
        caps=st.lists(st.integers(0, 400), min_size=1, max_size=5),
        quantum=st.sampled_from(["0.01", "0.25", "1"]),
    )
    def build(self, discrete: bool, caps: list[int], quantum: str) -> None:
        if discrete:
            self.map = DiscreteDeviceMap("x.device", {str(i): D(c % 3) for i, c in enumerate(caps)})
        else:
            q = D(quantum)
            devices = {f"d{i}": D(c) * q for i, c in enumerate(caps)}
            self.map = FractionalDeviceMap("x.shares", devices, q)

    @rule(units=st.integers(0, 1200))
    def allocate(self, units: int) -> None:
        amount = (
            D(units % 13) if isinstance(self.map, DiscreteDeviceMap) else units * self.map.quantum
        )
        free_before = self.map.free_per_device()
        total_free = sum(free_before.values(), D(0))
        try:
            placed = self.map.allocate(amount)
        except InsufficientCapacity as exc:
            assert amount > total_free
            assert (exc.free, exc.largest_free) == (total_free, max(free_before.values()))
            assert self.map.free_per_device() == free_before
            return
        assert amount <= total_free
        assert sum(placed.values(), D(0)) == amount
        assert all(0 < part <= free_before[d] for d, part in placed.items())
        if isinstance(self.map, FractionalDeviceMap) and amount > 0:
            fitting = {d: f for d, f in free_before.items() if f >= amount}
            if fitting:  # one device, the fullest that fits
                best = min(fitting.values())
                assert len(placed) == 1
                (device_id,) = placed
                assert free_before[device_id] == best
        self.live.append(placed)

    @rule(index=st.integers(0, 50))
    def release(self, index: int) -> None:
        if self.live:
            self.map.release(self.live.pop(index % len(self.live)))

    @rule(index=st.integers(0, 50))
    def over_release_is_refused(self, index: int) -> None:
        if not self.live:
            return
        bad = dict(self.live[index % len(self.live)])
        if not bad:
            return
        device_id = next(iter(bad))
        before = self.map.used_per_device()
        bad[device_id] = before[device_id] + self.map.quantum
        with pytest.raises(ValueError):
            self.map.release(bad)
        assert self.map.used_per_device() == before

    @rule()
    def restore_into_a_fresh_map(self) -> None:
        m = self.map
        fresh: DeviceMap
        if isinstance(m, DiscreteDeviceMap):
            fresh = DiscreteDeviceMap(m.slot_name, m.devices)
        else:
            fresh = FractionalDeviceMap(m.slot_name, m.devices, m.quantum)
        for allocation in self.live:
            fresh.restore(allocation)
        assert fresh.used_per_device() == m.used_per_device()
        self.map = fresh

    @rule()
    def release_everything(self) -> None:
        while self.live:
            self.map.release(self.live.pop())
        assert self.map.used() == 0
        assert self.map.free_per_device() == dict(self.map.devices)

    @invariant()
    def accounting_holds(self) -> None:
        check_map(self.map, self.live)

    def teardown(self) -> None:
        self.release_everything()


TestDeviceMapMachine = DeviceMapMachine.TestCase
TestDeviceMapMachine.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)


class AllocatorMachine(RuleBasedStateMachine):
    """Random whole requests against a ResourceAllocator: all or nothing, exact accounting."""

    def __init__(self) -> None:
        super().__init__()
        self.alloc = ResourceAllocator(
            cores=[0, 2, 5],
            memory=16 * GiB,
            accelerators={"cuda.device": gpus(3), "cuda.shares": shares(2, "0.05")},
        )
        self.live: list[Allocation] = []

    @rule(
        cpu=st.integers(0, 3500),
        mem=st.integers(0, 20),
        devices=st.integers(0, 4),
        share_units=st.integers(0, 50),
    )
    def allocate(self, cpu: int, mem: int, devices: int, share_units: int) -> None:
        request = ResourceSlot(
            {
                "cpu": D(cpu) / 1000,
                "mem": mem * GiB,
                "cuda.device": devices,
                "cuda.shares": share_units * D("0.05"),
            }
        )
        before = self.alloc.occupied()
        should_fit = request.fits_in(self.alloc.free())
        try:
            allocation = self.alloc.allocate(request)
        except InsufficientCapacity:
            assert not should_fit
            assert self.alloc.occupied() == before
            return
        assert should_fit
        assert allocation.occupied() == request
        self.live.append(allocation)

    @rule(index=st.integers(0, 50))
    def release(self, index: int) -> None:
        if self.live:
            self.alloc.release(self.live.pop(index % len(self.live)))

    @rule()
    def restart(self) -> None:
        fresh = ResourceAllocator(
            cores=[0, 2, 5],
            memory=16 * GiB,
            accelerators={"cuda.device": gpus(3), "cuda.shares": shares(2, "0.05")},
        )
        self.live = [Allocation.from_json(a.to_json()) for a in self.live]
        for allocation in self.live:
            fresh.restore(allocation)
        assert fresh.occupied() == self.alloc.occupied()
        self.alloc = fresh

    @invariant()
    def accounting_holds(self) -> None:
        total = sum((a.occupied() for a in self.live), ResourceSlot())
        assert self.alloc.occupied() == total
        assert self.alloc.occupied().fits_in(self.alloc.capacity())
        check_map(self.alloc.cpu, [dict(a.slots.get("cpu", {})) for a in self.live])
        for slot, m in self.alloc.accelerators.items():
            check_map(m, [dict(a.slots.get(slot, {})) for a in self.live])

    def teardown(self) -> None:
        while self.live:
            self.alloc.release(self.live.pop())
        assert self.alloc.occupied().is_zero()
        assert self.alloc.mem.used() == 0


TestAllocatorMachine = AllocatorMachine.TestCase
TestAllocatorMachine.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
