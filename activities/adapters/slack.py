"""Slack over slack-sdk's WebClient: the incident message (chat.postMessage, then chat.update in
place) and thread replies. Rate limits are retried by slack-sdk's RateLimitErrorRetryHandler
honouring Retry-After; what remains is classified into TransientError / PermanentError."""

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from medic.ports import ChatMessage, MessageRef, PermanentError, TransientError

__all__ = ["TRANSIENT_ERRORS", "SlackChat"]

# Slack's `ok: false` errors that are worth another try; everything else will fail again.
TRANSIENT_ERRORS = frozenset(
    {
        "ratelimited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
        "team_added_to_org",
    }
)


class SlackChat:
    def __init__(self, token: str, *, base_url: str, timeout: int = 10, rate_limit_retries: int = 2) -> None:
        self._client = WebClient(
            token=token,
            base_url=base_url if base_url.endswith("/") else base_url + "/",
            timeout=timeout,
            retry_handlers=[
                ConnectionErrorRetryHandler(max_retry_count=1),
                RateLimitErrorRetryHandler(max_retry_count=rate_limit_retries),
            ],
        )

    def post(self, channel: str, message: ChatMessage, *, thread: MessageRef | None = None) -> MessageRef:
        try:
            response = self._client.chat_postMessage(
                channel=thread.channel if thread else channel,
                text=message.text,
                blocks=message.blocks or None,
                thread_ts=thread.ts if thread else None,
                unfurl_links=False,
                unfurl_media=False,
            )
        except Exception as err:
            raise _translate(err) from err
        return MessageRef(channel=str(response["channel"]), ts=str(response["ts"]))

    def update(self, ref: MessageRef, message: ChatMessage) -> MessageRef:
        try:
            response = self._client.chat_update(
                channel=ref.channel, ts=ref.ts, text=message.text, blocks=message.blocks or None
            )
        except Exception as err:
            raise _translate(err) from err
        return MessageRef(channel=str(response["channel"]), ts=str(response["ts"]))

    def usergroup_members(self, group_id: str) -> list[str]:
        """The user ids in a Slack user group (``usergroups.users.list``), for authorization."""
        try:
            response = self._client.usergroups_users_list(usergroup=group_id)
        except Exception as err:
            raise _translate(err) from err
        users = response.get("users") or []
        return [str(u) for u in users]


def _translate(err: Exception) -> Exception:
    if isinstance(err, SlackApiError):
        status = err.response.status_code
        code = str(err.response.get("error", "")) if isinstance(err.response.data, dict) else ""
        if status == 429:
            retry_after = err.response.headers.get("Retry-After") or err.response.headers.get("retry-after")
            return TransientError(
                f"Slack rate limit ({code or 429})", retry_after=float(retry_after) if retry_after else None
            )
        if status >= 500 or code in TRANSIENT_ERRORS:
            return TransientError(f"Slack error {code or status}")
        return PermanentError(f"Slack refused: {code or status}")
    if isinstance(err, SlackRequestError | OSError | TimeoutError):
        return TransientError(f"Slack unreachable: {err}")
    return PermanentError(f"Slack call failed: {type(err).__name__}: {err}")
