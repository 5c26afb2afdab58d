"""``medic fire``: the sample starts now (a newcomer's first postmortem must not report an incident
that began at midnight), a resolve resolves the same episode, and a given file can be resolved."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from service.fire import load_payload


def _starts(data: dict[str, object]) -> set[str]:
    alerts = data["alerts"]
    assert isinstance(alerts, list)
    return {a["startsAt"] for a in alerts}


def test_the_sample_fires_from_now(tmp_path: Path) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    data = load_payload(None, resolve=False, state_dir=tmp_path)
    (start,) = _starts(data)
    started = datetime.fromisoformat(start)
    assert before <= started <= datetime.now(UTC)
    assert data["status"] == "firing"
    assert {a["status"] for a in data["alerts"]} == {"firing"}


def test_firing_again_and_resolving_keep_the_episode(tmp_path: Path) -> None:
    first = _starts(load_payload(None, resolve=False, state_dir=tmp_path))
    again = _starts(load_payload(None, resolve=False, state_dir=tmp_path))
    resolved = load_payload(None, resolve=True, state_dir=tmp_path)
    assert first == again == _starts(resolved)
    assert {a["status"] for a in resolved["alerts"]} == {"resolved"}
    ends = {datetime.fromisoformat(a["endsAt"]) for a in resolved["alerts"]}
    assert all(abs(datetime.now(UTC) - e) < timedelta(minutes=1) for e in ends)


def test_a_given_file_is_resolved_when_asked(tmp_path: Path) -> None:
    given = {
        "status": "firing",
        "alerts": [
            {"status": "firing", "startsAt": "2026-12-01T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z"}
        ],
    }
    path = tmp_path / "alerts.json"
    path.write_text(json.dumps(given))
    assert load_payload(path, resolve=False) == given
    resolved = load_payload(path, resolve=True)
    assert resolved["status"] == "resolved"
    assert resolved["alerts"][0]["status"] == "resolved"
    assert resolved["alerts"][0]["startsAt"] == "2026-12-01T10:00:00Z"  # the same episode
    assert resolved["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"
