"""A channel that is down (Slack, PagerDuty or JIRA answering 503, timing out or unreachable) fails every
attempt with a TransientError. Each was counted outcome="retried", the last one too (Temporal gives up
after it: notifier's policy allows 8), so outcome="failed" never appeared and MedicNotificationFailures
stayed silent for a whole outage. And an attempt Temporal cancelled for its start-to-close timeout was
counted "failed" (the Slack adapter makes a PermanentError of the cancellation raised into its call).

Now the last attempt the retry policy allows counts "failed"; a cancelled attempt counts "timeout" (or
"cancelled"), and "failed" only when it was the last."""

import dataclasses

import pytest
from prometheus_client import CollectorRegistry
from temporalio.activity import ActivityCancellationDetails
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import ActivityEnvironment

from activities.notify import NotifyActivities
from medic.ports import Page, PermanentError, TransientError
from medic.routing import RoutingPolicy
from service.metrics import WorkerMetrics
from tests.support.fakes import FakeChat, FakeTracker
from workflows import notifier

PAGE = Page(action="trigger", dedup_key="incident-checkout", routing_key_name="default")


class DownPager:
    """PagerDuty during an outage: what activities/adapters/http.py makes of a 503 or no answer."""

    console = False

    def send(self, page: Page) -> str:
        raise TransientError("PagerDuty unavailable while trying to page (503)")


class CancelledPager:
    """A call under which Temporal cancels the attempt (its start-to-close timeout passed, or the worker
    stops): the cancellation raised into the call comes out of the adapter as a PermanentError."""

    console = False

    def __init__(self, env: ActivityEnvironment, details: ActivityCancellationDetails) -> None:
        self._env, self._details = env, details

    def send(self, page: Page) -> str:
        try:
            self._env.cancel(self._details)  # raises temporalio's CancelledError into this thread
        except CancelledError as err:
            raise PermanentError(f"PagerDuty call failed: CancelledError: {err}") from err
        raise PermanentError("PagerDuty call failed: CancelledError")


def _env(attempt: int) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=attempt, retry_policy=notifier._RETRY)
    return env


def _counted(pager: object, env: ActivityEnvironment) -> dict[str, float]:
    registry = CollectorRegistry()
    acts = NotifyActivities(
        chat=FakeChat(),
        pager=pager,  # type: ignore[arg-type]
        tracker=FakeTracker(),
        policy=RoutingPolicy.default,
        recorder=WorkerMetrics(registry),
    )
    with pytest.raises((ApplicationError, CancelledError)):  # cancelled: run again elsewhere
        env.run(acts.page, PAGE)
    outcomes = ("ok", "failed", "retried", "timeout", "cancelled")
    counted = {
        o: registry.get_sample_value("medic_notifications_total", {"channel": "pagerduty", "outcome": o})
        for o in outcomes
    }
    return {o: n for o, n in counted.items() if n}


def test_an_outage_counts_retried_then_failed_on_the_last_attempt() -> None:
    last = notifier._RETRY.maximum_attempts
    assert last == 8
    assert _counted(DownPager(), _env(1)) == {"retried": 1.0}
    assert _counted(DownPager(), _env(last - 1)) == {"retried": 1.0}
    assert _counted(DownPager(), _env(last)) == {"failed": 1.0}


def test_an_attempt_cancelled_for_its_timeout_is_no_failure_of_the_channel_until_the_last() -> None:
    timed_out = ActivityCancellationDetails(timed_out=True)
    env = _env(2)
    assert _counted(CancelledPager(env, timed_out), env) == {"timeout": 1.0}
    env = _env(notifier._RETRY.maximum_attempts)
    assert _counted(CancelledPager(env, timed_out), env) == {"failed": 1.0}
    env = _env(notifier._RETRY.maximum_attempts)
    shutdown = ActivityCancellationDetails(worker_shutdown=True)
    assert _counted(CancelledPager(env, shutdown), env) == {"cancelled": 1.0}


def test_a_permanent_error_is_failed_on_any_attempt() -> None:
    class Refused(DownPager):
        def send(self, page: Page) -> str:
            raise PermanentError("PagerDuty refused the event (400)")

    assert _counted(Refused(), _env(1)) == {"failed": 1.0}
