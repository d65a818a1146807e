"""What people do with folio, over signed HTTP: follow-ups, DMs, /folio, files, Home, feedback."""

from __future__ import annotations

import json

import pytest

from rag.types import Audience
from tests.bot.harness import DOCS_CHANNEL, METRICS_TOKEN, Bot, eventually, pdf_bytes, text_of
from tests.fakes.slack import (
    BOT_USER_ID,
    CHANNEL_ID,
    USER_ID,
    app_home_opened_event,
    app_mention_event,
    file_deleted_event,
    file_share_message_event,
    message_event,
)

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
BOB = "U0BOB"
ADMIN = "U0ADMIN"


async def _index(bot: Bot, name: str = "q3.pdf") -> tuple[str, str]:
    """Share and index a report in the docs channel; (message ts, Slack file id)."""
    event, info = await bot.share(name, pdf_bytes(REPORT), "application/pdf")
    await bot.indexed(DOCS_CHANNEL, event["ts"])
    return str(event["ts"]), str(info["id"])


async def _ask(bot: Bot, text: str, **event: str) -> dict[str, str]:
    mention = app_mention_event(text, **event)
    await bot.event(mention)
    await bot.done(mention["channel"], mention["ts"])
    return mention


async def test_a_follow_up_in_an_answered_thread_is_answered_without_a_mention(http_bot: Bot):
    await _index(http_bot)
    first = await _ask(http_bot, "what is the payload size?")

    follow_up = message_event("and how much did revenue grow?", thread_ts=first["ts"])
    await http_bot.event(follow_up)
    await http_bot.done(CHANNEL_ID, follow_up["ts"])

    answers = http_bot.answers(CHANNEL_ID, first["ts"])
    assert len(answers) == 2
    assert "eleven percent" in text_of(answers[1])
    history = await http_bot.services.answers.history(
        http_bot.fake.team_id, CHANNEL_ID, first["ts"]
    )
    assert [t.question for t in history] == [
        "what is the payload size?",
        "and how much did revenue grow?",
    ]


async def test_thread_replies_are_not_answered_when_follow_ups_are_off_or_folio_never_answered(
    http_bot: Bot,
):
    await _index(http_bot)
    first = await _ask(http_bot, "what is the payload size?")
    await http_bot.command("followups off")
    await http_bot.fake.wait_for(
        "chat.postEphemeral", lambda c: "only when mentioned" in c.params["text"]
    )

    ignored = message_event("and revenue?", thread_ts=first["ts"])
    stranger = message_event("what is the payload size?", thread_ts="1700000000.000001")
    await http_bot.event(ignored)
    await http_bot.event(stranger)
    # A DM sent after them is answered: by then the thread replies had their chance.
    dm = message_event("what is the payload size?", channel="D0ALICE", channel_type="im")
    await http_bot.event(dm)
    await http_bot.done("D0ALICE", dm["ts"])

    assert len(http_bot.answers(CHANNEL_ID, first["ts"])) == 1
    assert http_bot.posted(CHANNEL_ID, "1700000000.000001") == []


async def test_a_direct_message_is_answered_in_its_thread(http_bot: Bot):
    await _index(http_bot)
    dm = message_event("what is the payload size?", channel="D0ALICE", channel_type="im")

    await http_bot.event(dm)
    await http_bot.done("D0ALICE", dm["ts"])

    [answer] = http_bot.answers("D0ALICE", dm["ts"])
    assert "42 kilobytes" in text_of(answer)
    assert (
        http_bot.metrics.value("folio_questions_answered_total", source="dm", mode="extractive")
        == 1
    )


async def test_a_file_deleted_in_slack_leaves_the_index(http_bot: Bot):
    _, file_id = await _index(http_bot)
    team = http_bot.fake.team_id

    before = await http_bot.services.retriever.search("payload size", audience=_audience(http_bot))

    await http_bot.event(file_deleted_event(file_id))
    await eventually(lambda: http_bot.services.catalog.by_slack_file(team, file_id), empty=True)

    assert before and before[0].file_name == "q3.pdf"
    assert (
        await http_bot.services.retriever.search("payload size", audience=_audience(http_bot)) == []
    )


async def test_forget_by_someone_who_neither_shared_the_file_nor_is_an_admin_is_refused(
    http_bot: Bot,
):
    http_bot.fake.add_user(BOB)
    http_bot.fake.add_user(ADMIN, is_admin=True)
    await _index(http_bot)

    await http_bot.command("forget q3.pdf", user=BOB)
    refusal = await http_bot.fake.wait_for("chat.postEphemeral", lambda c: c.params["user"] == BOB)
    still = await http_bot.services.catalog.visible(_audience(http_bot))
    await http_bot.command("forget q3.pdf", user=ADMIN)
    removal = await http_bot.fake.wait_for(
        "chat.postEphemeral", lambda c: c.params["user"] == ADMIN
    )

    assert "Only the person who shared q3.pdf or a workspace admin" in text_of(refusal)
    assert [d.file_name for d in still] == ["q3.pdf"]
    assert "Removed q3.pdf" in text_of(removal)
    assert await http_bot.services.catalog.visible(_audience(http_bot)) == []


async def test_an_unsupported_file_type_gets_a_short_threaded_note(http_bot: Bot):
    event, _ = await http_bot.share("photos.zip", b"PK\x03\x04 an archive", "application/zip")

    note = await http_bot.fake.wait_for(
        "chat.postMessage", lambda c: c.params.get("thread_ts") == event["ts"]
    )

    assert "did not index photos.zip" in text_of(note)
    assert await http_bot.services.jobs.pending() == 0
    assert http_bot.fake.downloads == []
    assert (DOCS_CHANNEL, event["ts"]) not in http_bot.fake.reactions


async def test_folio_subcommands_answer_privately(http_bot: Bot):
    await _index(http_bot)

    for count, text in enumerate(("search payload size", "docs", "status", "help", "bogus"), 1):
        await http_bot.command(text)
        await http_bot.fake.until(
            lambda n=count: True if len(http_bot.ephemerals()) == n else None, 10, lambda t=text: t
        )

    search, docs, status, help_text, unknown = http_bot.ephemerals()
    assert search.startswith("Top pages: q3.pdf p. 1")
    assert docs == "1 indexed document visible here"
    assert "1 documents, 2 pages" in status and "Indexing files shared here: off" in status
    assert "none configured" in status
    assert "/folio ask" in help_text and "/folio ask" in unknown


async def test_index_here_turns_indexing_on_and_off_for_a_channel(http_bot: Bot):
    http_bot.fake.add_channel("C0NEW", "new")
    await http_bot.command("index here", channel="C0NEW")
    await http_bot.fake.wait_for("chat.postEphemeral", lambda c: "from now on" in c.params["text"])
    event, _ = await http_bot.share("q3.pdf", pdf_bytes(REPORT), "application/pdf", channel="C0NEW")
    await http_bot.indexed("C0NEW", event["ts"])
    await http_bot.command("index off", channel="C0NEW")
    await http_bot.fake.wait_for("chat.postEphemeral", lambda c: "stopped" in c.params["text"])

    later, _ = await http_bot.share(
        "q4.pdf", pdf_bytes(REPORT[:1]), "application/pdf", channel="C0NEW"
    )
    dm = message_event("what is the payload size?", channel="D0ALICE", channel_type="im")
    await http_bot.event(dm)
    await http_bot.done("D0ALICE", dm["ts"])

    docs = await http_bot.services.catalog.visible(_audience(http_bot))
    assert [d.file_name for d in docs] == ["q3.pdf"]
    assert ("C0NEW", later["ts"]) not in http_bot.fake.reactions


async def test_opening_the_home_tab_publishes_documents_channels_and_recent_questions(
    http_bot: Bot,
):
    await _index(http_bot)
    await _ask(http_bot, "what is the payload size?")

    await http_bot.event(app_home_opened_event())
    published = await http_bot.fake.wait_for("views.publish")

    view = json.dumps(published.params["view"])
    assert published.params["user_id"] == USER_ID
    assert "q3.pdf" in view and f"<#{DOCS_CHANNEL}>" in view
    assert "what is the payload size?" in view


async def test_health_and_metrics_endpoints(http_bot: Bot):
    await _index(http_bot)
    await _ask(http_bot, "what is the payload size?")
    assert http_bot.http is not None

    health = await http_bot.http.get("/healthz")
    metrics = await http_bot.http.get(
        "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    text = await metrics.text()

    assert health.status == 200 and (await health.json()) == {"ok": True}
    assert metrics.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert 'folio_events_received_total{type="app_mention"} 1' in text
    assert 'folio_questions_answered_total{mode="extractive",source="mention"} 1' in text
    assert 'folio_ingest_total{result="ok"} 1' in text
    assert "folio_answer_seconds_count 1" in text


async def test_an_unexpected_error_gets_a_short_apology_in_the_thread(http_bot: Bot):
    await _index(http_bot)
    http_bot.fake.fail_next("chat.postMessage", "internal_error", status=200, times=1)
    mention = app_mention_event("what is the payload size?")

    await http_bot.event(mention)
    apology = await http_bot.fake.wait_for(
        "chat.postMessage",
        lambda c: (
            c.params.get("thread_ts") == mention["ts"]
            and c.response is not None
            and c.response.get("ok") is True
        ),
    )

    assert "Sorry, folio hit an unexpected problem" in text_of(apology)
    assert "internal_error" not in text_of(apology)
    assert http_bot.metrics.value("folio_errors_total", kind="SlackApiError") == 1


def _audience(bot: Bot) -> Audience:
    return Audience(bot.fake.team_id, CHANNEL_ID)


async def test_a_pdf_shared_with_a_mention_in_an_indexing_channel_is_indexed_without_a_reply(
    http_bot: Bot,
):
    info = http_bot.fake.add_file("F0MENT", "q3.pdf", pdf_bytes(REPORT), "application/pdf")
    shared = file_share_message_event(
        [info], text=f"<@{BOT_USER_ID}> here you go", channel=DOCS_CHANNEL
    )
    mention = app_mention_event("", channel=DOCS_CHANNEL, ts=shared["ts"], files=[info])

    await http_bot.event(shared)
    await http_bot.event(mention)
    line = await http_bot.indexed(DOCS_CHANNEL, shared["ts"])
    await http_bot.done(DOCS_CHANNEL, shared["ts"])
    await http_bot.inflight.idle(10)

    assert line.params["text"] == "Indexed q3.pdf: 2 pages, 0 figures"
    assert http_bot.posted(DOCS_CHANNEL, shared["ts"]) == [line]
