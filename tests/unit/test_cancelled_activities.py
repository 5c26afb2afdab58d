"""An activity Temporal cancels while its call is in flight (the worker stopping on SIGTERM, as a rolling
update does) ends cancelled, and Temporal runs it again on another worker.

The SDK raises the cancellation into the activity's thread wherever it runs: inside the Slack SDK's
request, whose adapter makes a PermanentError of anything it does not know. ``translated`` turned that into
a non-retryable ApplicationError, and the incident recorded "notification.failed: Slack call failed:
CancelledError: Cancelled" for the post a `medic worker` was making when it got SIGTERM (reproduced with
two worker processes against the dev server; a remediation step's ClusterError went the same way)."""

import threading
import time

import pytest
from temporalio.activity import ActivityCancellationDetails
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import ActivityEnvironment

from activities.adapters.slack import SlackChat
from activities.errors import translated
from activities.notify import NotifyActivities, SlackMessagePost
from medic.ports import ChatMessage, PermanentError
from medic.routing import RoutingPolicy
from tests.doubles import SLACK_TOKEN, SlackDouble
from tests.support.fakes import FakePager, FakeTracker

SHUTDOWN = ActivityCancellationDetails(worker_shutdown=True)


def _cancel_once_held(slack: SlackDouble, env: ActivityEnvironment) -> threading.Thread:
    def cancel() -> None:
        while not slack.faults.fired:  # the double holds the request: the call is in flight
            time.sleep(0.01)
        env.cancel(SHUTDOWN)

    thread = threading.Thread(target=cancel, daemon=True)
    thread.start()
    return thread


def test_a_slack_post_cancelled_in_flight_is_cancelled_not_failed_for_good() -> None:
    slack = SlackDouble(channels={"#checkout-oncall": "C0CHECKOUT"})
    with slack.serve() as url:
        acts = NotifyActivities(
            chat=SlackChat(SLACK_TOKEN, base_url=f"{url}/api/"),
            pager=FakePager(),
            tracker=FakeTracker(),
            policy=RoutingPolicy.default,
        )
        slack.faults.push("delay", seconds=1, route="POST /api/chat.postMessage")
        env = ActivityEnvironment()
        canceller = _cancel_once_held(slack, env)
        request = SlackMessagePost(channel="#checkout-oncall", message=ChatMessage(text="P2 checkout"))
        with pytest.raises(CancelledError) as raised:
            env.run(acts.slack_message, request)
        canceller.join()
    assert not isinstance(raised.value, ApplicationError)


def test_an_error_of_an_activity_not_cancelled_is_translated_as_before() -> None:
    @translated
    def refused() -> None:
        raise PermanentError("Slack call failed: channel_not_found")

    with pytest.raises(ApplicationError) as raised:
        ActivityEnvironment().run(refused)
    assert raised.value.non_retryable and raised.value.type == "PermanentError"
