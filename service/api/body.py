"""Reading and validating request bodies with a size limit and field-naming errors."""

import json
import re
from typing import Any, NoReturn, TypeVar

from fastapi import HTTPException, Request
from pydantic import BaseModel, ValidationError

from medic.yamldoc import field_path
from service.json_limits import PYDANTIC_JSON_DEPTH, JSONTooDeep, load_json_bounded

__all__ = [
    "FORM_TYPES",
    "PayloadError",
    "field_path",
    "load_json",
    "parse_json_model",
    "parse_model",
    "read_limited",
    "refuse_form_content",
    "validation_detail",
]

M = TypeVar("M", bound=BaseModel)
_DIGITS = re.compile(r"[0-9]{1,20}")  # ASCII only: str.isdigit() and int() also take "²³"
# What a web page may post to another site without asking it first (the Fetch standard's CORS-safelisted
# request Content-Types): an HTML form's encodings, and text/plain.
FORM_TYPES = ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data")


class PayloadError(HTTPException):
    """422 with a message that names the offending field."""

    def __init__(self, message: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(422, {"error": message, "fields": errors or []})


def refuse_form_content(request: Request) -> None:
    """415 for a JSON route's body sent as a form or text/plain: what a page on another site can make a
    browser post, with the credentials the browser holds for Medic (basic auth it once asked for, for
    a read). An ``<form enctype="text/plain">`` can spell a whole Alertmanager webhook as JSON; a JSON
    Content-Type cannot be sent across sites without a CORS preflight, which Medic does not answer.
    Alertmanager and Grafana send ``application/json``."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type in FORM_TYPES:
        raise HTTPException(
            415,
            f"Content-Type {media_type} refused: the body is JSON, send Content-Type: application/json "
            "(a form or text/plain is what a web page on another site can make a browser post)",
        )


async def read_limited(request: Request, limit: int) -> bytes:
    """Read the body, refusing with 413 as soon as it exceeds ``limit`` bytes."""
    too_large = HTTPException(413, f"body larger than {limit} bytes (MEDIC_MAX_BODY_BYTES)")
    declared = request.headers.get("content-length")
    if declared is not None and _DIGITS.fullmatch(declared) and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def validation_detail(err: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    out = []
    for item in err.errors(include_url=False, include_input=False):
        path = field_path(tuple(item["loc"]))
        field = f"{prefix}{path}" if path else prefix.rstrip(".") or "body"
        out.append({"field": field, "message": str(item["msg"])})
    return out


def _raise_invalid(err: ValidationError, prefix: str = "") -> NoReturn:
    errors = validation_detail(err, prefix)
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    raise PayloadError(f"{first['field']}: {first['message']}{more}", errors) from err


def load_json(raw: bytes) -> Any:
    """JSON with its depth bounded (:data:`service.json_limits.MAX_JSON_DEPTH`), or a 422."""
    try:
        return load_json_bounded(raw)
    except JSONTooDeep as err:
        raise PayloadError(f"body: {err}") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise PayloadError(f"body is not valid JSON: {err}") from err


def parse_json_model(model: type[M], raw: bytes) -> M:
    """Parse and validate in one pass (pydantic's JSON mode: half the CPU of ``json.loads`` followed by
    :func:`parse_model` on a large webhook), with the same errors as the two steps."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as err:
        first = err.errors(include_url=False, include_input=False)[0]
        if first["type"] == "json_invalid" and "recursion limit" in str(first["msg"]):
            raise PayloadError(
                f"body: JSON nested deeper than {PYDANTIC_JSON_DEPTH} levels (the JSON parser's limit)"
            ) from err
        if first["type"] == "json_invalid":
            raise PayloadError(f"body is not valid JSON: {first['msg']}") from err
        _raise_invalid(err)


def parse_model(model: type[M], data: Any, prefix: str = "") -> M:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        _raise_invalid(err, prefix)
