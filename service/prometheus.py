"""The one place Medic's Prometheus, Loki and Alertmanager connections are made from the settings: the
URL, a bearer token file, a tenant (Grafana Mimir, Cortex, Loki) and a CA bundle; for verification
queries, the settle probe and the anomaly scans alike, and for silences and held alerts."""

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from service.settings import Settings

if TYPE_CHECKING:
    from activities.adapters.alertmanager import AlertmanagerAlerts, AlertmanagerSilences
    from activities.adapters.http import Access
    from activities.adapters.loki import LokiMetrics
    from activities.adapters.prometheus import PrometheusMetrics

__all__ = ["alertmanager_alerts", "alertmanager_silences", "loki", "prometheus", "tenant_warnings"]

log = logging.getLogger(__name__)


def prometheus(settings: Settings, *, timeout: float | None = None) -> "PrometheusMetrics | None":
    """Prometheus as configured (None without MEDIC_PROMETHEUS_URL); ``timeout`` for each query, else
    MEDIC_PROMETHEUS_TIMEOUT_SECONDS."""
    if not settings.prometheus_url:
        return None
    from activities.adapters.prometheus import PrometheusMetrics  # noqa: PLC0415

    return PrometheusMetrics(
        settings.prometheus_url,
        timeout=settings.prometheus_timeout_seconds if timeout is None else timeout,
        access=_access(settings, "Prometheus"),
    )


def loki(settings: Settings, *, timeout: float | None = None) -> "LokiMetrics | None":
    """Grafana Loki as configured, for scans whose source is ``loki`` (None without MEDIC_LOKI_URL);
    ``timeout`` for each query, else MEDIC_LOKI_TIMEOUT_SECONDS."""
    if not settings.loki_url:
        return None
    from activities.adapters.loki import LokiMetrics  # noqa: PLC0415

    return LokiMetrics(
        settings.loki_url,
        timeout=settings.loki_timeout_seconds if timeout is None else timeout,
        access=_access(settings, "Loki"),
    )


def _access(settings: Settings, service: Literal["Prometheus", "Loki", "Alertmanager"]) -> "Access":
    """How Medic is let into ``service``: its ``MEDIC_<SERVICE>_BEARER_TOKEN_FILE``, ``_TENANT`` and
    ``_CA_FILE``."""
    from activities.adapters.http import Access  # noqa: PLC0415

    name = service.lower()
    token: Path | None = getattr(settings, f"{name}_bearer_token_file")
    tenant: str | None = getattr(settings, f"{name}_tenant")
    ca: Path | None = getattr(settings, f"{name}_ca_file")
    return Access(service, f"MEDIC_{name.upper()}", bearer_token_file=token, tenant=tenant, ca_file=ca)


def alertmanager_silences(settings: Settings, *, timeout: float = 5.0) -> "AlertmanagerSilences | None":
    """Alertmanager's silences as configured (None without MEDIC_ALERTMANAGER_URL)."""
    if not settings.alertmanager_url:
        return None
    from activities.adapters.alertmanager import AlertmanagerSilences  # noqa: PLC0415

    return AlertmanagerSilences(
        settings.alertmanager_url,
        timeout=timeout,
        access=_access(settings, "Alertmanager"),
        link_template=settings.alertmanager_silence_url,
    )


def alertmanager_alerts(settings: Settings, *, timeout: float = 3.0) -> "AlertmanagerAlerts | None":
    """The alerts Alertmanager holds for MEDIC_ALERTMANAGER_RECEIVER (None without
    MEDIC_ALERTMANAGER_URL)."""
    if not settings.alertmanager_url:
        return None
    from activities.adapters.alertmanager import AlertmanagerAlerts  # noqa: PLC0415

    return AlertmanagerAlerts(
        settings.alertmanager_url,
        receiver=settings.alertmanager_receiver,
        timeout=timeout,
        access=_access(settings, "Alertmanager"),
    )


def tenant_warnings(settings: Settings, *, log_them: bool = True) -> list[str]:
    """What looks like a Grafana Mimir read without its tenant, logged at start (WARNING) by the worker
    and the API: Mimir's Helm chart puts a gateway in front that sends the tenant ``anonymous`` when
    none is given, and gives its Alertmanager a fallback configuration. Through it nothing is refused:
    scans see no series, and a silence from Slack is made in ``anonymous``, where it silences nothing.
    Said of a URL under Mimir's own prefixes (``/prometheus``, ``/alertmanager``) without a tenant, and
    of an Alertmanager without a tenant beside a Prometheus with one; and of an Alertmanager tenant
    without a page for the silence links people open (Mimir's own UI needs the tenant header)."""
    said = []
    if (
        settings.prometheus_url
        and not settings.prometheus_tenant
        and _under(settings.prometheus_url, "prometheus")
    ):
        said.append(
            "MEDIC_PROMETHEUS_URL ends in /prometheus, Grafana Mimir's prefix, and "
            "MEDIC_PROMETHEUS_TENANT is not set: a Mimir reads as the tenant 'anonymous' behind its Helm "
            "chart's gateway (scans see no series) and refuses with 'no org id' otherwise. Set "
            "MEDIC_PROMETHEUS_TENANT; a Prometheus served under /prometheus needs nothing"
        )
    if settings.alertmanager_url and not settings.alertmanager_tenant:
        if _under(settings.alertmanager_url, "alertmanager"):
            said.append(
                "MEDIC_ALERTMANAGER_URL ends in /alertmanager, Grafana Mimir's prefix, and "
                "MEDIC_ALERTMANAGER_TENANT is not set: behind Mimir's Helm chart's gateway a silence from "
                "Slack is made for the tenant 'anonymous', where it silences nothing. Set "
                "MEDIC_ALERTMANAGER_TENANT (and MEDIC_ALERTMANAGER_SILENCE_URL for the links people "
                "open); an Alertmanager served under /alertmanager needs nothing"
            )
        elif settings.prometheus_tenant:
            said.append(
                "MEDIC_PROMETHEUS_TENANT is set and MEDIC_ALERTMANAGER_TENANT is not: if "
                "MEDIC_ALERTMANAGER_URL is Mimir's Alertmanager, set the tenant whose alerts it holds, or "
                "silences from Slack go to another tenant or are refused"
            )
    if settings.alertmanager_url and settings.alertmanager_tenant and not settings.alertmanager_silence_url:
        said.append(
            "MEDIC_ALERTMANAGER_TENANT is set and MEDIC_ALERTMANAGER_SILENCE_URL is not: the silence links "
            "Slack and the timeline show open Mimir's Alertmanager UI, which a browser cannot open without "
            "the tenant header. Set it to Grafana's page, e.g. "
            "https://grafana.example/alerting/silence/{id}/edit?alertmanager=Mimir"
        )
    for line in said if log_them else ():
        log.warning("%s", line)
    return said


def _under(url: str, prefix: str) -> bool:
    try:
        path = urlsplit(url).path
    except ValueError:  # (no URL: said where it is used, not here; a traceback was, at start and in doctor)
        return False
    return path.rstrip("/").endswith("/" + prefix)
