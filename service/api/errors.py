"""How reading from Temporal fails, as HTTP: one mapping for every route that reads incidents or the
control workflows."""

import contextlib
import logging
from collections.abc import Iterator

from fastapi import HTTPException
from temporalio.service import RPCError, RPCStatusCode

from medic.keys import INCIDENT_ID_PATTERN
from service.api.responses import RETRY_AFTER, temporal_unavailable
from service.incidents import (
    DOES_NOT_REPLAY,
    IncidentNotFound,
    IncidentUnreadable,
    does_not_replay,
    task_failing,
)
from service.temporal import UNREACHABLE

__all__ = ["ID_SHAPE", "temporal_answers"]

log = logging.getLogger(__name__)

# As medic.keys makes them: incident-<service> for a catalog service, a hashed form otherwise.
ID_SHAPE = (
    "incident ids look like incident-checkout (incident-<service> for a catalog service), "
    "incident-svc-<name>-<hash> for a service outside the catalog, or incident-<alertname>-<hash> for an "
    "alert without a service"
)


@contextlib.contextmanager
def temporal_answers(incident_id: str | None = None, *, not_found: str | None = None) -> Iterator[None]:
    """404 for an id no incident can have or that Temporal does not know (``not_found``: the answer
    when a workflow the route names is not running); 503 (with Retry-After) when the incident could
    not answer or Temporal is unreachable."""
    if incident_id is not None and not INCIDENT_ID_PATTERN.match(incident_id):
        raise HTTPException(404, f"no incident {incident_id!r}: {ID_SHAPE}")
    try:
        yield
    except IncidentNotFound as err:
        raise HTTPException(404, f"no incident {incident_id or str(err)!r}") from err
    except IncidentUnreadable as err:
        if does_not_replay(err):  # for good: retrying cannot help
            raise HTTPException(409, f"incident {incident_id or str(err)!r}: {DOES_NOT_REPLAY}") from err
        log.warning("503: %s", err)
        raise HTTPException(
            503,
            "the incident's workflow did not answer (no `medic worker` running, or its query failed); "
            "retry after Retry-After, and check the workers if it lasts; the API's log has the details",
            headers=RETRY_AFTER,
        ) from err
    except UNREACHABLE as err:
        status = err.status if isinstance(err, RPCError) else None
        if status is RPCStatusCode.NOT_FOUND and not_found is not None:
            raise HTTPException(404, not_found) from err
        if incident_id is not None and task_failing(err):  # Temporal is fine: the incident's task fails
            raise HTTPException(409, f"incident {incident_id!r}: {DOES_NOT_REPLAY}") from err
        raise temporal_unavailable("reading from Temporal", err) from err
