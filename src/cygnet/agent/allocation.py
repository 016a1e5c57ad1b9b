"""The agent's resource accounting: allocation maps per slot and the allocator that composes them.

A ``DeviceMap`` tracks one slot over named devices (CPU cores, GPUs); a ``MemoryMap`` counts
bytes. ``ResourceAllocator`` takes a whole ``ResourceSlot`` request at once, all or nothing, and
hands back an ``Allocation`` that says which device holds how much, so it can be persisted and
re-applied with ``restore`` after an agent restart. Pure logic: no I/O, exact Decimal arithmetic.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from cygnet.common.resources import CPU_QUANTUM, ResourceSlot

_ZERO = Decimal(0)
_ONE = Decimal(1)


def _fmt(number: Decimal) -> str:
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


class InsufficientCapacity(Exception):
    """A request does not fit into what is free."""

    def __init__(self, slot: str, requested: Decimal, free: Decimal, largest_free: Decimal) -> None:
        self.slot = slot
        self.requested = requested
        self.free = free
        self.largest_free = largest_free
        super().__init__(
            f"not enough {slot} (need {_fmt(requested)}, free {_fmt(free)}, "
            f"largest free on one device {_fmt(largest_free)})"
        )


class DeviceMap(abc.ABC):
    """One slot over named devices, each with a capacity; amounts are multiples of ``quantum``."""

    def __init__(self, slot_name: str, devices: Mapping[str, Decimal], quantum: Decimal) -> None:
        if not quantum.is_finite() or quantum <= 0:
            raise ValueError(f"{slot_name}: the quantum must be positive, got {quantum}")
        for device_id, cap in devices.items():
            if not cap.is_finite() or cap < 0:
                raise ValueError(f"{slot_name}: invalid capacity {cap} for device {device_id!r}")
        self.slot_name = slot_name
        self.quantum = quantum
        self._capacity: dict[str, Decimal] = dict(devices)
        self._used: dict[str, Decimal] = {device_id: _ZERO for device_id in devices}

    @property
    def devices(self) -> Mapping[str, Decimal]:
        """Capacity per device id, in device order."""
        return dict(self._capacity)

    def capacity(self) -> Decimal:
        return sum(self._capacity.values(), _ZERO)

    def used(self) -> Decimal:
        return sum(self._used.values(), _ZERO)

    def free(self) -> Decimal:
        return self.capacity() - self.used()

    def used_per_device(self) -> dict[str, Decimal]:
        return dict(self._used)

    def free_per_device(self) -> dict[str, Decimal]:
        return {d: self._capacity[d] - self._used[d] for d in self._capacity}

    def allocate(
        self, amount: Decimal, wanted: Mapping[str, Decimal] | None = None
    ) -> dict[str, Decimal]:
        """Take ``amount`` and return device id -> amount taken; all or nothing. ``wanted``
        (the manager's choice) is taken as it is when it adds up to ``amount`` and fits."""
        self._check_amount(amount)
        if amount == 0:
            return {}
        free = self.free_per_device()
        total_free = sum(free.values(), _ZERO)
        if amount > total_free:
            largest = max(free.values(), default=_ZERO)
            raise InsufficientCapacity(self.slot_name, amount, total_free, largest)
        if wanted is not None and self._fits(amount, wanted, free):
            placement = {d: part for d, part in wanted.items() if part > 0}
        else:
            placement = self._place(amount, free)
        for device_id, part in placement.items():
            self._used[device_id] += part
        return placement

    def release(self, allocation: Mapping[str, Decimal]) -> None:
        """Give back exactly what ``allocate`` (or ``restore``) took; all or nothing."""
        for device_id, part in allocation.items():
            self._check_device_part(device_id, part)
            if part > self._used[device_id]:
                raise ValueError(
                    f"{self.slot_name}: releasing {_fmt(part)} on device {device_id!r}, "
                    f"which holds only {_fmt(self._used[device_id])}"
                )
        for device_id, part in allocation.items():
            self._used[device_id] -= part

    def restore(self, allocation: Mapping[str, Decimal]) -> None:
        """Re-apply a persisted allocation; refuses (changing nothing) if it would overcommit."""
        for device_id, part in allocation.items():
            self._check_device_part(device_id, part)
            free = self._capacity[device_id] - self._used[device_id]
            if part > free:
                raise InsufficientCapacity(self.slot_name, part, free, free)
        for device_id, part in allocation.items():
            self._used[device_id] += part

    def _fits(
        self, amount: Decimal, wanted: Mapping[str, Decimal], free: dict[str, Decimal]
    ) -> bool:
        """Whether ``wanted`` is a valid placement of ``amount`` on what is free now."""
        try:
            for device_id, part in wanted.items():
                self._check_device_part(device_id, part)
                if part % self.quantum != 0 or part > free[device_id]:
                    return False
        except (ValueError, InvalidOperation):
            return False
        return sum(wanted.values(), _ZERO) == amount

    def _check_amount(self, amount: Decimal) -> None:
        if not isinstance(amount, Decimal) or not amount.is_finite() or amount < 0:
            raise ValueError(f"{self.slot_name}: invalid amount {amount!r}")
        try:
            aligned = amount % self.quantum == 0
        except InvalidOperation:
            aligned = False
        if not aligned:
            raise ValueError(
                f"{self.slot_name}: {_fmt(amount)} is not a multiple of {_fmt(self.quantum)}"
            )

    def _check_device_part(self, device_id: str, part: Decimal) -> None:
        if device_id not in self._capacity:
            raise ValueError(f"{self.slot_name}: unknown device {device_id!r}")
        if not isinstance(part, Decimal) or not part.is_finite() or part < 0:
            raise ValueError(f"{self.slot_name}: invalid amount {part!r} on {device_id!r}")

    @abc.abstractmethod
    def _place(self, amount: Decimal, free: dict[str, Decimal]) -> dict[str, Decimal]:
        """Choose where ``amount`` goes; called only when the total free covers it."""


class DiscreteDeviceMap(DeviceMap):
    """Whole units (``cuda.device``): integer amounts, free devices taken in order."""

    def __init__(self, slot_name: str, devices: Mapping[str, Decimal] | Iterable[str]) -> None:
        caps = (
            dict(devices)
            if isinstance(devices, Mapping)
            else {device_id: _ONE for device_id in devices}
        )
        super().__init__(slot_name, caps, _ONE)
        for device_id, cap in caps.items():
            if cap != cap.to_integral_value():
                raise ValueError(f"{slot_name}: device {device_id!r} needs a whole capacity")

    def _check_device_part(self, device_id: str, part: Decimal) -> None:
        super()._check_device_part(device_id, part)
        if part != part.to_integral_value():
            raise ValueError(f"{self.slot_name}: {_fmt(part)} on {device_id!r} is not whole")

    def _place(self, amount: Decimal, free: dict[str, Decimal]) -> dict[str, Decimal]:
        placement: dict[str, Decimal] = {}
        remaining = amount
        for device_id, available in free.items():
            if remaining == 0:
                break
            take = min(available, remaining)
            if take > 0:
                placement[device_id] = take
                remaining -= take
        return placement


class FractionalDeviceMap(DeviceMap):
    """Fractional amounts (``cuda.shares``, CPU cores), packed to keep whole devices free.

    An amount that fits on one device goes to the fullest device that still fits it; a larger one
    takes completely free devices whole and places the remainder the same way; failing that, the
    remainder is spread over the fullest devices first.
    """

    def _place(self, amount: Decimal, free: dict[str, Decimal]) -> dict[str, Decimal]:
        single = _best_fit(amount, free)
        if single is not None:
            return {single: amount}
        placement: dict[str, Decimal] = {}
        remaining = amount
        for device_id, available in free.items():
            cap = self._capacity[device_id]
            if 0 < cap <= remaining and available == cap:
                placement[device_id] = cap
                remaining -= cap
        if remaining == 0:
            return placement
        rest = {d: f for d, f in free.items() if d not in placement and f > 0}
        single = _best_fit(remaining, rest)
        if single is not None:
            placement[single] = remaining
            return placement
        order = sorted(rest, key=lambda d: rest[d])  # stable: ties keep device order
        for device_id in order:
            take = min(rest[device_id], remaining)
            placement[device_id] = take
            remaining -= take
            if remaining == 0:
                break
        if remaining != 0:  # unreachable while the caller checked the total
            raise AssertionError("placement fell short")
        return placement


def _best_fit(amount: Decimal, free: Mapping[str, Decimal]) -> str | None:
    """The device with the least free capacity that still holds ``amount`` (first on ties)."""
    best: str | None = None
    for device_id, available in free.items():
        if available >= amount and (best is None or available < free[best]):
            best = device_id
    return best


class MemoryMap:
    """A byte counter: no devices, no overcommit."""

    slot_name = "mem"

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError(f"memory capacity cannot be negative: {capacity}")
        self.capacity = capacity
        self._used = 0

    def used(self) -> int:
        return self._used

    def free(self) -> int:
        return self.capacity - self._used

    def allocate(self, amount: int) -> None:
        self._check(amount)
        if amount > self.free():
            free = Decimal(self.free())
            raise InsufficientCapacity(self.slot_name, Decimal(amount), free, free)
        self._used += amount

    def release(self, amount: int) -> None:
        self._check(amount)
        if amount > self._used:
            raise ValueError(f"releasing {amount} bytes of memory, only {self._used} in use")
        self._used -= amount

    def restore(self, amount: int) -> None:
        self.allocate(amount)

    @staticmethod
    def _check(amount: int) -> None:
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise ValueError(f"invalid memory amount: {amount!r}")


def _bytes(value: Decimal) -> int:
    if not value.is_finite() or value != value.to_integral_value():
        raise ValueError(f"mem must be a whole number of bytes: {value}")
    return int(value)


MEM_KEY = "host"


@dataclass(frozen=True)
class Allocation:
    """What one kernel holds: slot name -> device/unit id -> amount (``mem`` -> ``host`` bytes)."""

    slots: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        copied = {slot: dict(parts) for slot, parts in self.slots.items()}
        object.__setattr__(self, "slots", copied)

    def occupied(self) -> ResourceSlot:
        """The total per slot."""
        return ResourceSlot({slot: sum(p.values(), _ZERO) for slot, p in self.slots.items()})

    def cpuset(self) -> tuple[int, ...]:
        """The core ids of the ``cpu`` part, sorted."""
        return tuple(sorted(int(c) for c, n in self.slots.get("cpu", {}).items() if n > 0))

    def to_json(self) -> dict[str, dict[str, str]]:
        return {slot: {d: _fmt(n) for d, n in parts.items()} for slot, parts in self.slots.items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Mapping[str, Any]]) -> Allocation:
        return cls({slot: {d: Decimal(str(n)) for d, n in p.items()} for slot, p in data.items()})


class ResourceAllocator:
    """CPU cores, memory and accelerator slots of one agent, allocated all at once."""

    def __init__(
        self,
        cores: Iterable[int],
        memory: int,
        accelerators: Mapping[str, DeviceMap] | None = None,
    ) -> None:
        self.cpu = FractionalDeviceMap("cpu", {str(c): _ONE for c in cores}, CPU_QUANTUM)
        self.mem = MemoryMap(memory)
        self.accelerators: dict[str, DeviceMap] = dict(accelerators or {})
        for slot, device_map in self.accelerators.items():
            if slot in ("cpu", "mem"):
                raise ValueError(f"an accelerator cannot provide the {slot!r} slot")
            if device_map.slot_name != slot:
                raise ValueError(f"map for {slot!r} is for slot {device_map.slot_name!r}")

    def _maps(self) -> dict[str, DeviceMap]:
        return {"cpu": self.cpu, **self.accelerators}

    def capacity(self) -> ResourceSlot:
        caps = {slot: m.capacity() for slot, m in self._maps().items()}
        return ResourceSlot({**caps, "mem": Decimal(self.mem.capacity)})

    def occupied(self) -> ResourceSlot:
        used = {slot: m.used() for slot, m in self._maps().items()}
        return ResourceSlot({**used, "mem": Decimal(self.mem.used())})

    def free(self) -> ResourceSlot:
        return self.capacity() - self.occupied()

    def allocate(
        self,
        requested: ResourceSlot,
        devices: Mapping[str, Mapping[str, Decimal]] | None = None,
    ) -> Allocation:
        """Take every non-zero slot of ``requested``, or nothing (raises InsufficientCapacity).
        ``devices`` gives, per accelerator slot, the devices to take when they still fit (the
        manager's booking); otherwise, and for ``cpu``/``mem``, the allocator chooses."""
        booked = devices or {}
        maps = self._maps()
        wanted = {slot: amount for slot, amount in requested.items() if amount != 0}
        for slot, amount in wanted.items():
            if slot != "mem" and slot not in maps:
                raise InsufficientCapacity(slot, amount, _ZERO, _ZERO)
        taken: dict[str, dict[str, Decimal]] = {}
        try:
            for slot, amount in wanted.items():
                if slot == "mem":
                    nbytes = _bytes(amount)
                    self.mem.allocate(nbytes)
                    taken["mem"] = {MEM_KEY: Decimal(nbytes)}
                else:
                    prefer = booked.get(slot) if slot in self.accelerators else None
                    taken[slot] = maps[slot].allocate(amount, prefer)
        except BaseException:
            self._release_parts(taken)
            raise
        return Allocation(taken)

    def release(self, allocation: Allocation) -> None:
        """Give back an allocation; all or nothing (raises ValueError on a mismatch)."""
        self._apply(allocation, restoring=False)

    def restore(self, allocation: Allocation) -> None:
        """Re-apply a persisted allocation after a restart; all or nothing."""
        self._apply(allocation, restoring=True)

    def _apply(self, allocation: Allocation, restoring: bool) -> None:
        maps = self._maps()
        for slot in allocation.slots:
            if slot != "mem" and slot not in maps:
                raise ValueError(f"unknown slot {slot!r} in allocation")
        done: dict[str, Mapping[str, Decimal]] = {}
        try:
            for slot, parts in allocation.slots.items():
                if slot == "mem":
                    amount = _mem_amount(parts)
                    (self.mem.restore if restoring else self.mem.release)(amount)
                else:
                    (maps[slot].restore if restoring else maps[slot].release)(parts)
                done[slot] = parts
        except BaseException:
            if restoring:
                self._release_parts(done)
            else:
                self._restore_parts(done)
            raise

    def _release_parts(self, parts: Mapping[str, Mapping[str, Decimal]]) -> None:
        maps = self._maps()
        for slot, part in parts.items():
            if slot == "mem":
                self.mem.release(_mem_amount(part))
            else:
                maps[slot].release(part)

    def _restore_parts(self, parts: Mapping[str, Mapping[str, Decimal]]) -> None:
        maps = self._maps()
        for slot, part in parts.items():
            if slot == "mem":
                self.mem.restore(_mem_amount(part))
            else:
                maps[slot].restore(part)


def _mem_amount(parts: Mapping[str, Decimal]) -> int:
    if set(parts) - {MEM_KEY}:
        raise ValueError(f"mem allocation must be keyed {MEM_KEY!r}: {sorted(parts)}")
    return _bytes(parts.get(MEM_KEY, _ZERO))
