"""The core flows over both transports: signed HTTP requests and Socket Mode envelopes."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import pytest

from rag.answer._prompts import ANSWER_SYSTEM, DESCRIBE_SYSTEM
from tests.bot.harness import (
    BOT_TOKEN,
    DOCS_CHANNEL,
    PICTURE_DESCRIPTION,
    Bot,
    openai_env,
    pdf_bytes,
    png_bytes,
    text_of,
)
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import CHANNEL_ID, app_mention_event, next_ts

pytestmark = pytest.mark.e2e

# Page 1 opens with more than the 30 words every passage carries as its document's
# opening, so page 2's passages do not also read "payload size" (no near tie).
REPORT = [
    "Quarterly report of the platform team for the third quarter, prepared by the "
    "finance office for the review meeting in October, with figures from every region "
    "and notes from each department head on the work of the past three months. "
    "The payload size of the report is 42 kilobytes, measured in March.",
    "Revenue grew eleven percent in the third quarter, driven by subscriptions.",
]


@pytest.fixture(params=["http", "socket"])
async def bot(
    request: pytest.FixtureRequest, make_bot: Callable[..., AbstractAsyncContextManager[Bot]]
) -> AsyncIterator[Bot]:
    """The bot over each transport, with extractive answers."""
    async with make_bot(request.param) as running:
        yield running


async def test_a_pdf_shared_in_an_indexing_channel_is_indexed_and_confirmed_in_its_thread(
    bot: Bot,
):
    event, info = await bot.share("q3.pdf", pdf_bytes(REPORT), "application/pdf")

    line = await bot.indexed(DOCS_CHANNEL, event["ts"])

    assert line.params["text"] == "Indexed q3.pdf: 2 pages, 0 figures"
    assert bot.fake.reactions[(DOCS_CHANNEL, event["ts"])] == ["white_check_mark"]
    [document] = await bot.services.catalog.by_slack_file(bot.fake.team_id, info["id"])
    assert (document.page_count, document.uploader_id) == (2, event["user"])
    assert document.permalink == info["permalink"] and not document.scope.channel_private
    [download] = bot.fake.downloads
    assert download.authorization == f"Bearer {BOT_TOKEN}"


async def test_a_mention_about_an_indexed_pdf_gets_one_threaded_answer_with_a_page_image(
    bot: Bot,
):
    shared, info = await bot.share("q3.pdf", pdf_bytes(REPORT), "application/pdf")
    await bot.indexed(DOCS_CHANNEL, shared["ts"])

    mention = app_mention_event("what is the payload size of the report?")
    await bot.event(mention)
    await bot.done(CHANNEL_ID, mention["ts"])

    [answer] = bot.answers(CHANNEL_ID, mention["ts"])
    said = text_of(answer)
    assert "42 kilobytes" in said and "Sources" in said
    assert f"<{info['permalink']}|q3.pdf>, p. 1" in said
    [upload] = bot.fake.uploads_in(CHANNEL_ID, mention["ts"])
    assert upload["files"][0]["name"] == "q3-p1.png"
    assert upload["files"][0]["data"].startswith(b"\x89PNG")
    assert len(bot.fake.calls("files.completeUploadExternal")) == 1
    assert (CHANNEL_ID, mention["ts"]) not in bot.fake.statuses  # the answer cleared it
    assert (CHANNEL_ID, mention["ts"]) not in bot.fake.reactions  # no 👀: the status showed


async def test_slash_ask_with_the_word_payload_reaches_the_answer_path(bot: Bot):
    shared, _ = await bot.share("q3.pdf", pdf_bytes(REPORT), "application/pdf")
    await bot.indexed(DOCS_CHANNEL, shared["ts"])

    await bot.command("ask what is the payload size of the report")
    await bot.command("ask --public what is the payload size of the report")

    note = await bot.fake.wait_for("chat.postEphemeral", lambda c: "42 kilobytes" in text_of(c))
    announced = await bot.fake.wait_for(
        "chat.postMessage", lambda c: "asked: what is the payload size" in c.params["text"]
    )
    thread = announced.response["ts"]
    await bot.done(CHANNEL_ID, thread)
    assert note.params["user"] == "U0ALICE" and note.params["channel"] == CHANNEL_ID
    [answer] = bot.answers(CHANNEL_ID, thread)
    assert "42 kilobytes" in text_of(answer)
    assert announced.params["text"].startswith("<@U0ALICE> asked:")
    assert bot.fake.uploads_in(CHANNEL_ID, thread)


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_a_mention_with_an_attached_png_sends_the_picture_to_the_model(
    mode: str,
    make_bot: Callable[..., AbstractAsyncContextManager[Bot]],
    fake_openai: FakeOpenAI,
):
    async with make_bot(mode, **openai_env(fake_openai.url)) as bot:
        shared, _ = await bot.share("q3.pdf", pdf_bytes(REPORT), "application/pdf")
        await bot.indexed(DOCS_CHANNEL, shared["ts"])
        picture = png_bytes()
        image = bot.fake.add_file("FPNG1", "chart.png", picture, "image/png")
        mention = app_mention_event("what does this chart show?", files=[image], ts=next_ts())

        await bot.event(mention)
        await bot.done(CHANNEL_ID, mention["ts"])

    [download] = [d for d in bot.fake.downloads if "FPNG1" in d.path]
    assert download.authorization == f"Bearer {BOT_TOKEN}"
    [describe] = [r for r in fake_openai.requests if r.messages[0]["content"] == DESCRIBE_SYSTEM]
    encoded = base64.b64encode(picture).decode()
    assert describe.image_urls() == [f"data:image/png;base64,{encoded}"]
    [asked] = [r for r in fake_openai.requests if r.messages[0]["content"] == ANSWER_SYSTEM]
    assert PICTURE_DESCRIPTION in asked.text()
    [answer] = bot.answers(CHANNEL_ID, mention["ts"])
    assert "42 kilobytes" in text_of(answer)
