"""Every error the API answers, in one shape, and the ``responses=`` each route declares with it.

An error body is ``{"detail": "<sentence>"}`` or, for a body or query that does not validate,
``{"detail": {"error": "<field>: <message>", "fields": [{"field", "message"}, ...]}}``. FastAPI's own
validation errors are rendered the same way (:func:`validation_failed`), so a route's 422 always
matches the schema its OpenAPI document declares."""

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from medic.yamldoc import field_path

__all__ = [
    "ErrorBody",
    "FieldError",
    "Problem",
    "error_responses",
    "internal_error",
    "temporal_unavailable",
    "validation_failed",
]

log = logging.getLogger(__name__)

# What an operator can do about a 503, said once for every route. The transport's own words (gRPC
# status, "Failed client connect", addresses) go to the API's log, not to whoever called.
_TEMPORAL_DOWN = (
    "Temporal is not reachable or did not answer in time ({what}); retry after Retry-After. If it lasts, "
    "check that Temporal runs at MEDIC_TEMPORAL_ADDRESS with the namespace MEDIC_TEMPORAL_NAMESPACE, and "
    "a `medic worker` is up (GET /readyz says why it is not ready); "
    "the API's log has the details."
)
RETRY_AFTER = {"Retry-After": "5"}


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    error: str
    fields: list[FieldError]


class ErrorBody(BaseModel):
    """What every 4xx and 5xx answer carries."""

    detail: str | Problem


_DESCRIPTIONS: dict[int, str] = {
    400: "a signed Slack request whose content Medic cannot use",
    401: "missing or wrong credentials",
    403: "this credential may not do this",
    404: "no such incident or remediation",
    409: "the remediation refused the decision (not waiting, or not allowed)",
    413: "body over the size limit",
    415: "a JSON body sent as a form or text/plain: send Content-Type application/json",
    422: "malformed body or query; the message names the field",
    503: "Temporal is unreachable or could not answer; retry (see Retry-After)",
    500: "Medic failed inside; the API's log has the details",
}


def error_responses(
    *codes: int, described: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status with the error body and a description (``described``
    overrides the usual one)."""
    described = described or {}
    return {
        code: {"model": ErrorBody, "description": described.get(code, _DESCRIPTIONS[code])} for code in codes
    }


def _loc(loc: tuple[int | str, ...]) -> str:
    where = loc[1:] if loc and loc[0] in ("body", "query", "path", "header", "cookie") else loc
    return field_path(where) or str(loc[0] if loc else "body")


async def validation_failed(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's request validation errors, in Medic's error shape (a 422 naming the field)."""
    if not isinstance(exc, RequestValidationError):  # registered for that type only
        raise exc
    fields = []
    for item in exc.errors():
        loc = tuple(item.get("loc", ()))
        if item.get("type") == "json_invalid":
            error = (item.get("ctx") or {}).get("error", "")
            fields.append({"field": "body", "message": f"body is not valid JSON: {error}".rstrip(": ")})
        else:
            fields.append({"field": _loc(loc), "message": str(item.get("msg", "invalid"))})
    first = fields[0] if fields else {"field": "body", "message": "invalid"}
    more = f" (and {len(fields) - 1} more)" if len(fields) > 1 else ""
    error = (
        first["message"]
        if first["message"].startswith("body is not")
        else (f"{first['field']}: {first['message']}")
    )
    return JSONResponse({"detail": {"error": error + more, "fields": fields}}, status_code=422)


def temporal_unavailable(what: str, err: BaseException) -> HTTPException:
    """A 503 with Retry-After that says what did not happen and what to do; the cause is logged."""
    log.warning("503 (%s): %s: %s", what, type(err).__name__, err)
    return HTTPException(503, _TEMPORAL_DOWN.format(what=what), headers=RETRY_AFTER)


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    """An unexpected failure, in the same shape as every other error (not Starlette's plain text)."""
    log.error("500 on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(
        {"detail": "Medic failed inside while answering; the API's log has the details"}, status_code=500
    )
