"""Issue 13: a silence's link goes to people (Slack, the timeline), so it never carries the credentials
MEDIC_ALERTMANAGER_URL may hold (``https://user:pass@alertmanager...``)."""

import pytest

from activities.adapters.alertmanager import AlertmanagerSilences


@pytest.mark.parametrize(
    ("configured", "link"),
    [
        ("https://medic:hunter2@am.example:9093/", "https://am.example:9093/#/silences/abc"),
        ("http://only-user@am.example/prefix", "http://am.example/prefix/#/silences/abc"),
        ("http://am.example:9093", "http://am.example:9093/#/silences/abc"),
    ],
)
async def test_links_carry_no_credentials(configured: str, link: str) -> None:
    silences = AlertmanagerSilences(configured)
    assert silences.link("abc") == link
    assert "hunter2" not in silences.link("abc")
