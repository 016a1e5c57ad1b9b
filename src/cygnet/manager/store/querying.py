"""The ``filter`` / ``order`` mini-language of Backend.AI's paginated GraphQL ``*_list`` fields.

Filter syntax (e.g. ``username == "admin" & !(status in ["DELETED", "INACTIVE"])``)::

    expr       := or_expr
    or_expr    := and_expr ("|" and_expr)*
    and_expr   := unary ("&" unary)*
    unary      := "!" unary | "(" expr ")" | comparison
    comparison := FIELD OP value
    OP         := == != < <= > >= like ilike contains in "not in" is isnot "is not"
    value      := STRING | NUMBER | true | false | null | "[" [scalar ("," scalar)*] "]"

``!`` binds tighter than ``&``, which binds tighter than ``|``; both are left-associative.
Strings are double-quoted with backslash escapes (``\\"``, ``\\\\``, ``\\n``, ``\\t``, ``\\r``; any
other ``\\c`` is kept as written, so LIKE escapes survive). Numbers are signed integers or
decimals. ``contains`` matches a literal substring (``%``/``_`` escaped); ``like``/``ilike`` take
SQL patterns. ``not in`` and ``is not`` are Cygnet spellings of ``!(f in …)`` and ``isnot``.

Order syntax: a comma-separated list of field names, each optionally prefixed with ``+``
(ascending, the default) or ``-`` (descending), e.g. ``-created_at,+username``.

Field names are resolved through a ``Mapping[str, FieldSpec]``; values only ever reach SQL as
bound parameters. Every error raises :class:`InvalidAPIParameters`; positions are 0-based
character offsets into the expression.
"""

from __future__ import annotations

import enum
import operator
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeAlias

import sqlalchemy as sa
from sqlalchemy.orm import QueryableAttribute

from cygnet.common.errors import InvalidAPIParameters

Scalar: TypeAlias = str | int | float | bool | None
Value: TypeAlias = Scalar | tuple[Scalar, ...]


class Op(enum.StrEnum):
    EQ = "=="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    LIKE = "like"
    ILIKE = "ilike"
    CONTAINS = "contains"
    IN = "in"
    NOT_IN = "not in"
    IS = "is"
    IS_NOT = "isnot"


@dataclass(frozen=True)
class Compare:
    field: str
    op: Op
    value: Value
    pos: int = dc_field(default=0, compare=False)


@dataclass(frozen=True)
class Not:
    operand: FilterExpr


@dataclass(frozen=True)
class And:
    operands: tuple[FilterExpr, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[FilterExpr, ...]


FilterExpr: TypeAlias = Compare | Not | And | Or


@dataclass(frozen=True)
class FieldSpec:
    """A public field: the column it reads and how a filter literal becomes a column value.

    ``convert`` is applied to every non-null literal compared with the field (each list item for
    ``in``); it may raise ``ValueError``/``TypeError``/``LookupError`` to reject a value. It is not
    applied to ``like``/``ilike``/``contains`` patterns, which match the column's text form.
    """

    column: sa.ColumnElement[Any] | QueryableAttribute[Any]
    convert: Callable[[Any], Any] | None = None

    def expression(self) -> sa.ColumnElement[Any]:
        col = self.column
        return col.expression if isinstance(col, QueryableAttribute) else col


# -- value converters -------------------------------------------------------------------------


def enum_converter(enum_cls: type[enum.Enum]) -> Callable[[Any], enum.Enum]:
    """Accept a member's value or name, the name case-insensitively (``running`` -> RUNNING)."""

    def convert(value: Any) -> enum.Enum:
        for member in enum_cls:
            if value == member.value or value == member.name:
                return member
        if isinstance(value, str):
            for member in enum_cls:
                if value.upper() == member.name.upper():
                    return member
        names = ", ".join(m.name for m in enum_cls)
        raise ValueError(f"expected one of {names}")

    return convert


def uuid_converter(value: Any) -> uuid.UUID:
    """Parse a UUID given as a string, with or without dashes."""
    if not isinstance(value, str):
        raise TypeError("expected a UUID string")
    return uuid.UUID(value)


def datetime_converter(value: Any) -> datetime:
    """Parse an ISO-8601 string; a value without a time zone is taken as UTC."""
    if not isinstance(value, str):
        raise TypeError("expected an ISO-8601 date-time string")
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


# -- tokenizer --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # "ident", "string", "number", "punct", "unknown", "end"
    text: str
    pos: int
    value: Scalar = None

    def describe(self) -> str:
        return "end of input" if self.kind == "end" else repr(self.text)


_PUNCT = ("==", "!=", "<=", ">=", "<", ">", "!", "&", "|", "(", ")", "[", "]", ",", "=")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r"}


def _fail(what: str, text: str, pos: int, msg: str) -> NoReturn:
    raise InvalidAPIParameters(
        f"Invalid {what} expression at position {pos}: {msg}",
        data={"expression": text, "position": pos},
    )


_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WORD_TAIL = re.compile(r"[A-Za-z0-9_.]*")


def _scan_number(text: str, match: re.Match[str]) -> tuple[_Token, int]:
    raw = match.group()
    tail = _WORD_TAIL.match(text, match.end())
    if tail is not None and tail.group():
        _fail("filter", text, match.start(), f"malformed number {raw + tail.group()!r}")
    value = float(raw) if any(c in raw for c in ".eE") else int(raw)
    return _Token("number", raw, match.start(), value), match.end()


def _scan_string(text: str, i: int) -> tuple[_Token, int]:
    start = i
    i += 1
    chars: list[str] = []
    while i < len(text):
        ch = text[i]
        if ch == '"':
            return _Token("string", text[start : i + 1], start, "".join(chars)), i + 1
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            chars.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
            continue
        chars.append(ch)
        i += 1
    _fail("filter", text, start, "unterminated string literal")


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch == '"':
            tok, i = _scan_string(text, i)
            tokens.append(tok)
        elif ch == "'":
            _fail("filter", text, i, "string literals must use double quotes")
        elif number := _NUMBER.match(text, i):
            tok, i = _scan_number(text, number)
            tokens.append(tok)
        elif ident := _IDENT.match(text, i):
            tokens.append(_Token("ident", ident.group(), i))
            i = ident.end()
        else:
            punct = next((p for p in _PUNCT if text.startswith(p, i)), None)
            if punct is None:
                tokens.append(_Token("unknown", ch, i))
                i += 1
            else:
                tokens.append(_Token("punct", punct, i))
                i += len(punct)
    tokens.append(_Token("end", "", n))
    return tokens


# -- parser -----------------------------------------------------------------------------------

_SYMBOL_OPS = {"==": Op.EQ, "!=": Op.NE, "<": Op.LT, "<=": Op.LE, ">": Op.GT, ">=": Op.GE}
_WORD_OPS = {op.value: op for op in (Op.LIKE, Op.ILIKE, Op.CONTAINS, Op.IN, Op.IS_NOT)}
_KEYWORD_VALUES: dict[str, Scalar] = {"true": True, "false": False, "null": None}
_ALL_OPS = ", ".join(op.value for op in Op)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        tok = self.tokens[self.index]
        self.index += 1
        return tok

    def at(self, kind: str, text: str | None = None) -> bool:
        return self.tok.kind == kind and (text is None or self.tok.text == text)

    def error(self, msg: str, tok: _Token | None = None) -> NoReturn:
        _fail("filter", self.text, (tok or self.tok).pos, msg)

    def expect(self, text: str) -> None:
        if not self.at("punct", text):
            self.error(f"expected {text!r}, got {self.tok.describe()}")
        self.advance()

    def parse(self) -> FilterExpr:
        if self.at("end"):
            self.error("empty filter expression")
        expr = self.parse_or()
        if not self.at("end"):
            self.error(f"unexpected {self.tok.describe()} after a complete expression")
        return expr

    def parse_or(self) -> FilterExpr:
        operands = [self.parse_and()]
        while self.at("punct", "|"):
            self.advance()
            operands.append(self.parse_and())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def parse_and(self) -> FilterExpr:
        operands = [self.parse_unary()]
        while self.at("punct", "&"):
            self.advance()
            operands.append(self.parse_unary())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def parse_unary(self) -> FilterExpr:
        if self.at("punct", "!"):
            self.advance()
            return Not(self.parse_unary())
        if self.at("punct", "("):
            self.advance()
            expr = self.parse_or()
            self.expect(")")
            return expr
        if not self.at("ident"):
            self.error(f"expected a field name, '!' or '(', got {self.tok.describe()}")
        name = self.advance()
        op = self.parse_operator()
        return Compare(name.text, op, self.parse_value(), name.pos)

    def parse_operator(self) -> Op:
        tok = self.advance()
        if tok.kind == "punct" and tok.text in _SYMBOL_OPS:
            return _SYMBOL_OPS[tok.text]
        if tok.kind == "ident":
            if tok.text in _WORD_OPS:
                return _WORD_OPS[tok.text]
            if tok.text == "is":
                if self.at("ident", "not"):
                    self.advance()
                    return Op.IS_NOT
                return Op.IS
            if tok.text == "not":
                if self.at("ident", "in"):
                    self.advance()
                    return Op.NOT_IN
                self.error(f"expected 'in' after 'not', got {self.tok.describe()}")
        if tok.kind == "end":
            self.error(f"expected an operator, got end of input; operators: {_ALL_OPS}", tok)
        self.error(f"unknown operator {tok.text!r}; expected one of {_ALL_OPS}", tok)

    def parse_value(self) -> Value:
        if not self.at("punct", "["):
            return self.parse_scalar()
        self.advance()
        items: list[Scalar] = []
        if not self.at("punct", "]"):
            items.append(self.parse_scalar())
            while self.at("punct", ","):
                self.advance()
                items.append(self.parse_scalar())
        self.expect("]")
        return tuple(items)

    def parse_scalar(self) -> Scalar:
        tok = self.tok
        if tok.kind in ("string", "number"):
            self.advance()
            return tok.value
        if tok.kind == "ident" and tok.text in _KEYWORD_VALUES:
            self.advance()
            return _KEYWORD_VALUES[tok.text]
        self.error(
            f"expected a value (a double-quoted string, a number, true, false or null), "
            f"got {tok.describe()}"
        )


def parse_filter(text: str) -> FilterExpr:
    """Parse a filter expression into an immutable AST (field names are not checked here)."""
    return _Parser(text).parse()


# -- SQL generation ---------------------------------------------------------------------------


def _lookup(fields: Mapping[str, FieldSpec], name: str, what: str, pos: int) -> FieldSpec:
    spec = fields.get(name)
    if spec is None:
        allowed = sorted(fields)
        raise InvalidAPIParameters(
            f"Unknown field {name!r} in {what} expression at position {pos}; "
            f"allowed fields: {', '.join(allowed) or '(none)'}",
            data={"field": name, "position": pos, "allowed_fields": allowed},
        )
    return spec


def _convert(spec: FieldSpec, name: str, value: Scalar) -> Any:
    if value is None or spec.convert is None:
        return value
    try:
        return spec.convert(value)
    except (ValueError, TypeError, LookupError) as exc:
        raise InvalidAPIParameters(f"Invalid value {value!r} for field {name!r}: {exc}") from exc


_COMPARISON_OPS: dict[Op, Callable[[Any, Any], sa.ColumnElement[bool]]] = {
    Op.EQ: operator.eq,
    Op.NE: operator.ne,
    Op.LT: operator.lt,
    Op.LE: operator.le,
    Op.GT: operator.gt,
    Op.GE: operator.ge,
}


def _compare_to_sql(node: Compare, fields: Mapping[str, FieldSpec]) -> sa.ColumnElement[bool]:
    spec = _lookup(fields, node.field, "filter", node.pos)
    col = spec.expression()
    op, value = node.op, node.value

    def bad(expected: str) -> NoReturn:
        raise InvalidAPIParameters(
            f"Operator {op.value!r} on field {node.field!r} needs {expected}, got {value!r}"
        )

    if op in (Op.IN, Op.NOT_IN):
        if not isinstance(value, tuple):
            bad("a list value")
        items = [_convert(spec, node.field, v) for v in value]
        return col.in_(items) if op is Op.IN else col.not_in(items)
    if isinstance(value, tuple):
        bad("a single value, not a list")
    if op in (Op.IS, Op.IS_NOT):
        if value is not None and not isinstance(value, bool):
            bad("null, true or false")
        return col.is_(value) if op is Op.IS else col.is_not(value)
    if op in (Op.LIKE, Op.ILIKE, Op.CONTAINS):
        if not isinstance(value, str):
            bad("a string pattern")
        if isinstance(col.type, sa.Enum) or not isinstance(col.type, sa.String):
            col = sa.cast(col, sa.String())
        if op is Op.LIKE:
            return col.like(value)
        if op is Op.ILIKE:
            return col.ilike(value)
        return col.contains(value, autoescape=True)
    if value is None and op not in (Op.EQ, Op.NE):
        bad("a non-null value")
    return _COMPARISON_OPS[op](col, _convert(spec, node.field, value))


def filter_to_sql(expr: FilterExpr, fields: Mapping[str, FieldSpec]) -> sa.ColumnElement[bool]:
    """Build a WHERE clause from a parsed filter; unknown fields raise InvalidAPIParameters."""
    match expr:
        case Compare():
            return _compare_to_sql(expr, fields)
        case Not(operand):
            return sa.not_(filter_to_sql(operand, fields))
        case And(operands):
            return sa.and_(*(filter_to_sql(e, fields) for e in operands))
        case Or(operands):
            return sa.or_(*(filter_to_sql(e, fields) for e in operands))
    raise TypeError(f"not a filter expression: {expr!r}")  # pragma: no cover


def parse_order(text: str, fields: Mapping[str, FieldSpec]) -> list[sa.UnaryExpression[Any]]:
    """Parse ``[+|-]field, ...`` into ORDER BY clauses; an empty string means no ordering."""
    clauses: list[sa.UnaryExpression[Any]] = []
    if not text.strip():
        return clauses
    offset = 0
    for part in text.split(","):
        stripped = part.strip()
        pos = offset + (len(part) - len(part.lstrip()))
        offset += len(part) + 1
        if not stripped:
            _fail("order", text, pos, "empty item (stray ',')")
        descending = stripped[0] == "-"
        name = stripped[1:].lstrip() if stripped[0] in "+-" else stripped
        name_pos = pos + len(stripped) - len(name)
        if not name:
            _fail("order", text, name_pos, "expected a field name after the sign")
        ident = _IDENT.match(name)
        if ident is None or ident.end() != len(name):
            at = 0 if ident is None else ident.end()
            _fail("order", text, name_pos + at, f"unexpected {name[at]!r} in {stripped!r}")
        col = _lookup(fields, name, "order", name_pos).expression()
        clauses.append(col.desc() if descending else col.asc())
    return clauses
