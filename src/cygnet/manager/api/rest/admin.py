"""``POST /admin/gql``: the admin GraphQL endpoint (always HTTP 200 with ``{data, errors}``),
and the legacy ``POST /admin/graphql`` (HTTP 400 problem+json ``graphql-error`` on errors)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from graphql import GraphQLError

from cygnet.common.errors import CygnetError, InvalidParameters
from cygnet.manager.api.auth import authenticated, json_body
from cygnet.manager.api.errors import PROBLEM_JSON
from cygnet.manager.api.graphql.context import GQLContext
from cygnet.manager.api.graphql.schema import schema

router = APIRouter(prefix="/admin", tags=["admin"])


def _format_error(error: GraphQLError) -> dict[str, Any]:
    formatted: dict[str, Any] = dict(error.formatted)
    original = error.original_error
    if isinstance(original, CygnetError):
        formatted["extensions"] = {
            **(formatted.get("extensions") or {}),
            "error_code": original.error_code,
            "status": original.status,
            "type": original.body()["type"],
            "title": original.title,
        }
    return formatted


async def _execute(request: Request) -> dict[str, Any]:
    call = await authenticated(request)
    body = await json_body(request)
    query = body.get("query")
    variables = body.get("variables") or {}
    operation = body.get("operation_name") or body.get("operationName")
    if not isinstance(query, str) or not isinstance(variables, dict):
        raise InvalidParameters("'query' must be a string and 'variables' an object.")
    result = await schema.execute(
        query,
        variable_values=variables,
        context_value=GQLContext(caller=call.caller, services=call.services),
        operation_name=operation if isinstance(operation, str) else None,
    )
    errors = [_format_error(err) for err in result.errors] if result.errors else None
    return {"data": result.data, "errors": errors}


@router.post("/gql", summary="Admin GraphQL")
async def gql(request: Request) -> dict[str, Any]:
    return await _execute(request)


@router.post("/graphql", summary="Admin GraphQL (legacy error format)", response_model=None)
async def graphql_legacy(request: Request) -> dict[str, Any] | JSONResponse:
    result = await _execute(request)
    if result["errors"]:
        body = {
            "type": "https://api.backend.ai/probs/graphql-error",
            "title": "GraphQL-generated error",
            "error_code": "api_generic_graphql-error",
            "data": result["errors"],
        }
        return JSONResponse(body, status_code=400, media_type=PROBLEM_JSON)
    return {"data": result["data"]}
