"""Shared plumbing for the admin resource modules: the session protocol they need, input
building (only the keys a caller set are sent; dicts become JSON strings where the wire wants
``JSONString``), paginated queries and result parsing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from cygnet.client.sdk.config import APIConfig
from cygnet.client.sdk.errors import APIError, NotFound

M = TypeVar("M", bound=BaseModel)

MUTATION_RESULT = "ok msg error_code"


class GQLSession(Protocol):
    """What the resource classes need from a session."""

    config: APIConfig

    async def gql(
        self, query: str, variables: Mapping[str, Any] | None = None
    ) -> dict[str, Any]: ...

    async def mutate(
        self, query: str, variables: Mapping[str, Any], field: str
    ) -> dict[str, Any]: ...


def fields(names: Iterable[str]) -> str:
    return " ".join(names)


def json_string(value: Any) -> str:
    """Encode a value for a ``JSONString`` input (strings that already hold JSON pass through)."""
    if isinstance(value, str):
        json.loads(value)  # must already be JSON
        return value
    return json.dumps(value)


def build_input(values: Mapping[str, Any], *, json_fields: Iterable[str] = ()) -> dict[str, Any]:
    """An input object with the given (non-None) keys; ``json_fields`` encoded as JSON strings."""
    encode = set(json_fields)
    result: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        result[key] = json_string(value) if key in encode else value
    return result


def as_uuid(value: uuid.UUID | str) -> uuid.UUID | None:
    """The value as a UUID, or None if it is not one (a name, an email...)."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def not_found(what: str, key: object, error_code: str, where: str = "") -> NotFound:
    """The error for a lookup that found nothing (``where``: e.g. `` in domain 'x'``)."""
    return NotFound(
        404,
        error_code=error_code,
        title=f"No such {what}.",
        msg=f"{what[0].upper()}{what[1:]} {key!r} not found{where}.",
    )


def parse_one(model: type[M], value: Any, what: str, key: object, error_code: str) -> M:
    """The model for a single-object query; ``NotFound`` when the server answered null."""
    if value is None:
        raise not_found(what, key, error_code)
    return model.model_validate(value)


def parse_many(model: type[M], value: Any) -> list[M]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise APIError(200, title="Unexpected GraphQL answer", msg="expected a list")
    return [model.model_validate(item) for item in value]


async def paginated(
    session: GQLSession,
    root: str,
    selection: str,
    variables: Mapping[str, tuple[str, Any]],
    *,
    limit: int,
    offset: int,
) -> tuple[list[Any], int]:
    """Run the official client's paginated-list query: ``items`` and ``total_count``.

    ``variables`` maps each argument name to its GraphQL type and value; every declared
    variable is sent, nulls included, as the official client does.
    """
    if not 1 <= limit <= 100:
        raise ValueError("limit must be between 1 and 100")
    if offset < 0:
        raise ValueError("offset must not be negative")
    decls = ", ".join(
        ["$limit: Int!", "$offset: Int!"] + [f"${k}: {t}" for k, (t, _) in variables.items()]
    )
    args = ", ".join(["limit: $limit", "offset: $offset"] + [f"{k}: ${k}" for k in variables])
    query = f"query({decls}) {{ {root}({args}) {{ items {{ {selection} }} total_count }} }}"
    values: dict[str, Any] = {"limit": limit, "offset": offset}
    values.update({k: v for k, (_, v) in variables.items()})
    data = await session.gql(query, values)
    page = data.get(root) or {}
    items = page.get("items") or []
    total = page.get("total_count")
    return list(items), int(total) if isinstance(total, int) else len(items)
