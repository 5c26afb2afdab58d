"""Grafana-managed alerting's own alerts: a rule that cannot be evaluated, and the contact point's test.

**DatasourceError and DatasourceNoData** are about the data source, not the rule's service. When a
rule's query fails (its "Alert state if execution error or timeout" is Error, the default) or returns
nothing (No Data), Grafana sends, in place of the rule's own alert, one whose ``alertname`` is
``DatasourceError`` or ``DatasourceNoData``, with the rule's title in ``rulename`` and *all the rule's
labels kept* (grafana/grafana pkg/services/ngalert/state/compat.go, ``errorAlert`` and ``noDataAlert``:
"{alertname=DatasourceNoData rulename=original_alertname} + {rule labelset} + {rule annotations}"). An
error also carries the ``Error`` annotation (the query's error text) and, when a query failed, the
labels ``datasource_uid`` and ``ref_id`` (state/state.go ``AddErrorInformation``, called with
``addDatasourceInfoToLabels`` from ``resultError``'s ErrorErrState branch); a No Data alert carries
neither (``resultNoData`` adds nothing).

Taken by their inherited labels, a Mimir that cannot be reached was an incident per service
(``service=cart``, ``severity=critical`` of each rule), "DatasourceError on cart (+1 more service)",
three teams paged and cart named the root cause, with checkout's real latency alert folded into it; and
nothing named the data source or its error. Now they are one incident per data source
(``datasource_uid``; the alerts without one, No Data's, one incident per kind), owned by the
alerting pipeline's service (medic.pipeline_alerts: ``alerting-pipeline``), titled by the data source
and the rules that fail; the error is on the timeline and in the score's explanation. Such an alert
never counts as its rule's service failing: it is no part of that service's incident, its root cause
or its runbooks (remediations.plan).

Exactly these names with a ``rulename`` beside them: Grafana always sets both, and an alert of one's
own named so (a Prometheus rule) stays its own.

**The test notification** (a contact point's Test button): grafana/alerting notify/receivers.go
``newTestAlert``: labels ``alertname=TestAlert``, ``instance=Grafana`` (``instance=Alertmanager`` in
releases before 10), annotations ``summary: Notification test`` unless the person testing wrote their
own; sent once, firing, and never resolved. See :func:`is_test_notification`.
"""

from medic.impact import Impact
from medic.pipeline_alerts import SEVERITY_FLOOR
from medic.vocab import Priority

__all__ = [
    "DATASOURCE_ALERTS",
    "RULENAME",
    "datasource_alert",
    "datasource_error_text",
    "datasource_floor",
    "datasource_title",
    "datasource_uid",
    "is_test_notification",
]

DATASOURCE_ALERTS: dict[str, str] = {"DatasourceError": "fail", "DatasourceNoData": "get no data"}
"""Grafana's alert name for a rule it could not evaluate -> what its rules do, as a title says it."""

RULENAME = "rulename"
_ERROR_CHARS = 300  # of the Error annotation, where the timeline and the score's explanation say it
_RULES_NAMED = 2  # rules a title names; the others are counted


def datasource_alert(labels: dict[str, str]) -> bool:
    """Whether these are the labels of Grafana's DatasourceError or DatasourceNoData."""
    return labels.get("alertname", "") in DATASOURCE_ALERTS and bool(labels.get(RULENAME))


def datasource_uid(labels: dict[str, str]) -> str:
    """The data source a DatasourceError names ('' when Grafana said none: not a query's error, or
    No Data)."""
    return labels.get("datasource_uid", "")


def datasource_error_text(annotations: dict[str, str]) -> str:
    """The ``Error`` annotation, on one line and short enough for a timeline entry."""
    text = " ".join(annotations.get("Error", "").split())
    return text if len(text) <= _ERROR_CHARS else text[: _ERROR_CHARS - 3] + "..."


def datasource_title(alerts: list[dict[str, str]]) -> str:
    """The title of a data source's incident from its alerts' labels: "DatasourceError on data source
    mimir-prod: 20 rules fail (cart rule 0, cart rule 1, +18 more)"."""
    names = sorted({a.get("alertname", "") for a in alerts})
    rules = list(dict.fromkeys(a.get(RULENAME, "") for a in alerts if a.get(RULENAME)))
    uids = sorted({u for a in alerts if (u := datasource_uid(a))})
    what = " and ".join(DATASOURCE_ALERTS.get(n, "fail") for n in names)
    where = f" on data source {', '.join(uids)}" if uids else ""
    named = ", ".join(rules[:_RULES_NAMED])
    more = f", +{len(rules) - _RULES_NAMED} more" if len(rules) > _RULES_NAMED else ""
    count = f"{len(rules)} rule{'s' if len(rules) != 1 else ''} {what if len(rules) != 1 else _one(what)}"
    return f"{', '.join(names)}{where}: {count} ({named}{more})"


def _one(what: str) -> str:
    return what.replace("fail", "fails").replace("get no data", "gets no data")


def datasource_floor(impact: Impact, alerts: list[tuple[dict[str, str], dict[str, str], str]]) -> Impact:
    """``impact`` raised for the firing DatasourceErrors and DatasourceNoData among ``alerts`` (labels,
    annotations, canonical severity): by the failing rule's severity as a pipeline alert (critical P2,
    error P3, warning P4), and a DatasourceError at least P3 whatever it says: no rule of that data
    source can fire meanwhile. The reason names the data source, the rule and the error."""
    for labels, annotations, severity in alerts:
        if not datasource_alert(labels):
            continue
        name = labels["alertname"]
        floor = SEVERITY_FLOOR.get(severity, Priority.P4)
        if name == "DatasourceError":
            floor = min(floor, Priority.P3)
        uid = datasource_uid(labels)
        source = f"data source {uid}" if uid else "its data source"
        error = datasource_error_text(annotations)
        why = (
            f"{name}: Grafana cannot evaluate rule {labels[RULENAME]!r} ({source}"
            f"{': ' + error if error else ''}); alerts of that data source cannot fire meanwhile"
        )
        impact = impact.at_least(floor, why)
    return impact


# grafana/alerting notify/receivers.go newTestAlert: its default labels, in Grafana 10 on and before.
_TEST_INSTANCES = frozenset({"Grafana", "Alertmanager"})


def is_test_notification(labels: dict[str, str], *, grafana: bool) -> bool:
    """Whether an alert is a Grafana contact point's test notification: ``alertname=TestAlert`` with
    Grafana's own ``instance``, in a Grafana delivery. Any other label the person testing added
    (``grafana_folder: Test Folder``, from the UI) changes nothing; an Alertmanager delivery's
    TestAlert is an alert like any other."""
    return grafana and labels.get("alertname") == "TestAlert" and labels.get("instance") in _TEST_INSTANCES
