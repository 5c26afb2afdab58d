"""The worker's correlation activities as the settings wire them (service.worker.correlation_activities):
Prometheus alone asks ALERTS; Alertmanager's held alerts are taken only with both URLs and a receiver,
and with its URL and a receiver alone incidents ask it about the alerts its webhook delivered;
the cluster lookup the webhook assigns with is the one correlation assigns with."""

from pathlib import Path
from typing import Any, cast

from temporalio.client import Client

from activities.adapters.alertmanager import AlertmanagerAlerts
from activities.adapters.prometheus import PrometheusMetrics
from service.settings import Settings
from service.worker import correlation_activities
from tests.support.shop import shop

CLIENT = cast("Client", object())  # stored by the sink, never called here


def wired(**settings: Any) -> dict[str, Any]:
    activities = correlation_activities(CLIENT, Settings(_env_file=None, **settings), shop())
    return {
        "source": activities._source,
        "held": activities._held_by_alertmanager,
        "deliver": activities._deliver,
        "lookup": activities._lookup,
    }


def test_without_prometheus_no_cause_is_taken_but_delivered_alerts_are_asked_about() -> None:
    assert wired() == dict.fromkeys(("source", "held", "deliver", "lookup"))
    found = wired(alertmanager_url="http://am:9093")
    assert isinstance(found["held"], AlertmanagerAlerts)  # correlate.still_held (docs/notifications.md)
    assert found["source"] is None and found["deliver"] is None


def test_prometheus_alone_asks_alerts_and_takes_nothing() -> None:
    found = wired(prometheus_url="http://prom:9090")
    assert isinstance(found["source"], PrometheusMetrics)
    assert found["held"] is None and found["deliver"] is None


def test_held_alerts_are_taken_with_both_urls_and_a_receiver() -> None:
    found = wired(
        prometheus_url="http://prom:9090",
        alertmanager_url="http://am:9093",
        alertmanager_receiver="oncall-medic",
    )
    assert isinstance(found["held"], AlertmanagerAlerts) and found["held"]._receiver == "oncall-medic"
    assert callable(found["deliver"])
    off = wired(
        prometheus_url="http://prom:9090", alertmanager_url="http://am:9093", alertmanager_receiver=""
    )
    assert off["held"] is None and off["deliver"] is None


def test_the_cluster_lookup_is_correlations_too(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {token: t}}]\n"
    )
    found = wired(prometheus_url="http://prom:9090", subject_lookup=True, kubeconfig=kubeconfig)
    assert found["lookup"] is not None
    assert wired(prometheus_url="http://prom:9090")["lookup"] is None
