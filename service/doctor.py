"""``medic doctor``: Medic's connections as configured, tried now, each said in a line: Temporal (the
namespace, Medic's search attributes and their types), Prometheus (what answers, the tenant, a query),
Loki where it is set (what answers), each anomaly scan's query asked of its source (as the scan asks
it: a range over its last steps; its series, the service label, native histograms) and Alertmanager
(its version and cluster, a route to Medic's receiver, the held alerts the settle probe takes,
silences readable), Slack and Jira, and what the runbooks may do in the cluster (a SelfSubjectAccessReview
per permission their steps need, in each namespace they may act in).

It only reads: no search attribute is added, no silence made, no schedule touched. ``medic check``
validates the files without any connection (the chart's init container); this is for a person
setting Medic up, or finding why scans see nothing. Each part fails on its own: a broken CA file or
an Alertmanager without a status route is a line, and the other parts are still tried.
"""

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import httpx
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

from activities.scan_io import MAX_SERIES
from medic.alert_routes import route_alert
from medic.matchers import format_duration
from medic.ports import PermanentError, TransientError
from medic.redact import redact
from medic.routing import RoutingPolicy
from medic.yamldoc import ConfigError
from service.config_files import load_anomaly_file, load_routing_file
from service.preflight import preflight
from service.prometheus import alertmanager_alerts, alertmanager_silences, loki, prometheus, tenant_warnings
from service.settings import Settings
from service.temporal import TemporalConfigError, TemporalConnectError, connect, search_attributes_wanted
from service.temporal_tls import describe, with_profile

if TYPE_CHECKING:
    from activities.adapters.alertmanager import AlertmanagerAlerts
    from activities.adapters.loki import LokiMetrics
    from activities.adapters.prometheus import PrometheusMetrics
    from medic.dead_man import HeartbeatRule

__all__ = ["Finding", "diagnose", "shown"]

Level = Literal["ok", "warn", "error"]
_C = TypeVar("_C")
# what a connection's set-up can raise before any call: a CA file that is not one, a token file
_SETUP_ERRORS = (OSError, ssl.SSLError, ValueError, PermanentError)


@dataclass(frozen=True)
class Finding:
    level: Level
    what: str
    said: str

    def __str__(self) -> str:
        return redact(f"{self.level:<5} {self.what}: {self.said}")


def shown(url: str) -> str:
    """A configured URL as a line may show it: no credentials, no query values (a token may be one);
    one that is no URL at all, without its text (it may hold a password)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "(a URL that cannot be read)"
    bare = str(parsed.copy_with(userinfo=b"", query=None, fragment=None)).rstrip("/")
    return bare + (" (and its query)" if parsed.query else "")


async def diagnose(
    settings: Settings, *, timeout: float = 10.0, say: Callable[[Finding], None] | None = None
) -> list[Finding]:
    """Every finding, in order: Temporal, the settings, Prometheus, Loki, the scans, Alertmanager, Slack
    and Jira; each is also handed to ``say`` as it is found (a part that hangs to its timeout leaves the
    others said)."""
    found: list[Finding] = []

    def add(findings: list[Finding]) -> None:
        for finding in findings:
            found.append(finding)
            if say is not None:
                say(finding)

    add(await _temporal(settings, timeout))
    add([Finding("warn", "settings", line) for line in tenant_warnings(settings, log_them=False)])
    where = f"Prometheus {shown(settings.prometheus_url or '')}"
    made, source = _set_up(add, where, lambda: prometheus(settings, timeout=timeout))
    if made:
        add(await asyncio.to_thread(_prometheus, settings, source))
    made, logs = _set_up(
        add, f"Loki {shown(settings.loki_url or '')}", lambda: loki(settings, timeout=timeout)
    )
    if made:
        add(await asyncio.to_thread(_loki, settings, logs))
    # (configured, and not made: said above as a set-up error, not as a setting left unset)
    made_by = (("prometheus", settings.prometheus_url, source), ("loki", settings.loki_url, logs))
    broken = {name for name, url, made in made_by if url and made is None}
    add(await asyncio.to_thread(_scans, settings, {"prometheus": source, "loki": logs}, broken))
    add(await _alertmanager(settings, timeout))
    add(await asyncio.to_thread(_notifications, settings, timeout))
    add(await asyncio.to_thread(_kubernetes, settings, timeout))
    return found


def _set_up(
    add: Callable[[list[Finding]], None], where: str, build: Callable[[], _C | None]
) -> tuple[bool, _C | None]:
    """Whether ``build()`` made its connection (None where it is not configured), and what it made;
    an error line where it cannot be set up (a CA file that is not one, a token file that holds no
    token)."""
    try:
        return True, build()
    except _SETUP_ERRORS as err:
        add([Finding("error", where, f"cannot be set up: {type(err).__name__}: {err}")])
        return False, None


async def _temporal(settings: Settings, timeout: float) -> list[Finding]:
    where = f"Temporal {settings.temporal_address}, namespace {settings.temporal_namespace}"
    try:
        settings = with_profile(settings)  # MEDIC_TEMPORAL_PROFILE, as the worker and the API read it
        where = f"Temporal {describe(settings)}"
        client = await asyncio.wait_for(connect(settings), timeout)
        listed = await asyncio.wait_for(
            client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=settings.temporal_namespace)
            ),
            timeout,
        )
    except (TemporalConfigError, TemporalConnectError) as err:
        return [Finding("error", where, str(err))]
    except TimeoutError:
        return [Finding("error", where, f"no answer in {timeout:g} s")]
    except Exception as err:  # an RPC the server refused (permissions, no such namespace)
        return [Finding("error", where, f"{type(err).__name__}: {err}")]
    conflicts, missing = search_attributes_wanted({**listed.system_attributes, **listed.custom_attributes})
    if conflicts:
        return [
            Finding(
                "error",
                where,
                f"reachable; search attributes of another type: {'; '.join(conflicts)} (a worker refuses "
                "to start on them: remove them if nothing else uses them, or give Medic its own namespace)",
            )
        ]
    if missing:
        return [
            Finding(
                "warn",
                where,
                f"reachable; search attributes not registered: {', '.join(sorted(missing))} (the worker "
                "registers them at start where it may; else run `medic setup`)",
            )
        ]
    return [Finding("ok", where, "reachable; Medic's search attributes registered, with their types")]


def _prometheus(settings: Settings, source: "PrometheusMetrics | None") -> list[Finding]:
    if source is None:
        return [Finding("warn", "Prometheus", "MEDIC_PROMETHEUS_URL is not set: no verification, no scans")]
    where = f"Prometheus {shown(settings.prometheus_url or '')}"
    out: list[Finding] = []
    try:
        info = source.build_info()
    except (PermanentError, TransientError) as err:
        info = {}
        unread: Exception | None = err
    else:
        unread = None
    # Thanos and VictoriaMetrics answer Prometheus's fields alone: only Mimir names itself
    answers = info.get("application") or "a Prometheus API"
    version = f" {info['version']}" if info.get("version") else ""
    tenant = settings.prometheus_tenant
    try:
        source.holds("vector(1)")
    except (PermanentError, TransientError) as err:
        # (nothing answered at all: not "a Prometheus API answers", a review)
        said = (
            f"a query failed: {err}"
            if unread is not None
            else f"{answers}{version} answers, but a query failed: {err}"
        )
        out.append(Finding("error", where, said))
        return out
    if unread is not None:
        out.append(Finding("warn", where, f"its build information could not be read: {unread}"))
    if "mimir" in answers.lower() and not tenant:
        out.append(
            Finding(
                "warn",
                where,
                f"{answers}{version} answers queries without MEDIC_PROMETHEUS_TENANT: right where a proxy "
                "in front sets the tenant, or Mimir runs without multi-tenancy; behind its Helm chart's "
                "gateway, queries read the tenant 'anonymous', where scans see no series",
            )
        )
        return out
    as_tenant = f", tenant {tenant}" if tenant else ""
    out.append(Finding("ok", where, f"{answers}{version} answers queries{as_tenant}"))
    return out


def _loki(settings: Settings, source: "LokiMetrics | None") -> list[Finding]:
    """What answers at MEDIC_LOKI_URL (said only where it is set: a Loki is for scans that ask it);
    the scans' own queries then say whether the tenant reads."""
    if source is None:
        return []
    where = f"Loki {shown(settings.loki_url or '')}"
    try:
        info = source.build_info()
    except (PermanentError, TransientError) as err:
        return [Finding("error", where, str(err))]
    if not info.get("version"):
        return [Finding("warn", where, "answers, without Loki's build information: is it Loki?")]
    tenant = f", tenant {settings.loki_tenant}" if settings.loki_tenant else ""
    return [Finding("ok", where, f"Loki {info['version']} answers{tenant}")]


def _scans(
    settings: Settings,
    sources: "dict[str, PrometheusMetrics | LokiMetrics | None]",
    broken: set[str] | frozenset[str] = frozenset(),
) -> list[Finding]:
    """Each scan's query, asked of its source; ``broken``: the sources configured that could not be
    set up (said above, not as a setting left unset)."""
    try:
        specs = load_anomaly_file(
            settings.anomaly_file, named_by="MEDIC_ANOMALY" if settings.anomaly else None
        )
    except ConfigError as err:
        return [Finding("error", "anomaly scans", f"{err} (`medic check` says more)")]
    if not specs:
        return []
    out: list[Finding] = []
    for spec in specs.values():
        what = f"scan {spec.name}"
        source = sources[spec.source]
        if source is None:
            unset = f"MEDIC_{spec.source.upper()}_URL is not set"
            said = "could not be set up (above)" if spec.source in broken else unset
            out.append(Finding("error", what, f"its source is {spec.source}, and {said}"))
            continue
        end = time.time()
        try:  # as a run asks it: a range, over its last steps (an instant query takes what a range refuses)
            series = source.query_range(
                spec.query, start=end - 3 * spec.step_seconds, end=end, step=spec.step_seconds
            )
        except (PermanentError, TransientError) as err:
            out.append(Finding("error", what, str(err)))
            continue
        alone = [s for s in series if s.histograms and not s.values]
        numbers = [s for s in series if s.values]
        if not series:
            out.append(
                Finding(
                    "warn",
                    what,
                    "no series now: right for a query of something that has not happened (errors), else "
                    "check the metric's name, its labels and the tenant",
                )
            )
            continue
        notes = []
        if len(numbers) > MAX_SERIES:
            # a run scores MAX_SERIES of them and says so in its result and the worker's log only
            notes.append(
                f"more than a run watches ({MAX_SERIES}): {len(numbers) - MAX_SERIES} of them are not scored "
                "(aggregate the query, e.g. by service, or split it into several scans)"
            )
        if alone:
            notes.append(
                f"{len(alone)} of native histograms, which no detector scores (ask for a number: "
                "histogram_quantile, histogram_count)"
            )
        if spec.service is None:
            unnamed = sum(1 for s in numbers if not s.labels.get(spec.service_label))
            if unnamed:
                notes.append(
                    f"{unnamed} without the label {spec.service_label!r}, whose anomalies go to service "
                    "'unknown' (keep it in the query's by (...), or set service_label or service)"
                )
        level: Level = "warn" if notes else "ok"
        out.append(
            Finding(level, what, f"{len(series)} series now" + (": " + "; ".join(notes) if notes else ""))
        )
    return out


async def _alertmanager(settings: Settings, timeout: float) -> list[Finding]:
    if not settings.alertmanager_url:
        return [Finding("warn", "Alertmanager", "MEDIC_ALERTMANAGER_URL is not set: no silences from Slack")]
    where = f"Alertmanager {shown(settings.alertmanager_url)}"
    out: list[Finding] = []
    made, pair = _set_up(
        out.extend,
        where,
        lambda: (
            alertmanager_alerts(settings, timeout=timeout),
            alertmanager_silences(settings, timeout=timeout),
        ),
    )
    if not made or pair is None:
        return out
    alerts, silences = pair
    assert alerts is not None and silences is not None  # (a URL is set)
    try:
        try:
            status = await alerts.status()
        except (PermanentError, TransientError) as err:
            # OpenShift's tenancy port (prom-label-proxy) serves alerts and silences, no status
            out.append(Finding("warn", where, f"its status could not be read: {err}"))
        else:
            out += _status(settings, where, alerts.routes_to_receiver, status)
            out += await _heartbeat_routes(settings, where, alerts, status)
        try:
            out += clusters_said(settings, where, await alerts.firing({}))
        except (PermanentError, TransientError) as err:
            out.append(Finding("warn", f"{where} alerts", f"not readable: {err}"))
        if settings.prometheus_url and settings.alertmanager_receiver:
            try:  # what a settling incident asks: the alerts held for Medic's receiver
                await alerts.held()
            except (PermanentError, TransientError) as err:
                out.append(
                    Finding(
                        "warn", f"{where} held alerts", f"not taken (incidents wait for the webhook): {err}"
                    )
                )
        try:
            held = await silences.count()
        except (PermanentError, TransientError) as err:
            out.append(Finding("error", f"{where} silences", f"not readable: {err}"))
        else:
            out.append(Finding("ok", f"{where} silences", f"readable ({held} held)"))
    finally:
        for close in (alerts.aclose, silences.aclose):
            with contextlib.suppress(Exception):
                await close()
    return out


def clusters_said(settings: Settings, where: str, firing: list[dict[str, str]]) -> list[Finding]:
    """Which clusters the alerts Alertmanager holds come from, against the one Medic acts on
    (MEDIC_CLUSTER, medic/clusters.py): nothing said while neither names one. Alerts of several clusters
    while MEDIC_INCIDENTS_PER_CLUSTER is off: said too (every cluster's alerts of a service are one
    incident, and correlation crosses clusters)."""
    found = _clusters_said(settings, where, firing)
    named = {labels[settings.cluster_label] for labels in firing if labels.get(settings.cluster_label)}
    if len(named) > 1 and not settings.incidents_per_cluster:
        found.append(
            Finding(
                "warn",
                f"{where} incidents",
                f"alerts come from {len(named)} clusters and MEDIC_INCIDENTS_PER_CLUSTER is off: a service's "
                "incident holds every cluster's alerts (staging's with prod's), and a dependency failing "
                "in one cluster absorbs its dependents' incidents in the others; set it for an incident "
                "per cluster (docs/deployment.md#several-clusters)",
            )
        )
    return found


def _clusters_said(settings: Settings, where: str, firing: list[dict[str, str]]) -> list[Finding]:
    scope = settings.cluster_scope
    named = sorted({labels[scope.label] for labels in firing if labels.get(scope.label)})
    shown_names = ", ".join(named[:10]) + (f" and {len(named) - 10} more" if len(named) > 10 else "")
    subject = f"{where} clusters"
    if not named and not scope.name:
        return []
    if not scope.name:
        return [
            Finding(
                "warn",
                subject,
                f"alerts come from cluster(s) {shown_names} ({scope.label} label) and MEDIC_CLUSTER is not "
                "set: their runbooks act on none of them; set it to this cluster's name",
            )
        ]
    if not named:
        held = f"none of the {len(firing)} alerts firing" if firing else "no alert firing now"
        return [
            Finding(
                "warn" if firing else "ok",
                subject,
                f"MEDIC_CLUSTER is {scope.name!r}: {held} names a cluster ({scope.label} label); runbooks "
                "act only on alerts that name it",
            )
        ]
    if scope.name not in named:
        return [
            Finding(
                "warn",
                subject,
                f"MEDIC_CLUSTER {scope.name!r} is none of the clusters the alerts firing come from "
                f"({shown_names}, {scope.label} label): no runbook acts on them here",
            )
        ]
    return [
        Finding(
            "ok",
            subject,
            f"alerts come from {shown_names}; runbooks act on those from {scope.name!r} only (MEDIC_CLUSTER)",
        )
    ]


def _status(
    settings: Settings, where: str, routes: Callable[[dict[str, Any]], bool], status: dict[str, Any]
) -> list[Finding]:
    """Its version and cluster, and whether a route reaches Medic's receiver (not said where the
    status carries no configuration that parses)."""
    version = str((status.get("versionInfo") or {}).get("version") or "")
    cluster = str((status.get("cluster") or {}).get("status") or "")
    said = f"Alertmanager {version}".rstrip() + (f", cluster {cluster}" if cluster else "")
    out = [Finding("ok", where, f"{said} answers")]
    try:
        reached = routes(status)
    except TransientError:
        reached = True  # no configuration to read: nothing to say of its routes
    if not reached:
        out.append(
            Finding(
                "warn",
                where,
                "no route sends to a receiver MEDIC_ALERTMANAGER_RECEIVER "
                f"({settings.alertmanager_receiver!r}) matches: held alerts are never taken (set it to "
                "the receiver that posts to Medic)",
            )
        )
    return out


async def _heartbeat_routes(
    settings: Settings, where: str, alerts: "AlertmanagerAlerts", status: dict[str, Any]
) -> list[Finding]:
    """Whether each heartbeat of the routing policy (Watchdog) reaches Medic, and often enough to be
    armed: kube-prometheus-stack routes Watchdog to a ``null`` receiver, and Alertmanager repeats a
    firing group every 4 hours unless told otherwise (docs/heartbeats.md). Said of a heartbeat the
    routing policy names, or whose alert Alertmanager holds now (routed with that alert's labels); not
    said where the status carries no configuration Medic can read."""
    try:
        path = settings.routing_file  # (none there: the default, said once by the API and the worker)
        policy = load_routing_file(path, None) if path.is_file() else RoutingPolicy.default()
        config = alerts.configuration(status)
    except (ConfigError, TransientError):
        return []
    out: list[Finding] = []
    for rule in policy.heartbeats:
        what = f"{where} heartbeat {rule.name}"
        try:
            held = await alerts.firing(rule.match)
        except (PermanentError, TransientError):
            held = []
        if not held and "heartbeats" not in policy.model_fields_set:
            continue  # no such alert here, and none configured: nothing to say
        # each Prometheus's own (up to 5): one of them may take another route
        distinct = list({tuple(sorted(labels.items())): labels for labels in held}.values())[:5]
        for routed in distinct or [rule.match]:
            keyed = ", ".join(f"{k}={v}" for k, v in rule.key_labels(routed).items())
            said = f"{what} ({keyed})" if len(distinct) > 1 and keyed else what
            out += _heartbeat_route(said, rule, routed, config, alerts)
    return out


def _heartbeat_route(
    what: str,
    rule: "HeartbeatRule",
    routed: dict[str, str],
    config: dict[str, Any],
    alerts: "AlertmanagerAlerts",
) -> list[Finding]:
    """Where Alertmanager sends a heartbeat with ``routed`` labels, and how often: a line, or none when
    its routing tree holds something Medic cannot read."""
    labels = ", ".join(f'{k}="{v}"' for k, v in routed.items())
    ends = route_alert(config, routed)
    if ends is None:
        return []
    mine = [e for e in ends if alerts.is_medic(config, e.receiver)]
    if not mine:
        to = ", ".join(repr(e.receiver) for e in ends)
        said = f"an alert {{{labels}}} goes to {to}, not to Medic: the heartbeat is never watched"
        return [Finding("warn", what, f"{said}; route it to Medic's receiver (docs/heartbeats.md)")]
    every = min(e.cadence for e in mine)
    after = format_duration(rule.missing_after)
    said = f"reaches Medic ({mine[0].receiver!r}) every {format_duration(every)}"
    if every > rule.missing_after:
        problem = f"more than missing_after ({after}): it is never armed, so never told"
    elif every * 3 > rule.missing_after:
        problem = f"less than 3 times within missing_after ({after}): one late delivery pages"
    else:
        return [Finding("ok", what, f"{said}, within missing_after ({after})")]
    mend = "set its route's repeat_interval (and group_interval) to 1m (docs/heartbeats.md)"
    return [Finding("warn", what, f"{said}: {problem}; {mend}")]


# What Slack's adapter reads to find a post that went through unanswered, not to post it again
# (activities/adapters/slack.py): the channel's history and threads, and the id of a channel named by name.
_LOOKUP_SCOPES = ("channels:history", "groups:history", "channels:read", "groups:read")


def _notifications(settings: Settings, timeout: float) -> list[Finding]:
    """Slack (who the token is) and Jira (who Medic is, and MEDIC_JIRA_PROJECT): read only, nothing
    posted or filed. PagerDuty's and Opsgenie's keys are not tried: their APIs have no call that reads
    without paging."""
    from service.worker import jira_tracker, slack_chat  # noqa: PLC0415  (the worker's own builders)

    out: list[Finding] = []
    chat = slack_chat(settings, timeout=max(1, round(timeout)))
    if chat is None:
        out.append(Finding("warn", "Slack", "MEDIC_SLACK_BOT_TOKEN is not set: no Slack messages"))
    else:
        try:
            with _quiet("slack_sdk"):
                who = chat.identity()
        except (PermanentError, TransientError) as err:
            out.append(Finding("error", f"Slack {settings.slack_base_url}", str(err)))
        else:
            team = f" in {who['team']}" if who["team"] else ""
            said = f"the token is {who['user']}{team}"
            scopes = {s.strip() for s in who["scopes"].split(",") if s.strip()}
            if who["scopes"] and "chat:write" not in scopes:
                out.append(
                    Finding(
                        "error",
                        f"Slack {settings.slack_base_url}",
                        f"{said}, without the chat:write scope: every message is refused (missing_scope); "
                        "add it to the app's bot token scopes and reinstall the app",
                    )
                )
            else:
                out.append(Finding("ok", f"Slack {settings.slack_base_url}", said))
                missing = [scope for scope in _LOOKUP_SCOPES if scope not in scopes]
                if who["scopes"] and {"channels:history", "channels:read"} & set(missing):
                    out.append(
                        Finding(
                            "warn",
                            f"Slack {settings.slack_base_url}",
                            f"without {', '.join(missing)}: a post Slack took but answered late (or "
                            "whose worker stopped) cannot be looked for, and is posted again; add them to "
                            "the app's bot token scopes and reinstall the app (docs/slack.md)",
                        )
                    )
                if who["scopes"] and "users:read" not in scopes:
                    out.append(
                        Finding(
                            "warn",
                            f"Slack {settings.slack_base_url}",
                            "without users:read: people who act through Slack are named by the username "
                            "Slack sends (or their Slack id) in postmortems, Jira, Teams and pages, not by "
                            "their display name; add it to the app's bot token scopes and reinstall the app "
                            "(docs/slack.md, 'Who people are')",
                        )
                    )
    out += _pagers(settings)
    tracker = jira_tracker(settings, timeout=timeout)
    where = f"Jira {shown(settings.jira_url or '')}"
    if tracker is None:
        if settings.jira_url:
            out.append(
                Finding(
                    "error",
                    where,
                    "no credentials: MEDIC_JIRA_USER and MEDIC_JIRA_API_TOKEN, or MEDIC_JIRA_PAT",
                )
            )
        else:  # said as Prometheus, Alertmanager and Slack are (it said nothing of Jira)
            out.append(Finding("warn", "Jira", "MEDIC_JIRA_URL is not set: no Jira issues"))
        return out
    try:
        out.append(Finding("ok", where, tracker.whoami()))
    except (PermanentError, TransientError) as err:
        out.append(Finding("error", where, str(err)))
        return out
    projects, issue_type = _jira_projects(settings)
    for key in projects:
        try:
            sure, said = tracker.check_project(key, issue_type)
        except (PermanentError, TransientError) as err:
            out.append(Finding("error", f"{where} {key}", str(err)))
        else:
            out.append(Finding("ok" if sure else "warn", f"{where} {key}", said))
    return out


def _pagers(settings: Settings) -> list[Finding]:
    """Which pager keys are set (names only; not tried: no call of theirs reads without paging)."""
    out = []
    for name, default, named in (
        ("PagerDuty", settings.pagerduty_routing_key, settings.pagerduty_routing_keys),
        ("Opsgenie", settings.opsgenie_api_key, settings.opsgenie_api_keys),
    ):
        keys = (["default"] if default is not None else []) + sorted(named)
        if keys:
            out.append(Finding("ok", name, f"keys set: {', '.join(keys)} (not tried: it would page)"))
    if not out:
        out.append(
            Finding(
                "warn",
                "Pager",
                "no PagerDuty routing key or Opsgenie API key is set: pages go to the console and reach "
                "nobody",
            )
        )
    return out


def _kubernetes(settings: Settings, timeout: float) -> list[Finding]:
    """What the runbooks may do in the cluster, asked as Medic's identity (service/preflight.py): read
    only, a SelfSubjectAccessReview per permission. Run as the worker runs (its kubeconfig, its token):
    the chart's ``helm test`` pod has no token, and says so."""
    from activities.adapters.kubernetes import KubernetesCluster  # noqa: PLC0415
    from service.config_files import load_runbooks  # noqa: PLC0415

    try:
        runbooks = load_runbooks(settings.runbooks_dir)
    except Exception:  # `medic check` says what is wrong with them
        return []
    if not runbooks:
        return [Finding("ok", "Kubernetes", "no runbooks: nothing to act with")]
    try:
        cluster = KubernetesCluster.from_settings(settings.kubeconfig, timeout=timeout)
    except Exception as err:
        return [
            Finding(
                "warn",
                "Kubernetes",
                f"no credentials here ({type(err).__name__}): run medic doctor with the worker's kubeconfig "
                "or service account to check what its runbooks may do; remediations can only plan without "
                "them",
            )
        ]
    levels: dict[str, Level] = {"ok": "ok", "warn": "warn", "error": "error"}
    try:
        return [
            Finding(levels[level], "Kubernetes", text)
            for level, text in preflight(
                cluster,
                runbooks,
                settings.remediation_namespaces,
                mode=settings.remediation_mode,
                argocd_namespace=settings.argocd_namespace,
            )
        ]
    finally:
        cluster.close()


@contextlib.contextmanager
def _quiet(logger: str) -> Iterator[None]:
    """An SDK's own log lines off while doctor asks it: slack_sdk logs each failed try at ERROR and each
    retry at INFO, onto stderr beside the finding that says it once."""
    sdk = logging.getLogger(logger)
    level = sdk.level
    sdk.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        sdk.setLevel(level)


def _jira_projects(settings: Settings) -> tuple[list[str], str]:
    """The projects Medic may file into (the catalog's services', and MEDIC_JIRA_PROJECT, the default
    for those naming none), and the issue type the routing policy files (Bug unless it says). A
    catalog or a policy that does not load leaves its part out (`medic check` says what is wrong)."""
    from service.config_files import load_catalog_file, load_routing_file  # noqa: PLC0415

    projects = {settings.jira_project} if settings.jira_project else set()
    issue_type = "Bug"
    try:
        catalog = load_catalog_file(settings.catalog)
    except Exception:  # any file problem is `medic check`'s to say
        return sorted(projects), issue_type
    projects |= {s.routing.jira_project for s in catalog.services if s.routing.jira_project}
    with contextlib.suppress(Exception):  # the same
        issue_type = load_routing_file(settings.routing_file, catalog).jira_issue_type
    return sorted(projects), issue_type
