"""The Temporal worker: Medic's workflows and activities on MEDIC_TASK_QUEUE, with the
notifiers chosen from the credentials present (the console notifier for any that are not), the
cluster and Prometheus when configured, and the runbooks and routing policy loaded at start."""

import logging
from concurrent.futures import ThreadPoolExecutor

from prometheus_client import CollectorRegistry
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.adapters.console import ConsoleNotifier
from activities.notify import NotifyActivities
from activities.observe import NO_RECORDER, Recorder
from activities.postmortem import PostmortemActivities
from activities.remediate import RemediationActivities
from medic.ports import ChatOps, Pager, Tracker
from medic.redact import register_secrets
from medic.routing import RoutingPolicy
from medic.runbook import Runbook
from remediations.actions import default_registry
from remediations.guardrails import GuardrailSettings
from remediations.ports import Cluster, Metrics
from service.control import TemporalFacts
from service.incidents import TemporalIncidentReader
from service.metrics import WorkerMetrics
from service.postmortems import postmortem_activities
from service.settings import Settings
from workflows.control import ControlWorkflow
from workflows.feedback import FeedbackWorkflow
from workflows.incident import IncidentWorkflow
from workflows.remediation import RemediationWorkflow

__all__ = [
    "WORKFLOWS",
    "build_notify_activities",
    "build_remediation_activities",
    "build_worker",
    "guardrails",
    "warn_if_any_namespace",
]

log = logging.getLogger(__name__)

WORKFLOWS = [IncidentWorkflow, RemediationWorkflow, ControlWorkflow, FeedbackWorkflow]
# The sandbox still refuses non-deterministic calls (time, random, I/O) inside workflows, but imports
# are shared with the worker instead of being re-run for every new workflow: Medic's modules keep no
# mutable module state. Halves the worker's CPU per new incident (docs/BENCHMARKS.md).
SANDBOX = SandboxRestrictions.default.with_passthrough_all_modules()


def _notifiers(settings: Settings) -> tuple[ChatOps, Pager, Tracker]:
    console = ConsoleNotifier(settings.data_dir / "notifications.jsonl")
    chat: ChatOps = console
    pager: Pager = console
    tracker: Tracker = console
    if settings.slack_bot_token is not None:
        from activities.adapters.slack import SlackChat  # noqa: PLC0415

        chat = SlackChat(settings.slack_bot_token.get_secret_value(), base_url=settings.slack_base_url)
    if settings.pagerduty_routing_key is not None or settings.pagerduty_routing_keys:
        from activities.adapters.pagerduty import PagerDutyEvents  # noqa: PLC0415

        keys = {name: key.get_secret_value() for name, key in settings.pagerduty_routing_keys.items()}
        default = (
            settings.pagerduty_routing_key.get_secret_value() if settings.pagerduty_routing_key else None
        )
        pager = PagerDutyEvents(keys, default_key=default, events_url=settings.pagerduty_events_url)
    if settings.jira_url and settings.jira_user and settings.jira_api_token is not None:
        from activities.adapters.jira import JiraTracker  # noqa: PLC0415

        tracker = JiraTracker(
            settings.jira_url, user=settings.jira_user, token=settings.jira_api_token.get_secret_value()
        )
    log.info(
        "notifiers: chat=%s pager=%s tracker=%s",
        type(chat).__name__,
        type(pager).__name__,
        type(tracker).__name__,
    )
    return chat, pager, tracker


def build_notify_activities(
    settings: Settings, policy: RoutingPolicy, *, recorder: Recorder = NO_RECORDER
) -> NotifyActivities:
    chat, pager, tracker = _notifiers(settings)
    return NotifyActivities(
        chat=chat,
        pager=pager,
        tracker=tracker,
        policy=lambda: policy,
        workflow_url=settings.workflow_url,
        recorder=recorder,
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


def _cluster(settings: Settings) -> Cluster | None:
    try:
        from activities.adapters.kubernetes import KubernetesCluster  # noqa: PLC0415

        return KubernetesCluster.from_settings(settings.kubeconfig)
    except Exception as err:
        log.warning("no Kubernetes cluster available (%s): remediations can only plan", err)
        return None


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
    if metrics is None and settings.prometheus_url:
        from activities.adapters.prometheus import PrometheusMetrics  # noqa: PLC0415

        metrics = PrometheusMetrics(settings.prometheus_url)
    settled = guardrails(settings, policy)
    return RemediationActivities(
        cluster=cluster if cluster is not None else _cluster(settings),
        metrics=metrics,
        runbooks=lambda: runbooks,
        registry=default_registry(),
        facts=TemporalFacts(client, settings),
        guardrails=lambda: settled,
        recorder=recorder,
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


def build_worker(
    client: Client,
    settings: Settings,
    notify: NotifyActivities | None = None,
    remediate: RemediationActivities | None = None,
    postmortem: PostmortemActivities | None = None,
    *,
    registry: CollectorRegistry | None = None,
) -> Worker:
    register_secrets(settings.secret_values())  # never in the timeline, whoever writes it
    warn_if_any_namespace(settings)
    recorder = WorkerMetrics(registry) if registry is not None else NO_RECORDER
    if notify is None or remediate is None:
        from service.config_files import load_catalog_file, load_routing_file, load_runbooks  # noqa: PLC0415

        policy = load_routing_file(settings.routing_file, load_catalog_file(settings.catalog))
        notify = notify or build_notify_activities(settings, policy, recorder=recorder)
        remediate = remediate or build_remediation_activities(
            client, settings, policy, load_runbooks(settings.runbooks_dir), recorder=recorder
        )
    if postmortem is None:
        postmortem = postmortem_activities(
            settings, TemporalIncidentReader(client, settings), recorder=recorder
        )
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        activities=[*notify.all(), *remediate.all(), *postmortem.all()],
        activity_executor=ThreadPoolExecutor(max_workers=16),
        workflow_runner=SandboxedWorkflowRunner(restrictions=SANDBOX),
        max_concurrent_workflow_tasks=settings.worker_workflow_tasks,
    )
