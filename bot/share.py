"""Private answers (`/folio ask`) and their "Share in channel" button.

A private answer is a note only the asker sees: the answer, its sources and a button.
Ephemeral messages cannot carry files, so the note says the cited pages come with the
shared copy. The button posts the answer for everyone, once however often it is clicked:
a top-level message in the channel, then (in its thread) the rest of a long answer, the
cited pages and any notes about pages left out, like a mention's answer.
"""

from __future__ import annotations

import logging

from bot import render
from bot.blocks import MAX_BLOCKS, Block, RenderedMessage, clip, context, fallback, user_ref
from bot.gateway import SlackGateway
from bot.mrkdwn import mrkdwn_safe
from bot.replies import Reply
from rag import Answer, Answered, EventLog, Questions

logger = logging.getLogger(__name__)

SHARE_ACTION = "folio_share"
SHARE_BLOCK_ID = "folio_share"
GONE = "That answer is no longer on record, so folio cannot share it; ask again."


def share_block(answer_id: str, pages: int) -> list[Block]:
    """The "Share in channel" button, and what sharing adds (the page images)."""
    button = {
        "type": "button",
        "action_id": SHARE_ACTION,
        "text": {"type": "plain_text", "text": "Share in channel", "emoji": True},
        "value": answer_id,
        "style": "primary",
        "accessibility_label": "Post this answer in the channel for everyone",
    }
    only_you = "Only you can see this answer."
    if pages:
        noun = "page" if pages == 1 else "pages"
        only_you += f" Sharing it posts the {pages} cited {noun} as images in its thread."
    return [
        context(only_you),
        {"type": "actions", "block_id": SHARE_BLOCK_ID, "elements": [button]},
    ]


def private_messages(answered: Answered) -> list[RenderedMessage]:
    """The answer as notes for the asker; the last carries the Share button."""
    messages = render.answer_messages(answered.answer, answer_id=answered.answer_id)
    last = messages[-1]
    blocks = [*last.blocks, *share_block(answered.answer_id, len(answered.pages))]
    if len(blocks) > MAX_BLOCKS:
        return [*messages, RenderedMessage(text=last.text, blocks=blocks[len(last.blocks) :])]
    return [*messages[:-1], RenderedMessage(text=last.text, blocks=blocks)]


def shared_messages(answer: Answer, answer_id: str, user_id: str) -> list[RenderedMessage]:
    """The answer as everyone sees it once shared, headed by who asked what."""
    asked = mrkdwn_safe(clip(answer.question, 300))
    intro = context(f"{user_ref(user_id)} asked folio: {asked}")
    messages = render.answer_messages(answer, answer_id=answer_id)
    first = messages[0]
    blocks = [intro, *first.blocks]
    if len(blocks) > MAX_BLOCKS:
        header = RenderedMessage(text=fallback([intro], "folio's answer"), blocks=[intro])
        return [header, *messages]
    return [RenderedMessage(text=first.text, blocks=blocks), *messages[1:]]


class Sharer:
    """Posts a private answer for everyone when its asker clicks Share, once."""

    def __init__(self, *, questions: Questions, events: EventLog, gateway: SlackGateway) -> None:
        self._questions = questions
        self._events = events
        self._gateway = gateway

    async def share(self, answer_id: str, *, team_id: str, channel_id: str, user_id: str) -> None:
        """Post the answer ``answer_id`` in ``channel_id``; a second click does nothing."""
        if not await self._events.first_time(f"share:{answer_id}", team_id):
            logger.info("answer %s already shared", answer_id)
            return
        answered = await self._questions.shared(answer_id, user_id)
        if answered is None:
            await self._gateway.send(Reply(channel_id, user=user_id), render.error_message(GONE))
            return
        first, *rest = shared_messages(answered.answer, answer_id, user_id)
        ts = await self._gateway.send(Reply(channel_id), first)
        assert ts is not None
        thread = Reply(channel_id, ts)
        for message in rest:
            await self._gateway.send(thread, message)
        await self._questions.posted(answer_id, ts)
        uploaded = await self._gateway.upload_pages(
            channel=channel_id, thread_ts=ts, images=answered.pages
        )
        await self._questions.uploaded(answer_id, uploaded)
        if answered.page_notes:
            await self._gateway.send(thread, render.page_notes_message(answered.page_notes))
        logger.info("shared answer %s in %s as %s", answer_id, channel_id, ts)
