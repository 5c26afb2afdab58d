"""Alertmanager's routing tree walked as dispatch/route.go walks it (medic.alert_routes), on the
configurations people run: kube-prometheus-stack's default (its values.yaml, `alertmanager.config`:
Watchdog to the `null` receiver, everything else grouped by namespace and repeated every 12 hours) and
the receiver Medic ships (deploy/alertmanager/alertmanager.yml)."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from medic.alert_routes import parse_alertmanager_duration, route_alert

ROOT = Path(__file__).resolve().parents[2]
WATCHDOG = {
    "alertname": "Watchdog",
    "prometheus": "monitoring/kube-prometheus-stack-prometheus",
    "severity": "none",
}

# prometheus-community/helm-charts, charts/kube-prometheus-stack/values.yaml, alertmanager.config (as shipped)
KUBE_PROMETHEUS_STACK = """
global:
  resolve_timeout: 5m
inhibit_rules:
  - source_matchers:
      - 'severity = critical'
    target_matchers:
      - 'severity =~ warning|info'
    equal:
      - 'namespace'
      - 'alertname'
route:
  group_by: ['namespace']
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 12h
  receiver: 'null'
  routes:
  - receiver: 'null'
    matchers:
      - alertname = "Watchdog"
receivers:
- name: 'null'
templates:
- '/etc/alertmanager/config/*.tmpl'
"""


def config(text: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def test_kube_prometheus_stack_sends_watchdog_to_null_every_12_hours() -> None:
    [end] = route_alert(config(KUBE_PROMETHEUS_STACK), WATCHDOG) or []
    assert end.receiver == "null"
    assert end.cadence == timedelta(hours=12, minutes=5)  # inherited; sent on the 5-minute tick after 12h


def test_the_shipped_route_sends_watchdog_to_medic_every_minute_and_the_rest_every_4_hours() -> None:
    shipped = config((ROOT / "deploy" / "alertmanager" / "alertmanager.yml").read_text())
    [end] = route_alert(shipped, WATCHDOG) or []
    assert (end.receiver, end.cadence) == ("medic", timedelta(minutes=2))  # 1m and 1m: every other tick
    [other] = route_alert(shipped, {**WATCHDOG, "alertname": "KubePodCrashLooping"}) or []
    assert (other.receiver, other.cadence) == ("medic", timedelta(hours=4, minutes=5))


def test_first_match_wins_unless_it_continues_and_children_inherit() -> None:
    tree = config(
        """
route:
  receiver: default
  repeat_interval: 3h
  routes:
    - {receiver: audit, match: {alertname: Watchdog}, continue: true, repeat_interval: 1m}
    - {receiver: medic, match_re: {alertname: "Watch.*"}}
    - {receiver: never, matchers: ['alertname=~"W.*"']}
    - receiver: team
      matchers: ['severity!="none"', 'team=""']
      routes:
        - {matchers: ['{alertname="Disk", cluster=~"eu-.*"}'], group_interval: 10m}
"""
    )
    ends = route_alert(tree, WATCHDOG) or []
    assert [(e.receiver, e.cadence) for e in ends] == [
        ("audit", timedelta(minutes=5)),  # repeats go out on the group's ticks (5m, inherited)
        ("medic", timedelta(hours=3, minutes=5)),
    ]
    [disk] = route_alert(tree, {"alertname": "Disk", "cluster": "eu-1", "severity": "warning"}) or []
    assert (disk.receiver, disk.group_interval, disk.repeat_interval) == (
        "team",
        timedelta(minutes=10),
        timedelta(hours=3),
    )
    [root] = route_alert(tree, {"alertname": "Disk", "cluster": "us-1", "team": "x"}) or []
    assert root.receiver == "default"  # team="" needs the label absent; no child takes it


def test_what_cannot_be_read_is_undecided_never_guessed() -> None:
    assert (
        route_alert({"route": {"receiver": "a", "routes": [{"matchers": ["alertname=~(?P<x"]}]}}, WATCHDOG)
        is None
    )
    assert route_alert({"route": {"receiver": "a", "repeat_interval": "soon"}}, WATCHDOG) is None
    assert route_alert({}, WATCHDOG) is None


@pytest.mark.parametrize(
    ("text", "seconds"), [("1m", 60), ("4h", 14400), ("1h30m", 5400), ("500ms", 0.5), ("1d", 86400)]
)
def test_durations_as_prometheus_writes_them(text: str, seconds: float) -> None:
    assert parse_alertmanager_duration(text) == timedelta(seconds=seconds)
