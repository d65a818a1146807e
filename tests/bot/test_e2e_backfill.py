"""The files already in a channel, and new versions of files, through the fake Slack."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import pytest

from rag.types import Audience
from tests.bot.harness import DOCS_CHANNEL, Bot, eventually, pdf_bytes, png_bytes, text_of
from tests.fakes.slack import (
    BOT_USER_ID,
    CHANNEL_ID,
    Recorded,
    file_change_event,
    file_share_message_event,
    file_unshared_event,
)

pytestmark = pytest.mark.e2e

MakeBot = Callable[..., AbstractAsyncContextManager[Bot]]
OLD = ["Revenue grew eleven percent in the third quarter, driven by subscriptions."]
NEW = ["Revenue grew twenty-three percent in the third quarter, driven by licences."]


def _audience(bot: Bot, channel: str = CHANNEL_ID) -> Audience:
    return Audience(bot.fake.team_id, channel)


def _existing_files(bot: Bot, channel: str = CHANNEL_ID, *, broken: bool = True) -> None:
    """Files shared in ``channel`` before folio indexed it (created oldest first)."""
    now = int(time.time()) - 3600
    files = [
        ("budget.pdf", pdf_bytes(["The travel budget for 2025 is 18,500 euros."])),
        ("roadmap.pdf", pdf_bytes(["The roadmap ships the mobile app in October."])),
        ("broken.pdf", b"%PDF-1.7 this file was cut off in transit"),
        ("notes.zip", b"PK\x03\x04 an archive folio cannot read"),
        ("handbook.pdf", pdf_bytes(["Every new hire gets a mentor for six weeks."])),
    ]
    if not broken:
        files = [f for f in files if f[0] != "broken.pdf"]
    for minute, (name, data) in enumerate(files):
        mimetype = "application/zip" if name.endswith(".zip") else "application/pdf"
        bot.fake.add_file(
            bot.fake.new_id("F"), name, data, mimetype, channels=(channel,), created=now + minute
        )
    # A page image folio itself posted with an answer is no document to index.
    bot.fake.add_file(
        bot.fake.new_id("F"),
        "page.png",
        png_bytes(),
        "image/png",
        channels=(channel,),
        user=BOT_USER_ID,
        created=now + 99,
    )


def _progress_updates(bot: Bot, channel: str, ts: str) -> list[Recorded]:
    return [
        c
        for c in bot.fake.calls("chat.update")
        if c.params.get("channel") == channel and c.params.get("ts") == ts
    ]


async def _backfilled(bot: Bot, channel: str = CHANNEL_ID) -> Recorded:
    """Run `/folio index here` and wait for its final progress line; the progress message."""
    await bot.command("index here", channel=channel)
    progress = await bot.fake.wait_for(
        "chat.postMessage",
        lambda c: c.params.get("channel") == channel and "already here" in text_of(c),
    )
    ts = str(progress.response["ts"]) if progress.response else ""
    await bot.fake.until(
        lambda: (
            True
            if any("Indexed " in text_of(c) for c in _progress_updates(bot, channel, ts))
            else None
        ),
        30,
        lambda: f"no final progress line in {bot.fake.calls('chat.update')}",
    )
    return progress


async def test_index_here_reads_the_files_already_there_with_one_progress_message(
    make_bot: MakeBot,
):
    async with make_bot("http", FOLIO_BACKFILL_LIMIT="5") as bot:
        _existing_files(bot)

        progress = await _backfilled(bot)

        ts = str(progress.params["thread_ts"])
        reply = next(t for t in bot.ephemerals() if "from now on" in t)
        thread = bot.posted(CHANNEL_ID, ts)
        updates = _progress_updates(bot, CHANNEL_ID, str(progress.response["ts"]))
        docs = await bot.services.catalog.visible(_audience(bot))
        hits = await bot.services.retriever.search("travel budget euros", audience=_audience(bot))

    assert "already here" in reply and "newest 5 files" in reply
    # The parent message, and one progress line in its thread, updated in place.
    assert [c.params.get("thread_ts") for c in thread] == [None, ts] or len(thread) == 1
    assert len(thread) == 1 and "Indexing 3 files already here: 0 done, 0 failed" in text_of(
        thread[0]
    )
    assert "Indexed 3 files already here: 2 done, 1 failed" in text_of(updates[-1])
    assert "broken.pdf" in text_of(updates[-1])
    # The newest five files: the bot's own page image and the archive are not read, and
    # the oldest (budget.pdf) is beyond the limit.
    assert sorted(d.file_name for d in docs) == ["handbook.pdf", "roadmap.pdf"]
    assert not hits or hits[0].file_name != "budget.pdf"
    assert bot.fake.reactions == {}


async def test_running_index_here_again_adds_nothing_already_indexed(make_bot: MakeBot):
    async with make_bot("http") as bot:
        _existing_files(bot, broken=False)
        await _backfilled(bot)
        posted = len(bot.fake.calls("chat.postMessage"))
        downloads = len(bot.fake.downloads)
        docs = await bot.services.catalog.visible(_audience(bot))

        await bot.command("index here")
        await bot.fake.until(
            lambda: True if len([t for t in bot.ephemerals() if "from now on" in t]) == 2 else None,
            10,
            lambda: "no second reply",
        )
        again = await bot.services.catalog.visible(_audience(bot))
        rerun = [t for t in bot.ephemerals() if "from now on" in t][-1]

    assert len(docs) == 3
    assert [d.id for d in again] == [d.id for d in docs]
    assert len(bot.fake.calls("chat.postMessage")) == posted  # no new progress message
    assert len(bot.fake.downloads) == downloads
    assert "files already here are indexed" in rerun


async def _share_and_wait(bot: Bot, name: str, data: bytes) -> tuple[dict, dict, Recorded]:
    event, info = await bot.share(name, data, "application/pdf")
    line = await bot.indexed(DOCS_CHANNEL, event["ts"])
    return event, info, line


async def test_a_new_version_with_the_same_name_replaces_the_old_one_in_answers(http_bot: Bot):
    audience = _audience(http_bot, DOCS_CHANNEL)
    await _share_and_wait(http_bot, "q3.pdf", pdf_bytes(OLD))
    before = await http_bot.services.retriever.search("revenue grew percent", audience=audience)

    _, _, line = await _share_and_wait(http_bot, "q3.pdf", pdf_bytes(NEW))
    after = await http_bot.services.retriever.search("revenue grew percent", audience=audience)
    docs = await http_bot.services.catalog.visible(audience)

    assert "replaces the earlier version" in text_of(line)
    assert len(docs) == 1  # FOLIO_OLD_VERSIONS=drop by default
    assert {h.document_id for h in before} != {docs[0].id}
    assert {h.document_id for h in after} == {docs[0].id}
    assert "twenty-three" in after[0].hits[0].text


async def test_kept_old_versions_are_listed_as_superseded_and_can_be_forgotten(
    make_bot: MakeBot,
):
    async with make_bot("http", FOLIO_OLD_VERSIONS="keep") as bot:
        audience = _audience(bot, DOCS_CHANNEL)
        await _share_and_wait(bot, "q3.pdf", pdf_bytes(OLD))
        await _share_and_wait(bot, "q3.pdf", pdf_bytes(NEW))
        hits = await bot.services.retriever.search("revenue grew percent", audience=audience)
        docs = await bot.services.catalog.visible(audience)
        await bot.command("docs")
        listing = await bot.fake.wait_for(
            "chat.postEphemeral", lambda c: "visible here" in c.params["text"]
        )
        old = next(d for d in docs if d.superseded)
        await bot.command(f"forget {old.id}")
        await bot.fake.wait_for("chat.postEphemeral", lambda c: "Removed" in c.params["text"])
        left = await bot.services.catalog.visible(audience)

    new = next(d for d in docs if not d.superseded)
    assert {h.document_id for h in hits} == {new.id}
    assert "superseded by a newer version" in text_of(listing)
    assert [d.id for d in left] == [new.id]


async def test_sharing_again_a_file_whose_indexing_failed_tries_again(http_bot: Bot):
    info = http_bot.fake.add_file(
        "F0RETRY",
        "q3.pdf",
        pdf_bytes(OLD),
        "application/pdf",
        channels=(DOCS_CHANNEL,),
        login_page=True,
    )
    first = file_share_message_event([info], channel=DOCS_CHANNEL, channel_type="channel")
    await http_bot.event(first)
    failed = await http_bot.indexed(DOCS_CHANNEL, first["ts"])

    http_bot.fake.files["F0RETRY"].login_page = False  # Slack serves the file this time
    again = file_share_message_event([info], channel=DOCS_CHANNEL, channel_type="channel")
    await http_bot.event(again)
    indexed = await http_bot.indexed(DOCS_CHANNEL, again["ts"])

    assert http_bot.fake.reactions[(DOCS_CHANNEL, first["ts"])] == ["x"]
    assert "Indexed q3.pdf" not in text_of(failed)
    assert "Indexed q3.pdf" in text_of(indexed)
    assert http_bot.fake.reactions[(DOCS_CHANNEL, again["ts"])] == ["white_check_mark"]


async def test_a_file_shared_again_that_is_already_indexed_leaves_no_hourglass(http_bot: Bot):
    event, info, _ = await _share_and_wait(http_bot, "q3.pdf", pdf_bytes(OLD))

    again = file_share_message_event([info], channel=DOCS_CHANNEL, channel_type="channel")
    await http_bot.event(again)
    await http_bot.fake.wait_for(
        "reactions.remove", lambda c: c.params.get("timestamp") == again["ts"]
    )

    assert http_bot.fake.reactions[(DOCS_CHANNEL, again["ts"])] == []
    assert await http_bot.services.jobs.pending() == 0


async def test_a_file_unshared_from_an_indexing_channel_leaves_the_index(http_bot: Bot):
    audience = _audience(http_bot, DOCS_CHANNEL)
    _, first, _ = await _share_and_wait(http_bot, "q3.pdf", pdf_bytes(OLD))
    _, second, _ = await _share_and_wait(http_bot, "q4.pdf", pdf_bytes(NEW))

    http_bot.fake.unshare_file(str(first["id"]), DOCS_CHANNEL)
    await http_bot.event(file_unshared_event(str(first["id"])))  # no channel: files.info says
    await http_bot.event(file_unshared_event(str(second["id"]), channel=DOCS_CHANNEL))
    await eventually(lambda: http_bot.services.catalog.visible(audience), empty=True)

    assert await http_bot.services.retriever.search("revenue", audience=audience) == []


async def test_a_file_unshared_elsewhere_stays_where_it_is_still_shared(http_bot: Bot):
    audience = _audience(http_bot, DOCS_CHANNEL)
    _, info, _ = await _share_and_wait(http_bot, "q3.pdf", pdf_bytes(OLD))
    info["channels"].append("C0OTHER")

    http_bot.fake.unshare_file(str(info["id"]), "C0OTHER")
    await http_bot.event(file_unshared_event(str(info["id"])))
    await http_bot.fake.wait_for("files.info", lambda c: c.params.get("file") == info["id"])
    await http_bot.inflight.idle(10)

    assert [d.file_name for d in await http_bot.services.catalog.visible(audience)] == ["q3.pdf"]


async def test_an_edited_file_is_indexed_again_as_a_new_version(http_bot: Bot):
    audience = _audience(http_bot, DOCS_CHANNEL)
    event, info, _ = await _share_and_wait(http_bot, "q3.pdf", pdf_bytes(OLD))
    [old] = await http_bot.services.catalog.visible(audience)

    http_bot.fake.change_file(str(info["id"]), pdf_bytes(NEW))
    await http_bot.event(file_change_event(str(info["id"])))

    async def replaced() -> list:
        docs = await http_bot.services.catalog.visible(audience)
        return [d for d in docs if d.id != old.id]

    [new] = await eventually(replaced)
    await eventually(lambda: http_bot.services.catalog.get(old.id), empty=True)
    hits = await http_bot.services.retriever.search("revenue grew percent", audience=audience)

    assert new.slack_file_id == info["id"]
    assert {h.document_id for h in hits} == {new.id}
    # An edit is indexed quietly: the thread keeps its one line from the share.
    assert len(http_bot.posted(DOCS_CHANNEL, event["ts"])) == 1
