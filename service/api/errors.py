"""How reading from Temporal fails, as HTTP: one mapping for every route that reads incidents or the
control workflows."""

import contextlib
from collections.abc import Iterator

from fastapi import HTTPException
from temporalio.service import RPCError, RPCStatusCode

from medic.keys import INCIDENT_ID_PATTERN
from service.incidents import IncidentNotFound, IncidentUnreadable
from service.temporal import UNREACHABLE

__all__ = ["temporal_answers"]

_RETRY = {"Retry-After": "5"}


@contextlib.contextmanager
def temporal_answers(incident_id: str | None = None, *, not_found: str | None = None) -> Iterator[None]:
    """404 for an id no incident can have or that Temporal does not know (``not_found``: the answer
    when a workflow the route names is not running); 503 (with Retry-After) when the incident could
    not answer or Temporal is unreachable."""
    if incident_id is not None and not INCIDENT_ID_PATTERN.match(incident_id):
        raise HTTPException(
            404, f"no incident {incident_id!r}: incident ids look like incident-<name>-<hash>"
        )
    try:
        yield
    except IncidentNotFound as err:
        raise HTTPException(404, f"no incident {incident_id or str(err)!r}") from err
    except IncidentUnreadable as err:
        raise HTTPException(503, str(err), headers=_RETRY) from err
    except UNREACHABLE as err:
        status = err.status if isinstance(err, RPCError) else None
        if status is RPCStatusCode.NOT_FOUND and not_found is not None:
            raise HTTPException(404, not_found) from err
        raise HTTPException(503, f"Temporal is not reachable: {err}", headers=_RETRY) from err
