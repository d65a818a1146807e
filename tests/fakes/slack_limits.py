"""Block Kit limits the fake Slack enforces, so tests catch messages real Slack would refuse.

Documented: 50 blocks per message (100 in a Home tab), 3000 characters per section or
context text, 10 section fields of 2000, 10 context elements, 25 action elements, button
text 75 and value 2000, header text 150. Undocumented but observed (slackapi/bolt-js#2509):
messages whose block text passes roughly 13,200 characters fail with
``msg_blocks_too_long``; the fake refuses above 13,000.
"""

from __future__ import annotations

from typing import Any

MAX_BLOCKS = 50
MAX_HOME_BLOCKS = 100
MAX_BLOCKS_TEXT = 13_000
MAX_MESSAGE_TEXT = 40_000
MAX_STREAM_TEXT = 12_000  # markdown_text per chat.startStream/appendStream/stopStream call

_KNOWN = {
    "section",
    "context",
    "actions",
    "divider",
    "header",
    "image",
    "rich_text",
    "markdown",
    "input",
    "file",
    "video",
    "context_actions",
}


def _text_len(obj: Any, limit: int) -> int:
    """Length of a text object; raises ValueError when malformed or over ``limit``."""
    if not isinstance(obj, dict) or obj.get("type") not in ("mrkdwn", "plain_text"):
        raise ValueError("text object must be mrkdwn or plain_text")
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        raise ValueError("text must be a non-empty string")
    if len(text) > limit:
        raise ValueError(f"text over {limit} characters")
    return len(text)


def _section(block: dict[str, Any]) -> int:
    total = 0
    if "text" in block:
        total += _text_len(block["text"], 3000)
    fields = block.get("fields") or []
    if len(fields) > 10:
        raise ValueError("more than 10 fields")
    total += sum(_text_len(f, 2000) for f in fields)
    if not total:
        raise ValueError("section needs text or fields")
    return total


def _context(block: dict[str, Any]) -> int:
    elements = block.get("elements") or []
    if not 1 <= len(elements) <= 10:
        raise ValueError("context needs 1 to 10 elements")
    return sum(_text_len(e, 3000) for e in elements if e.get("type") != "image")


def _actions(block: dict[str, Any]) -> int:
    elements = block.get("elements") or []
    if not 1 <= len(elements) <= 25:
        raise ValueError("actions needs 1 to 25 elements")
    ids = [e.get("action_id") for e in elements if e.get("action_id")]
    if len(ids) != len(set(ids)):
        raise ValueError("duplicate action_id")
    for element in elements:
        if element.get("type") == "button":
            _text_len(element.get("text"), 75)
            if len(str(element.get("value", ""))) > 2000:
                raise ValueError("button value over 2000 characters")
    return 0


def _one(block: Any) -> int:
    if not isinstance(block, dict) or block.get("type") not in _KNOWN:
        raise ValueError("unknown block type")
    kind = block["type"]
    if kind == "section":
        return _section(block)
    if kind == "context":
        return _context(block)
    if kind == "actions":
        return _actions(block)
    if kind == "header":
        return _text_len(block.get("text"), 150)
    if kind == "context_actions":
        return _context_actions(block)
    return 0


def _context_actions(block: dict[str, Any]) -> int:
    elements = block.get("elements") or []
    if not 1 <= len(elements) <= 5:
        raise ValueError("context_actions needs 1 to 5 elements")
    for element in elements:
        if element.get("type") not in ("feedback_buttons", "icon_button"):
            raise ValueError("context_actions takes feedback_buttons and icon_button")
        if element.get("type") == "feedback_buttons":
            for side in ("positive_button", "negative_button"):
                button = element.get(side)
                if (
                    not isinstance(button, dict)
                    or button.get("text", {}).get("type") != "plain_text"
                ):
                    raise ValueError(f"{side} needs plain_text text")
                _text_len(button["text"], 75)
                if not button.get("value") or len(str(button["value"])) > 2000:
                    raise ValueError(f"{side} needs a value of at most 2000 characters")
    return 0


def block_error(blocks: Any, *, max_blocks: int = MAX_BLOCKS) -> str | None:
    """The Slack error a list of blocks would get, or None when Slack would accept it."""
    if not isinstance(blocks, list):
        return "invalid_blocks_format"
    if len(blocks) > max_blocks:
        return "invalid_blocks"
    try:
        total = sum(_one(block) for block in blocks)
    except ValueError:
        return "invalid_blocks"
    if max_blocks == MAX_BLOCKS and total > MAX_BLOCKS_TEXT:
        return "msg_blocks_too_long"
    return None
