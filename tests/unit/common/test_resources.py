from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cygnet.common.resources import (
    INTRINSIC_SLOTS,
    UNLIMITED,
    BinarySize,
    InvalidSlotQuantity,
    ResourceSlot,
    SlotType,
    UnknownSlot,
    is_bytes_slot,
)

GiB = 2**30
MiB = 2**20

# --- BinarySize ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("1024", 1024),
        ("1_048_576", MiB),
        ("1.0", 1),
        ("2.000", 2),
        ("4g", 4 * GiB),
        ("4gb", 4 * GiB),
        ("4GiB", 4 * GiB),
        ("4G", 4 * GiB),
        ("4gbyte", 4 * GiB),
        ("4gbytes", 4 * GiB),
        ("4gibyte", 4 * GiB),
        ("4GIBYTES", 4 * GiB),
        ("4294967296", 4294967296),
        ("512m", 536870912),
        ("64m", 67108864),
        ("1k", 1024),
        ("1.5g", GiB + GiB // 2),
        ("1.5t", 3 * 2**39),
        ("1p", 2**50),
        ("1e", 2**60),
        ("1z", 2**70),
        ("1y", 2**80),
        (".5k", 512),
        ("1_024m", GiB),
        ("  16g  ", 16 * GiB),
    ],
)
def test_binary_size_parses(text: str, expected: int) -> None:
    parsed = BinarySize.parse(text)
    assert isinstance(parsed, BinarySize)
    assert parsed == expected
    assert BinarySize.from_str(text) == expected


@pytest.mark.parametrize("text", ["inf", "infinite", "infinity", "INF", "Infinity"])
def test_binary_size_unlimited(text: str) -> None:
    assert BinarySize.parse(text) == UNLIMITED
    with pytest.raises(ValueError, match="finite"):
        BinarySize.from_str(text)


@pytest.mark.parametrize(
    "text",
    [
        "1.5",
        "abc",
        "-1g",
        "1gg",
        "",
        "   ",
        "g",
        "1x",
        "100b",
        "1gibi",
        "1e3",
        "1.5.5g",
        "1 g",
        "+1",
    ],
)
def test_binary_size_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"binary size|fractional bytes"):
        BinarySize.parse(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (5, 5),
        (Decimal(7), 7),
        (Decimal("8.0"), 8),
        (Decimal("Infinity"), UNLIMITED),
    ],
)
def test_binary_size_parses_numbers(value: int | Decimal, expected: int | Decimal) -> None:
    assert BinarySize.parse(value) == expected


@pytest.mark.parametrize("value", [-1, Decimal("-1"), Decimal("1.5"), Decimal("NaN")])
def test_binary_size_rejects_numbers(value: int | Decimal) -> None:
    with pytest.raises(ValueError):
        BinarySize.parse(value)


def test_binary_size_rejects_bool() -> None:
    with pytest.raises(TypeError):
        BinarySize.parse(True)


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (0, "0"),
        (1000, "1000"),
        (1024, "1k"),
        (1536, "1.5k"),
        (512 * MiB, "512m"),
        (16 * GiB, "16g"),
        (GiB + GiB // 2, "1.5g"),
        (GiB + GiB // 4, "1.25g"),
        (3 * 2**39, "1.5t"),
        (GiB + 1, "1073741825"),
        (2**80, "1y"),
        (2**90, "1024y"),
    ],
)
def test_binary_size_format(size: int, expected: str) -> None:
    assert BinarySize(size).format() == expected
    assert str(BinarySize(size)) == expected
    assert f"{BinarySize(size)}" == expected
    assert BinarySize.from_str(expected) == size


def test_binary_size_constructor_and_repr() -> None:
    assert repr(BinarySize(1024)) == "BinarySize(1024)"
    assert BinarySize(1024) + 1 == 1025
    with pytest.raises(ValueError, match="negative"):
        BinarySize(-1)
    with pytest.raises(TypeError):
        BinarySize(1.5)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=2**100))
def test_binary_size_format_round_trips(size: int) -> None:
    assert BinarySize.from_str(BinarySize(size).format()) == size


# --- slot types ---------------------------------------------------------------------------


def test_intrinsic_slots() -> None:
    assert INTRINSIC_SLOTS == {"cpu": SlotType.COUNT, "mem": SlotType.BYTES}
    assert [t.value for t in SlotType] == ["count", "bytes", "unique", "unified"]


@pytest.mark.parametrize(
    ("name", "types", "expected"),
    [
        ("mem", None, True),
        ("cpu", None, False),
        ("cuda.mem", None, True),
        ("cuda.device", None, False),
        ("disk", {"disk": "bytes"}, True),
        ("cuda.mem", {"cuda.mem": "count"}, False),
        ("mem", {"mem": SlotType.BYTES}, True),
    ],
)
def test_is_bytes_slot(name: str, types: dict[str, str] | None, expected: bool) -> None:
    assert is_bytes_slot(name, types) is expected


# --- ResourceSlot construction -----------------------------------------------------------


def test_construct_from_mixed_values() -> None:
    slot = ResourceSlot(
        {"cpu": "2", "mem": "16g", "cuda.shares": 0.5, "cuda.device": Decimal(1), "x": 3}
    )
    assert slot["cpu"] == Decimal(2)
    assert slot["mem"] == Decimal(16 * GiB)
    assert slot["cuda.shares"] == Decimal("0.5")
    assert slot["cuda.device"] == 1
    assert slot["x"] == 3
    assert len(slot) == 5
    assert set(slot) == {"cpu", "mem", "cuda.shares", "cuda.device", "x"}
    assert all(isinstance(v, Decimal) for v in slot.values())


@pytest.mark.parametrize(
    ("data", "types", "expected"),
    [
        ({"mem": "Infinity"}, None, {"mem": UNLIMITED}),
        ({"mem": "inf"}, None, {"mem": UNLIMITED}),
        ({"cpu": "Infinity"}, None, {"cpu": UNLIMITED}),
        ({"mem": "-1g"}, None, {"mem": Decimal(-GiB)}),
        ({"mem": "4294967296"}, None, {"mem": Decimal(4 * GiB)}),
        ({"mem": Decimal("1E+3")}, None, {"mem": Decimal(1000)}),
        ({"disk": "1g"}, {"disk": "bytes"}, {"disk": Decimal(GiB)}),
        ({"cpu": "0.0004"}, None, {"cpu": Decimal(0)}),
        ({"cpu": 1.2345}, None, {"cpu": Decimal("1.234")}),
        ({"cuda.shares": "1_000.25"}, None, {"cuda.shares": Decimal("1000.25")}),
    ],
)
def test_construct_values(
    data: dict[str, str | Decimal | float],
    types: dict[str, str] | None,
    expected: dict[str, Decimal],
) -> None:
    slot = ResourceSlot(data, slot_types=types)
    assert dict(slot) == expected


@pytest.mark.parametrize(
    "data",
    [
        {"mem": "1.5"},
        {"mem": 1.5},
        {"mem": "abc"},
        {"cpu": "abc"},
        {"cpu": "NaN"},
        {"cpu": Decimal("NaN")},
        {"cpu": True},
        {"cpu": "--1"},
        {"cpu": ""},
        {"cpu": [1]},
    ],
)
def test_construct_rejects(data: dict[str, object]) -> None:
    with pytest.raises(InvalidSlotQuantity):
        ResourceSlot(data)  # type: ignore[arg-type]


def test_immutable() -> None:
    slot = ResourceSlot({"cpu": 1})
    with pytest.raises(TypeError):
        slot["cpu"] = Decimal(2)  # type: ignore[index]
    with pytest.raises(AttributeError):
        slot.other = 1  # type: ignore[attr-defined]


# --- arithmetic and comparison -----------------------------------------------------------


def test_add_and_sub_treat_missing_as_zero() -> None:
    a = ResourceSlot({"cpu": 2, "mem": "4g"})
    b = ResourceSlot({"cpu": "0.5", "cuda.device": 1})
    assert a + b == ResourceSlot({"cpu": "2.5", "mem": "4g", "cuda.device": 1})
    assert a - b == ResourceSlot({"cpu": "1.5", "mem": "4g", "cuda.device": -1})
    assert (a - b).to_json() == {"cpu": "1.5", "mem": "4294967296", "cuda.device": "-1"}
    assert ResourceSlot() + a == a


def test_mul() -> None:
    a = ResourceSlot({"cpu": "1.5", "mem": "3", "cuda.shares": "0.5"})
    assert a * 2 == ResourceSlot({"cpu": 3, "mem": 6, "cuda.shares": 1})
    assert 2 * a == a * 2
    half = a * Decimal("0.5")
    assert half.to_json() == {"cpu": "0.75", "mem": "1", "cuda.shares": "0.25"}
    assert (ResourceSlot({"cpu": "0.001"}) * 0.5)["cpu"] == Decimal(0)
    assert (ResourceSlot({"mem": "inf"}) * 2)["mem"] == UNLIMITED


def test_arithmetic_with_other_types_is_a_type_error() -> None:
    a = ResourceSlot({"cpu": 1})
    with pytest.raises(TypeError):
        _ = a + {"cpu": 1}  # type: ignore[operator]
    with pytest.raises(TypeError):
        _ = a * "2"  # type: ignore[operator]
    with pytest.raises(TypeError):
        _ = a < a  # type: ignore[operator]


def test_equality_ignores_zero_slots() -> None:
    a = ResourceSlot({"cpu": 1, "mem": 0})
    assert a == ResourceSlot({"cpu": "1.000"})
    assert hash(a) == hash(ResourceSlot({"cpu": "1.000"}))
    assert a != ResourceSlot({"cpu": 2})
    assert a == {"cpu": 1}
    assert a != {"cpu": "bogus"}
    assert a != 1
    assert ResourceSlot({"cpu": 0}) == ResourceSlot()
    assert ResourceSlot({"mem": "inf"}) == ResourceSlot({"mem": "Infinity"})


def test_normalised_and_predicates() -> None:
    a = ResourceSlot({"cpu": 1, "mem": 0})
    assert dict(a.normalised()) == {"cpu": Decimal(1)}
    assert not a.is_zero()
    assert ResourceSlot({"cpu": 0, "mem": 0}).is_zero()
    assert ResourceSlot().is_zero()
    assert a.is_nonnegative()
    assert not ResourceSlot({"cpu": -1}).is_nonnegative()
    assert a.get_or_zero("cuda.device") == 0


@pytest.mark.parametrize(
    ("request_", "capacity", "fits"),
    [
        ({"cpu": 1, "mem": "1g"}, {"cpu": 2, "mem": "2g"}, True),
        ({"cpu": 2, "mem": "2g"}, {"cpu": 2, "mem": "2g"}, True),
        ({"cpu": 3}, {"cpu": 2, "mem": "2g"}, False),
        ({"cuda.device": 1}, {"cpu": 2}, False),
        ({"cuda.device": 0}, {"cpu": 2}, True),
        ({}, {"cpu": 2}, True),
        ({"mem": "1y"}, {"mem": "inf"}, True),
        ({"mem": "inf"}, {"mem": "1y"}, False),
        ({"cpu": 1}, {"cpu": 1, "mem": -1}, False),
    ],
)
def test_fits_in(request_: dict[str, object], capacity: dict[str, object], fits: bool) -> None:
    req = ResourceSlot(request_)  # type: ignore[arg-type]
    cap = ResourceSlot(capacity)  # type: ignore[arg-type]
    assert req.fits_in(cap) is fits
    assert (req <= cap) is fits
    assert (cap >= req) is fits


# --- JSON ---------------------------------------------------------------------------------


def test_to_json() -> None:
    slot = ResourceSlot(
        {"cpu": "0.5", "mem": "16g", "cuda.shares": "1.50", "big": "1E+3", "disk": "inf"}
    )
    assert slot.to_json() == {
        "cpu": "0.5",
        "mem": "17179869184",
        "cuda.shares": "1.5",
        "big": "1000",
        "disk": "Infinity",
    }
    assert ResourceSlot({"cpu": 2}).to_json() == {"cpu": "2"}
    assert ResourceSlot({"cpu": "0.0001"}).to_json() == {"cpu": "0"}
    assert ResourceSlot({"mem": "-inf"}).to_json() == {"mem": "-Infinity"}
    assert ResourceSlot.from_json(slot.to_json()) == slot


def test_from_json_with_slot_types() -> None:
    slot = ResourceSlot.from_json({"disk": "2g"}, {"disk": "bytes"})
    assert slot.to_json() == {"disk": "2147483648"}


def test_repr_evaluates_back() -> None:
    slot = ResourceSlot({"cpu": "1.5", "mem": "1g"})
    assert repr(slot) == "ResourceSlot({'cpu': '1.5', 'mem': '1073741824'})"
    assert eval(repr(slot)) == slot


# --- user input ---------------------------------------------------------------------------

KNOWN = {"cpu": "count", "mem": "bytes", "cuda.device": "count", "cuda.shares": "count"}


def test_from_user_input() -> None:
    slot = ResourceSlot.from_user_input(
        {"cpu": "2", "mem": "4g", "cuda.device": 0, "cuda.shares": None}, KNOWN
    )
    assert dict(slot) == {"cpu": Decimal(2), "mem": Decimal(4 * GiB)}
    assert ResourceSlot.from_user_input({"other": 1}) == ResourceSlot({"other": 1})


def test_from_user_input_unknown_slot() -> None:
    with pytest.raises(UnknownSlot, match=r"'tpu\.device'") as info:
        ResourceSlot.from_user_input({"cpu": 1, "tpu.device": 1}, KNOWN)
    assert info.value.slot == "tpu.device"
    assert info.value.slug == "unknown-resource-slot-type"
    assert isinstance(info.value, ValueError)
    with pytest.raises(UnknownSlot, match="resource_opts"):
        ResourceSlot.from_user_input({"shmem": "64m"}, KNOWN)


@pytest.mark.parametrize(
    "data", [{"cpu": -1}, {"mem": "-1g"}, {"cpu": "-0.5"}, {"mem": "abc"}, {"mem": "1.5"}]
)
def test_from_user_input_invalid_quantity(data: dict[str, object]) -> None:
    with pytest.raises(InvalidSlotQuantity) as info:
        ResourceSlot.from_user_input(data, KNOWN)  # type: ignore[arg-type]
    assert info.value.slug == "invalid-resource-slot-quantity"
    assert info.value.slot in data


# --- properties ---------------------------------------------------------------------------

_NAMES = st.sampled_from(["cpu", "mem", "cuda.device", "cuda.shares", "cuda.mem", "tpu.device"])
_COUNTS = st.decimals(
    min_value=-(10**12), max_value=10**12, places=3, allow_nan=False, allow_infinity=False
)
_BYTES = st.integers(min_value=-(2**80), max_value=2**80)


@st.composite
def slot_maps(draw: st.DrawFn) -> ResourceSlot:
    names = draw(st.lists(_NAMES, unique=True, max_size=6))
    data: dict[str, Decimal | int] = {}
    for name in names:
        data[name] = draw(_BYTES) if "mem" in name else draw(_COUNTS)
    return ResourceSlot(data)


@given(slot_maps(), slot_maps())
def test_add_then_sub_is_identity(a: ResourceSlot, b: ResourceSlot) -> None:
    assert (a + b) - b == a
    assert a + b == b + a


@given(slot_maps())
def test_json_round_trip(a: ResourceSlot) -> None:
    encoded = a.to_json()
    assert all(isinstance(v, str) for v in encoded.values())
    assert ResourceSlot.from_json(encoded) == a
    assert ResourceSlot.from_json(encoded).to_json() == encoded
    assert all("." not in v for k, v in encoded.items() if "mem" in k)


@given(slot_maps(), slot_maps())
def test_fits_in_matches_nonnegative_difference(a: ResourceSlot, b: ResourceSlot) -> None:
    assert a.fits_in(b) is (b - a).is_nonnegative()
    assert a.fits_in(a)
    assert a.fits_in(a + b) is b.is_nonnegative()


@given(slot_maps())
def test_equality_is_consistent_with_hash(a: ResourceSlot) -> None:
    b = ResourceSlot.from_json({**a.to_json(), "unused": "0"})
    assert a == b
    assert hash(a) == hash(b)
