"""The secret an ``Authorization`` header presents: a Bearer token, or the password of Basic auth (any
user). One reading for every route that takes a shared secret: the webhooks and reads (service.api.auth),
Opsgenie's webhook integration (service.opsgenie)."""

import base64
import binascii

__all__ = ["presented_secret"]


def presented_secret(header: str | None) -> str | None:
    """The secret in an ``Authorization`` header, or None (no header, another scheme, Basic that does
    not decode or carries no password)."""
    scheme, _, value = (header or "").partition(" ")
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
