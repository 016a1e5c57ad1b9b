"""The filter / order mini-language of the paginated GraphQL ``*_list`` fields."""

from __future__ import annotations

import dataclasses
import enum
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from cygnet.common.errors import InvalidAPIParameters
from cygnet.manager.store.querying import (
    And,
    Compare,
    FieldSpec,
    FilterExpr,
    Not,
    Op,
    Or,
    datetime_converter,
    enum_converter,
    filter_to_sql,
    parse_filter,
    parse_order,
    uuid_converter,
)


def cmp(field: str, op: Op, value: Any) -> Compare:
    return Compare(field, op, value)


A1 = cmp("a", Op.EQ, 1)
B2 = cmp("b", Op.EQ, 2)
C3 = cmp("c", Op.EQ, 3)


# -- parser ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "op"),
    [
        ("x == 1", Op.EQ),
        ("x != 1", Op.NE),
        ("x < 1", Op.LT),
        ("x <= 1", Op.LE),
        ("x > 1", Op.GT),
        ("x >= 1", Op.GE),
        ("x like 1", Op.LIKE),
        ("x ilike 1", Op.ILIKE),
        ("x contains 1", Op.CONTAINS),
        ("x in 1", Op.IN),
        ("x not in 1", Op.NOT_IN),
        ("x is 1", Op.IS),
        ("x isnot 1", Op.IS_NOT),
        ("x is not 1", Op.IS_NOT),
        ("x==1", Op.EQ),
        ("x<=1", Op.LE),
    ],
)
def test_operators(text: str, op: Op) -> None:
    assert parse_filter(text) == cmp("x", op, 1)


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("0", 0),
        ("42", 42),
        ("-7", -7),
        ("+7", 7),
        ("1.5", 1.5),
        ("-0.25", -0.25),
        (".5", 0.5),
        ("2.", 2.0),
        ("1e3", 1000.0),
        ("1.5E-2", 0.015),
        ("true", True),
        ("false", False),
        ("null", None),
        ('""', ""),
        ('"admin"', "admin"),
        ('"with space & | ! ( ) [ ] ,"', "with space & | ! ( ) [ ] ,"),
        ('"say \\"hi\\""', 'say "hi"'),
        ('"back\\\\slash"', "back\\slash"),
        ('"tab\\tnew\\nline"', "tab\tnew\nline"),
        ('"100\\%"', "100\\%"),
        ('"ünïcödé"', "ünïcödé"),
        ("[]", ()),
        ('["a"]', ("a",)),
        ('["a", "b" , 3, null, true]', ("a", "b", 3, None, True)),
    ],
)
def test_literals(literal: str, value: Any) -> None:
    node = parse_filter(f"field == {literal}")
    assert isinstance(node, Compare)
    assert node.value == value
    assert type(node.value) is type(value)


def test_field_names_and_positions() -> None:
    node = parse_filter('  _private_2 == "x"')
    assert node == cmp("_private_2", Op.EQ, "x")
    assert isinstance(node, Compare) and node.pos == 2
    # keywords are contextual: a field may be called like an operator or a literal
    assert parse_filter("in in [1]") == cmp("in", Op.IN, (1,))
    assert parse_filter("null is null") == cmp("null", Op.IS, None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a == 1 & b == 2", And((A1, B2))),
        ("a == 1 | b == 2", Or((A1, B2))),
        ("a == 1 & b == 2 & c == 3", And((A1, B2, C3))),
        ("a == 1 | b == 2 | c == 3", Or((A1, B2, C3))),
        # & binds tighter than |
        ("a == 1 | b == 2 & c == 3", Or((A1, And((B2, C3))))),
        ("a == 1 & b == 2 | c == 3", Or((And((A1, B2)), C3))),
        # ! binds tighter than &
        ("!a == 1 & b == 2", And((Not(A1), B2))),
        ("!!a == 1", Not(Not(A1))),
        # parentheses override
        ("(a == 1 | b == 2) & c == 3", And((Or((A1, B2)), C3))),
        ("!(a == 1 & b == 2)", Not(And((A1, B2)))),
        ("((a == 1))", A1),
        ("a==1&(b==2|c==3)", And((A1, Or((B2, C3))))),
    ],
)
def test_precedence(text: str, expected: FilterExpr) -> None:
    assert parse_filter(text) == expected


def test_ast_is_immutable_and_hashable() -> None:
    node = parse_filter('a in ["x", "y"] & !b == 2')
    assert isinstance(node, And)
    with pytest.raises(dataclasses.FrozenInstanceError):
        node.operands = ()  # type: ignore[misc]
    assert hash(node) == hash(parse_filter('a in ["x","y"]&!b==2'))


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("", 0, "empty filter expression"),
        ("   ", 3, "empty filter expression"),
        ('name == "admin', 8, "unterminated string"),
        ('name == "ends with backslash\\"', 8, "unterminated string"),
        ("name == 'admin'", 8, "double quotes"),
        ('name = "admin"', 5, "unknown operator '='"),
        ('name ~ "admin"', 5, "unknown operator '~'"),
        ('name equals "admin"', 5, "unknown operator 'equals'"),
        ("name", 4, "expected an operator, got end of input"),
        ("name ==", 7, "expected a value"),
        ("name == admin", 8, "expected a value"),
        ("name == TRUE", 8, "expected a value"),
        ('name not "x"', 9, "expected 'in' after 'not'"),
        ("a == 1 b == 2", 7, "unexpected 'b' after a complete expression"),
        ("a == 1)", 6, "unexpected ')'"),
        ("a == 1 &", 8, "expected a field name"),
        ("a == 1 && b == 2", 8, "expected a field name"),
        ("& a == 1", 0, "expected a field name"),
        ("(a == 1", 7, "expected ')'"),
        ("a in [1, 2", 10, "expected ']'"),
        ("a in [1, 2,]", 11, "expected a value"),
        ("a in [[1]]", 6, "expected a value"),
        ("a == 12abc", 5, "malformed number '12abc'"),
        ("a == 1.2.3", 5, "malformed number"),
        ("a == 1e", 5, "malformed number"),
        ("== 1", 0, "expected a field name"),
        ("a == 1 @", 7, "unexpected '@'"),
    ],
)
def test_filter_syntax_errors(text: str, position: int, fragment: str) -> None:
    with pytest.raises(InvalidAPIParameters) as info:
        parse_filter(text)
    err = info.value
    assert fragment in str(err)
    assert f"at position {position}:" in str(err)
    assert err.data == {"expression": text, "position": position}
    assert err.status == 400
    assert err.body()["error_code"] == "api_generic_invalid-parameters"


_FUZZ_ALPHABET = st.sampled_from(
    [*"abcxyz_019 .+-\"\\'()[],&|!=<>~", "in", "not", "is", "like", "null", "true"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_FUZZ_ALPHABET, max_size=20).map("".join))
def test_parser_only_raises_invalid_api_parameters(text: str) -> None:
    try:
        parse_filter(text)
    except InvalidAPIParameters:
        pass
    try:
        parse_order(text, {"a": FieldSpec(sa.column("a"))})
    except InvalidAPIParameters:
        pass


# -- SQL generation against SQLite -------------------------------------------------------------


class Role(enum.StrEnum):
    ADMIN = "admin"
    USER = "user"
    MONITOR = "monitor"


class Base(DeclarativeBase):
    pass


class UserRow(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    username: Mapped[str] = mapped_column(sa.String(64))
    email: Mapped[str] = mapped_column(sa.String(128))
    role: Mapped[Role] = mapped_column(sa.Enum(Role))
    age: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    is_active: Mapped[bool] = mapped_column(sa.Boolean)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


UUIDS = [uuid.UUID(int=i + 1) for i in range(5)]
ROWS = [
    ("admin", "admin@example.com", Role.ADMIN, 40, True, datetime(2023, 5, 1, tzinfo=UTC)),
    ("alice", "Alice@Example.COM", Role.USER, 30, True, datetime(2024, 1, 15, tzinfo=UTC)),
    ("bob", "bob@corp.test", Role.USER, None, False, datetime(2024, 3, 2, tzinfo=UTC)),
    ("a_b", "ab@corp.test", Role.MONITOR, 25, True, datetime(2024, 6, 30, tzinfo=UTC)),
    ("axb", "axb@example.com", Role.USER, 30, False, datetime(2025, 1, 1, tzinfo=UTC)),
]

FIELDS: dict[str, FieldSpec] = {
    "uuid": FieldSpec(UserRow.uuid, uuid_converter),
    "username": FieldSpec(UserRow.username),
    "email": FieldSpec(UserRow.__table__.c.email),  # a plain Column works too
    "role": FieldSpec(UserRow.role, enum_converter(Role)),
    "age": FieldSpec(UserRow.age),
    "is_active": FieldSpec(UserRow.is_active),
    "created_at": FieldSpec(UserRow.created_at, datetime_converter),
}


@pytest.fixture(scope="module")
def engine() -> Iterator[sa.Engine]:
    eng = sa.create_engine("sqlite://")
    Base.metadata.create_all(eng)
    with eng.begin() as conn:
        conn.execute(
            sa.insert(UserRow),
            [
                dict(
                    uuid=UUIDS[i],
                    username=u,
                    email=e,
                    role=r,
                    age=a,
                    is_active=act,
                    created_at=c,
                )
                for i, (u, e, r, a, act, c) in enumerate(ROWS)
            ],
        )
    yield eng
    eng.dispose()


def select_names(engine: sa.Engine, filter_text: str | None, order_text: str = "") -> list[str]:
    stmt = sa.select(UserRow.username)
    if filter_text is not None:
        stmt = stmt.where(filter_to_sql(parse_filter(filter_text), FIELDS))
    stmt = stmt.order_by(*parse_order(order_text, FIELDS), UserRow.id)
    with engine.connect() as conn:
        return list(conn.scalars(stmt))


@pytest.mark.parametrize(
    ("filter_text", "expected"),
    [
        ('username == "admin"', ["admin"]),
        ('username != "admin"', ["alice", "bob", "a_b", "axb"]),
        ("age > 25", ["admin", "alice", "axb"]),
        ("age >= 30 & age < 40", ["alice", "axb"]),
        ("age <= 25", ["a_b"]),
        ('email ilike "%@example.com"', ["admin", "alice", "axb"]),
        ('email ilike "ALICE%"', ["alice"]),
        ('username like "a%"', ["admin", "alice", "a_b", "axb"]),
        ('username like "a_b"', ["a_b", "axb"]),  # `_` is a LIKE wildcard ...
        ('username contains "_"', ["a_b"]),  # ... but contains matches it literally
        ('email contains "corp"', ["bob", "a_b"]),
        ('username in ["bob", "alice", "nobody"]', ["alice", "bob"]),
        ('username not in ["bob", "alice"]', ["admin", "a_b", "axb"]),
        ("username in []", []),
        ("age in [25, 40]", ["admin", "a_b"]),
        ("age is null", ["bob"]),
        ("age isnot null", ["admin", "alice", "a_b", "axb"]),
        ("age is not null & age == 30", ["alice", "axb"]),
        ("age == null", ["bob"]),
        ("age != null", ["admin", "alice", "a_b", "axb"]),
        ("is_active == true", ["admin", "alice", "a_b"]),
        ("is_active is false", ["bob", "axb"]),
        # enum: by value, by name, case-insensitively; patterns see the stored text
        ('role == "user"', ["alice", "bob", "axb"]),
        ('role == "MONITOR"', ["a_b"]),
        ('role in ["Admin", "monitor"]', ["admin", "a_b"]),
        ('role like "ADM%"', ["admin"]),
        ('role != "user" & age > 30', ["admin"]),
        # uuid with or without dashes
        (f'uuid == "{UUIDS[2]}"', ["bob"]),
        (f'uuid in ["{UUIDS[0].hex}", "{UUIDS[4]}"]', ["admin", "axb"]),
        # date-times: ISO strings, naive ones taken as UTC
        ('created_at >= "2024-01-01T00:00:00+00:00"', ["alice", "bob", "a_b", "axb"]),
        ('created_at < "2024-03-01"', ["admin", "alice"]),
        # combinations
        ('username == "bob" | age > 35', ["admin", "bob"]),
        ('!(username == "bob" | age > 35)', ["alice", "a_b", "axb"]),
        ('(role == "user" | role == "admin") & !is_active == true', ["bob", "axb"]),
        ('age == 30 | username == "bob" & is_active == true', ["alice", "axb"]),
    ],
)
def test_filter_selects_rows(engine: sa.Engine, filter_text: str, expected: list[str]) -> None:
    assert select_names(engine, filter_text) == expected


@pytest.mark.parametrize(
    ("order_text", "expected"),
    [
        ("", ["admin", "alice", "bob", "a_b", "axb"]),
        ("  ", ["admin", "alice", "bob", "a_b", "axb"]),
        ("username", ["a_b", "admin", "alice", "axb", "bob"]),
        ("+username", ["a_b", "admin", "alice", "axb", "bob"]),
        ("-username", ["bob", "axb", "alice", "admin", "a_b"]),
        ("-created_at", ["axb", "a_b", "bob", "alice", "admin"]),
        ("-age, username", ["admin", "alice", "axb", "a_b", "bob"]),
        (" -age ,-username ", ["admin", "axb", "alice", "a_b", "bob"]),
        ("- age", ["admin", "alice", "axb", "a_b", "bob"]),
        ("is_active,-email", ["bob", "axb", "admin", "a_b", "alice"]),
    ],
)
def test_order(engine: sa.Engine, order_text: str, expected: list[str]) -> None:
    assert select_names(engine, None, order_text) == expected


def test_filter_and_order_together(engine: sa.Engine) -> None:
    names = select_names(engine, 'email ilike "%example.com"', "-created_at")
    assert names == ["axb", "alice", "admin"]


def test_user_input_only_reaches_sql_as_bound_parameters(engine: sa.Engine) -> None:
    hostile = "x'; DROP TABLE users; --"
    where = filter_to_sql(parse_filter(f'username == "{hostile}" | email like "{hostile}"'), FIELDS)
    compiled = sa.select(UserRow.id).where(where).compile(engine)
    assert "DROP" not in str(compiled)
    assert hostile in compiled.params.values()
    assert select_names(engine, f'username == "{hostile}"') == []
    assert select_names(engine, None) == ["admin", "alice", "bob", "a_b", "axb"]


# -- semantic errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filter_text", "fragment"),
    [
        ('password == "x"', "Unknown field 'password' in filter expression at position 0"),
        ('username == "x" & passwd == "y"', "Unknown field 'passwd'"),
        ('username in "bob"', "needs a list value"),
        ('username == ["bob"]', "needs a single value, not a list"),
        ("username like 1", "needs a string pattern"),
        ("username contains null", "needs a string pattern"),
        ("age < null", "needs a non-null value"),
        ('age is "x"', "needs null, true or false"),
        ('uuid == "not-a-uuid"', "Invalid value 'not-a-uuid' for field 'uuid'"),
        ("uuid == 12", "Invalid value 12 for field 'uuid'"),
        ('role == "root"', "expected one of ADMIN, USER, MONITOR"),
        ('role in ["user", "root"]', "Invalid value 'root' for field 'role'"),
        ('created_at > "yesterday"', "Invalid value 'yesterday' for field 'created_at'"),
    ],
)
def test_filter_semantic_errors(filter_text: str, fragment: str) -> None:
    expr = parse_filter(filter_text)
    with pytest.raises(InvalidAPIParameters) as info:
        filter_to_sql(expr, FIELDS)
    assert fragment in str(info.value)


def test_unknown_field_lists_allowed_fields() -> None:
    with pytest.raises(InvalidAPIParameters) as info:
        filter_to_sql(parse_filter("  nope == 1"), FIELDS)
    msg = str(info.value)
    assert "position 2" in msg
    assert "allowed fields: age, created_at, email, is_active, role, username, uuid" in msg
    assert info.value.data["allowed_fields"] == sorted(FIELDS)


@pytest.mark.parametrize(
    ("order_text", "position", "fragment"),
    [
        ("password", 0, "Unknown field 'password' in order expression"),
        ("username,-secret", 10, "Unknown field 'secret'"),
        ("username,,age", 9, "empty item"),
        ("username,", 9, "empty item"),
        (",username", 0, "empty item"),
        ("-", 1, "expected a field name after the sign"),
        ("+-username", 1, "unexpected '-'"),
        ("user name", 4, "unexpected ' '"),
        ("username desc", 8, "unexpected ' '"),
        ("1st", 0, "unexpected '1'"),
        ('"username"', 0, "unexpected '\"'"),
    ],
)
def test_order_errors(order_text: str, position: int, fragment: str) -> None:
    with pytest.raises(InvalidAPIParameters) as info:
        parse_order(order_text, FIELDS)
    msg = str(info.value)
    assert fragment in msg
    assert f"position {position}" in msg
    if "Unknown field" in fragment:
        assert "allowed fields: age, created_at, email" in msg


# -- converters --------------------------------------------------------------------------------


def test_converters() -> None:
    to_role = enum_converter(Role)
    assert to_role("admin") is Role.ADMIN
    assert to_role("ADMIN") is Role.ADMIN
    assert to_role("Monitor") is Role.MONITOR
    with pytest.raises(ValueError, match="expected one of ADMIN, USER, MONITOR"):
        to_role("root")
    assert uuid_converter(UUIDS[0].hex) == UUIDS[0]
    assert uuid_converter(str(UUIDS[0])) == UUIDS[0]
    assert datetime_converter("2024-01-02T03:04:05") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert datetime_converter("2024-01-02T03:04:05Z").tzinfo is not None
    with pytest.raises(TypeError):
        datetime_converter(5)
