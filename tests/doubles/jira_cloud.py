"""What Jira Cloud and Jira Data Center answer differently, for :mod:`tests.doubles.jira`.

* Removed search. Atlassian removed ``GET``/``POST /rest/api/{2,3}/search`` on Jira Cloud
  (https://developer.atlassian.com/changelog/#CHANGE-2046, shut off from 1 August 2025). Jira Cloud
  answers ``410 Gone`` with :data:`REMOVED_SEARCH_BODY`, as captured in the field (apache/devlake#8647,
  adyscorpius/logseq-jira#34, prometheus-community/jiralert#204). ``/rest/api/{2,3}/search/jql``
  (``nextPageToken`` paging) is the replacement. Data Center has no ``search/jql`` and no ``/rest/api/3``.
* ADF. Jira Cloud's v3 API takes rich-text fields (``description``, comment ``body``) as Atlassian
  Document Format (https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/): a
  ``doc`` node with ``version: 1``; a string is refused (:data:`NOT_ADF`), a malformed document too
  (``INVALID_INPUT``). :func:`adf_problem` checks the subset Medic could send: block nodes
  ``paragraph``, ``heading``, ``bulletList``/``orderedList``/``listItem``, ``codeBlock``, ``rule``,
  inline ``text`` (non-empty) and ``hardBreak``, marks ``strong``, ``em``, ``code``, ``strike``,
  ``underline`` and ``link`` (``attrs.href`` required).
* Attachments (``POST /rest/api/{2,3}/issue/{key}/attachments``): multipart with a ``file`` part, and
  the ``X-Atlassian-Token: no-check`` header, else 403 ``XSRF check failed``.
"""

from __future__ import annotations

from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

__all__ = [
    "NOT_ADF",
    "REMOVED_SEARCH_BODY",
    "adf_problem",
    "adf_text",
    "multipart_files",
    "text_adf",
]

REMOVED_SEARCH_BODY: dict[str, Any] = {
    "errorMessages": [
        "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
        "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
    ],
    "errors": {},
}
NOT_ADF = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"

_BLOCKS = frozenset(
    {"paragraph", "heading", "bulletList", "orderedList", "listItem", "codeBlock", "rule", "blockquote"}
)
_INLINE = frozenset({"text", "hardBreak"})
_MARKS = frozenset({"strong", "em", "code", "strike", "underline", "link"})


def adf_problem(doc: Any) -> str | None:
    """Why ``doc`` is not an ADF document Jira Cloud would take; ``None`` when it is."""
    if not isinstance(doc, dict) or doc.get("type") != "doc":
        return NOT_ADF
    if doc.get("version") != 1 or not isinstance(doc.get("content"), list):
        return "INVALID_INPUT"
    return _nodes_problem(doc["content"], top=True)


def _nodes_problem(nodes: list[Any], *, top: bool) -> str | None:
    for node in nodes:
        if not isinstance(node, dict):
            return "INVALID_INPUT"
        kind = node.get("type")
        if kind not in (_BLOCKS if top else _BLOCKS | _INLINE):
            return "INVALID_INPUT"
        if kind == "text":
            if not isinstance(node.get("text"), str) or not node["text"]:
                return "INVALID_INPUT"
            for mark in node.get("marks", []):
                if not isinstance(mark, dict) or mark.get("type") not in _MARKS:
                    return "INVALID_INPUT"
                href = (mark.get("attrs") or {}).get("href") if mark["type"] == "link" else "-"
                if not isinstance(href, str) or not href:
                    return "INVALID_INPUT"
        content = node.get("content", [])
        if not isinstance(content, list):
            return "INVALID_INPUT"
        problem = _nodes_problem(content, top=False)
        if problem:
            return problem
    return None


def adf_text(doc: dict[str, Any]) -> str:
    """The plain text of a (valid) document, one line per block, for JQL ``text ~`` and inspection."""
    lines: list[str] = []

    def walk(node: dict[str, Any]) -> str:
        if node.get("type") == "text":
            return str(node["text"])
        if node.get("type") == "hardBreak":
            return "\n"
        inner = "".join(walk(child) for child in node.get("content", []))
        if node.get("type") in _BLOCKS:
            lines.append(inner) if inner else None
            return ""
        return inner

    for block in doc.get("content", []):
        walk(block)
    return "\n".join(lines)


def text_adf(text: str) -> dict[str, Any]:
    """A stored plain text (set through v2) as Jira Cloud's v3 shows it."""
    content: list[dict[str, Any]] = [
        {"type": "paragraph", "content": [{"type": "text", "text": line}]}
        for line in text.splitlines()
        if line
    ]
    return {"type": "doc", "version": 1, "content": content}


def multipart_files(body: bytes, content_type: str) -> list[tuple[str, bytes]]:
    """``(filename, data)`` of each ``file`` part of a ``multipart/form-data`` body."""
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    files: list[tuple[str, bytes]] = []
    for part in message.iter_parts() if message.is_multipart() else ():
        if part.get_param("name", header="content-disposition") == "file":
            payload = part.get_payload(decode=True)
            files.append((part.get_filename() or "unnamed", payload if isinstance(payload, bytes) else b""))
    return files
