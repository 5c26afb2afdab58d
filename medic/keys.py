"""Incident identities: deterministic, so every delivery reaches the same workflow whichever
API replica receives it, and readable in the Temporal UI.

One incident key per *service* (what correlation needs: alerts on one service within the
window are one incident, and a service's incident can find its neighbours' incidents by
name). Alerts that name no service fall back to their Alertmanager group.
"""

import hashlib
import re

from medic.redact import redact

__all__ = [
    "INCIDENT_ID_PATTERN",
    "INCIDENT_PREFIX",
    "datasource_incident_id",
    "group_incident_id",
    "service_incident_id",
]

INCIDENT_PREFIX = "incident-"
INCIDENT_ID_PATTERN = re.compile(r"^incident-[a-z0-9][a-z0-9-]{0,99}$")
_SLUG_MAX = 40


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:_SLUG_MAX].rstrip("-") or "alert"


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:12]


def service_incident_id(service: str, *, in_catalog: bool = True, cluster: str = "") -> str:
    """``incident-<service>`` for catalog services (their names are already slugs); a hashed
    form for label values the catalog does not know, so they can never collide with it.

    ``cluster`` (MEDIC_INCIDENTS_PER_CLUSTER: the alert's cluster label) makes it that cluster's
    incident of the service, ``incident-<cluster>--<service>``: the same service failing in two clusters
    is two incidents, an incident's neighbours (named from its context) are its own cluster's, and one
    cluster's incidents are a view in the Temporal UI (``WorkflowId STARTS_WITH 'incident-prod-eu--'``).

    Every id matches :data:`INCIDENT_ID_PATTERN` (at most 109 ASCII characters, far inside Temporal's
    workflow-id limit of 1,000 bytes) whatever the label: a 40-character slug plus a digest of the
    whole value keeps it readable, deterministic and distinct."""
    if cluster:
        where = _slug(cluster)
        if in_catalog:
            readable = f"{INCIDENT_PREFIX}{where}--{service}"
            if INCIDENT_ID_PATTERN.fullmatch(readable) and where == cluster:
                return readable
        # a long or unusual name (of the service or the cluster): both slugs cut short, the digest
        # of both whole values keeps it distinct
        digest = _digest("svc", service, "cluster", cluster)
        return f"{INCIDENT_PREFIX}{where[:30].rstrip('-')}--svc-{_slug(service)[:30].rstrip('-')}-{digest}"
    if in_catalog:
        readable = f"{INCIDENT_PREFIX}{service}"
        # Catalog names are slugs of at most 63 characters; anything else (a catalog that let one
        # through) still gets an id within the pattern and Temporal's limits.
        if INCIDENT_ID_PATTERN.fullmatch(readable):
            return readable
    return f"{INCIDENT_PREFIX}svc-{_slug(service)}-{_digest('svc', service)}"


def group_incident_id(*, receiver: str, group_key: str | None, group_labels: dict[str, str]) -> str:
    """One incident per Alertmanager group (receiver + groupKey), for alerts naming no service.

    Senders that omit ``groupKey`` are grouped by receiver and group labels, which is what
    Alertmanager's groupKey is made of.
    """
    key = group_key if group_key else "|".join(f"{k}={group_labels[k]}" for k in sorted(group_labels))
    # Readable from the group itself: from the first alert of a delivery, one group's deliveries could
    # land in different incidents (a resolution in the wrong one, the first never resolving).
    # Redacted: the id is shown everywhere (API, Slack, the Temporal UI); the digest reveals nothing.
    readable = redact(group_labels.get("alertname") or receiver)
    return f"{INCIDENT_PREFIX}{_slug(readable)}-{_digest('am', receiver, key)}"


def datasource_incident_id(uid: str, alertname: str) -> str:
    """One incident per Grafana data source that cannot be queried (medic.grafana_alerts), whichever
    services its rules are about: ``incident-datasource-<uid>-<digest>``; the alerts naming no data
    source (Grafana's DatasourceNoData) one per alert name."""
    key = uid or alertname
    return f"{INCIDENT_PREFIX}datasource-{_slug(key)}-{_digest('datasource', key)}"
