"""Answers that behave like a Slack-native assistant, over signed HTTP against the fake Slack:
private `/folio ask` and its Share button, rate limits, help channels (autoanswer)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from bot.share import SHARE_ACTION, SHARE_BLOCK_ID
from tests.bot.harness import DOCS_CHANNEL, Bot, pdf_bytes, text_of
from tests.fakes.slack import (
    BOT_USER_ID,
    CHANNEL_ID,
    USER_ID,
    Recorded,
    app_mention_event,
    block_actions_payload,
    message_event,
)

pytestmark = pytest.mark.e2e

REPORT = [
    "The payload size of the report is 42 kilobytes, measured in March.",
    "Revenue grew eleven percent in the third quarter, driven by subscriptions.",
]
BOB = "U0BOB"
MakeBot = Callable[..., AbstractAsyncContextManager[Bot]]


async def _index(bot: Bot, name: str = "q3.pdf") -> None:
    event, _ = await bot.share(name, pdf_bytes(REPORT), "application/pdf")
    await bot.indexed(DOCS_CHANNEL, event["ts"])


def _share_button(call: Recorded) -> dict[str, Any] | None:
    for block in call.params.get("blocks") or []:
        if block.get("block_id") == SHARE_BLOCK_ID:
            return dict(block["elements"][0])
    return None


def _has_share_button(call: Recorded) -> bool:
    return _share_button(call) is not None


def _top_level(bot: Bot, channel: str) -> list[Recorded]:
    return [
        c
        for c in bot.fake.calls("chat.postMessage")
        if c.params.get("channel") == channel and not c.params.get("thread_ts")
    ]


async def _note(bot: Bot, text: str, *, user: str = USER_ID, channel: str = CHANNEL_ID) -> str:
    before = len(bot.ephemerals(user))
    await bot.command(text, user=user, channel=channel)
    await bot.fake.until(
        lambda: True if len(bot.ephemerals(user)) > before else None, 10, lambda: text
    )
    return bot.ephemerals(user)[before]


# private answers -------------------------------------------------------------------


async def test_folio_ask_answers_privately_with_sources_and_a_share_button(http_bot: Bot):
    await _index(http_bot)

    await http_bot.command("ask what is the payload size?")
    note = await http_bot.fake.wait_for("chat.postEphemeral", _has_share_button)
    await http_bot.inflight.idle(10)

    assert note.params["user"] == USER_ID and note.params["channel"] == CHANNEL_ID
    assert "42 kilobytes" in text_of(note) and "q3.pdf" in text_of(note)
    assert "Only you can see this answer" in text_of(note)
    assert "cited page as images" in text_of(note)
    assert http_bot.fake.calls("chat.postMessage") == [
        c for c in http_bot.fake.calls("chat.postMessage") if c.params["channel"] == DOCS_CHANNEL
    ]
    assert http_bot.fake.uploads_in(CHANNEL_ID) == []


async def test_share_posts_the_private_answer_once_with_its_pages_in_the_thread(http_bot: Bot):
    await _index(http_bot)
    await http_bot.command("ask what is the payload size?")
    note = await http_bot.fake.wait_for("chat.postEphemeral", _has_share_button)
    button = _share_button(note)
    assert button is not None and button["action_id"] == SHARE_ACTION
    click = block_actions_payload(
        SHARE_ACTION, button["value"], block_id=SHARE_BLOCK_ID, ephemeral=True
    )

    await http_bot.click(click)
    await http_bot.click(click)
    shared = await http_bot.fake.wait_for(
        "chat.postMessage",
        lambda c: c.params["channel"] == CHANNEL_ID and not c.params.get("thread_ts"),
    )
    await http_bot.fake.until(
        lambda: http_bot.fake.uploads_in(CHANNEL_ID, shared.response["ts"]) or None,
        10,
        lambda: "no pages uploaded under the shared answer",
    )
    await http_bot.inflight.idle(10)

    assert _top_level(http_bot, CHANNEL_ID) == [shared]
    assert f"<@{USER_ID}> asked folio: what is the payload size?" in text_of(shared)
    assert "42 kilobytes" in text_of(shared)
    [upload] = http_bot.fake.uploads_in(CHANNEL_ID)
    assert [f["name"] for f in upload["files"]] == ["q3-p1.png"]
    # A reply in the shared answer's thread is a follow-up folio answers.
    follow_up = message_event("and how much did revenue grow?", thread_ts=shared.response["ts"])
    await http_bot.event(follow_up)
    await http_bot.done(CHANNEL_ID, follow_up["ts"])
    assert "eleven percent" in text_of(http_bot.answers(CHANNEL_ID, shared.response["ts"])[-1])


async def test_folio_ask_public_posts_for_everyone_as_before(http_bot: Bot):
    await _index(http_bot)

    await http_bot.command("ask --public what is the payload size?")
    announced = await http_bot.fake.wait_for(
        "chat.postMessage", lambda c: c.params["channel"] == CHANNEL_ID
    )
    await http_bot.done(CHANNEL_ID, announced.response["ts"])

    assert announced.params["text"] == f"<@{USER_ID}> asked: what is the payload size?"
    [answer] = http_bot.answers(CHANNEL_ID, announced.response["ts"])
    assert "42 kilobytes" in text_of(answer) and _share_button(answer) is None
    assert len(http_bot.fake.uploads_in(CHANNEL_ID, announced.response["ts"])) == 1
    assert http_bot.ephemerals() == []


# rate limits -----------------------------------------------------------------------


async def test_a_question_over_the_rate_limit_gets_a_private_note_saying_when_to_retry(
    make_bot: MakeBot,
):
    async with make_bot("http", FOLIO_RATE_USER_PER_MIN="1") as bot:
        await _index(bot)
        first = app_mention_event("what is the payload size?")
        await bot.event(first)
        await bot.done(CHANNEL_ID, first["ts"])
        second = app_mention_event("how much did revenue grow?")
        await bot.event(second)
        note = await bot.fake.wait_for("chat.postEphemeral")
        await bot.inflight.idle(10)

        assert note.params["user"] == USER_ID and note.params["channel"] == CHANNEL_ID
        assert "ask again in" in note.params["text"]
        assert len(bot.answers(CHANNEL_ID, first["ts"])) == 1
        assert bot.posted(CHANNEL_ID, second["ts"]) == []
        assert bot.metrics.value("folio_questions_limited_total", source="mention") == 1


async def test_the_channel_limit_counts_everyone_in_the_channel(make_bot: MakeBot):
    async with make_bot("http", FOLIO_RATE_CHANNEL_PER_MIN="1") as bot:
        bot.fake.add_user(BOB)
        await _index(bot)
        first = app_mention_event("what is the payload size?")
        await bot.event(first)
        await bot.done(CHANNEL_ID, first["ts"])
        await bot.event(app_mention_event("how much did revenue grow?", user=BOB))
        note = await bot.fake.wait_for("chat.postEphemeral")

        assert note.params["user"] == BOB and "ask again in" in note.params["text"]


# help channels ---------------------------------------------------------------------


async def test_autoanswer_answers_top_level_questions_and_ignores_statements_threads_and_bots(
    http_bot: Bot,
):
    await _index(http_bot)
    switched = await _note(http_bot, "autoanswer on")
    question = message_event("what is the payload size?")
    worded = message_event("how much did revenue grow")
    statement = message_event("The payload is large.")
    in_thread = message_event("what is the payload size?", thread_ts="1700000000.000001")
    from_bot = message_event("what is the payload size?", bot_id="B0OTHER", user=None)
    mentioned = message_event(f"<@{BOT_USER_ID}> what is the payload size?")

    for event in (question, worded, statement, in_thread, from_bot, mentioned):
        await http_bot.event(event)
    await http_bot.done(CHANNEL_ID, question["ts"])
    await http_bot.done(CHANNEL_ID, worded["ts"])
    await http_bot.inflight.idle(10)

    assert "answers questions posted in this channel without a mention" in switched
    assert "42 kilobytes" in text_of(http_bot.answers(CHANNEL_ID, question["ts"])[0])
    assert "eleven percent" in text_of(http_bot.answers(CHANNEL_ID, worded["ts"])[0])
    for ignored in (statement, in_thread, from_bot, mentioned):
        assert http_bot.posted(CHANNEL_ID, ignored["ts"]) == []
    assert http_bot.posted(CHANNEL_ID, "1700000000.000001") == []
    assert (
        http_bot.metrics.value("folio_questions_answered_total", source="auto", mode="extractive")
        == 2
    )


async def test_questions_are_not_answered_unmentioned_until_autoanswer_is_on_and_after_off(
    http_bot: Bot,
):
    http_bot.fake.add_user(BOB)
    await _index(http_bot)
    refused = await _note(http_bot, "autoanswer on", user=BOB)
    before = message_event("what is the payload size?")
    await http_bot.event(before)
    await _note(http_bot, "autoanswer on")
    await _note(http_bot, "autoanswer off")
    after = message_event("what is the payload size?")
    await http_bot.event(after)
    await http_bot.inflight.idle(10)

    assert "Only workspace admins and owners can turn answering questions here" in refused
    assert http_bot.posted(CHANNEL_ID, before["ts"]) == []
    assert http_bot.posted(CHANNEL_ID, after["ts"]) == []
    assert not await http_bot.services.folio.channels.autoanswers(http_bot.fake.team_id, CHANNEL_ID)
