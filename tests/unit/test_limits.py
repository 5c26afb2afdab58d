"""Temporal's limits, kept before Temporal sees anything: incident ids and search attribute values
derived from labels always fit, a delivery too large for one signal is split (never refused by
Temporal), and a hand-over that Temporal does not finish gives up at its deadline."""

import asyncio
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import encode_typed_search_attribute_value

from medic.alerts import Alert, AlertStatus
from medic.incident import AlertBatch, AnomalyBatch
from medic.keys import INCIDENT_ID_PATTERN, group_incident_id, service_incident_id
from medic.limits import (
    SEARCH_ATTRIBUTE_VALUE_BYTES,
    SUMMARY_BYTES,
    fit_text,
    keyword_list_within,
    leading_within,
)
from medic.topology import ServiceContext
from service.ingest import CoalescingSink, TemporalUnavailable, split

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SERVICES = SearchAttributeKey.for_keyword_list("MedicServices")


def _fits_temporal_id(incident_id: str) -> bool:
    return INCIDENT_ID_PATTERN.fullmatch(incident_id) is not None and len(incident_id.encode()) <= 1000


@settings(max_examples=300)
@given(st.text(max_size=5000), st.booleans())
def test_service_ids_fit_temporal_whatever_the_label(value: str, in_catalog: bool) -> None:
    incident_id = service_incident_id(value, in_catalog=in_catalog)
    assert _fits_temporal_id(incident_id)
    assert service_incident_id(value, in_catalog=in_catalog) == incident_id  # deterministic


@settings(max_examples=200)
@given(st.text(max_size=3000), st.text(max_size=3000) | st.none(), st.dictionaries(st.text(), st.text()))
def test_group_ids_fit_temporal_whatever_the_labels(
    receiver: str, group_key: str | None, labels: dict[str, str]
) -> None:
    assert _fits_temporal_id(group_incident_id(receiver=receiver, group_key=group_key, group_labels=labels))


def test_long_labels_sharing_a_prefix_get_distinct_ids() -> None:
    a, b = "x" * 2100, "x" * 2101
    assert service_incident_id(a, in_catalog=False) != service_incident_id(b, in_catalog=False)
    # A value the catalog would never hold is hashed even when flagged as a catalog name.
    assert _fits_temporal_id(service_incident_id(a))
    assert service_incident_id("checkout") == "incident-checkout"


def _attribute_bytes(values: list[str]) -> int:
    """The size Temporal checks: the data of the payload the SDK sends."""
    return len(encode_typed_search_attribute_value(SERVICES, values).data)


@settings(max_examples=200)
@given(st.lists(st.text(max_size=2500), max_size=40))
def test_services_attribute_always_fits_as_the_sdk_encodes_it(services: list[str]) -> None:
    kept = keyword_list_within(services)
    assert _attribute_bytes(kept) <= SEARCH_ATTRIBUTE_VALUE_BYTES
    assert all(s in services for s in kept)


def test_services_attribute_keeps_what_fits_and_drops_what_cannot() -> None:
    short = [f"service-{i:03d}" for i in range(5)]
    assert keyword_list_within(short) == short  # unchanged when it fits
    assert keyword_list_within(["x" * 2100, *short]) == short  # the probe's 2,100-character service
    many = [f"service-with-a-longish-name-{i:04d}" for i in range(200)]
    kept = keyword_list_within(many)
    assert 0 < len(kept) < len(many) and kept == many[: len(kept)]
    assert _attribute_bytes(keyword_list_within(["é" * 400])) <= SEARCH_ATTRIBUTE_VALUE_BYTES


def test_summary_text_fits_temporal_summary_limit() -> None:
    assert fit_text("P2 · short") == "P2 · short"
    cut = fit_text("P1 · " + "\U0001d518" * 1000)  # 4 bytes in UTF-8, 12 escaped
    assert cut.endswith("…")
    # frontend.maxUserMetadataSummarySize: 400 bytes of payload, metadata included.
    assert pydantic_data_converter.payload_converter.to_payloads([cut])[0].ByteSize() <= 400
    assert SUMMARY_BYTES < 400


def alert(i: int, annotation_bytes: int = 0) -> Alert:
    return Alert(
        fingerprint=f"{i:016x}",
        status=AlertStatus.FIRING,
        labels={"alertname": "Big", "service": "svc"},
        annotations={"description": "d" * annotation_bytes} if annotation_bytes else {},
        starts_at=NOW,
    )


def batch(alerts: list[Alert]) -> AlertBatch:
    return AlertBatch(alerts=alerts, received_at=NOW, contexts=[ServiceContext(name="svc")])


def _payload_bytes(b: AlertBatch | AnomalyBatch) -> int:
    """The size Temporal checks against its 2 MB blob limit: the data converter's payload."""
    return len(pydantic_data_converter.payload_converter.to_payloads([b])[0].data)


@pytest.mark.parametrize(("count", "annotation"), [(600, 4500), (3, 300_000), (2000, 0)])
def test_a_delivery_too_large_for_one_signal_is_split_in_order(count: int, annotation: int) -> None:
    whole = batch([alert(i, annotation) for i in range(count)])
    limit = 512 * 1024
    parts = split(whole, max_items=500, max_bytes=limit)
    assert [a.fingerprint for p in parts for a in p.alerts] == [a.fingerprint for a in whole.alerts]
    assert all(_payload_bytes(p) <= limit and len(p.alerts) <= 500 for p in parts)
    assert len(parts) > 1
    assert all(p.contexts == whole.contexts and p.received_at == NOW for p in parts)


def test_a_batch_that_fits_is_left_as_it_is() -> None:
    whole = batch([alert(i, 100) for i in range(10)])
    assert split(whole, max_items=500, max_bytes=512 * 1024) == [whole]


class Hanging:
    """A Temporal that never answers (its client reconnecting for ever)."""

    def __init__(self) -> None:
        self.calls = 0

    async def deliver(
        self, incident_id: str, service: ServiceContext | None, b: AlertBatch | AnomalyBatch
    ) -> str | None:
        self.calls += 1
        await asyncio.Event().wait()
        return incident_id


async def test_a_flush_gives_up_at_its_deadline_and_frees_the_queue() -> None:
    inner = Hanging()
    sink = CoalescingSink(inner, window=0, deadline=0.2)
    first = asyncio.create_task(sink.deliver("incident-a", None, batch([alert(1)])))
    await asyncio.sleep(0.05)
    queued = asyncio.create_task(sink.deliver("incident-a", None, batch([alert(2)])))
    async with asyncio.timeout(10):  # without the deadline both would wait for ever
        with pytest.raises(TemporalUnavailable, match=r"within 0\.2 s"):
            await first
        with pytest.raises(TemporalUnavailable):
            await queued  # its own flush started once the first gave up, and gave up in turn
    assert inner.calls == 2


def test_a_query_answer_keeps_the_leading_alerts_that_fit() -> None:
    alerts = [alert(i, 4500) for i in range(600)]
    kept = leading_within(alerts, 1_500_000)
    assert kept == alerts[: len(kept)] and 0 < len(kept) < 600
    assert sum(len(a.model_dump_json()) + 1 for a in kept) <= 1_500_000
    assert leading_within(alerts[:3], 1_500_000) == alerts[:3]
