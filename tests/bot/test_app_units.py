"""The bot's small parts: message routing, questions, metrics text, replies, the client."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp

from bot.ask import SlackQuestion
from bot.cli import slack_client
from bot.commands import split_command
from bot.files import kind_of
from bot.listeners.messages import classify
from bot.metrics import Metrics, watch_event_loop
from bot.replies import Reply, reply_for
from rag import Settings
from tests.bot.harness import BOT_TOKEN
from tests.fakes.slack import (
    BOT_ID,
    BOT_USER_ID,
    FakeSlack,
    app_mention_event,
    block_actions_payload,
    event_callback,
    message_event,
    slash_command_body,
)


def test_messages_are_classified_the_way_folio_acts_on_them():
    dm = message_event("hi", channel="D1", channel_type="im")
    thread = message_event("and?", thread_ts="1.1")
    shared = message_event(f"<@{BOT_USER_ID}> the report", files=[{"id": "F1"}])
    mention = message_event(f"<@{BOT_USER_ID}> what?", thread_ts="1.1")
    own = message_event("hi", bot_id=BOT_ID)
    edited = message_event("hi", subtype="message_changed")
    joined = message_event("joined", subtype="channel_join")
    top_level = message_event("lunch?")

    kinds = [
        classify(e, BOT_USER_ID, indexing=True) for e in (dm, thread, shared, mention, top_level)
    ]
    ignored = [classify(e, BOT_USER_ID, indexing=True) for e in (own, edited, joined)]

    assert kinds == ["dm", "thread", "index", "mention", "top"]
    assert ignored == ["ignore"] * 3
    assert classify(shared, BOT_USER_ID, indexing=False) == "mention"


def test_a_dm_that_mentions_folio_is_still_a_question():
    dm = message_event(f"<@{BOT_USER_ID}> hi", channel="D1", channel_type="im")

    assert classify(dm, BOT_USER_ID, indexing=False) == "dm"


def test_a_question_from_a_mention_drops_the_mention_and_knows_its_thread():
    top = app_mention_event("what   is x?")
    reply = app_mention_event("and y?", thread_ts="1.000001")

    first = SlackQuestion.from_event(top, team_id="T1", source="mention", bot_user_id=BOT_USER_ID)
    second = SlackQuestion.from_event(
        reply, team_id="T1", source="mention", bot_user_id=BOT_USER_ID
    )

    assert (first.text, first.thread_ts, first.in_thread) == ("what is x?", top["ts"], False)
    assert (second.text, second.thread_ts, second.in_thread) == ("and y?", "1.000001", True)


def test_slash_command_text_splits_into_subcommand_and_argument():
    assert split_command("  Ask what is the payload size ") == ("ask", "what is the payload size")
    assert split_command("") == ("help", "")


def test_only_pdfs_and_images_are_readable():
    assert kind_of({"name": "q3.pdf", "mimetype": "application/pdf"}) == "pdf"
    assert kind_of({"name": "shot.png", "mimetype": "image/png"}) == "image"
    assert kind_of({"name": "scan.tiff"}) == "image"
    assert kind_of({"name": "notes.docx", "mimetype": "application/msword"}) == "document"
    assert kind_of({"name": "deck.pptx", "mimetype": "application/octet-stream"}) == "presentation"
    assert kind_of({"name": "notes.md", "mimetype": "text/plain"}) == "text"
    assert kind_of({"name": "photos.zip", "mimetype": "application/zip"}) is None
    assert kind_of({"name": "fake.pdf", "mimetype": "text/html"}) is None


def test_replies_go_to_the_event_thread_or_privately_to_the_person():
    event = event_callback(app_mention_event("hi", thread_ts="1.5"))
    command = slash_command_body(text="docs")
    click = block_actions_payload("folio_feedback_up", "a1", thread_ts="2.5")

    assert reply_for(event) == Reply(event["event"]["channel"], "1.5")
    assert reply_for(command) == Reply(command["channel_id"], user=command["user_id"])
    assert reply_for(click) == Reply("C0GENERAL", "2.5", user="U0ALICE")
    assert reply_for({"type": "url_verification"}) is None


def test_metrics_render_counters_and_summaries_in_prometheus_text():
    metrics = Metrics()
    metrics.inc("folio_events_received_total", type="app_mention")
    metrics.inc("folio_events_received_total", type="app_mention")
    metrics.inc("folio_errors_total", kind='Odd"Name')
    for seconds in (0.5, 1.5, 2.5):
        metrics.observe("folio_answer_seconds", seconds)

    text = metrics.render()

    assert 'folio_events_received_total{type="app_mention"} 2' in text
    assert 'folio_errors_total{kind="Odd\\"Name"} 1' in text
    assert 'folio_answer_seconds{quantile="0.5"} 1.5' in text
    assert "folio_answer_seconds_sum 4.5\nfolio_answer_seconds_count 3" in text
    assert 'folio_ingest_seconds{quantile="0.9"} NaN' in text
    assert "# TYPE folio_ingest_total counter" in text


async def test_the_entry_points_client_retries_a_rate_limited_call(
    fake_slack: FakeSlack, tmp_path: Path
):
    settings = Settings.from_env(
        {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_API_URL": fake_slack.api_url,
            "FOLIO_DATA_DIR": str(tmp_path),
        }
    )
    # Retry-After: 0 keeps the retry and drops the wait; slack_sdk still adds up to 1 s of
    # jitter, whose sleep cannot be faked without patching the SDK.
    fake_slack.fail_next("chat.postMessage", retry_after=0)

    async with aiohttp.ClientSession() as session:
        client = slack_client(settings, session)
        response = await client.chat_postMessage(channel="C1", text="hello")

    assert response["ok"] is True
    assert len(fake_slack.calls("chat.postMessage")) == 2
    assert {type(h).__name__ for h in client.retry_handlers} == {
        "AsyncConnectionErrorRetryHandler",
        "AsyncRateLimitErrorRetryHandler",
        "AsyncServerErrorRetryHandler",
    }


async def test_the_event_loop_watch_sees_a_loop_held_by_blocking_work() -> None:
    metrics = Metrics()
    watch = asyncio.create_task(watch_event_loop(metrics, interval_s=0.01))
    await asyncio.sleep(0.05)
    time.sleep(0.3)  # what a render on the loop's thread would do  # noqa: ASYNC251
    await asyncio.sleep(0.05)
    watch.cancel()
    text = metrics.render()
    worst = float(text.split('folio_event_loop_lag_seconds{quantile="0.99"} ')[1].split()[0])
    assert worst >= 0.25
    assert metrics.count("folio_event_loop_lag_seconds") >= 3
