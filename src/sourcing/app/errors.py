"""The one error handler: SourcingError and request validation become typed JSON 4xx bodies."""

from __future__ import annotations

import json
import math
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import Send

from sourcing.domain.db import UNAVAILABLE_ERRORS, database_unavailable
from sourcing.domain.errors import (
    AuthError,
    BadInputError,
    NotFoundError,
    RetryLaterError,
    SourcingError,
)
from sourcing.retrieval.index import INDEX_UNAVAILABLE_ERRORS, index_unavailable


async def _sourcing_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SourcingError)
    # RFC 9110: a 401 names the scheme the client should authenticate with.
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthError) else None
    if isinstance(exc, RetryLaterError):
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
    return JSONResponse({"error": exc.to_dict()}, status_code=exc.status_code, headers=headers)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """A locked or unreachable database is a 503 with Retry-After, whichever route met it."""
    assert isinstance(exc, UNAVAILABLE_ERRORS)
    return await _sourcing_error(request, database_unavailable(exc))


async def _index_error(request: Request, exc: Exception) -> JSONResponse:
    """A Qdrant server that is down or lost its collection is a 503 with Retry-After."""
    return await _sourcing_error(request, index_unavailable(exc))


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [{"location": list(error["loc"]), "reason": error["msg"]} for error in exc.errors()]
    body = {"code": "bad_input", "message": "the request is not valid", "details": problems}
    return JSONResponse({"error": body}, status_code=422)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own refusals (an unparsable body, no such route or method) in the same shape."""
    assert isinstance(exc, HTTPException)
    phrase = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_")
    code = {400: BadInputError.code, 404: NotFoundError.code}.get(exc.status_code, phrase)
    body = {"code": code, "message": str(exc.detail), "details": {}}
    return JSONResponse({"error": body}, status_code=exc.status_code, headers=exc.headers)


async def send_error(
    send: Send, error: SourcingError, headers: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    """The same typed JSON body, sent by a middleware that refuses before any route runs."""
    body = json.dumps({"error": error.to_dict()}).encode()
    start = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    start.extend(headers)
    await send({"type": "http.response.start", "status": error.status_code, "headers": start})
    await send({"type": "http.response.body", "body": body})


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(SourcingError, _sourcing_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for database_error in UNAVAILABLE_ERRORS:
        app.add_exception_handler(database_error, _database_error)
    for index_error in INDEX_UNAVAILABLE_ERRORS:
        app.add_exception_handler(index_error, _index_error)
