"""Block Kit for everything folio posts; all outside text goes through ``mrkdwn_safe``.

Text from documents, users and the model is escaped; only links and channel references
folio builds itself stay live, and never a mention. The limits and primitives are in
``bot.blocks``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.blocks import (
    FALLBACK_LIMIT,
    MAX_BLOCKS,
    MAX_HOME_BLOCKS,
    MESSAGE_TEXT_BUDGET,
    SECTION_LIMIT,
    Block,
    RenderedMessage,
    channel_ref,
    clip,
    context,
    fallback,
    fits,
    header,
    line_sections,
    safe_link,
    section,
    split_text,
    truncate,
)
from bot.feedback import feedback_block, week_blocks
from bot.mrkdwn import answer_safe, defuse_mentions, defuse_urls, mrkdwn_safe
from rag import (
    Answer,
    BackfillProgress,
    BackfillStarted,
    Citation,
    Document,
    Home,
    PageHit,
    Status,
    SuggestedPrompt,
    page_label,
    supported_formats,
)

NOTHING_FOUND_LABEL = "Nothing in the documents visible here answers that"
NOTHING_FOUND_TEXT = (
    "folio found nothing about that in the documents indexed here; "
    "`/folio docs` lists what it can read."
)


# answers ----------------------------------------------------------------------------


def _mode_blocks(answer: Answer) -> list[Block]:
    # An extractive answer's text says itself that it quotes passages; no second label.
    blocks = []
    if answer.thread_messages:
        read = _plural(answer.thread_messages, "earlier message")
        blocks.append(context(f":speech_balloon: Read {read} in this thread"))
    if answer.mode == "nothing_found":
        blocks.append(context(f":mag: {NOTHING_FOUND_LABEL}"))
    return blocks


def _answer_body(answer: Answer) -> list[Block]:
    text = answer.text.strip() or (NOTHING_FOUND_TEXT if answer.mode == "nothing_found" else "")
    # Model output and quoted passages may carry Slack markup: show it as the words it means.
    return [section(piece) for piece in split_text(answer_safe(text), SECTION_LIMIT)]


def citation_line(citation: Citation) -> str:
    """``[n] <permalink|file name>, p. N`` (unlinked when the permalink is unsafe or absent)."""
    name = safe_link(citation.permalink, clip(citation.file_name, 150))
    return f"[{citation.number}] {name}, {_page(citation.file_name, citation.page_number)}"


def _sources_blocks(citations: Sequence[Citation]) -> list[Block]:
    if not citations:
        return []
    text = "*Sources*\n" + "\n".join(citation_line(c) for c in citations)
    return [context(piece) for piece in split_text(text, SECTION_LIMIT)]


def answer_markdown(answer: Answer) -> str:
    """The text of a streamed answer, exactly as ``SafeStream`` builds it from the pieces."""
    return answer_safe(answer.text)


def answer_tail(answer: Answer, answer_id: str | None) -> list[Block]:
    """What goes under a streamed answer: its notes, its sources and the feedback buttons."""
    return _mode_blocks(answer) + _tail_blocks(answer, answer_id)


def _tail_blocks(answer: Answer, answer_id: str | None) -> list[Block]:
    tail = _sources_blocks(answer.citations)
    return tail + ([feedback_block(answer_id)] if answer_id else [])


def answer_messages(answer: Answer, *, answer_id: str | None) -> list[RenderedMessage]:
    """The answer as one or more messages within Slack's limits; the last has sources."""
    blocks = _mode_blocks(answer) + _answer_body(answer)
    tail = _tail_blocks(answer, answer_id)
    pages: list[list[Block]] = [[]]
    for block in blocks:
        if pages[-1] and not fits([*pages[-1], block]):
            pages.append([])
        pages[-1].append(block)
    if fits(pages[-1] + tail):
        pages[-1].extend(tail)
    elif tail:
        pages.append(tail)
    default = "Sources for the answer above" if answer.citations else "folio's answer"
    return [RenderedMessage(text=fallback(page, default), blocks=page) for page in pages]


# other messages ---------------------------------------------------------------------


def _hit_line(rank: int, hit: PageHit) -> str:
    snippet = mrkdwn_safe(defuse_urls(clip(hit.passage, 280))) or "_(no text on this page)_"
    name = mrkdwn_safe(clip(hit.file_name, 150))
    where = _page(hit.file_name, hit.page_number)
    return f"*{rank}.* {name}, {where} · score {hit.score:.3f}\n>{snippet}"


def search_message(hits: Sequence[PageHit]) -> RenderedMessage:
    """The top pages for a search (file, page, score, snippet); no model involved."""
    if not hits:
        return error_message("No indexed pages matched that search.")
    shown = list(hits)[:10]
    blocks = [section(f"*Top {len(shown)} pages*")]
    blocks += [section(_hit_line(rank, hit)) for rank, hit in enumerate(shown, start=1)]
    text = "; ".join(
        f"{mrkdwn_safe(clip(h.file_name, 80))} {_page(h.file_name, h.page_number)}" for h in shown
    )
    return RenderedMessage(text=truncate(f"Top pages: {text}", FALLBACK_LIMIT), blocks=blocks)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def document_line(doc: Document) -> str:
    """``• name — 42 pages, 7 figures · <#C1> · 2024-05-01``, the name linked when safe."""
    name = safe_link(doc.permalink, clip(doc.file_name, 150))
    size = f"{_plural(doc.page_count, 'page')}, {_plural(doc.figure_count, 'figure')}"
    where = channel_ref(doc.scope.channel_id)
    line = f"• {name} — {size} · {where} · {doc.created_at:%Y-%m-%d}"
    if doc.superseded_at is not None:
        return f"{line} · _superseded by a newer version {doc.superseded_at:%Y-%m-%d}_"
    return line


def documents_message(docs: Sequence[Document]) -> RenderedMessage:
    """What is indexed and visible from here."""
    if not docs:
        return RenderedMessage(
            text="No documents are indexed here yet.",
            blocks=[
                section(
                    "No documents are indexed here yet. Share a PDF or image in an indexing "
                    "channel, or run `/folio index here` in a channel to start one."
                )
            ],
        )
    title = f"*{_plural(len(docs), 'indexed document')} visible here*"
    lines = [document_line(doc) for doc in docs]
    budget = MESSAGE_TEXT_BUDGET - len(title)
    blocks = [section(title), *line_sections(lines, max_blocks=MAX_BLOCKS - 1, max_chars=budget)]
    return RenderedMessage(
        text=f"{_plural(len(docs), 'indexed document')} visible here", blocks=blocks
    )


def which_document_message(ref: str, candidates: Sequence[object]) -> RenderedMessage:
    """Several documents match ``ref``: list them with their ids; nothing was removed."""
    docs = [doc for doc in candidates if isinstance(doc, Document)]
    lines = [f"{document_line(doc)} · id `{doc.id}`" for doc in docs]
    title = (
        f"{len(docs)} documents match “{mrkdwn_safe(clip(ref, 80))}”, so folio removed none. "
        "Run `/folio forget ID` with the id of the one to remove:"
    )
    budget = MESSAGE_TEXT_BUDGET - len(title)
    blocks = [section(title), *line_sections(lines, max_blocks=MAX_BLOCKS - 1, max_chars=budget)]
    return RenderedMessage(text=f"{len(docs)} documents match; say which by its id", blocks=blocks)


HELP_TEXT = """*folio* answers questions about the documents your team shares, with sources.
• `/folio ask QUESTION` — answer privately, with a button to share it (or @mention folio, or DM it)
• `/folio ask --public QUESTION` — answer for everyone in a new thread here
• `/folio search QUERY` — the best matching pages, without an answer model
• `/folio docs` — what is indexed and visible from this channel
• `/folio forget DOCUMENT` — remove a document from the index (its uploader or an admin)
• `/folio index here` — index the files shared in this channel, those already here and new ones
• `/folio index off` — stop indexing this channel
• `/folio followups on|off` — answer (or not) replies in threads folio answered, without a mention
• `/folio autoanswer on|off` — answer (or not) questions posted in this channel, without a mention
• `/folio status` — what folio is doing and how it is set up
• `/folio help` — this message
Attach a screenshot or photo to a question to search with the picture too."""


def help_message() -> RenderedMessage:
    """How to use folio: every ``/folio`` subcommand."""
    return RenderedMessage(
        text="folio help: /folio ask|search|docs|forget|index here|index off|followups|"
        "autoanswer|status|help",
        blocks=[section(HELP_TEXT)],
    )


def error_message(user_message: str) -> RenderedMessage:
    """A FolioError's ``user_message`` (or any short notice) as a message."""
    text = mrkdwn_safe(truncate(user_message.strip(), SECTION_LIMIT - 20))
    return RenderedMessage(text=text, blocks=[section(f":warning: {text}")])


def suggested_prompts(prompts: Sequence[SuggestedPrompt]) -> list[dict[str, str]]:
    """Prompts for an assistant thread (plain text); a document's name never pings anyone."""

    def inert(text: str) -> str:
        return defuse_mentions(text).replace("@", "@\u200b")

    return [{"title": clip(inert(p.title), 75), "message": inert(p.message)} for p in prompts]


def files_without_question(names: Sequence[str]) -> RenderedMessage:
    """A file sent to folio's DM with no question: what folio can do with it."""
    shown = ", ".join(mrkdwn_safe(clip(name, 80)) for name in names[:3]) or "that file"
    return notice(
        f"folio keeps nothing sent in a DM, so it did not index {shown}. Send it again with "
        "a question (“what does this say about revenue?”) and folio answers from it, for that "
        "question only; or share it in an indexing channel (`/folio index here` starts one) "
        "so folio can answer from it for everyone there."
    )


def rate_limited(seconds: int) -> RenderedMessage:
    """The private note for a question over the rate limits: when to ask again."""
    when = "in a minute" if seconds >= 55 else f"in {_plural(seconds, 'second')}"
    return notice(
        f":hourglass_flowing_sand: folio is getting many questions here right now; "
        f"ask again {when}."
    )


def notice(text: str) -> RenderedMessage:
    """A short message whose text folio wrote (already safe mrkdwn)."""
    return RenderedMessage(text=text, blocks=[section(text)])


def page_notes_message(notes: Sequence[str]) -> RenderedMessage:
    """Why some cited pages came without their image (their names come from documents)."""
    text = mrkdwn_safe(truncate(" ".join(notes), SECTION_LIMIT - 20))
    return RenderedMessage(text=text, blocks=[context(text)])


def indexed_message(summary: str) -> RenderedMessage:
    """How an indexing job ended well (rag's plain-text summary), as a plain message."""
    return RenderedMessage(text=mrkdwn_safe(truncate(summary.strip(), SECTION_LIMIT)), blocks=[])


def indexing_on(started: BackfillStarted) -> RenderedMessage:
    """`/folio index here`: from now on, and what happens to the files already here."""
    now = f"folio will index every file shared in this channel from now on ({supported_formats()})."
    limit = f"(folio reads the newest {_plural(started.limit, 'file')} of a channel at most)"
    if started.queued:
        earlier = (
            f"It is also reading the {_plural(started.queued, 'file')} already here that it "
            f"had not indexed {limit}; progress is in the thread of its message here."
        )
    elif started.listed:
        earlier = f"The files already here are indexed {limit}."
    else:
        earlier = "There are no files here yet that folio can read."
    return notice(f"{now} {earlier}")


def backfill_intro() -> RenderedMessage:
    """The channel message whose thread shows a backfill's progress."""
    return notice(
        "folio is reading the files already shared in this channel, so it can answer from "
        "them too. Progress is in the thread."
    )


def backfill_progress(progress: BackfillProgress) -> RenderedMessage:
    """``Indexing 37 files already here: 12 done, 1 failed``, and why files failed."""
    verb = "Indexed" if progress.finished else "Indexing"
    line = (
        f"{verb} {_plural(progress.total, 'file')} already here: {progress.done} done, "
        f"{progress.failed} failed"
    )
    why = [
        f"• {mrkdwn_safe(clip(name, 150))}: {mrkdwn_safe(clip(reason, 300))}"
        for name, reason in progress.failures
    ]
    return RenderedMessage(text=line, blocks=[section("\n".join([line, *why]))])


def status_message(status: Status) -> RenderedMessage:
    """`/folio status`: the index, the queue, this channel's switches and the set-up."""
    indexing = {"configured": "on (FOLIO_INDEX_CHANNELS)", "on": "on", "off": "off"}
    model = (
        f"{mrkdwn_safe(status.answer_model)} (configured)"
        if status.answer_model is not None
        else "none configured; answers quote the best passages"
    )
    store = "embedded Qdrant Edge" if status.vector_store == "embedded" else "Qdrant server"
    lines = [
        "*folio status*",
        f"• Indexed in this workspace: {status.documents} documents, {status.pages} pages",
        f"• Files waiting to be indexed: {status.pending_jobs}",
        f"• Indexing files shared here: {indexing[status.indexing]}",
        f"• Answering thread follow-ups here: {'on' if status.followups else 'off'}",
        f"• Answering questions here without a mention: {'on' if status.autoanswer else 'off'}",
        f"• Answer model: {model}",
        f"• Vector store: {store}",
    ]
    if status.workers is not None:
        lines.append(f"• {_workers_line(status.workers, status.vector_store)}")
    return notice("\n".join(lines))


def _workers_line(workers: int, store: str) -> str:
    if workers:
        return f"Workers running: {workers}"
    if store == "embedded":
        return "Workers running: none; this process indexes shared files itself"
    return (
        ":warning: No `folio worker` is running: shared files wait in the queue until one starts."
    )


def home_tab(home: Home) -> dict[str, Any]:
    """App Home for one person: public documents, indexing channels, their recent questions."""
    activity = [
        (f"{answer.created_at:%Y-%m-%d %H:%M}", _activity(answer.question, answer.mode))
        for answer in home.recent
    ]
    view = home_view(home.documents, home.indexing_channels, activity)
    view["blocks"] = (view["blocks"] + week_blocks(home.feedback))[:MAX_HOME_BLOCKS]
    return view


def _activity(question: str, mode: str) -> str:
    how = {"model": "answered", "extractive": "quoted passages", "nothing_found": "nothing found"}
    return f"You asked “{question}” ({how.get(mode, mode)})"


def home_view(
    docs: Sequence[Document],
    indexing_channels: Sequence[str],
    recent: Sequence[tuple[str, str]],
) -> dict[str, Any]:
    """The App Home tab: indexed documents, indexing channels, recent activity (<=100 blocks)."""
    channels = [f"• {channel_ref(c)}" for c in indexing_channels]
    activity = [
        f"• *{mrkdwn_safe(clip(when, 40))}* {mrkdwn_safe(clip(what, 300))}" for when, what in recent
    ]
    blocks: list[Block] = [
        header("folio"),
        section("Ask about your documents: @mention folio, DM it, or use `/folio ask`."),
        {"type": "divider"},
        header(f"Indexed documents ({len(docs)})"),
        *(
            line_sections([document_line(d) for d in docs], max_blocks=40, max_chars=24_000)
            or [section("Nothing is indexed yet.")]
        ),
        {"type": "divider"},
        header("Indexing channels"),
        *(
            line_sections(channels, max_blocks=10, max_chars=12_000)
            or [section("None yet. Run `/folio index here` in a channel to index it.")]
        ),
        {"type": "divider"},
        header("Recent activity"),
        *(
            line_sections(activity, max_blocks=20, max_chars=12_000)
            or [section("No activity yet.")]
        ),
    ]
    return {"type": "home", "blocks": blocks[:MAX_HOME_BLOCKS]}


def _page(file_name: str, number: int) -> str:
    """ "p. 4", or "slide 4" and "sheet page 4" for decks and workbooks."""
    return page_label(file_name, number, short=True)
