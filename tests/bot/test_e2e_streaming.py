"""Slack's status while folio works, and model answers streamed into the thread (over signed
HTTP, and Socket Mode for the streamed answer itself)."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from bot.render import answer_markdown
from rag.answer._prompts import ANSWER_SYSTEM
from rag.types import Answer
from tests.bot.harness import (
    DOCS_CHANNEL,
    Bot,
    openai_env,
    pdf_bytes,
    text_of,
    vision_responder,
)
from tests.fakes.openai_server import FakeOpenAI, Scripted
from tests.fakes.slack import CHANNEL_ID, USER_ID, Recorded, app_mention_event

pytestmark = pytest.mark.e2e

MakeBot = Callable[..., AbstractAsyncContextManager[Bot]]

# Page 1 opens with more than the 30 words every passage carries as its document's
# opening, so page 2's passages do not also read "payload size" (no near tie).
REPORT = [
    "Quarterly report of the platform team for the third quarter, prepared by the "
    "finance office for the review meeting in October, with figures from every region "
    "and notes from each department head on the work of the past three months. "
    "The payload size of the report is 42 kilobytes, measured in March.",
    "Revenue grew eleven percent in the third quarter, driven by subscriptions.",
]
SENTENCE = "The report measured a payload of 42 kilobytes in March, as its first page says. "
# Long enough for several chat.appendStream calls (slack_sdk sends every 256 characters).
LONG = [SENTENCE[i : i + 9] for i in range(0, len(SENTENCE), 9)] * 14 + [" [1]."]
HOSTILE = [
    "Folio says: the payload is 42 kilobytes [",
    "9] and revenue grew [1",
    "2][1]. Tell <!chan",
    "nel> and <@U0AD",
    "MIN> now; see https",
    "://evil.example",
    ".com for more. " + SENTENCE * 4,
    "Done [",
    "7].",
]


def answering(pieces: list[str]) -> Callable[[dict[str, Any]], str | Scripted]:
    """A fake model that streams ``pieces`` as its answer and answers the rest as usual."""

    def respond(request: dict[str, Any]) -> str | Scripted:
        if request["messages"][0]["content"] == ANSWER_SYSTEM:
            return Scripted(content="".join(pieces), pieces=pieces)
        return vision_responder(request)

    return respond


async def _index(bot: Bot) -> None:
    event, _ = await bot.share("q3.pdf", pdf_bytes(REPORT), "application/pdf")
    await bot.indexed(DOCS_CHANNEL, event["ts"])


async def _ask(bot: Bot, text: str = "what is the payload size?") -> dict[str, Any]:
    mention = app_mention_event(text)
    await bot.event(mention)
    await bot.done(CHANNEL_ID, mention["ts"])
    return mention


def _markdown(call: Recorded) -> str:
    """The text one stream call carried (``markdown_text`` or markdown chunks)."""
    if call.params.get("markdown_text") is not None:
        return str(call.params["markdown_text"])
    chunks = call.params.get("chunks") or []
    return "".join(c.get("text", "") for c in chunks if c.get("type") == "markdown_text")


def _stream_calls(bot: Bot) -> list[Recorded]:
    kinds = ("chat.startStream", "chat.appendStream", "chat.stopStream")
    return [c for c in bot.fake.requests if c.kind == "api" and c.method in kinds]


async def _stored(bot: Bot, thread: str) -> str:
    [turn] = await bot.services.answers.history(bot.fake.team_id, CHANNEL_ID, thread)
    return turn.answer


def _thread_messages(bot: Bot, thread: str) -> list[dict[str, Any]]:
    return [m for m in bot.fake.thread(CHANNEL_ID, thread) if m["ts"] != thread]


def _statuses(bot: Bot, thread: str) -> list[dict[str, Any]]:
    return [
        c.params
        for c in bot.fake.calls("assistant.threads.setStatus")
        if c.params.get("thread_ts") == thread
    ]


def _safe(text: str) -> str:
    return answer_markdown(Answer("q", text, "model"))


async def test_the_thread_shows_what_folio_is_doing_until_the_answer_clears_it(http_bot: Bot):
    await _index(http_bot)

    mention = await _ask(http_bot)

    shown = _statuses(http_bot, mention["ts"])
    assert {s["status"] for s in shown} == {"is reading your documents…"}
    assert [s["loading_messages"] for s in shown] == [
        ["Reading your question…"],
        ["Searching 1 document…"],
        ["Reading pages 1 and 2 of q3.pdf…"],
    ]
    assert (CHANNEL_ID, mention["ts"]) not in http_bot.fake.statuses  # the reply cleared it
    assert http_bot.fake.calls("reactions.add") == [] or all(
        c.params["timestamp"] != mention["ts"] for c in http_bot.fake.calls("reactions.add")
    )
    # No model key: the extractive answer is posted at once, never streamed.
    assert _stream_calls(http_bot) == []
    [answer] = http_bot.answers(CHANNEL_ID, mention["ts"])
    assert "42 kilobytes" in text_of(answer)


async def test_a_workspace_that_refuses_the_status_sees_the_eyes_reaction(http_bot: Bot):
    await _index(http_bot)
    http_bot.fake.refuse("assistant.threads.setStatus", "missing_scope")

    mention = await _ask(http_bot)

    added = [
        c for c in http_bot.fake.calls("reactions.add") if c.params["timestamp"] == mention["ts"]
    ]
    assert [c.params["name"] for c in added] == ["eyes"]
    assert http_bot.fake.reactions[(CHANNEL_ID, mention["ts"])] == []
    assert len(_statuses(http_bot, mention["ts"])) == 1  # tried once, then left alone
    assert len(http_bot.answers(CHANNEL_ID, mention["ts"])) == 1


async def test_a_failed_answer_clears_the_status_it_set(http_bot: Bot):
    await _index(http_bot)
    http_bot.fake.refuse("chat.postMessage", "internal_error")

    mention = app_mention_event("what is the payload size?")
    await http_bot.event(mention)
    await http_bot.done(CHANNEL_ID, mention["ts"])

    assert _statuses(http_bot, mention["ts"])[-1]["status"] == ""
    assert (CHANNEL_ID, mention["ts"]) not in http_bot.fake.statuses


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_a_model_answer_streams_in_several_appends_and_ends_with_sources_and_buttons(
    mode: str, make_bot: MakeBot, fake_openai: FakeOpenAI
):
    fake_openai.responder = answering(LONG)
    async with make_bot(mode, **openai_env(fake_openai.url)) as bot:
        await _index(bot)
        mention = await _ask(bot)
        stored = await _stored(bot, mention["ts"])

    calls = _stream_calls(bot)
    assert [c.method for c in calls][0] == "chat.startStream"
    assert [c.method for c in calls][-1] == "chat.stopStream"
    assert sum(c.method == "chat.appendStream" for c in calls) >= 2
    start = calls[0].params
    assert (start["thread_ts"], start["recipient_user_id"]) == (mention["ts"], USER_ID)
    streamed = "".join(_markdown(c) for c in calls)
    assert stored == "".join(LONG).strip()
    assert streamed == _safe(stored)
    [answer] = bot.answers(CHANNEL_ID, mention["ts"])
    assert answer.params["text"] == streamed
    blocks = json.dumps(answer.params["blocks"])
    assert "Sources" in blocks and "feedback_buttons" in blocks
    assert [m for m in _thread_messages(bot, mention["ts"]) if m.get("streaming")] == []
    assert bot.posted(CHANNEL_ID, mention["ts"]) == []  # no second copy; pages are uploads
    assert bot.fake.uploads_in(CHANNEL_ID, mention["ts"])
    assert (CHANNEL_ID, mention["ts"]) not in bot.fake.statuses


async def test_no_invalid_marker_mention_or_link_appears_in_any_piece_however_split(
    make_bot: MakeBot, fake_openai: FakeOpenAI
):
    fake_openai.responder = answering(HOSTILE)
    async with make_bot("http", **openai_env(fake_openai.url)) as bot:
        await _index(bot)
        mention = await _ask(bot)
        stored = await _stored(bot, mention["ts"])

    pieces = [_markdown(c) for c in _stream_calls(bot)]
    assert len([p for p in pieces if p]) >= 2
    for piece in pieces:
        for banned in ("[9]", "[12]", "[7]", "<!channel>", "<@U0ADMIN>", "<!", "<@", "https:"):
            assert banned not in piece, (banned, piece)
        assert "evil.example.com" not in piece
    assert "[9]" not in stored and "[12]" not in stored and "[7]" not in stored
    assert "".join(pieces) == _safe(stored)
    assert "@channel" in "".join(pieces).replace("\u200b", "")


async def test_a_refused_stream_posts_the_whole_answer_once(
    make_bot: MakeBot, fake_openai: FakeOpenAI
):
    fake_openai.responder = answering(LONG)
    async with make_bot("http", **openai_env(fake_openai.url)) as bot:
        bot.fake.refuse("chat.startStream", "not_allowed_token_type")
        await _index(bot)
        mention = await _ask(bot)
        stored = await _stored(bot, mention["ts"])

    assert [c.method for c in _stream_calls(bot)] == ["chat.startStream"]
    [answer] = bot.answers(CHANNEL_ID, mention["ts"])
    assert answer.params["text"] == _safe(stored)
    assert len(_thread_messages(bot, mention["ts"])) == 1


async def test_a_stream_that_expires_midway_ends_as_one_complete_answer(
    make_bot: MakeBot, fake_openai: FakeOpenAI
):
    fake_openai.responder = answering(LONG)
    async with make_bot("http", **openai_env(fake_openai.url)) as bot:
        bot.fake.refuse("chat.appendStream", "message_not_in_streaming_state", after=1)
        await _index(bot)
        mention = await _ask(bot)
        stored = await _stored(bot, mention["ts"])

    [message] = _thread_messages(bot, mention["ts"])
    [update] = bot.fake.calls("chat.update")
    assert update.params["ts"] == message["ts"]
    assert message["text"] == _safe(stored)
    assert "feedback_buttons" in json.dumps(message["blocks"])
    assert "42 kilobytes" in json.dumps(message["blocks"])
    assert bot.posted(CHANNEL_ID, mention["ts"]) == []
