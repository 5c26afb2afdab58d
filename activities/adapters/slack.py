"""Slack over slack-sdk's WebClient: the incident message (chat.postMessage, then chat.update in
place) and thread replies. Short rate limits are retried in place honouring Retry-After (seconds or
an HTTP-date, read by the shared parser: slack-sdk's own handler reads seconds only and fails on a
date); longer ones go back to Temporal. What remains is classified by
:func:`activities.adapters.http.classify`, plus Slack's ``ok: false`` codes that are worth a retry."""

import time
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.http_retry.state import RetryState

from activities.adapters.http import classify, retry_after
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


_MAX_WAIT_IN_PLACE = 10.0  # seconds an activity may sleep on a rate limit before handing it to Temporal


def _wait(response: Any) -> float | None:
    headers = getattr(response, "headers", None) or {}
    for name, value in headers.items():
        if name.lower() == "retry-after":
            return retry_after(value[0] if isinstance(value, list) else str(value))
    return None


class _RateLimitRetry(RateLimitErrorRetryHandler):
    def _can_retry(self, *, state: RetryState, request: Any, response: Any = None, error: Any = None) -> bool:
        wait = _wait(response) if response is not None and response.status_code == 429 else None
        return wait is not None and wait <= _MAX_WAIT_IN_PLACE

    def prepare_for_next_attempt(
        self, *, state: RetryState, request: Any, response: Any = None, error: Any = None
    ) -> None:
        state.next_attempt_requested = True
        time.sleep(_wait(response) or 0.0)
        state.increment_current_attempt()


class SlackChat:
    def __init__(self, token: str, *, base_url: str, timeout: int = 10, rate_limit_retries: int = 2) -> None:
        self._client = WebClient(
            token=token,
            base_url=base_url if base_url.endswith("/") else base_url + "/",
            timeout=timeout,
            retry_handlers=[
                ConnectionErrorRetryHandler(max_retry_count=1),
                _RateLimitRetry(max_retry_count=rate_limit_retries),
            ],
        )

    def post(self, channel: str, message: ChatMessage, *, thread: MessageRef | None = None) -> MessageRef:
        try:
            response = self._client.chat_postMessage(
                channel=thread.channel if thread else channel,
                text=message.text,
                blocks=message.blocks or None,
                thread_ts=thread.id if thread else None,
                unfurl_links=False,
                unfurl_media=False,
            )
        except Exception as err:
            raise _translate(err) from err
        return MessageRef(kind="slack", channel=str(response["channel"]), id=str(response["ts"]))

    def update(self, ref: MessageRef, message: ChatMessage) -> MessageRef:
        try:
            response = self._client.chat_update(
                channel=ref.channel, ts=ref.id, text=message.text, blocks=message.blocks or None
            )
        except Exception as err:
            raise _translate(err) from err
        return MessageRef(kind="slack", channel=str(response["channel"]), id=str(response["ts"]))

    def identity(self) -> dict[str, str]:
        """Who the token is (``auth.test``): the workspace, its URL and the bot user."""
        try:
            response = self._client.auth_test()
        except Exception as err:
            raise _translate(err, what="tell who Medic is (auth.test)") from err
        who = {key: str(response.get(key) or "") for key in ("team", "url", "user", "user_id", "bot_id")}
        # every Web API answer says the token's scopes (Slack's "Scopes and permissions")
        headers = {str(k).lower(): v for k, v in (response.headers or {}).items()}
        scopes = headers.get("x-oauth-scopes")
        who["scopes"] = str(scopes[0] if isinstance(scopes, list) else scopes or "")
        return who

    def usergroup_members(self, group_id: str) -> list[str]:
        """The user ids in a Slack user group (``usergroups.users.list``), for authorization."""
        try:
            response = self._client.usergroups_users_list(usergroup=group_id)
        except Exception as err:
            raise _translate(err) from err
        users = response.get("users") or []
        return [str(u) for u in users]


def _translate(err: Exception, *, what: str = "post") -> Exception:
    if isinstance(err, SlackApiError):
        status = err.response.status_code
        code = str(err.response.get("error", "")) if isinstance(err.response.data, dict) else ""
        headers = {
            k: (v[0] if isinstance(v, list) else str(v)) for k, v in (err.response.headers or {}).items()
        }
        if code in TRANSIENT_ERRORS and status < 500 and status != 429:
            return TransientError(f"Slack error {code}", retry_after=retry_after(headers.get("Retry-After")))
        return classify(status, service="Slack", what=what, headers=headers, detail=code or str(status))
    if isinstance(err, SlackRequestError | OSError | TimeoutError):
        return classify(None, service="Slack", what=what, detail=str(err))
    return PermanentError(f"Slack call failed: {type(err).__name__}: {err}")
