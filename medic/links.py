"""Signed, short-lived links to Medic's own read routes, for the people a Slack message reaches.

Reads need credentials (the webhook, read or operator token), which people in a Slack channel do
not hold; a link Medic posts carries ``?exp=<unix seconds>&sig=<signature>`` instead. The signature
is an HMAC-SHA256 over the link's path and its expiry, with a key derived from a server-side secret
(``MEDIC_LINK_SECRET``, else the webhook token), so it opens that one path until it expires and
nothing else: changing the path, the expiry or the signature breaks it, and rotating the secret
revokes every link made with it. Verified in constant time.

Pure: the caller passes the clock and the secret."""

import base64
import hashlib
import hmac
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["LinkSigner", "derive_link_key"]

_CONTEXT = b"medic/links/v1"


def derive_link_key(secret: str) -> bytes:
    """The signing key: never the secret itself, so a signature reveals nothing usable elsewhere."""
    return hmac.new(secret.encode(), _CONTEXT, hashlib.sha256).digest()


class LinkSigner:
    """Signs links under ``base_url`` and verifies a path's ``exp`` and ``sig``."""

    def __init__(self, key: bytes, *, base_url: str, ttl_seconds: int) -> None:
        self._key, self._ttl = key, ttl_seconds
        self._base = urlsplit(base_url.rstrip("/"))

    def _signature(self, path: str, exp: int) -> str:
        mac = hmac.new(self._key, f"{path}\n{exp}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def sign(self, url: str, *, now: float) -> str:
        """``url`` with ``exp`` and ``sig`` added when it points at this API; any other URL unchanged."""
        parts = urlsplit(url)
        ours = (parts.scheme, parts.netloc) == (self._base.scheme, self._base.netloc)
        if not ours or not parts.path.startswith(self._base.path + "/incidents/"):
            return url
        exp = int(now) + self._ttl
        # Only the part of the path this API sees is signed (a public URL may sit behind a prefix).
        query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("exp", "sig")]
        signed = [*query, ("exp", str(exp)), ("sig", self._signature(self.route(parts.path), exp))]
        return urlunsplit(parts._replace(query=urlencode(signed)))

    def route(self, path: str) -> str:
        """The path as the API sees it: without the public URL's own prefix."""
        prefix = self._base.path
        return path[len(prefix) :] if prefix and path.startswith(prefix + "/") else path

    def verify(self, path: str, *, exp: int | None, sig: str | None, now: float) -> bool:
        """Whether ``sig`` signs ``path`` (as the API sees it) until ``exp``, and ``exp`` is not past."""
        if exp is None or not sig or exp <= now:
            return False
        return hmac.compare_digest(sig.encode(), self._signature(path, exp).encode())
