"""Every failure path answers problem+json (wire notes 1.6): our errors, unknown routes (404),
wrong methods (405), unparseable parameters (400) and unhandled exceptions (500)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cygnet.common.errors import (
    BadRequest,
    CygnetError,
    InternalError,
    InvalidParameters,
    MethodNotAllowed,
    RateLimitExceeded,
    URLNotFound,
)
from cygnet.common.logging import get_logger

log = get_logger(__name__)
PROBLEM_JSON = "application/problem+json"


def problem_response(
    request: Request, error: CygnetError, headers: dict[str, str] | None = None
) -> JSONResponse:
    merged: dict[str, str] = {}
    if isinstance(error, RateLimitExceeded) and isinstance(error.data, dict):
        merged.update(error.data)
    if headers:
        merged.update(headers)
    body = error.body()
    if isinstance(error, RateLimitExceeded):
        body.pop("data", None)
    return JSONResponse(body, status_code=error.status, headers=merged, media_type=PROBLEM_JSON)


async def _on_cygnet_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CygnetError)
    return problem_response(request, exc)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return problem_response(request, URLNotFound(data=request.url.path))
    if exc.status_code == 405:
        return problem_response(request, MethodNotAllowed(), headers=dict(exc.headers or {}))
    error = BadRequest(str(exc.detail)) if exc.status_code < 500 else InternalError()
    return problem_response(request, error)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details: list[dict[str, Any]] = [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", "")} for err in exc.errors()
    ]
    return problem_response(request, InvalidParameters(data=details))


async def _on_unhandled(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(request, InternalError())


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CygnetError, _on_cygnet_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_unhandled)
