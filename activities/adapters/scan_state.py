"""Anomaly-scan state in Kubernetes ConfigMaps, so that every worker (and the API) sees the same
state whichever worker a scan's activity runs on, without a shared volume (``MEDIC_SCAN_STATE=configmap``).

One ConfigMap per scan, ``medic-scan-<name>``, in Medic's own namespace (and, for a state too large
for one, shards ``medic-scan-<name>.1`` ... ``.7``: see Size), labelled
``app.kubernetes.io/managed-by: medic`` and ``medic.io/scan: <name>``. The state (a
:class:`~activities.scan.StoredScan` as JSON) is compressed with zlib into ``binaryData["state.json.zz"]``
(base64 on the wire, as the API carries bytes); the annotations ``medic.io/series`` and
``medic.io/state-bytes`` say what it holds, for ``kubectl``.

Size: the API refuses a ConfigMap whose ``data`` and ``binaryData`` together exceed 1 MiB (1,048,576
bytes, decoded). A state whose compressed form would not fit in one is split by series over up to
:data:`MAX_SHARDS` ConfigMaps, each filled to about 60% so that an uneven split still fits; the first
(``medic-scan-<name>``) carries the run's fields and says how many there are in the annotation
``medic.io/shards``. A series' shard is the jump consistent hash of its key, so when the count grows a
series only moves to a new shard; the new shards are written first, then the first (the count), then
the old ones, so a reader (or a save cut short) always finds every series in a shard it reads. The
count never shrinks. A save that finds another worker split the state over more shards, or whose merge
with another worker's shard no longer fits, reads every shard, merges and splits anew. A
state that would not fit in :data:`MAX_SHARDS` is refused here, before any request, with
:class:`ScanStateTooLarge` (a :class:`~medic.ports.PermanentError`: the run fails and says why); a shard
past three quarters of the limit is logged as a warning. What fits: with the default detector a series
of points a minute apart settles after a week at 55 kB compressed (25 kB for values with one
decimal; ``level`` keeps three days of points and the week before as one point in 5 minutes), so
about 11 to 25 series a ConfigMap, about 90 to 200 a scan over 8; ``change`` needs about 1 kB a
series.

Concurrency (API conventions, "Concurrency Control and Consistency"): :meth:`ConfigMapScanStore.load`
remembers the ``resourceVersion`` it read of each ConfigMap; :meth:`~ConfigMapScanStore.save` replaces
each (PUT) with it as a precondition, or creates it (POST) when it was absent. A 409 (``Conflict``: written
by someone since; ``AlreadyExists``: created by someone meanwhile) re-reads, merges the two states
series by series (:func:`~activities.scan.merge_stored`) and writes again, up to :data:`ATTEMPTS`
times, then :class:`~medic.ports.TransientError` (the activity's retry policy takes over).

Errors: HTTP failures go through :func:`activities.adapters.http.classify` (no answer, 408, 425, 429,
5xx: transient; other 4xx, e.g. 403 without the Role: permanent). A ConfigMap of that name that Medic
did not write (without the labels above) is never read nor overwritten, and a state that cannot be
decoded is not thrown away: both are :class:`~medic.ports.PermanentError` naming the object.

The connection is built as :class:`activities.adapters.kubernetes.KubernetesCluster` builds its own
(``MEDIC_KUBECONFIG``, else the default kubeconfig, else in-cluster), with urllib3's retries off.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import logging
import threading
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes.client import ApiClient, Configuration, CoreV1Api, V1ConfigMap
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError
from urllib3.exceptions import HTTPError as Urllib3Error

from activities.adapters.http import classify
from activities.adapters.kubeconfig import kube_configuration
from activities.adapters.scan_shards import pack, split_state, write_order
from activities.scan import StoredScan, merge_stored, without_detectors
from medic.ports import PermanentError, TransientError
from remediations.gitops import MEDIC_FIELD_MANAGER

__all__ = [
    "ATTEMPTS",
    "MAX_BYTES",
    "MAX_SHARDS",
    "SERVICE_ACCOUNT_NAMESPACE",
    "ConfigMapScanStore",
    "ScanStateTooLarge",
    "configmap_name",
    "kube_configuration",
    "own_namespace",
]

log = logging.getLogger(__name__)

MAX_BYTES = 1024 * 1024
"""What the API accepts in one ConfigMap's ``data`` and ``binaryData`` together (decoded bytes)."""
ATTEMPTS = 5
"""Writes of one save before giving up on a ConfigMap that keeps changing."""
MAX_SHARDS = 8
"""ConfigMaps one scan's state may spread over (8 MiB compressed)."""
SHARDS = "medic.io/shards"
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
PREFIX = "medic-scan-"
KEY = "state.json.zz"
MANAGED_BY = "app.kubernetes.io/managed-by"
SCAN_LABEL = "medic.io/scan"
_WARN_AT = 0.75
_MAX_DECODED = 64 * 1024 * 1024  # a corrupted or hostile payload is not inflated past this
_FAILURES = (ApiException, Urllib3Error, OSError, ValueError, TypeError)
# The client's config loaders are untyped; these are their signatures as used here.


class ScanStateTooLarge(PermanentError):
    """A scan's state does not fit in a ConfigMap, even compressed: it was not saved."""

    def __init__(self, message: str, *, name: str, size: int, series: int) -> None:
        super().__init__(message)
        self.name, self.size, self.series = name, size, series


def configmap_name(scan: str, shard: int = 0) -> str:
    """``medic-scan-<scan>``, and ``medic-scan-<scan>.<shard>`` for the shards after the first (scan
    names have no dots, so no scan's first ConfigMap can be another's shard)."""
    return f"{PREFIX}{scan}" if shard == 0 else f"{PREFIX}{scan}.{shard}"


def own_namespace(explicit: str | None, *, path: Path = SERVICE_ACCOUNT_NAMESPACE) -> str:
    """``explicit`` (``MEDIC_SCAN_STATE_NAMESPACE``), else the pod's own namespace as its service
    account's token mount says."""
    if explicit:
        return explicit
    try:
        found = path.read_text().strip()
    except OSError as err:
        raise PermanentError(
            f"MEDIC_SCAN_STATE=configmap needs a namespace: set MEDIC_SCAN_STATE_NAMESPACE "
            f"(outside a pod, {path} cannot be read: {err.strerror})"
        ) from err
    if not found:
        raise PermanentError(f"{path} is empty: set MEDIC_SCAN_STATE_NAMESPACE")
    return found


@dataclass
class _Seen:
    """What this instance last read or wrote of a ConfigMap (``None``: read, and absent)."""

    resource_version: str | None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    shards: int = 1  # the first ConfigMap's count of them


class ConfigMapScanStore:
    """:class:`activities.scan.ScanStateStore` over ConfigMaps (see the module docstring).

    ``ConfigMapScanStore(configuration, namespace=...)`` for a ready ``Configuration`` (tests set
    ``host`` to a double); ``ConfigMapScanStore.from_settings(kubeconfig, namespace=...)`` in
    production. ``timeout`` is the read timeout of every call, ``connect_timeout`` the connect one.
    """

    def __init__(
        self,
        configuration: Configuration,
        *,
        namespace: str,
        timeout: float = 15.0,
        connect_timeout: float = 5.0,
        attempts: int = ATTEMPTS,
        max_bytes: int = MAX_BYTES,
        max_shards: int = MAX_SHARDS,
    ) -> None:
        configuration = copy.deepcopy(configuration)
        self.max_bytes, self.max_shards = max_bytes, max_shards
        configuration.retries = False  # Temporal's retry policy owns retrying
        self.namespace = namespace
        self._timeouts = (connect_timeout, timeout)
        self._attempts = attempts
        self._client = ApiClient(configuration)
        self._close: Callable[[], None] = self._client.close  # untyped in the client
        self._core = CoreV1Api(self._client)
        self._lock = threading.Lock()
        self._seen: dict[str, _Seen] = {}

    @classmethod
    def from_settings(
        cls, kubeconfig: Path | None = None, *, namespace: str | None = None
    ) -> ConfigMapScanStore:
        return cls(kube_configuration(kubeconfig), namespace=own_namespace(namespace))

    def close(self) -> None:
        self._close()

    # -- the store -----------------------------------------------------------------------------------

    def load(self, name: str) -> StoredScan:
        return self._load(name, lambda stored: stored)

    def load_view(self, name: str) -> StoredScan:
        """:meth:`load` without the detectors' state, each shard's dropped as it is read: a view holds
        one shard's at most (``GET /anomalies/scans``, where every shard's were held at once)."""
        return self._load(name, without_detectors)

    def _load(self, name: str, keep: Callable[[StoredScan], StoredScan]) -> StoredScan:
        found = self._read(name, 0)
        if found is None:
            return StoredScan(name=name)
        stored = keep(_decode(found, name, 0, self.namespace))
        for shard in range(1, _shard_count(found, self.max_shards)):
            part = self._read(name, shard)
            if part is None:  # (deleted by hand, or a save that grew the count was cut short)
                log.info("scan state %s/%s is missing", self.namespace, configmap_name(name, shard))
                continue
            stored = merge_stored(stored, keep(_decode(part, name, shard, self.namespace)))
        return stored

    def save(self, stored: StoredScan) -> None:
        name = stored.name
        with self._lock:
            known = configmap_name(name) in self._seen
        if not known:  # never read here: start from what the API holds
            stored = merge_stored(stored, self.load(name))
        for _ in range(self._attempts):
            with self._lock:
                first = self._seen.get(configmap_name(name))
            before = first.shards if first is not None and first.resource_version is not None else 0
            parts = self._split(stored, before)
            try:
                for shard in write_order(before, len(parts)):
                    self._save_part(name, shard, parts[shard], len(parts))
                return
            except _Resplit as why:
                log.info("scan state %s of scan %s: %s; splitting it anew", self.namespace, name, why)
                stored = merge_stored(stored, self.load(name))
        raise TransientError(
            f"scan state {self.namespace}/{configmap_name(name)} kept changing: {self._attempts} saves "
            "lost to concurrent ones"
        )

    def _split(self, stored: StoredScan, at_least: int) -> list[StoredScan]:
        """The state in parts that each fit (``scan_shards.split_state``); :class:`ScanStateTooLarge`
        when even :data:`MAX_SHARDS` would not do."""
        parts = split_state(stored, at_least, max_bytes=self.max_bytes, max_shards=self.max_shards)
        if parts is not None:
            return parts
        raw = stored.model_dump_json().encode()
        packed = len(zlib.compress(raw, 6))
        message = (
            f"the state of anomaly scan {stored.name} is {packed} bytes compressed "
            f"({len(stored.series)} series, {len(raw)} bytes of JSON), over the {self.max_bytes} bytes "
            f"a ConfigMap holds even split over {self.max_shards} of them: not saved to "
            f"{self.namespace}/{configmap_name(stored.name)}. Watch fewer series (aggregate labels such as "
            "pod away in its query), use a detector with a smaller state (change), or set "
            "MEDIC_SCAN_STATE=file on a volume every worker shares"
        )
        log.error("%s", message)
        raise ScanStateTooLarge(message, name=stored.name, size=packed, series=len(stored.series))

    def _save_part(self, name: str, shard: int, part: StoredScan, count: int) -> None:
        """Write one shard, merging with a concurrent writer's; :class:`_Resplit` when that writer split
        the state over more shards, or the merge no longer fits (the whole save starts again)."""
        cm, pending = configmap_name(name, shard), part
        with self._lock:
            seen = self._seen.get(cm)
        for _ in range(self._attempts):
            if seen is None:  # someone else wrote (or never read here): read theirs, merge
                current = self._read(name, shard)
                with self._lock:
                    seen = self._seen.get(cm)
                if current is not None:
                    if shard == 0 and _shard_count(current, self.max_shards) > count:
                        raise _Resplit(
                            f"another worker split it over {_shard_count(current, self.max_shards)}"
                        )
                    pending = merge_stored(pending, _decode(current, name, shard, self.namespace))
                    if len(pack(pending)) > self.max_bytes:
                        raise _Resplit(f"{cm} merged with another worker's no longer fits")
            body = self._body(pending, seen, shard=shard, count=count)
            written = self._write(name, shard, body, create=seen is None or seen.resource_version is None)
            if written is not None:
                self._remember(cm, written)
                return
            log.info("scan state %s/%s changed meanwhile: merging", self.namespace, cm)
            seen = None
        raise TransientError(
            f"scan state {self.namespace}/{cm} kept changing: {self._attempts} writes lost to concurrent ones"
        )

    # -- plumbing ------------------------------------------------------------------------------------

    def _body(self, stored: StoredScan, seen: _Seen | None, *, shard: int, count: int) -> dict[str, Any]:
        raw = stored.model_dump_json().encode()
        packed = pack(stored)
        cm = configmap_name(stored.name, shard)
        if len(packed) > self.max_bytes:  # (merged with another worker's, a shard can outgrow its split)
            message = (
                f"the state of anomaly scan {stored.name} in {self.namespace}/{cm} is {len(packed)} bytes "
                f"compressed ({len(stored.series)} series), over the {self.max_bytes} bytes a ConfigMap "
                "holds, once merged with another worker's: not saved (the next run splits it anew)"
            )
            log.error("%s", message)
            raise ScanStateTooLarge(message, name=stored.name, size=len(packed), series=len(stored.series))
        if len(packed) > _WARN_AT * self.max_bytes:
            log.warning(
                "the state of anomaly scan %s in %s is %d of the %d bytes a ConfigMap holds (%d series)",
                stored.name,
                cm,
                len(packed),
                self.max_bytes,
                len(stored.series),
            )
        annotations = {"medic.io/series": str(len(stored.series)), "medic.io/state-bytes": str(len(raw))}
        if shard == 0:
            annotations[SHARDS] = str(count)
        metadata: dict[str, Any] = {
            "name": cm,
            "namespace": self.namespace,
            "labels": (seen.labels if seen else {}) | {MANAGED_BY: "medic", SCAN_LABEL: stored.name},
            "annotations": (seen.annotations if seen else {}) | annotations,
        }
        if seen is not None and seen.resource_version is not None:
            metadata["resourceVersion"] = seen.resource_version  # the precondition of the replace
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata,
            "binaryData": {KEY: base64.b64encode(packed).decode("ascii")},
        }

    def _read(self, name: str, shard: int) -> dict[str, Any] | None:
        """The ConfigMap's JSON as the API sent it, or ``None`` when there is none; remembered."""
        cm = configmap_name(name, shard)
        what = f"read {self.namespace}/{cm}"
        try:
            found = self._json(
                self._core.read_namespaced_config_map(
                    cm,
                    self.namespace,
                    _preload_content=False,
                    _request_timeout=self._timeouts,
                )
            )
        except ApiException as err:
            if err.status == 404 and (_status(err).get("details") or {}).get("name") == cm:
                with self._lock:
                    self._seen[cm] = _Seen(None)
                return None
            raise _translate(err, what) from err
        except _FAILURES as err:
            raise _translate(err, what) from err
        _check_owner(found, name, shard, self.namespace)
        self._remember(cm, found)
        return found

    def _write(self, name: str, shard: int, body: dict[str, Any], *, create: bool) -> dict[str, Any] | None:
        """POST (``create``) or PUT ``body``: the object written, or ``None`` when someone else got
        there first (409 ``AlreadyExists``/``Conflict``; 404 on a replace: deleted meanwhile)."""
        cm = configmap_name(name, shard)
        what = f"{'create' if create else 'replace'} {self.namespace}/{cm}"
        try:
            model = V1ConfigMap.model_validate(body)
            if create:
                response = self._core.create_namespaced_config_map(
                    self.namespace,
                    model,
                    field_manager=MEDIC_FIELD_MANAGER,
                    _preload_content=False,
                    _request_timeout=self._timeouts,
                )
            else:
                response = self._core.replace_namespaced_config_map(
                    cm,
                    self.namespace,
                    model,
                    field_manager=MEDIC_FIELD_MANAGER,
                    _preload_content=False,
                    _request_timeout=self._timeouts,
                )
            return self._json(response)
        except ApiException as err:
            gone = err.status == 404 and (_status(err).get("details") or {}).get("name") == cm
            if err.status == 409 or (gone and not create):
                return None
            raise _translate(err, what) from err
        except _FAILURES as err:
            raise _translate(err, what) from err

    def _remember(self, cm: str, obj: Mapping[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        with self._lock:
            self._seen[cm] = _Seen(
                meta.get("resourceVersion"),
                dict(meta.get("labels") or {}),
                {k: v for k, v in (meta.get("annotations") or {}).items() if not k.startswith("medic.io/")},
                _shard_count(obj, self.max_shards),
            )

    @staticmethod
    def _json(response: Any) -> dict[str, Any]:
        try:
            body = json.loads(response.data)
        finally:
            response.release_conn()
        if not isinstance(body, dict):
            raise ValueError(f"the Kubernetes API answered with {type(body).__name__}, not an object")
        return body


class _Resplit(Exception):
    """The save must start again from what the API holds (see ``_save_part``)."""


def _shard_count(obj: Mapping[str, Any], most: int) -> int:
    """How many ConfigMaps the state is split over, as the first one says (1 when it does not)."""
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(SHARDS, "1")
    try:
        return min(max(int(value), 1), most)
    except (TypeError, ValueError):
        return 1


def _check_owner(obj: Mapping[str, Any], name: str, shard: int, namespace: str) -> None:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    if labels.get(MANAGED_BY) != "medic" or labels.get(SCAN_LABEL) != name:
        raise PermanentError(
            f"ConfigMap {namespace}/{configmap_name(name, shard)} exists but is not Medic's state of scan "
            f"{name} "
            f"(labels {MANAGED_BY}=medic, {SCAN_LABEL}={name} missing): left alone; rename the scan or "
            "remove that ConfigMap"
        )


def _decode(obj: Mapping[str, Any], name: str, shard: int, namespace: str) -> StoredScan:
    where = f"{namespace}/{configmap_name(name, shard)}"
    try:
        packed = base64.b64decode((obj.get("binaryData") or {})[KEY], validate=True)
        inflate = zlib.decompressobj()
        raw = inflate.decompress(packed, _MAX_DECODED)
        if inflate.unconsumed_tail or not inflate.eof:
            raise ValueError(f"not a whole zlib stream of at most {_MAX_DECODED} bytes")
        stored = StoredScan.model_validate_json(raw)
    except (KeyError, TypeError, ValueError, binascii.Error, zlib.error, ValidationError) as err:
        raise PermanentError(
            f"the scan state in ConfigMap {where} cannot be read ({type(err).__name__}: {err}); "
            f"delete its ConfigMaps to start the scan afresh: kubectl -n {namespace} delete configmap "
            f"-l {SCAN_LABEL}={name}"
        ) from err
    if stored.name != name:
        raise PermanentError(f"ConfigMap {where} holds the state of scan {stored.name}, not {name}")
    return stored


def _status(err: ApiException) -> dict[str, Any]:
    try:
        body = json.loads(err.body or "")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _translate(err: Exception, what: str) -> PermanentError | TransientError:
    if isinstance(err, ApiException):
        message = _status(err).get("message") or (err.body or "").strip()[:300] or str(err.reason or "")
        headers = {str(k): str(v) for k, v in (err.headers or {}).items()}
        return classify(err.status or None, service="Kubernetes", what=what, headers=headers, detail=message)
    if isinstance(err, Urllib3Error | OSError):
        return classify(None, service="Kubernetes", what=what, detail=str(err))
    # ValueError/TypeError: a body the client's models refuse, or an answer that is not JSON
    return PermanentError(f"cannot {what}: {type(err).__name__}: {err}")
