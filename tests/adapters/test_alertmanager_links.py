"""Issue 13: a silence's link goes to people (Slack, the timeline), so it never carries the credentials
MEDIC_ALERTMANAGER_URL may hold (``https://user:pass@alertmanager...``)."""

import pytest

from activities.adapters.alertmanager import AlertmanagerSilences
from medic.ports import PermanentError


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


def test_a_configured_page_takes_the_silence_link() -> None:
    """Behind Mimir, Alertmanager's own UI cannot be opened by a browser (it needs the tenant header):
    people open the silence in Grafana's alerting pages instead (its route /alerting/silence/:id/edit, in
    old and new Grafana alike). Empty is unset, as the other settings' empty values."""
    from pydantic import SecretStr, ValidationError  # noqa: PLC0415

    from service.prometheus import alertmanager_silences  # noqa: PLC0415
    from service.settings import Settings  # noqa: PLC0415

    page = "https://grafana.example/alerting/silence/{id}/edit?alertmanager=Mimir"
    settings = Settings(
        _env_file=None,
        webhook_token=SecretStr("t" * 32),
        alertmanager_url="https://mimir-gateway/alertmanager",
        alertmanager_tenant="team-a",
        alertmanager_silence_url=page,
    )
    silences = alertmanager_silences(settings)
    assert silences is not None
    assert (
        silences.link("8a1c-4f") == "https://grafana.example/alerting/silence/8a1c-4f/edit?alertmanager=Mimir"
    )
    assert (
        silences.link("a/b?c") == "https://grafana.example/alerting/silence/a%2Fb%3Fc/edit?alertmanager=Mimir"
    )
    assert (
        Settings(
            _env_file=None, webhook_token=SecretStr("t" * 32), alertmanager_silence_url=""
        ).alertmanager_silence_url
        is None
    )
    for wrong, words in (
        ("https://grafana.example/alerting/silences", "must hold {id} once"),
        ("grafana/{id}", "is no http(s) URL"),
        ("https://g/{id}/{x}", "and no other braces"),
        ("https://g/ {id}", "is no http(s) URL (without spaces)"),
        ("javascript:alert(1)//{id}", "is no http(s) URL"),
        ("https://g/{id}{id}", "must hold {id} once"),
    ):
        with pytest.raises(ValidationError, match="alertmanager_silence_url") as refused:
            Settings(_env_file=None, webhook_token=SecretStr("t" * 32), alertmanager_silence_url=wrong)
        assert words in str(refused.value)


async def test_a_404_on_the_silences_list_says_to_check_the_path() -> None:
    """A wrong base path (Mimir's Alertmanager without /alertmanager) answered 404 to reading the
    silences, said as "no such silence"; a silence's own 404 still is."""
    from tests.doubles.alertmanager import AlertmanagerDouble  # noqa: PLC0415

    with AlertmanagerDouble().serve() as url:
        wrong = AlertmanagerSilences(f"{url}/wrong")
        try:
            with pytest.raises(PermanentError) as listed:
                await wrong.count()
            assert "refused to read silences (404 at /api/v2/silences): check the URL's path" in str(
                listed.value
            )
            right = AlertmanagerSilences(url)
            with pytest.raises(PermanentError) as one:
                await right.get("5c3e1d5c-0000-0000-0000-000000000000")
            assert "has no such silence" in str(one.value)
            await right.aclose()
        finally:
            await wrong.aclose()
