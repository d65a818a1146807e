"""Safety over signed HTTP: retries, signatures, permissions, downloads, mentions, bots."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest

from rag.types import Audience
from tests.bot.harness import (
    BOT_TOKEN,
    DOCS_CHANNEL,
    SECRET,
    Bot,
    pdf_bytes,
    png_bytes,
    text_of,
)
from tests.fakes.slack import (
    BOT_ID,
    BOT_USER_ID,
    CHANNEL_ID,
    app_mention_event,
    event_callback,
    event_request,
    message_event,
    sign,
)

pytestmark = pytest.mark.e2e

PAYLOAD = ["The payload size of the report is 42 kilobytes, measured in March."]
SECRET_PLAN = ["Project Nightingale acquires the lighthouse company for 9 million euros."]
PUBLIC_NOTE = ["The cafeteria opens at nine and serves soup on Fridays."]


async def _index(
    bot: Bot, name: str, pages: list[str], channel: str = DOCS_CHANNEL, kind: str | None = "channel"
) -> str:
    event, _ = await bot.share(
        name, pdf_bytes(pages), "application/pdf", channel=channel, channel_type=kind
    )
    line = await bot.indexed(channel, event["ts"])
    assert line.params["text"].startswith("Indexed"), line.params
    return str(event["ts"])


async def test_the_same_event_delivered_three_times_with_retry_headers_is_answered_once(
    http_bot: Bot,
):
    await _index(http_bot, "q3.pdf", PAYLOAD)
    mention = app_mention_event("what is the payload size?")
    body = event_callback(mention)

    for retry in (None, 1, 2):
        await http_bot.deliver(body, retry_num=retry)
    await http_bot.done(CHANNEL_ID, mention["ts"])
    await http_bot.inflight.idle(10)

    assert http_bot.statuses[-3:] == [200, 200, 200]
    assert len(http_bot.answers(CHANNEL_ID, mention["ts"])) == 1
    assert len(http_bot.fake.uploads_in(CHANNEL_ID, mention["ts"])) == 1
    assert http_bot.metrics.value("folio_events_deduplicated_total", type="app_mention") == 2


async def test_an_event_is_acked_while_the_database_is_busy_and_answered_once_after(
    http_bot: Bot,
):
    await _index(http_bot, "q3.pdf", PAYLOAD)
    database = http_bot.services.engine.url
    if database.get_backend_name() != "sqlite":
        pytest.skip("holds SQLite's write lock")
    mention = app_mention_event("what is the payload size?")
    # Another writer holds the database: the dedupe insert (and all after it) must wait.
    blocker = sqlite3.connect(str(database.database), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        started = time.perf_counter()
        await http_bot.event(mention)
        acked_s = time.perf_counter() - started
        await asyncio.sleep(0.5)
        assert not http_bot.answers(CHANNEL_ID, mention["ts"])  # it did wait for the database
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    await http_bot.done(CHANNEL_ID, mention["ts"])
    await http_bot.inflight.idle(10)

    assert http_bot.statuses[-1] == 200
    assert acked_s < 1.0, f"the ack took {acked_s:.2f} s"
    assert len(http_bot.answers(CHANNEL_ID, mention["ts"])) == 1


async def test_a_mention_also_delivered_as_a_channel_message_is_answered_once(http_bot: Bot):
    await _index(http_bot, "q3.pdf", PAYLOAD)
    mention = app_mention_event("what is the payload size?")
    as_message = message_event(mention["text"], ts=mention["ts"])

    await http_bot.event(as_message)
    await http_bot.event(mention)
    await http_bot.done(CHANNEL_ID, mention["ts"])
    await http_bot.inflight.idle(10)

    assert len(http_bot.answers(CHANNEL_ID, mention["ts"])) == 1


async def test_a_bad_signature_or_a_six_minute_old_request_gets_401_and_nothing_runs(
    http_bot: Bot,
):
    mention = app_mention_event("what is the payload size?")
    body = event_callback(mention)
    raw, headers = event_request(body, SECRET)
    forged = {**headers, **sign(raw, "not-the-secret")}
    stale = {**headers, **sign(raw, SECRET, timestamp=int(time.time()) - 6 * 60)}

    assert await http_bot.post(raw, forged) == 401
    assert await http_bot.post(raw, stale) == 401
    assert [r.method for r in http_bot.fake.requests] == []

    # The refused deliveries did not use up the event id: the genuine one is answered.
    await http_bot.deliver(body)
    await http_bot.done(CHANNEL_ID, mention["ts"])
    assert len(http_bot.answers(CHANNEL_ID, mention["ts"])) == 1


async def test_a_document_shared_in_a_private_channel_is_never_cited_in_another_channel(
    http_bot: Bot,
):
    http_bot.fake.add_channel("G0SECRET", "secret", is_private=True)
    await http_bot.command("index here", channel="G0SECRET")
    await http_bot.fake.wait_for("chat.postEphemeral", lambda c: "index" in c.params["text"])
    # The event does not say the channel is private: folio asks conversations.info.
    await _index(http_bot, "nightingale.pdf", SECRET_PLAN, channel="G0SECRET", kind=None)
    await _index(http_bot, "cafeteria.pdf", PUBLIC_NOTE)

    elsewhere = app_mention_event("who does project nightingale acquire?")
    await http_bot.event(elsewhere)
    await http_bot.done(CHANNEL_ID, elsewhere["ts"])
    inside = app_mention_event("who does project nightingale acquire?", channel="G0SECRET")
    await http_bot.event(inside)
    await http_bot.done("G0SECRET", inside["ts"])

    [answer] = http_bot.answers(CHANNEL_ID, elsewhere["ts"])
    assert "nightingale.pdf" not in text_of(answer) and "lighthouse" not in text_of(answer)
    for upload in http_bot.fake.uploads_in(CHANNEL_ID):
        assert all(not f["name"].startswith("nightingale") for f in upload["files"])
    [private_answer] = http_bot.answers("G0SECRET", inside["ts"])
    assert "nightingale.pdf" in text_of(private_answer)
    visible = await http_bot.services.catalog.visible(Audience(http_bot.fake.team_id, "G0SECRET"))
    assert {d.file_name: d.scope.channel_private for d in visible} == {
        "nightingale.pdf": True,
        "cafeteria.pdf": False,
    }
    assert http_bot.fake.calls("conversations.info")[0].params["channel"] == "G0SECRET"


async def test_a_download_answered_with_a_login_page_gets_a_clear_threaded_error(http_bot: Bot):
    event, _ = await http_bot.share(
        "q3.pdf", pdf_bytes(PAYLOAD), "application/pdf", login_page=True
    )

    line = await http_bot.indexed(DOCS_CHANNEL, event["ts"])

    assert "Slack sent a login page instead of q3.pdf" in text_of(line)
    assert "files:read" in text_of(line)
    assert http_bot.fake.reactions[(DOCS_CHANNEL, event["ts"])] == ["x"]
    assert await http_bot.services.catalog.counts() == (0, 0)


async def test_a_file_on_a_host_that_is_not_allowed_never_receives_the_token(http_bot: Bot):
    event, _ = await http_bot.share(
        "q3.pdf", pdf_bytes(PAYLOAD), "application/pdf", host="localhost"
    )
    line = await http_bot.indexed(DOCS_CHANNEL, event["ts"])
    image = http_bot.fake.add_file("FPNG9", "shot.png", png_bytes(), "image/png", host="localhost")
    mention = app_mention_event("what is in this screenshot?", files=[image])
    await http_bot.event(mention)
    warning = await http_bot.fake.wait_for(
        "chat.postMessage", lambda c: c.params.get("thread_ts") == mention["ts"]
    )

    assert "not on a Slack file host folio trusts" in text_of(line)
    assert http_bot.fake.downloads == []
    assert all(BOT_TOKEN not in d.path for d in http_bot.fake.downloads)
    assert "shot.png is not on a Slack file host folio trusts" in text_of(warning)


async def test_messages_from_bots_and_edits_are_ignored(http_bot: Bot):
    await _index(http_bot, "q3.pdf", PAYLOAD)
    dm = "D0ALICE"
    own = message_event("what is the payload size?", channel=dm, channel_type="im", bot_id=BOT_ID)
    own["user"] = BOT_USER_ID
    other = message_event("what is the payload size?", channel=dm, channel_type="im", bot_id="B0X")
    edited = message_event("what is the payload size?", channel=dm, channel_type="im")
    edited["subtype"] = "message_changed"

    for event in (own, other, edited):
        await http_bot.event(event)
    # A genuine DM afterwards is answered, so the ones before had every chance to be.
    genuine = message_event("what is the payload size?", channel=dm, channel_type="im")
    await http_bot.event(genuine)
    await http_bot.done(dm, genuine["ts"])
    await http_bot.inflight.idle(10)

    answered = {c.params.get("thread_ts") for c in http_bot.fake.calls("chat.postMessage")}
    assert genuine["ts"] in answered
    assert not {own["ts"], other["ts"], edited["ts"]} & answered


async def test_slacks_url_verification_challenge_is_answered(http_bot: Bot):
    body = {"token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
    raw, headers = event_request({**body, "type": "url_verification"}, SECRET)

    assert http_bot.http is not None
    response = await http_bot.http.post("/slack/events", data=raw, headers=headers)

    assert response.status == 200
    assert (await response.json()) == {"challenge": body["challenge"]}
