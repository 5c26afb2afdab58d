"""Scan state in ConfigMaps (``activities.adapters.scan_state``) against the Kubernetes API double, each
store instance standing for one worker: what one saves another reads; concurrent writes are merged, not
lost; a state too large for a ConfigMap is refused before any write; ConfigMaps Medic did not write are
left alone; failures are classified like every adapter's."""

from __future__ import annotations

import base64
import json
import logging
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from kubernetes.client import Configuration

from activities.adapters.scan_state import (
    ATTEMPTS,
    MAX_BYTES,
    MAX_SHARDS,
    ConfigMapScanStore,
    ScanStateTooLarge,
    own_namespace,
)
from activities.scan import ScanStateStore, StoredScan
from medic.ports import PermanentError, TransientError
from medic.scan import ScanSpec, SeriesState, scan_series
from tests.doubles._base import FaultKind
from tests.doubles.kubernetes import KubernetesDouble
from tests.doubles.kubernetes_store import CONFIGMAPS
from tests.support.kube import write_kubeconfig

NS = "medic"
PATH = f"/api/v1/namespaces/{NS}/configmaps/medic-scan-latency"
ITEM_ROUTE = "/api/v1/namespaces/{namespace}/configmaps/{name}"

Worker = Callable[[], ConfigMapScanStore]


@pytest.fixture
def worker(k8s: KubernetesDouble) -> Iterator[Worker]:
    """A new store, as a new worker would build it: no memory shared with the others."""
    made: list[ConfigMapScanStore] = []

    def build() -> ConfigMapScanStore:
        configuration = Configuration()
        configuration.host = k8s.url
        made.append(ConfigMapScanStore(configuration, namespace=NS, timeout=2.0, connect_timeout=1.0))
        return made[-1]

    yield build
    for store in made:
        store.close()


def _series(pod: str, points: int = 300, *, start: float = 0.0) -> SeriesState:
    """A real detector state after ``points`` points a minute apart."""
    rng = np.random.default_rng(zlib.crc32(pod.encode()))
    t = (start + np.arange(points) * 60.0).tolist()
    x = (100 + np.cumsum(rng.normal(0, 1, points))).tolist()
    spec = ScanSpec(name="latency", query="q", detector="level")
    return scan_series(spec, {"pod": pod}, t, x, None).state


def _scan(*pods: str, last_run: float = 1000.0) -> StoredScan:
    return StoredScan(name="latency", last_run=last_run, series={f"pod={p}": _series(p) for p in pods})


def test_what_one_worker_saves_another_reads(worker: Worker, k8s: KubernetesDouble) -> None:
    one, other = worker(), worker()
    port: ScanStateStore = one  # implements the store protocol
    assert other.load("latency") == StoredScan(name="latency")  # nothing saved yet: nothing written either
    saved = _scan("a", "b")
    port.save(saved)
    assert other.load("latency") == saved
    cm = k8s.obj("v1", "configmaps", NS, "medic-scan-latency")
    assert cm["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "medic", "medic.io/scan": "latency"}
    assert cm["metadata"]["annotations"]["medic.io/series"] == "2"
    packed = base64.b64decode(cm["binaryData"]["state.json.zz"])
    assert StoredScan.model_validate_json(zlib.decompress(packed)) == saved
    assert len(packed) < len(saved.model_dump_json()) and "data" not in cm
    # the second save replaces (PUT) with the resourceVersion read as its precondition
    changed = saved.model_copy(update={"last_run": 2000.0})
    other.save(changed)
    assert one.load("latency").last_run == 2000.0
    writes = k8s.writes()
    assert [w.method for w in writes] == ["POST", "PUT"]
    assert (
        writes[1].path == PATH
        and writes[1].body["metadata"]["resourceVersion"] == cm["metadata"]["resourceVersion"]
    )


def test_a_concurrent_write_is_merged_not_lost(worker: Worker, k8s: KubernetesDouble) -> None:
    """Both workers read the same state; the second to write gets a real 409, re-reads and merges:
    every series of both survives, each from the side that scored it further."""
    first, second = worker(), worker()
    first.save(_scan("shared", last_run=1000.0))
    mine, theirs = first.load("latency"), second.load("latency")
    theirs.series["pod=b"] = _series("b")
    theirs.series["pod=shared"] = _series("shared", points=400)  # scored further
    theirs.last_run = 2000.0
    second.save(theirs)
    mine.series["pod=a"] = _series("a")
    mine.last_run = 1500.0
    first.save(mine)  # PUT with a stale resourceVersion: 409, GET, merge, PUT
    assert [w.method for w in k8s.writes(PATH)] == ["PUT", "PUT", "PUT"]
    merged = worker().load("latency")
    assert set(merged.series) == {"pod=a", "pod=b", "pod=shared"}
    assert merged.series["pod=shared"].points == 400 and merged.series["pod=a"] == mine.series["pod=a"]
    assert merged.last_run == 2000.0


def test_two_workers_creating_at_once_are_merged(worker: Worker, k8s: KubernetesDouble) -> None:
    first, second = worker(), worker()
    first.load("latency")
    second.load("latency")  # both saw none
    second.save(_scan("b"))
    first.save(_scan("a"))  # POST: 409 AlreadyExists, GET, merge, PUT
    assert [(w.method, w.path.rsplit("/", 1)[-1]) for w in k8s.writes()] == [
        ("POST", "configmaps"),
        ("POST", "configmaps"),
        ("PUT", "medic-scan-latency"),
    ]
    assert set(worker().load("latency").series) == {"pod=a", "pod=b"}


def test_conflicts_without_end_give_up_after_a_bounded_number_of_writes(
    worker: Worker, k8s: KubernetesDouble
) -> None:
    store = worker()
    store.save(_scan("a"))
    store.load("latency")
    before = k8s.obj("v1", "configmaps", NS, "medic-scan-latency")
    k8s.faults.push("http_error", status=409, times=ATTEMPTS, route=f"PUT {ITEM_ROUTE}")
    with pytest.raises(TransientError, match=f"kept changing: {ATTEMPTS} writes lost"):
        store.save(_scan("a", "b"))
    assert k8s.count(f"PUT {ITEM_ROUTE}") == ATTEMPTS
    assert k8s.obj("v1", "configmaps", NS, "medic-scan-latency") == before
    store.save(_scan("a", "b"))  # the conflicts over: it goes through
    assert set(worker().load("latency").series) == {"pod=a", "pod=b"}


@pytest.fixture(scope="module")
def big() -> StoredScan:
    """70 series of the level detector after 2,500 points: over 1 MiB compressed."""
    scan = StoredScan(
        name="latency", last_run=1000.0, series={f"pod={i}": _series(str(i), 2500) for i in range(70)}
    )
    assert len(zlib.compress(scan.model_dump_json().encode(), 9)) > MAX_BYTES
    return scan


def test_a_state_too_large_for_its_configmaps_is_refused_before_any_write(
    worker: Worker, k8s: KubernetesDouble, caplog: pytest.LogCaptureFixture, big: StoredScan
) -> None:
    store = worker()
    store.max_shards = 1  # (the default 8 would take it: see the next test)
    with caplog.at_level(logging.ERROR), pytest.raises(ScanStateTooLarge) as refused:
        store.save(big)
    message = str(refused.value)
    assert isinstance(refused.value, PermanentError) and refused.value.series == 70
    assert "latency" in message and "70 series" in message and f"over the {MAX_BYTES} bytes" in message
    assert "split over 1 of them" in message and "MEDIC_SCAN_STATE=file" in message
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == [message]
    assert k8s.writes() == []


def _shards(k8s: KubernetesDouble) -> dict[str, dict[str, Any]]:
    found = {}
    for shard in range(MAX_SHARDS):
        name = "medic-scan-latency" if shard == 0 else f"medic-scan-latency.{shard}"
        cm = k8s.find("v1", "configmaps", NS, name)
        if cm is not None:
            found[name] = cm
    return found


def test_a_state_over_one_configmap_is_split_over_several_and_read_back_whole(
    worker: Worker, k8s: KubernetesDouble, big: StoredScan
) -> None:
    """Over 1 MiB compressed: split by series over shards that each fit, the first naming their count
    and written last; another worker reads the whole state back. A smaller state later keeps the count
    (it never shrinks) and drops what it no longer holds from every shard."""
    worker().save(big)
    shards = _shards(k8s)
    count = int(shards["medic-scan-latency"]["metadata"]["annotations"]["medic.io/shards"])
    assert count == len(shards) >= 2
    for name, cm in shards.items():
        assert cm["metadata"]["labels"] == {
            "app.kubernetes.io/managed-by": "medic",
            "medic.io/scan": "latency",
        }
        assert len(base64.b64decode(cm["binaryData"]["state.json.zz"])) <= MAX_BYTES, name
    assert sum(int(cm["metadata"]["annotations"]["medic.io/series"]) for cm in shards.values()) == 70
    written = [w.path.rsplit("/", 1)[-1] for w in k8s.writes()]
    assert written == ["configmaps"] * count  # created, the first last:
    assert [w.body["metadata"]["name"] for w in k8s.writes()][-1] == "medic-scan-latency"
    assert worker().load("latency") == big
    # a view (GET /anomalies/scans) reads every series without the detectors' state, each shard's
    # dropped as it is read, and says how large each was
    view = worker().load_view("latency")
    assert set(view.series) == set(big.series) and all(s.detector is None for s in view.series.values())
    assert {k: s.detector_bytes for k, s in view.series.items()} == {
        k: len(json.dumps(s.detector)) for k, s in big.series.items()
    }

    smaller = StoredScan(name="latency", last_run=2000.0, series=dict(list(big.series.items())[:5]))
    later = worker()
    later.load("latency")  # as a run does: what it saves replaces what it read
    later.save(smaller)
    assert len(_shards(k8s)) == count
    assert _shards(k8s)["medic-scan-latency"]["metadata"]["annotations"]["medic.io/shards"] == str(count)
    assert worker().load("latency") == smaller


def test_concurrent_writes_to_a_split_state_are_merged_shard_by_shard(
    worker: Worker, k8s: KubernetesDouble, big: StoredScan
) -> None:
    first, second = worker(), worker()
    first.save(big)
    mine, theirs = first.load("latency"), second.load("latency")
    theirs.series["pod=new"] = _series("new")
    theirs.last_run = 3000.0
    second.save(theirs)
    del mine.series["pod=0"]  # (a run only forgets series long gone; the other side still has it)
    mine.series["pod=mine"] = _series("mine")
    first.save(mine)  # stale resourceVersions: 409s, re-read, merge, write
    merged = worker().load("latency")
    assert set(merged.series) == set(big.series) | {"pod=new", "pod=mine"}
    assert merged.last_run == 3000.0


def test_a_configmap_medic_did_not_write_is_left_alone(worker: Worker, k8s: KubernetesDouble) -> None:
    k8s.add_configmap(NS, "medic-scan-latency", {"settings": "someone else's"})
    store = worker()
    with pytest.raises(PermanentError, match="is not Medic's"):
        store.load("latency")
    with pytest.raises(PermanentError, match="is not Medic's"):
        store.save(_scan("a"))
    assert k8s.writes() == [] and k8s.obj("v1", "configmaps", NS, "medic-scan-latency")["data"]


def test_an_unreadable_state_says_how_to_start_afresh(worker: Worker, k8s: KubernetesDouble) -> None:
    labels = {"app.kubernetes.io/managed-by": "medic", "medic.io/scan": "latency"}
    garbage = base64.b64encode(b"not zlib").decode()
    k8s.store.create(
        CONFIGMAPS,
        NS,
        {
            "metadata": {"name": "medic-scan-latency", "labels": labels},
            "binaryData": {"state.json.zz": garbage},
        },
    )
    with pytest.raises(PermanentError, match=f"kubectl -n {NS} delete configmap -l medic.io/scan=latency"):
        worker().load("latency")


def test_labels_and_annotations_added_by_others_are_kept(worker: Worker, k8s: KubernetesDouble) -> None:
    store = worker()
    store.save(_scan("a"))

    def annotate(cm: dict[str, object]) -> None:
        meta = cm["metadata"]
        assert isinstance(meta, dict)
        meta["labels"] |= {"team": "sre"}
        meta["annotations"] |= {"note": "watched"}

    k8s.tamper("v1", "configmaps", NS, "medic-scan-latency", annotate)
    other = worker()
    other.load("latency")
    other.save(_scan("a", "b"))
    meta = k8s.obj("v1", "configmaps", NS, "medic-scan-latency")["metadata"]
    assert meta["labels"]["team"] == "sre" and meta["annotations"]["note"] == "watched"
    assert meta["annotations"]["medic.io/series"] == "2"


@pytest.mark.parametrize(
    ("status", "error"),
    [(403, PermanentError), (422, PermanentError), (500, TransientError), (503, TransientError)],
)
def test_failures_are_classified(
    worker: Worker, k8s: KubernetesDouble, status: int, error: type[Exception]
) -> None:
    kind: FaultKind = "server_error" if status >= 500 else "http_error"
    k8s.faults.push(kind, status=status, route=f"GET {ITEM_ROUTE}")
    with pytest.raises(error, match=str(status)):
        worker().load("latency")


def test_a_rate_limit_carries_its_retry_after(worker: Worker, k8s: KubernetesDouble) -> None:
    k8s.faults.push("rate_limit", retry_after=7, route=f"GET {ITEM_ROUTE}")
    with pytest.raises(TransientError) as err:
        worker().load("latency")
    assert err.value.retry_after == 7


def test_an_unreachable_api_is_transient() -> None:
    configuration = Configuration()
    configuration.host = "http://127.0.0.1:9"  # discard: nothing listens
    store = ConfigMapScanStore(configuration, namespace=NS, timeout=1.0, connect_timeout=1.0)
    with pytest.raises(TransientError, match="unreachable"):
        store.load("latency")
    store.close()


def test_from_settings_uses_the_kubeconfig_and_the_namespace_given(
    k8s: KubernetesDouble, tmp_path: Path
) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", k8s.url)
    store = ConfigMapScanStore.from_settings(kubeconfig, namespace="elsewhere")
    store.save(_scan("a"))
    store.close()
    assert k8s.find("v1", "configmaps", "elsewhere", "medic-scan-latency") is not None
    assert k8s.requests()[-1].headers["authorization"] == "Bearer test-token"


def test_the_namespace_is_the_pods_own_unless_given(tmp_path: Path) -> None:
    mounted = tmp_path / "namespace"
    assert own_namespace("given", path=mounted) == "given"
    mounted.write_text("medic-prod\n")
    assert own_namespace(None, path=mounted) == "medic-prod"
    with pytest.raises(PermanentError, match="MEDIC_SCAN_STATE_NAMESPACE"):
        own_namespace(None, path=tmp_path / "absent")


def _count(k8s: KubernetesDouble) -> int:
    return int(
        k8s.obj("v1", "configmaps", NS, "medic-scan-latency")["metadata"]["annotations"]["medic.io/shards"]
    )


def _small(worker: Worker) -> ConfigMapScanStore:
    """A store whose ConfigMaps hold about six series (3.4 kB each compressed), to split small states."""
    store = worker()
    store.max_bytes = 18_000
    return store


def _pods(*pods: str, last_run: float = 1000.0) -> StoredScan:
    return StoredScan(name="latency", last_run=last_run, series={f"pod={p}": _series(p) for p in pods})


def test_a_save_without_a_load_merges_with_what_is_stored(worker: Worker) -> None:
    worker().save(_pods("a", "b"))
    worker().save(_pods("c"))  # a store that never read it: what the API holds is merged, not replaced
    assert set(worker().load("latency").series) == {"pod=a", "pod=b", "pod=c"}


def test_a_growth_cut_short_before_the_first_shard_loses_no_series(
    worker: Worker, k8s: KubernetesDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A save that splits the state over more shards dies before it rewrites the first (which names the
    count): readers still see every series, because series only move to the new shards, and those are
    written first, the old ones after the first."""
    store = _small(worker)
    small = _pods(*map(str, range(8)))
    store.save(small)
    before = _count(k8s)
    assert before >= 2
    store.load("latency")
    real = store._write

    def dies_at_the_first(
        name: str, shard: int, body: dict[str, Any], *, create: bool
    ) -> dict[str, Any] | None:
        if shard == 0:
            raise TransientError("the worker died here")
        return real(name, shard, body, create=create)

    monkeypatch.setattr(store, "_write", dies_at_the_first)
    with pytest.raises(TransientError, match="died"):
        store.save(_pods(*map(str, range(16))))
    assert _count(k8s) == before and len(_shards(k8s)) > before  # new shards written, the count not yet
    assert set(small.series) <= set(_small(worker).load("latency").series)


def test_a_worker_with_fewer_shards_in_mind_splits_anew_and_loses_nothing(
    worker: Worker, k8s: KubernetesDouble, caplog: pytest.LogCaptureFixture
) -> None:
    """One worker read the state in one ConfigMap; another then split it over several. The first one's
    save finds the larger count when its write of the first conflicts: it reads every shard, merges, and
    saves over the larger count."""
    one, other = _small(worker), _small(worker)
    one.save(_pods("a"))
    mine, theirs = one.load("latency"), other.load("latency")
    assert _count(k8s) == 1
    for pod in map(str, range(12)):
        theirs.series[f"pod={pod}"] = _series(pod)
    other.save(theirs)
    grown = _count(k8s)
    assert grown >= 3
    mine.series["pod=mine"] = _series("mine")
    with caplog.at_level(logging.INFO, logger="activities.adapters.scan_state"):
        one.save(mine)
    assert any("another worker split it over" in r.getMessage() for r in caplog.records)
    assert _count(k8s) >= grown
    assert set(_small(worker).load("latency").series) == set(theirs.series) | {"pod=mine"}
