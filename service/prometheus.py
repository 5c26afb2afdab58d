"""The one place Medic's Prometheus and Alertmanager connections are made from the settings: the URL, a
bearer token file, a tenant (Grafana Mimir, Cortex) and a CA bundle; for verification queries, the
settle probe and the anomaly scans alike, and for silences and held alerts."""

from typing import TYPE_CHECKING

from service.settings import Settings

if TYPE_CHECKING:
    from activities.adapters.alertmanager import AlertmanagerAlerts, AlertmanagerSilences
    from activities.adapters.http import Access
    from activities.adapters.prometheus import PrometheusMetrics

__all__ = ["alertmanager_alerts", "alertmanager_silences", "prometheus"]


def prometheus(settings: Settings, *, timeout: float | None = None) -> "PrometheusMetrics | None":
    """Prometheus as configured (None without MEDIC_PROMETHEUS_URL); ``timeout`` for each query, else
    MEDIC_PROMETHEUS_TIMEOUT_SECONDS."""
    if not settings.prometheus_url:
        return None
    from activities.adapters.http import Access  # noqa: PLC0415
    from activities.adapters.prometheus import PrometheusMetrics  # noqa: PLC0415

    access = Access(
        "Prometheus",
        "MEDIC_PROMETHEUS",
        bearer_token_file=settings.prometheus_bearer_token_file,
        tenant=settings.prometheus_tenant,
        ca_file=settings.prometheus_ca_file,
    )
    return PrometheusMetrics(
        settings.prometheus_url,
        timeout=settings.prometheus_timeout_seconds if timeout is None else timeout,
        access=access,
    )


def _alertmanager_access(settings: Settings) -> "Access":
    from activities.adapters.http import Access  # noqa: PLC0415

    return Access(
        "Alertmanager",
        "MEDIC_ALERTMANAGER",
        bearer_token_file=settings.alertmanager_bearer_token_file,
        tenant=settings.alertmanager_tenant,
        ca_file=settings.alertmanager_ca_file,
    )


def alertmanager_silences(settings: Settings) -> "AlertmanagerSilences | None":
    """Alertmanager's silences as configured (None without MEDIC_ALERTMANAGER_URL)."""
    if not settings.alertmanager_url:
        return None
    from activities.adapters.alertmanager import AlertmanagerSilences  # noqa: PLC0415

    return AlertmanagerSilences(settings.alertmanager_url, access=_alertmanager_access(settings))


def alertmanager_alerts(settings: Settings) -> "AlertmanagerAlerts | None":
    """The alerts Alertmanager holds for MEDIC_ALERTMANAGER_RECEIVER (None without
    MEDIC_ALERTMANAGER_URL)."""
    if not settings.alertmanager_url:
        return None
    from activities.adapters.alertmanager import AlertmanagerAlerts  # noqa: PLC0415

    return AlertmanagerAlerts(
        settings.alertmanager_url,
        receiver=settings.alertmanager_receiver,
        access=_alertmanager_access(settings),
    )
