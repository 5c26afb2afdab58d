"""API credentials: a bearer token, or basic auth with the token as password (both forms
Alertmanager's ``http_config`` can send).

Two credentials, each reaching only as far as it should:

- the webhook token (MEDIC_WEBHOOK_TOKEN), held by Alertmanager and Grafana: deliveries and reads;
  during a rotation the previous one (MEDIC_WEBHOOK_TOKEN_PREVIOUS) is taken too, so that the senders
  and the API need not change at the same instant (docs/deployment.md, "Rotating the webhook token");
- the read token (MEDIC_READ_TOKEN, optional), held by dashboards and scripts: incident reads only;
- the operator token (MEDIC_OPERATOR_TOKEN), held by people's tooling: the kill switch and decisions
  on remediations. What it does is recorded as the credential (:data:`OPERATOR_ACTOR`), never as a
  person it names: only a signed Slack request proves who someone is.

The webhook token is refused (403) where the operator token is needed, so the credential a sender
of alerts holds cannot approve anything, nor under anyone's name.

Incident reads (:func:`require_incident_reader`) take any of the three tokens; a postmortem or a chart
also opens with a signed link Medic posted (``medic.links``). ``MEDIC_READS_OPEN=true`` drops the
check on a trusted network."""

import hmac
import time
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, status
from pydantic import SecretStr

from medic.access import OPERATOR_ACTOR
from medic.links import LinkSigner
from service.api.deps import Deps, get_deps
from service.credentials import presented_secret

__all__ = [
    "OPERATOR_ACTOR",
    "presented_credentials",
    "require_document_reader",
    "require_incident_reader",
    "require_operator",
    "require_token",
]

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="medic", Basic realm="medic"'}


def _matches(presented: str | None, token: SecretStr | None) -> bool:
    """Constant-time comparison; nothing matches a token that is not configured."""
    if presented is None or token is None:
        return False
    return hmac.compare_digest(presented.encode(), token.get_secret_value().encode())


def _unauthorized(message: str = "missing or wrong credentials") -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, message, headers=_CHALLENGE)


def require_token(request: Request, token: SecretStr | None, *, previous: SecretStr | None = None) -> bool:
    """Raise 401 unless the request carries the webhook token, or ``previous`` (the one it replaces,
    during a rotation). Constant-time comparison. True when it was the previous token."""
    if token is None:
        # Only reachable in-process (tests, `medic dev` always has one); refuse rather than allow.
        raise _unauthorized("webhook token not configured")
    presented = presented_secret(request.headers.get("authorization", ""))
    if _matches(presented, token):
        return False
    if _matches(presented, previous):
        return True
    raise _unauthorized()


def presented_credentials(request: Request) -> str:
    """What a refused request carried, for the log: the scheme only, never the secret."""
    header = request.headers.get("authorization", "")
    if not header.strip():
        return "no Authorization header"
    scheme = header.partition(" ")[0].lower()
    if scheme not in ("bearer", "basic"):
        return "an Authorization header of neither the Bearer nor the Basic scheme"
    if presented_secret(header) is None:
        return f"a malformed {scheme.title()} Authorization header"
    return f"{scheme.title()} credentials"


def require_operator(
    request: Request, *, webhook_token: SecretStr | None, operator_token: SecretStr | None
) -> str:
    """The actor to record for a change made with the operator token; 403 for the webhook token
    (or while no operator token is configured), 401 for anything else."""
    presented = presented_secret(request.headers.get("authorization", ""))
    if _matches(presented, webhook_token):  # first: an operator token equal to it counts for nothing
        if operator_token is None:
            why = "MEDIC_OPERATOR_TOKEN (not set here)"
        elif _matches(operator_token.get_secret_value(), webhook_token):
            why = "MEDIC_OPERATOR_TOKEN (set here to the webhook token itself: give it its own value)"
        else:
            why = "MEDIC_OPERATOR_TOKEN"
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"the webhook token delivers alerts and reads; the kill switch and decisions need {why}, "
            "or Slack",
        )
    if _matches(presented, operator_token):
        return OPERATOR_ACTOR
    raise _unauthorized()


def _incident_reader(request: Request, deps: Deps) -> bool:
    settings = deps.settings
    if settings.reads_open:
        return True
    presented = presented_secret(request.headers.get("authorization", ""))
    return any(
        _matches(presented, token)
        for token in (
            settings.webhook_token,
            settings.webhook_token_previous,
            settings.read_token,
            settings.operator_token,
        )
    )


def require_incident_reader(request: Request, deps: Annotated[Deps, Depends(get_deps)]) -> None:
    """Incident reads: the webhook, read or operator token (401 otherwise), unless reads are open."""
    if not _incident_reader(request, deps):
        raise _unauthorized()


def require_document_reader(
    request: Request,
    deps: Annotated[Deps, Depends(get_deps)],
    exp: Annotated[
        str | None,
        Query(description="a signed link's expiry (Unix seconds), with `sig`", pattern=r"^[0-9]{1,12}$"),
    ] = None,
    sig: Annotated[
        str | None,
        Query(description="a signed link's signature, as Medic posted it", pattern=r"^[A-Za-z0-9_-]{1,128}$"),
    ] = None,
) -> None:
    """A postmortem or chart: a reader's credentials, or a signed link to this path not yet expired.
    ``exp`` and ``sig`` are checked against their exact shapes (422 otherwise), whoever asks."""
    if _incident_reader(request, deps):
        return
    signer: LinkSigner | None = deps.link_signer
    expires = int(exp) if exp is not None else None
    if signer is not None and signer.verify(request.url.path, exp=expires, sig=sig, now=time.time()):
        return
    if exp is not None or sig is not None:
        raise _unauthorized("the link has expired or is not one Medic signed: ask for it again")
    raise _unauthorized()
