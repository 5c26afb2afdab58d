"""SLO burns as today's generators label their alerts (a field walk-through, 2026-12-07).

* Sloth from v0.11 builds its alerts with ``max(...) without (sloth_window)`` (its alert_rules_v1
  template): the alert carries no ``sloth_window``, and a 14.4x page burn read as no burn at all (P2 where
  P1). Its ``sloth_severity`` still says which pair fired: page (at least 6x) or ticket (at least 1x).
* Pyrra scales its windows with the SLO's (pyrra slo/rules.go, Windows() and Burnrates(): long =
  window/672, /112, /28, /7; exhaustion = window/factor, as prometheus/common model.Duration writes
  it): a 30-day SLO's page alerts (long=1h4m) read as no burn and its ticket ones as 1.87x and 0.93x; a
  7-day one's as 56x, 28x, 7x and 4x.
An incident begun before reads them as it did (``current=False``): its priority replays as it was."""

import pytest

from medic.slo import slo_burn

SLOTH_V011_PAGE = {  # tests/fixtures/alerts/slo-generators.json's labels, without sloth_window
    "alertname": "CheckoutAvailabilityBurn",
    "category": "availability",
    "severity": "critical",
    "sloth_id": "checkout-requests-availability",
    "sloth_service": "checkout",
    "sloth_severity": "page",
    "sloth_slo": "requests-availability",
}
SLOTH_V011_TICKET = {**SLOTH_V011_PAGE, "severity": "warning", "sloth_severity": "ticket"}


def _go_duration(ms: int) -> str:
    """prometheus/common model.Duration.String(): y and w only when exact, then d, h, m, s, ms."""
    out = ""
    for unit, size, exact in (
        ("y", 31_536_000_000, True),
        ("w", 604_800_000, True),
        ("d", 86_400_000, False),
        ("h", 3_600_000, False),
        ("m", 60_000, False),
        ("s", 1000, False),
        ("ms", 1, False),
    ):
        if exact and ms % size:
            continue
        if (v := ms // size) > 0:
            out += f"{v}{unit}"
            ms -= v * size
    return out or "0s"


def _pyrra(days: int) -> list[tuple[float, dict[str, str]]]:
    """The four burn alerts' labels Pyrra writes for an SLO window of ``days``, with their factors."""
    window = days * 86_400_000

    def minute(ms: float) -> int:  # .Round(time.Minute)
        return round(ms / 60_000) * 60_000

    out = []
    for factor, short_div, long_div in ((14, 8064, 672), (7, 1344, 112), (2, 336, 28), (1, 112, 7)):
        labels = {
            "alertname": "ErrorBudgetBurn",
            "slo": "checkout-availability",
            "short": _go_duration(minute(window / short_div)),
            "long": _go_duration(minute(window / long_div)),
            "exhaustion": _go_duration(window // factor),
        }
        out.append((float(factor), labels))
    return out


def test_a_sloth_v011_alert_is_read_by_its_severity() -> None:
    page, ticket = slo_burn(SLOTH_V011_PAGE, {}), slo_burn(SLOTH_V011_TICKET, {})
    assert page is not None and ticket is not None
    assert (page.rate, page.at_least, ticket.rate) == (6.0, True, 1.0)
    assert page.describe() == "at least 6x, SLO requests-availability"
    # with its window (Sloth before v0.11) the pair is known, as before
    older = slo_burn({**SLOTH_V011_PAGE, "sloth_window": "5m"}, {})
    assert older is not None and (older.rate, older.at_least) == (14.4, False)
    # an incident begun before this release reads it as it did
    assert slo_burn(SLOTH_V011_PAGE, {}, current=False) is None


@pytest.mark.parametrize("days", [28, 30, 7, 14, 90])
def test_pyrra_burns_are_read_whatever_the_slos_window(days: int) -> None:
    for factor, labels in _pyrra(days):
        burn = slo_burn(labels, {})
        assert burn is not None, labels
        assert (burn.rate, burn.slo_window) == (factor, f"{days}d"), labels


def test_a_30_day_pyrra_page_burn_says_its_window_and_old_incidents_read_as_before() -> None:
    (_, page), _, (_, ticket), _ = _pyrra(30)
    assert page["long"] == "1h4m" and page["exhaustion"] == "2d3h25m42s857ms"
    burn = slo_burn(page, {})
    assert burn is not None
    assert (
        burn.describe()
        == "14x, SLO checkout-availability (30d), over 1h4m/5m, budget gone in 2d3h25m42s857ms"
    )
    assert slo_burn(page, {}, current=False) is None  # (as it was read: no burn)
    before = slo_burn(ticket, {}, current=False)
    assert before is not None and before.rate == 1.87


def test_an_incident_scores_a_sloth_v011_page_burn_only_when_it_began_under_this_release() -> None:
    """The ingest starts new incidents with current_reads; one begun before scores as it did on replay."""
    from datetime import UTC, datetime  # noqa: PLC0415

    from medic.alerts import Alert, AlertStatus  # noqa: PLC0415
    from medic.incident import AlertBatch, IncidentState  # noqa: PLC0415
    from tests.support.shop import ctx  # noqa: PLC0415

    t0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    burn = Alert(
        fingerprint="f1",
        status=AlertStatus.FIRING,
        labels=SLOTH_V011_PAGE,
        starts_at=t0,
        service="checkout",
    )
    said = {}
    for current in (True, False):
        state = IncidentState(id="incident-checkout", opened_at=t0, current_reads=current)
        state.apply_alerts(AlertBatch(alerts=[burn], received_at=t0, contexts=[ctx("checkout")]), at=t0)
        assert state.impact_detail is not None
        (factor,) = [f for f in state.impact_detail.factors if f.name == "slo_burn"]
        said[current] = (factor.detail, state.impact)
    assert "at least 6x, SLO requests-availability" in said[True][0]
    assert said[False][0] == "no SLO burn reported" and said[True][1] > said[False][1]


def test_a_paging_burn_is_at_least_p2_and_a_ticket_burn_is_not_raised() -> None:
    """At most 10 of 100 points: a 14x burn on a tier-3 service scored P3 and paged nobody under the
    routing that pages P1 and P2, though the SLO's own alert said to page."""
    from datetime import UTC, datetime  # noqa: PLC0415

    from medic.alerts import Alert, AlertStatus  # noqa: PLC0415
    from medic.incident import AlertBatch, IncidentState  # noqa: PLC0415
    from tests.support.shop import ctx  # noqa: PLC0415

    t0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    (_, page), _, (_, ticket), _ = _pyrra(30)

    def scored(labels: dict[str, str], *, current: bool) -> IncidentState:
        state = IncidentState(id="incident-search", opened_at=t0, current_reads=current)
        alert = Alert(
            fingerprint="f1",
            status=AlertStatus.FIRING,
            labels={**labels, "severity": "warning"},
            starts_at=t0,
            service="search",
        )
        state.apply_alerts(AlertBatch(alerts=[alert], received_at=t0, contexts=[ctx("search")]), at=t0)
        return state

    paged = scored(page, current=True)
    assert paged.priority == "P2" and paged.impact_detail is not None
    assert paged.impact_detail.floor == (
        "at least P2: search's SLO burns at a paging rate (14x, SLO checkout-availability (30d), over "
        "1h4m/5m, budget gone in 2d3h25m42s857ms)"
    )
    assert scored(ticket, current=True).priority > "P2"  # a ticket: scored as it is
    assert scored(page, current=False).priority > "P2"  # an incident begun before: as it was


def test_the_flag_is_read_under_its_first_name_too() -> None:
    """Named slo_current in this release's first commits: an incident a worker of those started, replayed
    or continued as new, keeps reading as it began (a review: it replayed with the old reading)."""
    from workflows.incident import IncidentInput  # noqa: PLC0415

    state = {"id": "incident-checkout", "opened_at": "2026-12-07T09:00:00Z", "slo_current": True}
    from medic.incident import IncidentState  # noqa: PLC0415

    assert IncidentState.model_validate(state).current_reads
    assert IncidentInput.model_validate(
        {"incident_id": "incident-checkout", "slo_current": True}
    ).current_reads
