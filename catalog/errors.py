"""The Iceberg REST error model: exceptions become ``{"error": {"message", "type", "code"}}`` with the spec's status.

Clients decide what to do from the status and the ``type`` (Java tells a missing namespace from a missing table by
``type`` on a 404; Spark and pyiceberg retry a commit on 409).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError
from pyiceberg.catalog.rest.response import ErrorResponse, ErrorResponseMessage
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceAlreadyExistsError,
    NamespaceNotEmptyError,
    NoSuchIdentifierError,
    NoSuchNamespaceError,
    NoSuchTableError,
    TableAlreadyExistsError,
)
from starlette.exceptions import HTTPException

__all__ = ["BadRequest", "Conflict", "classify", "error_response", "install_error_handlers"]

logger = logging.getLogger(__name__)


class BadRequest(ValueError):
    """A request the service refuses as malformed (400 ``BadRequestException``)."""


class Conflict(Exception):
    """A request that would clash with another table (409 ``ConflictException``): a location inside another table's
    folder, or a purge of a folder that holds another table."""


# Most specific first: the first isinstance match wins.
_MAPPING: tuple[tuple[type[Exception], int, str], ...] = (
    (NoSuchTableError, 404, "NoSuchTableException"),
    (NoSuchNamespaceError, 404, "NoSuchNamespaceException"),
    (NoSuchIdentifierError, 404, "NoSuchTableException"),
    (TableAlreadyExistsError, 409, "AlreadyExistsException"),
    (NamespaceAlreadyExistsError, 409, "AlreadyExistsException"),
    (NamespaceNotEmptyError, 409, "NamespaceNotEmptyException"),
    (CommitFailedException, 409, "CommitFailedException"),
    (Conflict, 409, "ConflictException"),
    (ValidationError, 400, "BadRequestException"),
    (ValueError, 400, "BadRequestException"),
)

_HTTP_TYPES = {
    400: "BadRequestException",
    404: "NotFoundException",
    405: "MethodNotAllowedException",
    413: "RequestTooLargeException",
}


def error_response(code: int, error_type: str, message: str, *, head: bool = False) -> Response:
    """Render one error in the spec's shape (a HEAD answer carries no body)."""
    if head:
        return Response(status_code=code, media_type="application/json")
    body = ErrorResponse(error=ErrorResponseMessage(message=message, type=error_type, code=code))
    return Response(body.model_dump_json(), status_code=code, media_type="application/json")


def classify(exc: BaseException) -> tuple[int, str]:
    """Return the HTTP status and Iceberg error type for an exception."""
    for exc_type, code, name in _MAPPING:
        if isinstance(exc, exc_type):
            return code, name
    return 500, "ServiceFailureException"


def install_error_handlers(app: FastAPI) -> None:
    """Make every failure, including FastAPI's own validation and routing errors, answer in the Iceberg shape."""

    async def on_exception(request: Request, exc: Exception) -> Response:
        code, name = classify(exc)
        if code >= 500:
            logger.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
        else:
            logger.info("%s %s -> %d %s: %s", request.method, request.url.path, code, name, exc)
        return error_response(code, name, str(exc) or name, head=request.method == "HEAD")

    async def on_validation(request: Request, exc: RequestValidationError) -> Response:
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return error_response(400, "BadRequestException", f"Malformed request: {details}")

    async def on_http(request: Request, exc: HTTPException) -> Response:
        name = _HTTP_TYPES.get(exc.status_code, "RESTException")
        return error_response(exc.status_code, name, str(exc.detail), head=request.method == "HEAD")

    app.add_exception_handler(RequestValidationError, on_validation)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, on_http)  # type: ignore[arg-type]
    # Registered one by one: a handler for bare Exception runs in Starlette's outer middleware, which re-raises
    # (and logs a traceback) even after answering, which 4xx answers do not deserve.
    for exc_type, _, _ in _MAPPING:
        app.add_exception_handler(exc_type, on_exception)
    app.add_exception_handler(Exception, on_exception)
