"""The Temporal worker: Medic's workflows and activities on MEDIC_TASK_QUEUE, with the
notifiers chosen from the credentials present (the console notifier for any that are not)."""

import logging
from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.worker import Worker

from activities.adapters.console import ConsoleNotifier
from activities.notify import NotifyActivities
from medic.ports import ChatOps, Pager, Tracker
from medic.routing import RoutingPolicy
from service.settings import Settings
from workflows.incident import IncidentWorkflow

__all__ = ["WORKFLOWS", "build_notify_activities", "build_worker"]

log = logging.getLogger(__name__)

WORKFLOWS = [IncidentWorkflow]


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
            settings.jira_url,
            user=settings.jira_user,
            token=settings.jira_api_token.get_secret_value(),
        )
    log.info(
        "notifiers: chat=%s pager=%s tracker=%s",
        type(chat).__name__,
        type(pager).__name__,
        type(tracker).__name__,
    )
    return chat, pager, tracker


def build_notify_activities(settings: Settings, policy: RoutingPolicy) -> NotifyActivities:
    chat, pager, tracker = _notifiers(settings)
    return NotifyActivities(
        chat=chat,
        pager=pager,
        tracker=tracker,
        policy=lambda: policy,
        ui_base_url=settings.temporal_ui_url,
        namespace=settings.temporal_namespace,
    )


def build_worker(client: Client, settings: Settings, notify: NotifyActivities | None = None) -> Worker:
    if notify is None:
        from service.config_files import load_catalog_file, load_routing_file  # noqa: PLC0415

        policy = load_routing_file(settings.routing_file, load_catalog_file(settings.catalog))
        notify = build_notify_activities(settings, policy)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        activities=notify.all(),
        activity_executor=ThreadPoolExecutor(max_workers=16),
    )
