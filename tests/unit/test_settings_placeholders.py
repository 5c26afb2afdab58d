"""A credential copied from an example is refused at start with a clear message, never silently used."""

import pytest
from pydantic import SecretStr, ValidationError

from service.settings import Settings


@pytest.mark.parametrize(
    "value",
    ["change-me: the-webhook-token", "CHANGEME", "<webhook-token>", "${MEDIC_WEBHOOK_TOKEN}", "token"],
)
@pytest.mark.parametrize(
    "field", ["webhook_token", "webhook_token_previous", "operator_token", "read_token", "link_secret"]
)
def test_placeholders_are_refused(field: str, value: str) -> None:
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(_env_file=None, **{field: SecretStr(value)})  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["9f86d081884c7d659a2feaa0c55ad015", "test-webhook-token", "t"])
def test_real_values_are_kept(value: str) -> None:
    settings = Settings(_env_file=None, webhook_token=SecretStr(value))
    assert settings.webhook_token is not None and settings.webhook_token.get_secret_value() == value
