"""Wire scalars: ``JSONString`` is a JSON-encoded string in both directions; ``BigInt`` a number.

They are NewTypes mapped to scalar definitions in ``SCALAR_MAP`` (given to the schema config).
"""

from __future__ import annotations

import json
from typing import Any, NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

JSONString = NewType("JSONString", object)
BigInt = NewType("BigInt", int)


def _parse_json_string(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not a JSON string: {exc}") from exc
    return value


SCALAR_MAP: dict[object, ScalarDefinition] = {
    JSONString: strawberry.scalar(
        name="JSONString",
        description="A JSON value sent as a JSON-encoded string.",
        serialize=lambda value: json.dumps(value),
        parse_value=_parse_json_string,
    ),
    BigInt: strawberry.scalar(
        name="BigInt",
        description="An integer that may exceed 32 bits.",
        serialize=int,
        parse_value=int,
    ),
}
