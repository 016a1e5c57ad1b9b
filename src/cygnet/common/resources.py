"""Resource slots: ``BinarySize`` ("16g"), slot types and the ``ResourceSlot`` Decimal map.

Wire behaviour follows section 4 ("Resource slots") of the Backend.AI wire notes.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, ItemsView, Iterator, Mapping
from decimal import (
    ROUND_DOWN,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)
from enum import StrEnum
from fractions import Fraction
from typing import ClassVar, Self, SupportsIndex

UNLIMITED = Decimal("Infinity")
CPU_QUANTUM = Decimal("0.001")

_INFINITY_WORDS = frozenset({"inf", "infinite", "infinity"})
_SUFFIX_SHIFTS = {"k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60, "z": 70, "y": 80}
_SIZE_RE = re.compile(
    r"(?P<num>[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:(?P<suffix>[kmgtpezy])(?:i?b(?:ytes?)?)?)?",
    re.ASCII,
)
# Slot arithmetic runs in its own context: wide enough for any realistic quantity, and
# independent of the caller's thread-local decimal context.
_CTX = Context(
    prec=60, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow]
)


class BinarySize(int):
    """A non-negative number of bytes that parses and prints forms like ``16g`` or ``1.5t``."""

    def __new__(cls, value: SupportsIndex = 0) -> Self:
        number = operator.index(value)
        if number < 0:
            raise ValueError(f"a binary size cannot be negative: {number}")
        return super().__new__(cls, number)

    @classmethod
    def parse(cls, value: str | int | Decimal) -> BinarySize | Decimal:
        """Parse a size; unlimited (``inf``) comes back as ``Decimal('Infinity')``."""
        if isinstance(value, bool):
            raise TypeError("a binary size cannot be a bool")
        if isinstance(value, int):
            return cls(value)
        if isinstance(value, Decimal):
            return cls._from_decimal(value)
        if isinstance(value, str):
            return cls._parse_str(value)
        raise TypeError(f"cannot parse a binary size from {type(value).__name__}")

    @classmethod
    def from_str(cls, value: str) -> BinarySize:
        """Parse a finite size; unlimited values are rejected."""
        result = cls.parse(value)
        if not isinstance(result, BinarySize):
            raise ValueError(f"expected a finite binary size, got {value!r}")
        return result

    @classmethod
    def _from_decimal(cls, value: Decimal) -> BinarySize | Decimal:
        if value.is_nan() or value < 0:
            raise ValueError(f"invalid binary size: {value}")
        if value.is_infinite():
            return UNLIMITED
        if value != value.to_integral_value():
            raise ValueError(f"a binary size must be a whole number of bytes: {value}")
        return cls(int(value))

    @classmethod
    def _parse_str(cls, text: str) -> BinarySize | Decimal:
        expr = text.strip().replace("_", "").lower()
        if expr in _INFINITY_WORDS:
            return UNLIMITED
        match = _SIZE_RE.fullmatch(expr)
        if match is None:
            raise ValueError(f"invalid binary size: {text!r}")
        number = Fraction(match["num"])
        suffix = match["suffix"]
        if suffix is None:
            if number.denominator != 1:
                raise ValueError(f"fractional bytes need a unit suffix (k, m, g, …): {text!r}")
            return cls(int(number))
        return cls(math.floor(number * (1 << _SUFFIX_SHIFTS[suffix])))

    def format(self) -> str:
        """A short form (``16g``, ``1.5g``, ``512m``); plain bytes when no unit fits exactly."""
        value = int(self)
        for suffix, shift in reversed(_SUFFIX_SHIFTS.items()):
            unit = 1 << shift
            if value < unit:
                continue
            hundredths = Fraction(value * 100, unit)
            if hundredths.denominator == 1:
                whole, frac = divmod(hundredths.numerator, 100)
                decimals = f".{frac:02d}".rstrip("0") if frac else ""
                return f"{whole}{decimals}{suffix}"
        return str(value)

    def __str__(self) -> str:
        return self.format()

    def __repr__(self) -> str:
        return f"BinarySize({int(self)})"


class SlotType(StrEnum):
    COUNT = "count"
    BYTES = "bytes"
    UNIQUE = "unique"
    UNIFIED = "unified"


INTRINSIC_SLOTS: Mapping[str, SlotType] = {"cpu": SlotType.COUNT, "mem": SlotType.BYTES}


def is_bytes_slot(name: str, slot_types: Mapping[str, str] | None = None) -> bool:
    """Whether a slot holds bytes: its known type, else its intrinsic one, else ``mem`` in it."""
    if slot_types is not None and name in slot_types:
        return slot_types[name] == SlotType.BYTES
    if name in INTRINSIC_SLOTS:
        return INTRINSIC_SLOTS[name] == SlotType.BYTES
    return "mem" in name


class ResourceSlotError(ValueError):
    """A slot map could not be built from the given input."""

    slug: ClassVar[str] = "invalid-parameters"


class UnknownSlot(ResourceSlotError):
    """A slot name that is not among the known slots."""

    slug = "unknown-resource-slot-type"

    def __init__(self, slot: str) -> None:
        msg = f"unknown resource slot: {slot!r}"
        if slot == "shmem":
            msg += " (shmem belongs in resource_opts, not in resources)"
        super().__init__(msg)
        self.slot = slot


class InvalidSlotQuantity(ResourceSlotError):
    """A slot value that is not a valid quantity (unparsable, NaN, fractional bytes, negative)."""

    slug = "invalid-resource-slot-quantity"

    def __init__(self, slot: str, value: object, reason: str) -> None:
        super().__init__(f"invalid quantity for resource slot {slot!r}: {value!r} ({reason})")
        self.slot = slot
        self.value = value


SlotValue = Decimal | int | float | str


def _to_decimal(value: SlotValue, bytes_slot: bool) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("a bool is not a quantity")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if not isinstance(value, str):
        raise ValueError(f"unsupported type {type(value).__name__}")
    text = value.strip()
    negative = text.startswith("-")
    body = text[1:] if negative else text
    if body.replace("_", "").lower() in _INFINITY_WORDS:
        result = UNLIMITED
    elif bytes_slot:
        result = Decimal(BinarySize.parse(body))
    else:
        try:
            result = Decimal(body.replace("_", ""))
        except InvalidOperation:
            raise ValueError("not a number") from None
        if result.is_nan() or (negative and body.startswith(("-", "+"))):
            raise ValueError("not a number")
    return -result if negative else result


def _normalise_value(name: str, value: SlotValue, slot_types: Mapping[str, str] | None) -> Decimal:
    bytes_slot = is_bytes_slot(name, slot_types)
    try:
        number = _to_decimal(value, bytes_slot)
    except ValueError as exc:
        raise InvalidSlotQuantity(name, value, str(exc)) from None
    if number.is_nan():
        raise InvalidSlotQuantity(name, value, "not a number")
    if number.is_infinite():
        return number
    if bytes_slot:
        if number != number.to_integral_value(context=_CTX):
            raise InvalidSlotQuantity(name, value, "fractional bytes")
        return Decimal(int(number))
    if name == "cpu":
        try:
            return number.quantize(CPU_QUANTUM, context=_CTX)
        except InvalidOperation:
            raise InvalidSlotQuantity(name, value, "too large") from None
    return number


def _plain(number: Decimal) -> str:
    """A decimal as a plain string: no exponent, no trailing zeros; ``Infinity`` when unlimited."""
    if number.is_infinite():
        return "-Infinity" if number < 0 else "Infinity"
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


class ResourceSlot(Mapping[str, Decimal]):
    """An immutable map from slot name to Decimal quantity; a missing slot counts as zero."""

    __slots__ = ("_data",)
    _data: dict[str, Decimal]

    def __init__(
        self,
        data: Mapping[str, SlotValue] | None = None,
        *,
        slot_types: Mapping[str, str] | None = None,
    ) -> None:
        parsed: dict[str, Decimal] = {}
        for name, value in (data or {}).items():
            if not isinstance(name, str) or not name:
                raise ResourceSlotError(f"a slot name must be a non-empty string: {name!r}")
            parsed[name] = _normalise_value(name, value, slot_types)
        self._data = parsed

    @classmethod
    def _trusted(cls, data: dict[str, Decimal]) -> ResourceSlot:
        slot = cls.__new__(cls)
        slot._data = data
        return slot

    @classmethod
    def from_user_input(
        cls,
        data: Mapping[str, SlotValue | None],
        slot_types: Mapping[str, str] | None = None,
    ) -> ResourceSlot:
        """Validate a user's request: unknown names and negatives raise, zeros and nulls drop.

        Names are checked only when ``slot_types`` (the known slots and their types) is given.
        """
        parsed: dict[str, Decimal] = {}
        for name, value in data.items():
            if slot_types is not None and name not in slot_types:
                raise UnknownSlot(name)
            if value is None:
                continue
            number = _normalise_value(name, value, slot_types)
            if number < 0:
                raise InvalidSlotQuantity(name, value, "negative")
            if number != 0:
                parsed[name] = number
        return cls._trusted(parsed)

    @classmethod
    def from_json(
        cls, data: Mapping[str, SlotValue], slot_types: Mapping[str, str] | None = None
    ) -> ResourceSlot:
        """Read a ``{slot: "<decimal string>"}`` map as stored or sent on the wire."""
        return cls(data, slot_types=slot_types)

    def to_json(self) -> dict[str, str]:
        """``{slot: "<decimal string>"}``: bytes as integers, unlimited as ``Infinity``."""
        return {name: _plain(value) for name, value in self._data.items()}

    def __getitem__(self, name: str) -> Decimal:
        return self._data[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def items(self) -> ItemsView[str, Decimal]:
        return self._data.items()  # the mixin's goes through __getitem__ for each item

    def get_or_zero(self, name: str) -> Decimal:
        """The quantity of a slot, zero when missing."""
        return self._data.get(name, Decimal(0))

    def normalised(self) -> ResourceSlot:
        """The same map without zero-valued slots."""
        return self._trusted({k: v for k, v in self._data.items() if v != 0})

    def is_zero(self) -> bool:
        return all(v == 0 for v in self._data.values())

    def is_nonnegative(self) -> bool:
        return all(v >= 0 for v in self._data.values())

    def fits_in(self, capacity: ResourceSlot) -> bool:
        """Whether every slot is at most the same slot of ``capacity`` (missing slots are zero)."""
        names = self._data.keys() | capacity._data.keys()
        return all(self.get_or_zero(n) <= capacity.get_or_zero(n) for n in names)

    def _combine(
        self, other: ResourceSlot, op: Callable[[Decimal, Decimal], Decimal]
    ) -> ResourceSlot:
        names = list(self._data) + [n for n in other._data if n not in self._data]
        return self._trusted({n: op(self.get_or_zero(n), other.get_or_zero(n)) for n in names})

    def __add__(self, other: ResourceSlot) -> ResourceSlot:
        if not isinstance(other, ResourceSlot):
            return NotImplemented
        return self._combine(other, _CTX.add)

    def __sub__(self, other: ResourceSlot) -> ResourceSlot:
        if not isinstance(other, ResourceSlot):
            return NotImplemented
        return self._combine(other, _CTX.subtract)

    def __mul__(self, factor: int | float | Decimal) -> ResourceSlot:
        """Scale every slot; cpu is re-quantised and byte slots are rounded down to whole bytes."""
        if isinstance(factor, bool) or not isinstance(factor, int | float | Decimal):
            return NotImplemented
        scale = Decimal(repr(factor)) if isinstance(factor, float) else Decimal(factor)
        scaled: dict[str, Decimal] = {}
        for name, value in self._data.items():
            number = _CTX.multiply(value, scale)
            if number.is_finite():
                if is_bytes_slot(name):
                    number = number.to_integral_value(rounding=ROUND_DOWN, context=_CTX)
                elif name == "cpu":
                    number = number.quantize(CPU_QUANTUM, context=_CTX)
            scaled[name] = number
        return self._trusted(scaled)

    def __rmul__(self, factor: int | float | Decimal) -> ResourceSlot:
        return self.__mul__(factor)

    def __le__(self, other: ResourceSlot) -> bool:
        if not isinstance(other, ResourceSlot):
            return NotImplemented
        return self.fits_in(other)

    def __ge__(self, other: ResourceSlot) -> bool:
        if not isinstance(other, ResourceSlot):
            return NotImplemented
        return other.fits_in(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ResourceSlot):
            if not isinstance(other, Mapping):
                return NotImplemented
            try:
                other = ResourceSlot(other)
            except (ValueError, TypeError):
                return False
        if self._data == other._data:  # most often, without making the normalised ones
            return True
        return self.normalised()._data == other.normalised()._data

    def __hash__(self) -> int:
        return hash(frozenset(self.normalised()._data.items()))

    def __repr__(self) -> str:
        return f"ResourceSlot({self.to_json()!r})"
