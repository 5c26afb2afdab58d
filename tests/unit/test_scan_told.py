"""What people read of a scan's findings (a field review of the scan path, 2026-12-06, run live against
Debian's Prometheus): every scan's incident was titled "Anomaly in a metric on <service>" (queries that
aggregate drop ``__name__``), its Slack card said "Alerts: 0 firing of 0" and nothing of the finding,
two scans whose series had the same labels were one anomaly in the incident, and an exhausted volume
read "exhausted: -0.0615" where Prometheus answered 0."""

from datetime import UTC, datetime, timedelta

import numpy as np

from activities.adapters.teams import adaptive_card
from medic.anomaly import SCAN_LABEL, AnomalySignal, ExpectedBand, TimeWindow
from medic.cards import IncidentCard, render_card
from medic.forecast import exhaustion_signal, time_to_exhaustion
from medic.incident import AnomalyBatch, IncidentState
from medic.scan import ScanSpec, scan_series

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
STEP = 60.0


def spiked(seed: int = 1) -> tuple[list[float], list[float]]:
    t = 1_800_000_000.0 + np.arange(600) * STEP
    x = np.random.default_rng(seed).normal(10.0, 0.3, 600).tolist()
    x[-3] += 30.0
    return t.tolist(), x


def found(spec: ScanSpec, labels: dict[str, str]) -> AnomalySignal:
    t, x = spiked()
    [signal] = scan_series(spec, labels, t, x, None, end=t[-1]).signals
    return signal


def take(state: IncidentState, *signals: AnomalySignal) -> None:
    state.apply_anomalies(AnomalyBatch(signals=list(signals), received_at=T0), at=T0)


def test_two_scans_of_series_with_the_same_labels_are_two_anomalies() -> None:
    """Before: the key was the source and the series' labels, so the second scan's finding was taken
    for the first seen again and dropped (whichever came second: latency one run, traffic the next)."""
    labels = {"service": "checkout"}
    latency = found(ScanSpec(name="checkout-p99", query="q1", warmup=50), labels)
    traffic = found(ScanSpec(name="checkout-rps", query="q2", warmup=50), labels)
    assert latency.series[SCAN_LABEL] == "checkout-p99" and traffic.series[SCAN_LABEL] == "checkout-rps"
    assert latency.key != traffic.key
    state = IncidentState(id="incident-checkout", opened_at=T0)
    take(state, latency, traffic)
    assert len(state.anomalies) == 2
    # the scan names the incident, and the timeline says which scan found what
    assert state.title.startswith("Anomaly in checkout-p99")
    detected = [e.message for e in state.timeline if e.kind == "anomaly.detected"]
    assert any("scan checkout-p99:" in m for m in detected) and any(
        "scan checkout-rps:" in m for m in detected
    )


def test_a_signal_from_elsewhere_reads_as_before() -> None:
    """Signals without the scan's label (another detector's, or recorded before it) keep their title and
    text, so a history's incident replays to the same title."""
    signal = AnomalySignal(
        source="grafana-ml",
        service="checkout",
        series={"job": "api"},
        value=5.0,
        expected=ExpectedBand(lower=0.0, upper=1.0),
        score=0.9,
        window=TimeWindow(start=T0, end=T0 + timedelta(minutes=5)),
        summary="spike in api",
    )
    assert signal.headline() == "Anomaly in a metric"
    assert signal.described() == signal.expected.against(5.0)


def test_a_prediction_names_its_scan_and_what_runs_out_with_the_value_seen() -> None:
    t = 1_800_000_000.0 + np.arange(360) * STEP
    free = 0.6 - 0.5 * (t - t[0]) / (t[-1] - t[0])  # free space falling to 0.1
    spec = ScanSpec(name="pvc-free", query="q", capacity=0.05, horizon_seconds=86400, direction="falling")
    [signal] = scan_series(
        spec, {"persistentvolumeclaim": "data-0"}, t.tolist(), free.tolist(), None, end=float(t[-1])
    ).signals
    # which volume: a scan of every PVC said only "scan pvc-free" (a field walk-through)
    said = "scan pvc-free (persistentvolumeclaim=data-0): exhausts in about"
    assert signal.summary is not None and signal.summary.startswith(said)
    assert signal.headline() == "pvc-free: running out"
    state = IncidentState(id="incident-orders-db", opened_at=T0)
    take(state, signal)
    assert state.title.startswith("pvc-free: running out")
    # exhausted: the value Prometheus answered, never the fitted line's (which had gone below 0)
    gone = np.maximum(0.3 - 0.5 * (t - t[0]) / (t[-1] - t[0]), 0.0)
    est = time_to_exhaustion(t, gone, capacity=0.05, direction="falling")
    assert est is not None and est.exhausted
    told = exhaustion_signal(est, service="s", series={"a": "b"}, value=0.0).summary or ""
    assert told == "exhausted: 0, past the capacity 0.05", told


def test_the_card_says_what_was_found_where_no_alert_fired() -> None:
    base = IncidentCard(
        incident_id="incident-checkout", title="Anomaly in checkout-p99", status="open", priority="P3",
        impact=40.0, opened_at=T0,
    )  # fmt: skip
    plain = str(render_card(base).blocks)
    assert "0 firing of 0" in plain and "Anomalies" not in plain
    card = base.model_copy(
        update={"anomaly_count": 2, "latest_anomaly": "scan checkout-p99: value 2.27 outside [0.237, 0.242]"}
    )
    blocks = str(render_card(card).blocks)
    assert "0 firing of 0" not in blocks and "*Anomalies*\\n2" in blocks
    assert "*Latest anomaly:* scan checkout-p99: value 2.27 outside [0.237, 0.242]" in blocks
    teams = str(adaptive_card(card))
    assert "Latest anomaly: " in teams and "scan checkout-p99" in teams and "firing of" not in teams
    both = card.model_copy(update={"alert_count": 1, "firing_count": 1})
    assert "1 firing of 1" in str(render_card(both).blocks)


def test_an_incident_of_predictions_began_with_its_first_one() -> None:
    """Each run's prediction holds its signal from that run on, so the incident's anomaly moved its
    start to the latest run: the postmortem said the first signal came at the last run, "Duration: 0s"
    and "0 revenue at risk" for a volume predicted to fill over an hour of runs."""
    from medic.postmortem import render_postmortem  # noqa: PLC0415
    from medic.story import incident_metrics  # noqa: PLC0415

    def run(minutes: int) -> AnomalySignal:
        at = T0 + timedelta(minutes=minutes)
        return AnomalySignal(
            source="medic-forecast",
            service="orders-db",
            series={"persistentvolumeclaim": "data-0", SCAN_LABEL: "pvc-free"},
            value=0.3,
            expected=ExpectedBand(lower=0.05, upper=0.4),
            score=0.8,
            window=TimeWindow(start=at, end=at + timedelta(minutes=11)),
            summary="scan pvc-free: exhausts in about 5 h: falling to 0.05, now 0.3",
        )

    state = IncidentState(id="incident-orders-db", opened_at=T0)
    for minutes in range(0, 65, 5):  # a run every 5 minutes for an hour
        state.apply_anomalies(
            AnomalyBatch(signals=[run(minutes)], received_at=T0), at=T0 + timedelta(minutes=minutes)
        )
    [record] = state.anomalies.values()
    assert record.first_start == T0 and record.signal.window.start == T0 + timedelta(minutes=60)
    state.resolve(T0 + timedelta(minutes=80))
    m = incident_metrics(state, now=T0 + timedelta(minutes=80))
    assert m.first_signal_at == T0 and m.impact_minutes >= 60
    assert "First signal: 2026-12-06 09:00:00" in render_postmortem(state, now=T0 + timedelta(minutes=80))


def test_an_incident_open_across_the_upgrade_keeps_its_anomaly_once() -> None:
    """A scan's signal from before it carried its name, then the same finding with it: one anomaly,
    carried on (an owner review: a second anomaly, a thread reply, and "(+1 more)" in the title)."""
    labels = {"service": "checkout"}
    spec = ScanSpec(name="checkout-p99", query="q", warmup=50)
    now = found(spec, labels)
    before = now.model_copy(
        update={
            "series": labels,
            "window": TimeWindow(start=now.window.start - timedelta(minutes=5), end=now.window.end),
        }
    )
    later = now.model_copy(
        update={"window": TimeWindow(start=now.window.start, end=now.window.end + timedelta(minutes=5))}
    )
    assert before.key == now.unlabelled_key != now.key
    state = IncidentState(id="incident-checkout", opened_at=T0)
    take(state, before)
    take(state, later)
    [record] = state.anomalies.values()
    assert record.key == later.key and record.first_start == before.window.start
    assert [e.kind for e in state.timeline if e.kind.startswith("anomaly.")] == [
        "anomaly.detected",
        "anomaly.extended",
    ]
    assert "+1 more" not in state.title


def test_a_finding_names_its_series_by_what_people_call_it() -> None:
    """A raw cAdvisor series: its id (a cgroup path) sorted first and the cut at 160 characters left
    the pod out (a review); namespace, pod and container come first, the scrape's own labels never."""
    from medic.scan import _which  # noqa: PLC0415

    spec = ScanSpec(name="memory", query="q")
    labels = {
        "id": "/kubepods.slice/kubepods-burstable.slice/" + "x" * 200,
        "image": "registry/orders-db:1.2",
        "container": "orders-db",
        "pod": "orders-db-0",
        "namespace": "shop",
        "job": "kubelet",
        "service": "kube-prometheus-stack-kubelet",
    }
    assert _which(spec, labels) == " (namespace=shop, pod=orders-db-0, container=orders-db)"
