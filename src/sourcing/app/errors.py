"""The one error handler: SourcingError and request validation become typed JSON 4xx bodies."""

from __future__ import annotations

import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from sourcing.domain.errors import AuthError, RetryLaterError, SourcingError


async def _sourcing_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SourcingError)
    # RFC 9110: a 401 names the scheme the client should authenticate with.
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthError) else None
    if isinstance(exc, RetryLaterError):
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
    return JSONResponse({"error": exc.to_dict()}, status_code=exc.status_code, headers=headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [{"location": list(error["loc"]), "reason": error["msg"]} for error in exc.errors()]
    body = {"code": "bad_input", "message": "the request is not valid", "details": problems}
    return JSONResponse({"error": body}, status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SourcingError, _sourcing_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
