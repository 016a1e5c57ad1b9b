"""Problem+json answers for both storage APIs: our errors, unknown routes, wrong methods,
unparseable parameters, and unexpected failures (500, logged)."""

from __future__ import annotations

import errno
import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from cygnet.common.errors import (
    BadRequest,
    CygnetError,
    InternalError,
    InvalidParameters,
    MethodNotAllowed,
    URLNotFound,
)
from cygnet.common.logging import get_logger
from cygnet.storage.errors import VolumeFull

log = get_logger(__name__)
PROBLEM_JSON = "application/problem+json"


class _ProblemResponse(JSONResponse):
    media_type = PROBLEM_JSON

    def render(self, content: Any) -> bytes:
        # ASCII escapes: a message may quote a path with a lone surrogate
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode()


def problem(error: CygnetError, headers: dict[str, str] | None = None) -> JSONResponse:
    return _ProblemResponse(error.body(), status_code=error.status, headers=headers)


async def _on_cygnet_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CygnetError)
    return problem(exc, getattr(request.state, "problem_headers", None))


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return problem(URLNotFound(data=request.url.path))
    if exc.status_code == 405:
        return problem(MethodNotAllowed(), headers=dict(exc.headers or {}))
    return problem(BadRequest(str(exc.detail)) if exc.status_code < 500 else InternalError())


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details: list[dict[str, Any]] = [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", "")} for err in exc.errors()
    ]
    return problem(InvalidParameters(f"invalid parameters: {details[:3]}", data=details))


async def _on_unhandled(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, ClientDisconnect | ConnectionError):
        # the client went away mid-transfer: nobody to answer, nothing to report
        log.debug("client went away on %s %s: %r", request.method, request.url.path, exc)
        return problem(BadRequest("the client went away"))
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return problem(VolumeFull(str(exc)))
    if isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG:
        return problem(BadRequest("a name or path is too long"))
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(InternalError())


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CygnetError, _on_cygnet_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_unhandled)
