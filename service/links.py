"""The link signer both processes build from the same settings: the worker signs the links it posts
to Slack, the API signs the one ``/medic postmortem`` answers with and verifies them all
(``medic.links``)."""

import logging
import time
from collections.abc import Callable

from medic.links import LinkSigner, derive_link_key
from service.settings import Settings

__all__ = ["link_signer", "signed", "warn_if_reads_open"]

log = logging.getLogger(__name__)


def link_signer(settings: Settings) -> LinkSigner | None:
    """None when no secret is configured (a worker without MEDIC_LINK_SECRET or MEDIC_WEBHOOK_TOKEN)."""
    secret = settings.link_secret or settings.webhook_token
    if secret is None or not secret.get_secret_value():
        return None
    return LinkSigner(
        derive_link_key(secret.get_secret_value()),
        base_url=settings.api_url,
        ttl_seconds=settings.link_ttl_seconds,
    )


def signed(settings: Settings) -> Callable[[str], str]:
    """A function signing a URL as of now (unchanged when no secret is configured)."""
    signer = link_signer(settings)
    if signer is None:
        return _unchanged
    return lambda url: signer.sign(url, now=time.time())


def _unchanged(url: str) -> str:
    return url


def warn_if_reads_open(settings: Settings) -> bool:
    """Say loudly at start that incident reads need no credentials: whether it was said."""
    if not settings.reads_open:
        return False
    log.warning(
        "MEDIC_READS_OPEN=true: GET /incidents, incident details, postmortems and charts answer ANYONE who "
        "reaches this API, with every alert's labels and annotations. Only on a network where every "
        "client may read them; otherwise unset it and give readers MEDIC_READ_TOKEN."
    )
    return True
