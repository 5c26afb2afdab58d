"""The scan schedules each worker keeps in step with ``anomaly.yaml`` at its start (``start_scans``),
on the real dev server: created and updated on this installation's task queue; another installation's
(another queue in the same Temporal namespace) never deleted or taken over; and a worker started
without ``MEDIC_PROMETHEUS_URL`` deletes nothing (it deleted every scan's schedule: a review,
2026-12-06)."""

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from temporalio.client import Client, ScheduleActionStartWorkflow
from temporalio.service import RPCError, RPCStatusCode

from service.scans import ScansReader, start_scans
from service.settings import Settings
from tests.conftest import dev_server


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    async with dev_server() as environment:
        yield environment.client


def _settings(
    folder: Path, scans: str | None, *, queue: str, prometheus: str | None = "http://prom:9090"
) -> Settings:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "catalog.yaml").write_text("services: {}\n")
    if scans is not None:
        (folder / "anomaly.yaml").write_text(scans)
    return Settings(
        _env_file=None,
        catalog=folder / "catalog.yaml",
        webhook_token=SecretStr("t" * 32),
        prometheus_url=prometheus,
        task_queue=queue,
        data_dir=folder / "data",
    )


async def _schedules(client: Client, expected: dict[str, str]) -> dict[str, str]:
    """Each scan schedule's task queue, once the list shows ``expected`` (the server lists schedules
    from its visibility store, which follows a change a moment later), or as it stands after 10 s."""
    out: dict[str, str] = {}
    for _ in range(50):
        out = {}
        async for entry in await client.list_schedules():
            try:
                action = (await client.get_schedule_handle(entry.id).describe()).schedule.action
            except RPCError:  # deleted, still listed
                continue
            assert isinstance(action, ScheduleActionStartWorkflow)
            out[entry.id] = str(action.task_queue)
        if out == expected:
            break
        await asyncio.sleep(0.2)
    return out


TWO = "scans:\n  - name: latency\n    query: up\n  - name: disk\n    query: up\n"


async def test_each_installation_keeps_its_own_scan_schedules(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    prod = _settings(tmp_path / "prod", TWO, queue="medic-prod")
    await start_scans(client, prod)
    both = {"medic-scan-latency": "medic-prod", "medic-scan-disk": "medic-prod"}
    assert await _schedules(client, both) == both
    # the same file on a worker without Prometheus: it deletes none, and says why its runs fail there
    with caplog.at_level("WARNING", logger="service.scans"):
        await start_scans(client, _settings(tmp_path / "noprom", TWO, queue="medic-prod", prometheus=None))
    assert await _schedules(client, both) == both
    assert "anomaly scans disk, latency ask MEDIC_PROMETHEUS_URL, which this worker lacks" in caplog.text
    # one with Prometheus and a scan of Loki, without Loki: every scan is scheduled (a scan it cannot
    # run stopped the others' schedules from being made), and it says which setting is missing
    loki = TWO + "  - name: errors\n    source: loki\n    query: 'count_over_time({app=\"a\"} [5m])'\n"
    with caplog.at_level("WARNING", logger="service.scans"):
        await start_scans(client, _settings(tmp_path / "noloki", loki, queue="medic-prod"))
    three = {**both, "medic-scan-errors": "medic-prod"}
    assert await _schedules(client, three) == three
    assert "anomaly scans errors ask MEDIC_LOKI_URL, which this worker lacks" in caplog.text
    await start_scans(client, prod)  # (as it was, for what follows)
    assert await _schedules(client, both) == both
    # another installation, another queue, one scan of the same name and one of its own: theirs is
    # left to them, and ours to us, whether or not anyone polls the queues now (nothing is taken over
    # on a guess: a queue nobody polls may be an installation down for a while)
    theirs = "scans:\n  - name: disk\n    query: x\n  - name: eu\n    query: up\n"
    await start_scans(client, _settings(tmp_path / "eu", theirs, queue="medic-eu"))
    three = {**both, "medic-scan-eu": "medic-eu"}
    assert await _schedules(client, three) == three
    # what GET /anomalies/scans says of when a scan runs next: only from this installation's schedule
    views = {
        v.name: v
        for v in await ScansReader(client, _settings(tmp_path / "eu", theirs, queue="medic-eu")).list()
    }
    assert views["eu"].next_run is not None and views["disk"].next_run is None  # disk runs on prod's queue
    # and why there is no next run (a null said nothing of why: a review, 2026-12-06)
    assert (views["eu"].schedule, views["disk"].schedule) == ("scheduled", "other-installation")
    nowhere = _settings(tmp_path / "eu", "scans:\n  - name: nowhere\n    query: up\n", queue="medic-eu")
    [never] = await ScansReader(client, nowhere).list()
    assert (never.next_run, never.schedule) == (None, "missing")
    # production drops a scan: its own goes, the other installation's stays
    one = "scans:\n  - name: latency\n    query: up\n  - name: eu\n    query: up\n"
    await start_scans(client, _settings(tmp_path / "prod", one, queue="medic-prod"))
    kept = {"medic-scan-latency": "medic-prod", "medic-scan-eu": "medic-eu"}
    assert await _schedules(client, kept) == kept
    # a schedule Temporal cannot describe now is left as it is, and the others are synchronised
    real = client.get_schedule_handle

    def flaky(sid: str) -> Any:
        handle = real(sid)
        if sid == "medic-scan-latency":

            async def describe(*args: Any, **kw: Any) -> Any:
                raise RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b"")

            handle.describe = describe  # type: ignore[method-assign]
        return handle

    monkeypatch.setattr(client, "get_schedule_handle", flaky)
    await start_scans(
        client, _settings(tmp_path / "prod", "scans:\n  - name: other\n    query: up\n", queue="medic-prod")
    )
    monkeypatch.undo()
    grown = {**kept, "medic-scan-other": "medic-prod"}  # latency not deleted: it could not be read
    assert await _schedules(client, grown) == grown
    # and a worker of this installation with no anomaly.yaml removes its scans only
    (tmp_path / "prod" / "anomaly.yaml").unlink()
    await start_scans(client, _settings(tmp_path / "prod", None, queue="medic-prod"))
    assert await _schedules(client, {"medic-scan-eu": "medic-eu"}) == {"medic-scan-eu": "medic-eu"}


async def test_a_missing_anomaly_file_named_by_the_setting_deletes_no_schedule(
    client: Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``MEDIC_ANOMALY`` typo'd (anomaly.yml) was read as "no scans": the worker deleted every scan's
    schedule, each logged at INFO as "removed (no longer in anomaly.yaml)" (a field review,
    2026-12-06). It leaves them, and says why at ERROR."""
    prod = _settings(tmp_path / "prod", TWO, queue="medic-prod")
    await start_scans(client, prod)
    both = {"medic-scan-latency": "medic-prod", "medic-scan-disk": "medic-prod"}
    assert await _schedules(client, both) == both
    typo = prod.model_copy(update={"anomaly": tmp_path / "prod" / "anomaly.yml"})
    with caplog.at_level(logging.INFO, logger="service.scans"):
        await start_scans(client, typo)
    await asyncio.sleep(1.0)  # (a deletion shows in the list a moment later)
    assert await _schedules(client, {}) == both
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "MEDIC_ANOMALY" in errors[0] and "anomaly.yml" in errors[0]
    assert not any("removed" in r.getMessage() for r in caplog.records)


async def test_a_misnamed_anomaly_file_beside_the_catalog_deletes_no_schedule(
    client: Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A ConfigMap of one's own (the chart's ``config.existingConfigMap``) whose key is anomaly.yml
    mounts no anomaly.yaml: read as "no scans", every schedule was deleted at INFO. With a near miss
    beside the catalog, the worker leaves them, and says why at ERROR."""
    prod = _settings(tmp_path / "prod", TWO, queue="medic-prod")
    await start_scans(client, prod)
    both = {"medic-scan-latency": "medic-prod", "medic-scan-disk": "medic-prod"}
    assert await _schedules(client, both) == both
    (tmp_path / "prod" / "anomaly.yaml").rename(tmp_path / "prod" / "anomaly.yml")
    with caplog.at_level(logging.INFO, logger="service.scans"):
        await start_scans(client, prod)
    await asyncio.sleep(1.0)  # (a deletion shows in the list a moment later)
    assert await _schedules(client, {}) == both
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "anomaly.yml is beside it" in errors[0], errors
    assert not any("removed" in r.getMessage() for r in caplog.records)
    # Renamed back, the schedules follow the file again (nothing else beside it is taken for it).
    (tmp_path / "prod" / "anomaly.yml").rename(tmp_path / "prod" / "anomaly.yaml")
    (tmp_path / "prod" / "anomaly.yaml").write_text("scans:\n  - name: latency\n    query: up\n")
    await start_scans(client, prod)
    assert await _schedules(client, {"medic-scan-latency": "medic-prod"}) == {
        "medic-scan-latency": "medic-prod"
    }


async def test_runs_skipped_while_the_one_before_still_runs_are_shown(client: Client, tmp_path: Path) -> None:
    """A scan whose runs take longer than every_seconds (or that no worker takes) had its runs skipped
    by the schedule's overlap policy, said nowhere: GET /anomalies/scans counts them."""
    every = _settings(
        tmp_path / "busy", "scans:\n  - name: busy\n    query: up\n    every_seconds: 1\n", queue="q-busy"
    )
    await start_scans(client, every)  # no worker polls q-busy: the first run never ends
    skipped = 0
    for _ in range(40):
        [view] = await ScansReader(client, every).list()
        skipped = view.skipped_runs or 0
        if skipped >= 2:
            break
        await asyncio.sleep(0.5)
    assert view.schedule == "scheduled" and skipped >= 2, view
    nowhere = _settings(tmp_path / "busy", "scans:\n  - name: gone\n    query: up\n", queue="q-busy")
    [never] = await ScansReader(client, nowhere).list()
    assert never.skipped_runs is None  # no schedule: not 0, unknown
