"""The worker took up to 100 activities (the SDK's default) with 16 threads to run them: under a burst
(a storm's notifications, a Slack that answers slowly) the others waited for a thread in the worker while
their start-to-close timeout ran, timed out there and were retried, and the dashboard's slot panel showed
84 free slots all along. A worker now takes no more activities than its executor has threads; the rest
wait in Temporal, for any worker."""

import warnings

import pytest

from service.worker import ACTIVITY_THREADS, build_worker
from tests.conftest import require_binary
from tests.support.stack import medic_stack

pytestmark = pytest.mark.integration


async def test_the_worker_takes_no_more_activities_than_it_has_threads() -> None:
    require_binary("temporal")
    async with medic_stack(worker=False) as stack:
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            worker = build_worker(stack.client, stack.settings)
        config = worker.config()
        executor = config.get("activity_executor")
        assert config.get("max_concurrent_activities") == ACTIVITY_THREADS
        assert getattr(executor, "_max_workers", None) == ACTIVITY_THREADS
        # the SDK's own check ("max_concurrent_activities is 100 but ... max_workers is only 16")
        assert not [w for w in said if "max_concurrent_activities" in str(w.message)]
