"""Block Kit primitives within Slack's limits: text splitting, escaping-safe cuts, blocks.

Slack's limits shape this module: 3000 characters per section text, 50 blocks per message
(100 in a Home tab), and an undocumented ceiling of roughly 13,200 characters of block text
per message (``msg_blocks_too_long``, slackapi/bolt-js#2509), so a message here carries at
most ``MESSAGE_TEXT_BUDGET`` characters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bot.mrkdwn import mrkdwn_safe

Block = dict[str, Any]

SECTION_LIMIT = 3000
MAX_BLOCKS = 50
MAX_HOME_BLOCKS = 100
MESSAGE_TEXT_BUDGET = 12_000
FALLBACK_LIMIT = 3000

_BOUNDARIES = (
    re.compile(r"\n[ \t]*\n\s*"),
    re.compile(r"\n\s*"),
    re.compile(r"(?<=[.!?])\s+"),
    re.compile(r"\s+"),
)
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class RenderedMessage:
    """One Slack message: the notification/fallback ``text`` and its ``blocks``."""

    text: str
    blocks: list[Block]


# text primitives --------------------------------------------------------------------


def _safe_cut(text: str, limit: int) -> int:
    """An index <= limit that does not split an HTML entity such as ``&amp;``."""
    amp = text.rfind("&", max(0, limit - 5), limit)
    if amp > 0 and ";" not in text[amp:limit]:
        return amp
    return limit


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Split text into pieces of at most ``limit`` characters.

    Cuts at the last paragraph break that fits, else a line break, a sentence end, a
    space, and only as a last resort mid-word (never inside an HTML entity).
    """
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        start, end = _cut_point(rest, limit)
        if piece := rest[:start].rstrip():
            pieces.append(piece)
        rest = rest[end:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def _cut_point(text: str, limit: int) -> tuple[int, int]:
    window = text[: limit + 1]
    for boundary in _BOUNDARIES:
        last = None
        for match in boundary.finditer(window):
            if 0 < match.start() <= limit:
                last = match
        if last is not None:
            return last.start(), last.end()
    cut = _safe_cut(text, limit)
    return cut, cut


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis, entity-safe."""
    if len(text) <= limit:
        return text
    return text[: _safe_cut(text, limit - 1)].rstrip() + "…"


def clip(raw: str, limit: int) -> str:
    """Collapse whitespace and shorten raw (unescaped) text before escaping it."""
    flat = _SPACE.sub(" ", raw).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def safe_link(url: str | None, label: str) -> str:
    """``<url|label>`` when ``url`` is a plain https URL, else just the escaped label."""
    text = mrkdwn_safe(label)
    if not url or len(url) > 1000 or any(ch.isspace() or ord(ch) < 32 for ch in url):
        return text
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        return text
    escaped = url.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f"<{escaped.replace('|', '%7C')}|{text}>"


def user_ref(user_id: str) -> str:
    """``<@U123>`` for a real user id (the asker, named where they asked), else escaped."""
    return f"<@{user_id}>" if _USER_ID.match(user_id) else mrkdwn_safe(user_id)


def channel_ref(channel_id: str) -> str:
    """``<#C123>`` for a real channel id (a link, never a ping), else the escaped text."""
    return f"<#{channel_id}>" if _CHANNEL_ID.match(channel_id) else mrkdwn_safe(channel_id)


# block primitives -------------------------------------------------------------------


def section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150], "emoji": True}}


def _block_chars(block: Block) -> int:
    if block["type"] == "section":
        return len(block["text"]["text"])
    if block["type"] == "context":
        return sum(len(element.get("text", "")) for element in block["elements"])
    return 0


def chars(blocks: Sequence[Block]) -> int:
    return sum(_block_chars(block) for block in blocks)


def fits(blocks: Sequence[Block], *, max_blocks: int = MAX_BLOCKS) -> bool:
    return len(blocks) <= max_blocks and chars(blocks) <= MESSAGE_TEXT_BUDGET


def fallback(blocks: Sequence[Block], default: str) -> str:
    """Notification text: the message's section text, else its context text, else default."""
    for kind in ("section", "context"):
        texts = [
            block["text"]["text"] if kind == "section" else block["elements"][0]["text"]
            for block in blocks
            if block["type"] == kind
        ]
        if texts:
            return truncate("\n\n".join(texts), FALLBACK_LIMIT)
    return default


def line_sections(lines: Sequence[str], *, max_blocks: int, max_chars: int) -> list[Block]:
    """Pack lines into at most ``max_blocks`` sections; the rest becomes "…and N more."."""
    # Every chunk and the total keep 40 characters free, so the "more" line always fits.
    capacity = SECTION_LIMIT - 40
    chunks: list[str] = []
    total = 0
    for index, raw in enumerate(lines):
        line = truncate(raw, capacity)
        joined = bool(chunks) and len(chunks[-1]) + 1 + len(line) <= capacity
        too_many = not joined and len(chunks) >= max_blocks
        if too_many or total + len(line) + 1 > max_chars - 40:
            more = f"…and {len(lines) - index} more."
            if chunks:
                chunks[-1] += "\n" + more
            else:
                chunks.append(more)
            break
        if joined:
            chunks[-1] += "\n" + line
        else:
            chunks.append(line)
        total += len(line) + 1
    return [section(chunk) for chunk in chunks]
