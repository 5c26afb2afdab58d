"""Outgoing, for :mod:`tests.doubles.jira`: what a Jira webhook (System > WebHooks, event *Issue updated*)
posts when an issue's status changes, on Jira Cloud and Jira Data Center.

The shape, as captured from both (a Cloud site: sirajju/skill-sync ``webhook/JIRA.js``; a Data Center
site: crystalvjohnston/jira-slack-webhook ``mockdata/updatedIssue2.ts``; Atlassian's "Webhooks" page,
"Example callback for an issue-related event"): ``timestamp`` (ms since the epoch), ``webhookEvent``
``jira:issue_updated``, ``issue_event_type_name``, ``user`` (who did it: Cloud names an ``accountId``
and ``displayName`` and no e-mail; Data Center ``name``, ``key``, ``emailAddress``, ``displayName``),
``issue`` (``id``, ``key``, ``self``, ``fields`` with ``labels``, ``status`` and its ``statusCategory``),
and ``changelog`` (``id``, ``items``: ``{field: "status", fieldtype: "jira", fieldId: "status", from,
fromString, to, toString}``).

Signing (Jira Cloud since 2024, Jira Data Center 10, for a webhook registered with a secret):
``X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed with the secret>``
(https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks;
https://confluence.atlassian.com/adminjiraserver/managing-webhooks-938846912.html): :func:`hub_signature`.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
from typing import Any

from tests.doubles.jira_workflows import STATUSES

__all__ = ["hub_signature", "status_event"]

_CHANGELOG_IDS = itertools.count(20000)


def hub_signature(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature`` header Jira sends with ``body`` for a webhook whose secret is ``secret``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def user_json(base: str, user: str, *, cloud: bool) -> dict[str, Any]:
    display = user.split("@", 1)[0].replace(".", " ").replace("-", " ").title()
    if cloud:
        account = "712020:" + hashlib.sha1(user.encode()).hexdigest()[:32]  # noqa: S324 (an id, not security)
        return {
            "self": f"{base}/rest/api/2/user?accountId={account}",
            "accountId": account,
            "displayName": display,
            "active": True,
            "timeZone": "Etc/UTC",
            "accountType": "atlassian",
        }
    return {
        "self": f"{base}/rest/api/2/user?username={user}",
        "name": user,
        "key": user,
        "emailAddress": user if "@" in user else f"{user}@example.com",
        "displayName": display,
        "active": True,
        "timeZone": "Etc/UTC",
    }


def status_event(
    *,
    base: str,
    cloud: bool,
    issue_id: str,
    key: str,
    labels: list[str],
    user: str,
    was: str,
    now: str,
    timestamp_ms: int,
) -> dict[str, Any]:
    """The payload a webhook posts when ``user`` moved issue ``key`` from status ``was`` to ``now``."""
    old, new = STATUSES[was], STATUSES[now]
    category = {
        "self": f"{base}/rest/api/2/statuscategory/{new.category_id}",
        "id": new.category_id,
        "key": new.category_key,
        "colorName": new.color,
        "name": new.category_name,
    }
    return {
        "timestamp": timestamp_ms,
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic",
        "user": user_json(base, user, cloud=cloud),
        "issue": {
            "id": issue_id,
            "self": f"{base}/rest/api/2/issue/{issue_id}",
            "key": key,
            "fields": {
                "labels": list(labels),
                "status": {
                    "self": f"{base}/rest/api/2/status/{new.id}",
                    "name": new.name,
                    "id": new.id,
                    "statusCategory": category,
                },
            },
        },
        "changelog": {
            "id": str(next(_CHANGELOG_IDS)),
            "items": [
                {
                    "field": "status",
                    "fieldtype": "jira",
                    "fieldId": "status",
                    "from": old.id,
                    "fromString": old.name,
                    "to": new.id,
                    "toString": new.name,
                }
            ],
        },
    }
