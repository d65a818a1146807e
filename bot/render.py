"""Block Kit for everything folio posts; all outside text goes through ``mrkdwn_safe``.

Slack's limits shape this module: 3000 characters per section text, 50 blocks per message
(100 in a Home tab), and an undocumented ceiling of roughly 13,200 characters of block text
per message (``msg_blocks_too_long``, slackapi/bolt-js#2509), so a message here carries at
most ``MESSAGE_TEXT_BUDGET`` characters. Text from documents, users and the model is escaped;
only links and channel references folio builds itself stay live, and never a mention.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bot.mrkdwn import mrkdwn_safe
from rag import page_label
from rag.types import Answer, Citation, Document, PageHit

Block = dict[str, Any]

SECTION_LIMIT = 3000
MAX_BLOCKS = 50
MAX_HOME_BLOCKS = 100
MESSAGE_TEXT_BUDGET = 12_000
FALLBACK_LIMIT = 3000
FEEDBACK_UP = "folio_feedback_up"
FEEDBACK_DOWN = "folio_feedback_down"
FEEDBACK_BLOCK_ID = "folio_feedback"

EXTRACTIVE_LABEL = "No answer model configured — quoting the best passages"
NOTHING_FOUND_LABEL = "Nothing in the documents visible here answers that"
NOTHING_FOUND_TEXT = (
    "folio found nothing about that in the documents indexed here; "
    "`/folio docs` lists what it can read."
)
SHORTENED_NOTE = "_This answer was too long for one message, so it was shortened._"

_BOUNDARIES = (
    re.compile(r"\n[ \t]*\n\s*"),
    re.compile(r"\n\s*"),
    re.compile(r"(?<=[.!?])\s+"),
    re.compile(r"\s+"),
)
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
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


def _truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis, entity-safe."""
    if len(text) <= limit:
        return text
    return text[: _safe_cut(text, limit - 1)].rstrip() + "…"


def _clip(raw: str, limit: int) -> str:
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


def channel_ref(channel_id: str) -> str:
    """``<#C123>`` for a real channel id (a link, never a ping), else the escaped text."""
    return f"<#{channel_id}>" if _CHANNEL_ID.match(channel_id) else mrkdwn_safe(channel_id)


# block primitives -------------------------------------------------------------------


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150], "emoji": True}}


def _block_chars(block: Block) -> int:
    if block["type"] == "section":
        return len(block["text"]["text"])
    if block["type"] == "context":
        return sum(len(element.get("text", "")) for element in block["elements"])
    return 0


def _chars(blocks: Sequence[Block]) -> int:
    return sum(_block_chars(block) for block in blocks)


def _fits(blocks: Sequence[Block], *, max_blocks: int = MAX_BLOCKS) -> bool:
    return len(blocks) <= max_blocks and _chars(blocks) <= MESSAGE_TEXT_BUDGET


def _fallback(blocks: Sequence[Block], default: str) -> str:
    """Notification text: the message's section text, else its context text, else default."""
    for kind in ("section", "context"):
        texts = [
            block["text"]["text"] if kind == "section" else block["elements"][0]["text"]
            for block in blocks
            if block["type"] == kind
        ]
        if texts:
            return _truncate("\n\n".join(texts), FALLBACK_LIMIT)
    return default


def _line_sections(lines: Sequence[str], *, max_blocks: int, max_chars: int) -> list[Block]:
    """Pack lines into at most ``max_blocks`` sections; the rest becomes "…and N more."."""
    # Every chunk and the total keep 40 characters free, so the "more" line always fits.
    capacity = SECTION_LIMIT - 40
    chunks: list[str] = []
    total = 0
    for index, raw in enumerate(lines):
        line = _truncate(raw, capacity)
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
    return [_section(chunk) for chunk in chunks]


# answers ----------------------------------------------------------------------------


def _mode_blocks(answer: Answer) -> list[Block]:
    if answer.mode == "extractive":
        return [_context(f":information_source: {EXTRACTIVE_LABEL}")]
    if answer.mode == "nothing_found":
        return [_context(f":mag: {NOTHING_FOUND_LABEL}")]
    return []


def _answer_body(answer: Answer) -> list[Block]:
    text = answer.text.strip() or (NOTHING_FOUND_TEXT if answer.mode == "nothing_found" else "")
    return [_section(piece) for piece in split_text(mrkdwn_safe(text), SECTION_LIMIT)]


def citation_line(citation: Citation) -> str:
    """``[n] <permalink|file name>, p. N`` (or ``slide N``; unlinked when the permalink is
    unsafe or absent)."""
    name = safe_link(citation.permalink, _clip(citation.file_name, 150))
    return f"[{citation.number}] {name}, {_page(citation.file_name, citation.page_number)}"


def _sources_blocks(citations: Sequence[Citation]) -> list[Block]:
    if not citations:
        return []
    text = "*Sources*\n" + "\n".join(citation_line(c) for c in citations)
    return [_context(piece) for piece in split_text(text, SECTION_LIMIT)]


def feedback_block(answer_id: str) -> Block:
    """The 👍 / 👎 buttons; each carries ``answer_id`` as its value."""

    def button(action_id: str, emoji: str, label: str) -> Block:
        return {
            "type": "button",
            "action_id": action_id,
            "text": {"type": "plain_text", "text": emoji, "emoji": True},
            "value": answer_id,
            "accessibility_label": label,
        }

    return {
        "type": "actions",
        "block_id": FEEDBACK_BLOCK_ID,
        "elements": [
            button(FEEDBACK_UP, "👍", "This answer helped"),
            button(FEEDBACK_DOWN, "👎", "This answer did not help"),
        ],
    }


def _tail_blocks(answer: Answer, answer_id: str | None) -> list[Block]:
    tail = _sources_blocks(answer.citations)
    return tail + ([feedback_block(answer_id)] if answer_id else [])


def answer_messages(answer: Answer, *, answer_id: str | None) -> list[RenderedMessage]:
    """The answer as one or more messages within Slack's limits; the last has sources."""
    blocks = _mode_blocks(answer) + _answer_body(answer)
    tail = _tail_blocks(answer, answer_id)
    pages: list[list[Block]] = [[]]
    for block in blocks:
        if pages[-1] and not _fits([*pages[-1], block]):
            pages.append([])
        pages[-1].append(block)
    if _fits(pages[-1] + tail):
        pages[-1].extend(tail)
    elif tail:
        pages.append(tail)
    default = "Sources for the answer above" if answer.citations else "folio's answer"
    return [RenderedMessage(text=_fallback(page, default), blocks=page) for page in pages]


def answer_message(answer: Answer, *, answer_id: str | None) -> RenderedMessage:
    """The answer as a single message; shortened (and says so) when it cannot fit in one.

    Use ``answer_messages`` to post a long answer whole.
    """
    messages = answer_messages(answer, answer_id=answer_id)
    if len(messages) == 1:
        return messages[0]
    tail = [_context(SHORTENED_NOTE), *_tail_blocks(answer, answer_id)]
    kept: list[Block] = []
    for block in _mode_blocks(answer) + _answer_body(answer):
        if not _fits([*kept, block, *tail]):
            break
        kept.append(block)
    blocks = kept + tail
    return RenderedMessage(text=_fallback(blocks, "folio's answer"), blocks=blocks)


# other messages ---------------------------------------------------------------------


def _hit_line(rank: int, hit: PageHit) -> str:
    snippet = mrkdwn_safe(_clip(hit.passage, 280)) or "_(no text on this page)_"
    name = mrkdwn_safe(_clip(hit.file_name, 150))
    where = _page(hit.file_name, hit.page_number)
    return f"*{rank}.* {name}, {where} · score {hit.score:.3f}\n>{snippet}"


def search_message(hits: Sequence[PageHit]) -> RenderedMessage:
    """The top pages for a search (file, page, score, snippet); no model involved."""
    if not hits:
        return error_message("No indexed pages matched that search.")
    shown = list(hits)[:10]
    blocks = [_section(f"*Top {len(shown)} pages*")]
    blocks += [_section(_hit_line(rank, hit)) for rank, hit in enumerate(shown, start=1)]
    text = "; ".join(
        f"{mrkdwn_safe(_clip(h.file_name, 80))} {_page(h.file_name, h.page_number)}" for h in shown
    )
    return RenderedMessage(text=_truncate(f"Top pages: {text}", FALLBACK_LIMIT), blocks=blocks)


def _page(file_name: str, number: int) -> str:
    return page_label(file_name, number, short=True)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def document_line(doc: Document) -> str:
    """``• name — 42 pages, 7 figures · <#C1> · 2024-05-01``, the name linked when safe."""
    name = safe_link(doc.permalink, _clip(doc.file_name, 150))
    size = f"{_plural(doc.page_count, 'page')}, {_plural(doc.figure_count, 'figure')}"
    where = channel_ref(doc.scope.channel_id)
    return f"• {name} — {size} · {where} · {doc.created_at:%Y-%m-%d}"


def documents_message(docs: Sequence[Document]) -> RenderedMessage:
    """What is indexed and visible from here."""
    if not docs:
        return RenderedMessage(
            text="No documents are indexed here yet.",
            blocks=[
                _section(
                    "No documents are indexed here yet. Share a PDF or image in an indexing "
                    "channel, or run `/folio index here` in a channel to start one."
                )
            ],
        )
    title = f"*{_plural(len(docs), 'indexed document')} visible here*"
    lines = [document_line(doc) for doc in docs]
    budget = MESSAGE_TEXT_BUDGET - len(title)
    blocks = [_section(title), *_line_sections(lines, max_blocks=MAX_BLOCKS - 1, max_chars=budget)]
    return RenderedMessage(
        text=f"{_plural(len(docs), 'indexed document')} visible here", blocks=blocks
    )


HELP_TEXT = """*folio* answers questions about the documents your team shares, with sources.
• `/folio ask QUESTION` — answer from the indexed documents (or @mention folio, or DM it)
• `/folio search QUERY` — the best matching pages, without an answer model
• `/folio docs` — what is indexed and visible from this channel
• `/folio forget DOCUMENT` — remove a document from the index (its uploader or an admin)
• `/folio index here` — index every PDF or image shared in this channel from now on
• `/folio index off` — stop indexing this channel
• `/folio followups on|off` — answer (or not) replies in threads folio answered, without a mention
• `/folio status` — what folio is doing and how it is set up
• `/folio help` — this message
Attach a screenshot or photo to a question to search with the picture too."""


def help_message() -> RenderedMessage:
    """How to use folio: every ``/folio`` subcommand."""
    return RenderedMessage(
        text="folio help: /folio ask|search|docs|forget|index here|index off|followups|status|help",
        blocks=[_section(HELP_TEXT)],
    )


def error_message(user_message: str) -> RenderedMessage:
    """A FolioError's ``user_message`` (or any short notice) as a message."""
    text = mrkdwn_safe(_truncate(user_message.strip(), SECTION_LIMIT - 20))
    return RenderedMessage(text=text, blocks=[_section(f":warning: {text}")])


def indexed_line(file_name: str, pages: int, figures: int) -> str:
    """``Indexed q3.pdf: 42 pages, 7 figures`` (the name escaped)."""
    name = mrkdwn_safe(_clip(file_name, 150))
    return f"Indexed {name}: {_plural(pages, 'page')}, {_plural(figures, 'figure')}"


def home_view(
    docs: Sequence[Document],
    indexing_channels: Sequence[str],
    recent: Sequence[tuple[str, str]],
) -> dict[str, Any]:
    """The App Home tab: indexed documents, indexing channels, recent activity (<=100 blocks)."""
    channels = [f"• {channel_ref(c)}" for c in indexing_channels]
    activity = [
        f"• *{mrkdwn_safe(_clip(when, 40))}* {mrkdwn_safe(_clip(what, 300))}"
        for when, what in recent
    ]
    blocks: list[Block] = [
        _header("folio"),
        _section("Ask about your documents: @mention folio, DM it, or use `/folio ask`."),
        {"type": "divider"},
        _header(f"Indexed documents ({len(docs)})"),
        *(
            _line_sections([document_line(d) for d in docs], max_blocks=40, max_chars=24_000)
            or [_section("Nothing is indexed yet.")]
        ),
        {"type": "divider"},
        _header("Indexing channels"),
        *(
            _line_sections(channels, max_blocks=10, max_chars=12_000)
            or [_section("None yet. Run `/folio index here` in a channel to index it.")]
        ),
        {"type": "divider"},
        _header("Recent activity"),
        *(
            _line_sections(activity, max_blocks=20, max_chars=12_000)
            or [_section("No activity yet.")]
        ),
    ]
    return {"type": "home", "blocks": blocks[:MAX_HOME_BLOCKS]}
