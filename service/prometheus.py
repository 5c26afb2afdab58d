"""The one place Medic's Prometheus connection is made from the settings: the URL, a bearer token file
and a CA bundle, for verification queries, the settle probe and the anomaly scans alike."""

from typing import TYPE_CHECKING

from service.settings import Settings

if TYPE_CHECKING:
    from activities.adapters.prometheus import PrometheusMetrics

__all__ = ["prometheus"]


def prometheus(settings: Settings, *, timeout: float | None = None) -> "PrometheusMetrics | None":
    """Prometheus as configured (None without MEDIC_PROMETHEUS_URL); ``timeout`` for each query, else
    MEDIC_PROMETHEUS_TIMEOUT_SECONDS."""
    if not settings.prometheus_url:
        return None
    from activities.adapters.prometheus import PrometheusMetrics  # noqa: PLC0415

    return PrometheusMetrics(
        settings.prometheus_url,
        timeout=settings.prometheus_timeout_seconds if timeout is None else timeout,
        bearer_token_file=settings.prometheus_bearer_token_file,
        ca_file=settings.prometheus_ca_file,
    )
