"""Webhook authentication: a bearer token, or basic auth with the token as password
(both forms Alertmanager's ``http_config`` can send)."""

import base64
import binascii
import hmac

from fastapi import HTTPException, Request, status
from pydantic import SecretStr

__all__ = ["require_token"]

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="medic", Basic realm="medic"'}


def _presented_secret(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer":
        return value or None
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        _, sep, password = decoded.partition(":")
        return password if sep else None
    return None


def require_token(request: Request, token: SecretStr | None) -> None:
    """Raise 401 unless the request carries the webhook token. Constant-time comparison."""
    if token is None:
        # Only reachable in-process (tests, `medic dev` always has one); refuse rather than allow.
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "webhook token not configured", headers=_CHALLENGE)
    presented = _presented_secret(request.headers.get("authorization", ""))
    expected = token.get_secret_value().encode()
    if presented is None or not hmac.compare_digest(presented.encode(), expected):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or wrong credentials", headers=_CHALLENGE)
