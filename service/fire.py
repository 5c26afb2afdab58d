"""``medic fire``: post a sample (or a given) Alertmanager payload to the running API."""

import json
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from service.settings import Settings

__all__ = ["FireError", "fire", "forget_sample", "load_payload"]


class FireError(RuntimeError):
    pass


def load_payload(path: Path | None, *, resolve: bool, state_dir: Path | None = None) -> dict[str, Any]:
    """The bundled sample, firing from now (or resolved with ``resolve``), or the given file.

    The sample's alerts start when they are first fired: the time is kept in ``state_dir`` so that
    firing again repeats the same episode and ``--resolve`` resolves it, as Alertmanager would (once
    the resolve is sent, :func:`forget_sample` ends the episode). A given file is sent as it is, except
    that ``resolve`` marks each of its alerts resolved now."""
    now = datetime.now(UTC).replace(microsecond=0)
    if path is not None:
        data: dict[str, Any] = _read_json(path)
        if resolve:
            _mark(data, status="resolved", starts=None, ends=_iso(now))
        return data
    data = json.loads(resources.files("service").joinpath("samples/alertmanager.json").read_text())
    memo = state_dir / "fire-sample-started" if state_dir is not None else None
    started = _remembered(memo)
    if started is None or (not resolve and started.date() != now.date()):
        started = now  # a new episode (one a day at most, so fires during a day stay one incident)
    if memo is not None:
        memo.parent.mkdir(parents=True, exist_ok=True)
        memo.write_text(_iso(started))
    _mark(
        data,
        status="resolved" if resolve else "firing",
        starts=_iso(started),
        ends=_iso(now) if resolve else "0001-01-01T00:00:00Z",
    )
    return data


def forget_sample(state_dir: Path) -> None:
    """The sample's episode is over (its resolve was accepted): the next ``medic fire`` starts a new one,
    from then. Kept, it sent the old start again, which Medic rightly takes for a late duplicate of the
    resolved episode: `accepted 2 alert(s)`, and the alerts stayed resolved."""
    (state_dir / "fire-sample-started").unlink(missing_ok=True)


def _read_json(path: Path) -> dict[str, Any]:
    """The file's JSON object, or a FireError naming the file (json's own words alone named nothing:
    `Expecting value: line 1 column 1 (char 0)`)."""
    try:
        data = json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FireError(f"{path} is not JSON: {err}") from err
    if not isinstance(data, dict):
        raise FireError(
            f"{path} is not an Alertmanager webhook payload: JSON {type(data).__name__}, not an object"
        )
    alerts = data.get("alerts", [])
    if not isinstance(alerts, list) or not all(isinstance(a, dict) for a in alerts):
        # (--resolve marks each alert: `{"alerts": 5}` was a TypeError's traceback)
        raise FireError(
            f"{path} is not an Alertmanager webhook payload: its alerts are not a list of objects"
        )
    return data


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _remembered(memo: Path | None) -> datetime | None:
    if memo is None or not memo.exists():
        return None
    try:
        return datetime.fromisoformat(memo.read_text().strip())
    except ValueError:
        return None


def _mark(data: dict[str, Any], *, status: str, starts: str | None, ends: str) -> None:
    data["status"] = status
    for alert in data.get("alerts", []):
        if starts is not None:
            alert["startsAt"] = starts
        alert["status"] = status
        alert["endsAt"] = ends


def _token(settings: Settings) -> str:
    if settings.webhook_token is not None:
        return settings.webhook_token.get_secret_value()
    if settings.token_file.exists():
        return settings.token_file.read_text().strip()
    raise FireError(
        f"no webhook token: set MEDIC_WEBHOOK_TOKEN or start `medic dev` (it writes {settings.token_file})"
    )


def fire(settings: Settings, payload: dict[str, Any], *, url: str | None = None) -> dict[str, Any]:
    target = url or f"http://{settings.api_host}:{settings.api_port}/webhooks/alertmanager"
    try:
        response = httpx.post(
            target, json=payload, headers={"Authorization": f"Bearer {_token(settings)}"}, timeout=15.0
        )
    except httpx.HTTPError as err:
        raise FireError(f"could not reach Medic at {target}: {err} (is `medic dev` running?)") from err
    if response.status_code >= 300:
        raise FireError(f"Medic answered {response.status_code}: {response.text}")
    body: dict[str, Any] = response.json()
    return body
