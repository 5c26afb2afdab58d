"""The Temporal worker: Medic's workflows and activities on MEDIC_TASK_QUEUE, with the
notifiers chosen from the credentials present (the console notifier for any that are not), the
cluster and Prometheus when configured, and the runbooks and routing policy loaded at start."""

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.adapters.console import ConsoleNotifier
from activities.correlate import CorrelationActivities
from activities.dead_man import HeartbeatActivities
from activities.notify import NotifyActivities
from activities.observe import NO_RECORDER, Recorder
from activities.postmortem import PostmortemActivities
from activities.remediate import RemediationActivities
from activities.scan import ScanActivities
from medic.catalog import Catalog
from medic.ports import ChatOps, Pager, Tracker
from medic.redact import register_secrets
from medic.routing import RoutingPolicy
from medic.routing_secrets import secret_problems
from medic.runbook import Runbook
from remediations.actions import default_registry
from remediations.guardrails import GuardrailSettings
from remediations.ports import Cluster, Metrics
from service.approval_metrics import ApprovalMetrics
from service.budgets import TemporalBudgets
from service.chats import card_chats
from service.config_files import (
    load_anomaly_file,
    load_catalog_file,
    load_routing_file,
    load_runbooks,
    secret_names,
)
from service.control import TemporalFacts
from service.heartbeats import resolved_since
from service.held import held_delivery
from service.incidents import TemporalIncidentReader
from service.ingest import TemporalIncidentSink
from service.insights import LearningLoop
from service.links import signed
from service.metrics import WorkerMetrics
from service.owners import subject_lookup
from service.pagers import build_pager
from service.postmortems import postmortem_activities
from service.preflight import AccessReviewer, preflight, say
from service.prometheus import alertmanager_alerts, prometheus, tenant_warnings
from service.scans import anomaly_delivery, build_scan_activities
from service.settings import Settings
from workflows.budget import ActionBudgetWorkflow
from workflows.control import ControlWorkflow
from workflows.dead_man import HeartbeatWorkflow
from workflows.feedback import FeedbackWorkflow
from workflows.incident import IncidentWorkflow
from workflows.remediation import RemediationWorkflow
from workflows.scan import AnomalyScanWorkflow

__all__ = [
    "ACTIVITY_THREADS",
    "WORKFLOWS",
    "build_notify_activities",
    "build_remediation_activities",
    "build_worker",
    "guardrails",
    "jira_tracker",
    "learning_loop",
    "slack_chat",
    "warn_if_any_namespace",
]

if TYPE_CHECKING:
    from activities.adapters.jira import JiraTracker
    from activities.adapters.kubernetes import KubernetesCluster
    from activities.adapters.slack import SlackChat

log = logging.getLogger(__name__)

WORKFLOWS = [
    IncidentWorkflow,
    RemediationWorkflow,
    ControlWorkflow,
    ActionBudgetWorkflow,
    FeedbackWorkflow,
    AnomalyScanWorkflow,
    HeartbeatWorkflow,
]
# The sandbox still refuses non-deterministic calls (time, random, I/O) inside workflows, but imports
# are shared with the worker instead of being re-run for every new workflow: Medic's modules keep no
# mutable module state. Halves the worker's CPU per new incident (docs/BENCHMARKS.md).
SANDBOX = SandboxRestrictions.default.with_passthrough_all_modules()


def slack_chat(settings: Settings, *, timeout: int = 10) -> "SlackChat | None":
    """Slack as configured (None without MEDIC_SLACK_BOT_TOKEN)."""
    if settings.slack_bot_token is None:
        return None
    from activities.adapters.slack import SlackChat  # noqa: PLC0415

    return SlackChat(
        settings.slack_bot_token.get_secret_value(), base_url=settings.slack_base_url, timeout=timeout
    )


def jira_tracker(settings: Settings, *, timeout: float = 15.0) -> "JiraTracker | None":
    """Jira as configured (None without MEDIC_JIRA_URL and its credentials)."""
    basic = settings.jira_user and settings.jira_api_token is not None
    if not (settings.jira_url and (basic or settings.jira_pat is not None)):
        return None
    from activities.adapters.jira import JiraTracker  # noqa: PLC0415

    return JiraTracker(
        settings.jira_url,
        user=settings.jira_user,
        token=settings.jira_api_token.get_secret_value() if settings.jira_api_token else None,
        pat=settings.jira_pat.get_secret_value() if settings.jira_pat else None,
        deployment=settings.jira_deployment,  # type: ignore[arg-type]  # checked by the setting's pattern
        timeout=timeout,
    )


def _notifiers(
    settings: Settings, policy: RoutingPolicy, *, quick_start: bool = False
) -> tuple[ChatOps, Pager, Tracker]:
    console = ConsoleNotifier(settings.data_dir / "notifications.jsonl")
    chat: ChatOps = slack_chat(settings) or console
    pager: Pager = build_pager(settings, policy) or console  # MEDIC_PAGER, or the team's from the policy
    tracker: Tracker = jira_tracker(settings) or console
    log.info(
        "notifiers: chat=%s pager=%s tracker=%s",
        type(chat).__name__,
        type(pager).__name__,
        type(tracker).__name__,
    )
    if not quick_start:  # `medic dev` shows everything on the console on purpose
        for line in reaching_nobody(settings, policy, chat=chat, pager=pager, tracker=tracker):
            log.error("%s", line)
        # What `medic check` says of the routing policy against the secrets' names, said where the
        # secrets are (the chart's check runs without them): a team's key name with no key pages nobody.
        for problem in secret_problems(
            policy, None, str(settings.routing_file), None, secret_names(settings)
        ):
            (log.warning if problem.warning else log.error)("%s", problem)
    return chat, pager, tracker


def reaching_nobody(
    settings: Settings, policy: RoutingPolicy, *, chat: object, pager: object, tracker: object
) -> list[str]:
    """What the routing policy sends to a channel without credentials: it would go to the console
    notifier (the worker's log and MEDIC_DATA_DIR/notifications.jsonl) and reach nobody. A Secret whose
    key is misspelled, or left out, was one INFO line before."""
    where = settings.data_dir / "notifications.jsonl"
    out = []
    pages = [r.name for r in policy.rules if r.pagerduty or r.escalation]
    if pages and getattr(pager, "console", False):
        out.append(
            f"routing rule(s) {', '.join(pages)} page, but no pager has credentials "
            f"(MEDIC_PAGERDUTY_ROUTING_KEY / MEDIC_PAGERDUTY_ROUTING_KEYS, or MEDIC_OPSGENIE_API_KEY): "
            f"pages go to the console ({where}) and reach nobody"
        )
    filed = [r.name for r in policy.rules if r.jira]
    if filed and getattr(tracker, "console", False):
        out.append(
            f"routing rule(s) {', '.join(filed)} open JIRA issues, but Jira has no credentials "
            f"(MEDIC_JIRA_URL with MEDIC_JIRA_USER + MEDIC_JIRA_API_TOKEN, or MEDIC_JIRA_PAT): issues go to "
            f"the console ({where}) and reach nobody"
        )
    if getattr(chat, "console", False) and not settings.teams_webhooks:
        out.append(
            "no chat has credentials (MEDIC_SLACK_BOT_TOKEN, or MEDIC_TEAMS_WEBHOOKS): incident cards go "
            f"to the console ({where}) and reach nobody"
        )
    if getattr(chat, "console", False) and settings.teams_webhooks and policy.fallback_teams_channel is None:
        # An incident with no owner (a service outside the catalog, a missing heartbeat) or no rule's
        # channel falls back on Slack's channel, which has no credentials here.
        out.append(
            f"no Slack (MEDIC_SLACK_BOT_TOKEN), and the routing policy names no fallback_teams_channel: an "
            f"incident whose plan names no chat (no owner in the catalog, a missing heartbeat, no rule "
            f"matched) goes to Slack's fallback {policy.fallback_slack_channel} on the console ({where}) "
            "and reaches nobody"
        )
    if (
        getattr(chat, "console", False)
        and settings.operator_token is None
        and settings.remediation_mode != "dry-run"
    ):
        # Approvals are decided with Slack's buttons or over HTTP with the operator token: a Teams-only
        # organisation without that token has nobody who can approve a fix.
        out.append(
            f"remediation mode {settings.remediation_mode}, but no Slack (MEDIC_SLACK_BOT_TOKEN) and no "
            "MEDIC_OPERATOR_TOKEN: a step that needs approval can be decided by nobody; it waits "
            "MEDIC_REMEDIATION_APPROVAL_TIMEOUT_SECONDS and escalates (docs/remediation.md#approvals)"
        )
    return out


def build_notify_activities(
    settings: Settings,
    policy: RoutingPolicy,
    *,
    recorder: Recorder = NO_RECORDER,
    learning: LearningLoop | None = None,
    quick_start: bool = False,
) -> NotifyActivities:
    chat, pager, tracker = _notifiers(settings, policy, quick_start=quick_start)
    return NotifyActivities(
        chat=chat,
        pager=pager,
        tracker=tracker,
        chats=card_chats(settings, chat),
        policy=lambda: policy,
        demotions=learning.demotions if learning is not None else None,
        workflow_url=settings.workflow_url,
        sign_link=signed(settings),
        recorder=recorder,
        default_jira_project=settings.jira_project,
    )


def _approvers(policy: RoutingPolicy) -> dict[str, list[str]]:
    """Who may approve, per risk, for the remediation workflow's own check: the access policy's
    ``approve`` (named groups flattened; Slack groups are matched against the groups the API resolved
    for the person), else the older ``approvers``; empty: anyone."""
    if policy.access.approve is None:
        return policy.approvers
    return policy.access.approvers_by_risk() or {}


def guardrails(settings: Settings, policy: RoutingPolicy) -> GuardrailSettings:
    return GuardrailSettings(
        mode=settings.remediation_mode,
        namespaces=settings.remediation_namespaces,
        max_actions_per_service_per_hour=settings.remediation_max_per_hour,
        approval_risk=settings.remediation_approval_risk,
        approval_impact=settings.remediation_approval_impact,
        approval_timeout_seconds=settings.remediation_approval_timeout_seconds,
        approvers=_approvers(policy),
    )


def _cluster(settings: Settings) -> "KubernetesCluster | None":
    try:
        from activities.adapters.kubernetes import KubernetesCluster  # noqa: PLC0415

        return KubernetesCluster.from_settings(settings.kubeconfig)
    except Exception as err:
        log.warning("no Kubernetes cluster available (%s): remediations can only plan", err)
        return None


def check_remediation_access(reviewer: AccessReviewer, runbooks: list[Runbook], settings: Settings) -> None:
    """Ask, in the background, whether the runbooks may act where they may (service/preflight.py), and
    log it: a missing grant is an ERROR line at start, not a 403 when a step runs."""

    def ask() -> None:
        try:
            lines = preflight(
                reviewer,
                runbooks,
                settings.remediation_namespaces,
                mode=settings.remediation_mode,
                argocd_namespace=settings.argocd_namespace,
            )
            say(lines)
        except Exception:  # a check that fails must never stop the worker
            log.exception("could not check what the runbooks may do")

    threading.Thread(target=ask, name="medic-preflight", daemon=True).start()


def build_remediation_activities(
    client: Client,
    settings: Settings,
    policy: RoutingPolicy,
    runbooks: list[Runbook],
    *,
    cluster: Cluster | None = None,
    metrics: Metrics | None = None,
    recorder: Recorder = NO_RECORDER,
) -> RemediationActivities:
    if metrics is None:
        metrics = prometheus(settings, timeout=10.0)
    settled = guardrails(settings, policy)
    return RemediationActivities(
        cluster=cluster if cluster is not None else _cluster(settings),
        metrics=metrics,
        runbooks=lambda: runbooks,
        registry=default_registry(),
        facts=TemporalFacts(client, settings),
        budgets=TemporalBudgets(client, task_queue=settings.task_queue),
        guardrails=lambda: settled,
        recorder=recorder,
        argocd_namespace=settings.argocd_namespace,
        scope=settings.cluster_scope,
    )


def warn_if_any_namespace(settings: Settings) -> bool:
    """Say loudly at start that remediations may act in any namespace (the default, kept so the quick
    start works on any cluster): whether it was said."""
    if settings.remediation_namespaces:
        return False
    log.warning(
        "MEDIC_REMEDIATION_NAMESPACES is not set: remediations may act in ANY namespace of the cluster "
        "(remediation mode %s). Set it to the namespaces Medic may change, as a JSON list, e.g. "
        '\'["shop", "payments"]\'.',
        settings.remediation_mode,
    )
    return True


def learning_loop(client: Client, settings: Settings, policy: RoutingPolicy) -> LearningLoop | None:
    """The loop that keeps the demotions the plan activity applies (``service.insights``), when some
    team opted in (``learning:`` in the routing policy); None otherwise, and no history is read."""
    if not any(opt_in.demote for opt_in in policy.learning.values()):
        return None
    return LearningLoop(TemporalIncidentReader(client, settings))


def correlation_activities(client: Client, settings: Settings, catalog: Catalog) -> CorrelationActivities:
    """What a settling incident asks Prometheus (activities/correlate.py); without MEDIC_PROMETHEUS_URL
    it answers "not known" (the API does not ask then: settle_max_seconds is 0). With
    MEDIC_ALERTMANAGER_URL too, a firing cause's alerts that Alertmanager holds for
    MEDIC_ALERTMANAGER_RECEIVER are handed to their incidents as the webhook would hand them (its
    limits, and its cluster lookup with MEDIC_SUBJECT_LOOKUP, which correlation assigns with too). With
    MEDIC_ALERTMANAGER_URL, incidents ask it about their delivered alerts (``correlate.still_held``)."""
    source = held = deliver = None
    lookup = subject_lookup(settings)
    source = prometheus(settings, timeout=3.0)
    if settings.alertmanager_url and settings.alertmanager_receiver:
        held = alertmanager_alerts(settings)  # incidents ask it about their delivered alerts
        if settings.prometheus_url:  # a cause is taken only when Prometheus says it fires
            deliver = held_delivery(TemporalIncidentSink(client, settings), catalog, settings, lookup)
    return CorrelationActivities(
        source=source,
        catalog=lambda: catalog,
        held=held,
        deliver=deliver,
        lookup=lookup,
        cluster_label=settings.incident_cluster_label,
    )


# Threads of the worker's activity executor, and so the activities it takes at once. The async ones (the
# scans, the correlation hand-overs, the action budget) hold a slot too while they run on the event loop:
# 32, not the 16 threads there were, so that 16 scans waiting on a slow Prometheus leave as many slots to
# the notifications and remediations of a storm (a review: with 16, they waited in Temporal while every
# thread was idle). A thread waiting on a socket costs little.
ACTIVITY_THREADS = 32


def build_worker(
    client: Client,
    settings: Settings,
    notify: NotifyActivities | None = None,
    remediate: RemediationActivities | None = None,
    postmortem: PostmortemActivities | None = None,
    *,
    registry: CollectorRegistry | None = None,
    scan: ScanActivities | None = None,
    policy: RoutingPolicy | None = None,
    learning: LearningLoop | None = None,
    quick_start: bool = False,
) -> Worker:
    """``policy``: the routing policy (loaded from MEDIC_ROUTING when not given); ``learning``: the
    loop whose demotions the plan activity applies (the caller runs it); ``quick_start``: `medic dev`,
    whose notifications go to the console on purpose."""
    register_secrets(settings.secret_values())  # never in the timeline, whoever writes it
    tenant_warnings(settings)
    recorder = WorkerMetrics(registry) if registry is not None else NO_RECORDER
    catalog = load_catalog_file(settings.catalog)  # once, for the routing policy, the scans and correlation
    if notify is None or remediate is None:
        if policy is None:
            policy = load_routing_file(settings.routing_file, catalog)
        notify = notify or build_notify_activities(
            settings, policy, recorder=recorder, learning=learning, quick_start=quick_start
        )
        if remediate is None:
            runbooks, cluster = load_runbooks(settings.runbooks_dir), _cluster(settings)
            if cluster is not None:  # without one (the chart's default: no token) it acts nowhere
                warn_if_any_namespace(settings)
            remediate = build_remediation_activities(
                client, settings, policy, runbooks, cluster=cluster, recorder=recorder
            )
            if cluster is not None and runbooks:
                check_remediation_access(cluster, runbooks, settings)
    if postmortem is None:
        postmortem = postmortem_activities(
            settings, TemporalIncidentReader(client, settings), recorder=recorder
        )
    if scan is None:
        specs = load_anomaly_file(settings.anomaly_file)
        scan = build_scan_activities(client, settings, catalog, specs, recorder=recorder)
    correlate = correlation_activities(client, settings, catalog)
    heartbeats = HeartbeatActivities(
        anomaly_delivery(client, settings, catalog),
        resolved=resolved_since(TemporalIncidentReader(client, settings)),
    )
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        activities=[
            *notify.all(),
            *remediate.all(),
            *postmortem.all(),
            *scan.all(),
            *correlate.all(),
            *heartbeats.all(),
        ],
        activity_executor=ThreadPoolExecutor(max_workers=ACTIVITY_THREADS, thread_name_prefix="activity"),
        # No more activities taken than threads to run them: the SDK's default (100) let a worker take 100
        # while 16 ran, the others waiting for a thread with their start-to-close timeout running (and
        # counted on no slot panel); the tasks a worker does not take wait in Temporal for any worker.
        max_concurrent_activities=ACTIVITY_THREADS,
        workflow_runner=SandboxedWorkflowRunner(restrictions=SANDBOX),
        max_concurrent_workflow_tasks=settings.worker_workflow_tasks,
        # On SIGTERM: no new tasks, and the activities running finish (the SDK's default, 0, cancelled them
        # at once: a Slack post or a page in flight during a rolling update was cut off and sent again).
        graceful_shutdown_timeout=timedelta(seconds=settings.worker_shutdown_grace_seconds),
        interceptors=[ApprovalMetrics(recorder.approval)] if isinstance(recorder, WorkerMetrics) else [],
    )
