"""Who sees what, end to end: Slack Connect channels, guests, other organisations' members."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from rag._llm import MAX_ANSWER_TOKENS
from rag.answer._prompts import ANSWER_SYSTEM
from rag.db.models import Base, SlackEventRow
from rag.types import Audience
from tests.bot.harness import (
    DOCS_CHANNEL,
    METRICS_TOKEN,
    Bot,
    bot_settings,
    eventually,
    openai_env,
    pdf_bytes,
    running_bot,
    text_of,
)
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import (
    CHANNEL_ID,
    USER_ID,
    FakeSlack,
    app_home_opened_event,
    app_mention_event,
    event_callback,
    message_event,
)

pytestmark = pytest.mark.e2e

MakeBot = Callable[..., AbstractAsyncContextManager[Bot]]

PARTNERS = "C0PARTNERS"  # shared with another organisation over Slack Connect
OTHER_TEAM = "T0ACME"
OUTSIDER = "U0ACMEBOB"  # a member of that other organisation
GUEST = "U0GUEST"
BOB = "U0BOB"
CAFETERIA = ["The cafeteria opens at nine and serves tomato soup on Fridays."]
CONTRACT = ["The partner contract renews in April for 3 years at a fixed tomato soup budget."]


async def _index(bot: Bot, name: str, pages: list[str], channel: str = DOCS_CHANNEL) -> None:
    event, _ = await bot.share(name, pdf_bytes(pages), "application/pdf", channel=channel)
    line = await bot.indexed(channel, event["ts"])
    assert line.params["text"].startswith("Indexed"), line.params


async def _partners_with_a_contract(bot: Bot) -> None:
    """The cafeteria note in the public docs channel, the contract in the shared channel."""
    bot.fake.add_channel(PARTNERS, "acme-partners", is_ext_shared=True)
    await bot.command("index here", channel=PARTNERS)
    await bot.fake.wait_for("chat.postEphemeral", lambda c: "from now on" in c.params["text"])
    await _index(bot, "cafeteria.pdf", CAFETERIA)
    await _index(bot, "contract.pdf", CONTRACT, channel=PARTNERS)


async def _mention(bot: Bot, text: str, **options: str) -> dict[str, str]:
    mention = app_mention_event(text, **options)
    await bot.event(mention)
    await bot.done(mention["channel"], mention["ts"])
    return mention


async def _private_note(bot: Bot, text: str, *, user: str, channel: str) -> str:
    before = len(bot.ephemerals(user))
    await bot.command(text, user=user, channel=channel)
    await bot.fake.until(
        lambda: True if len(bot.ephemerals(user)) > before else None, 10, lambda: text
    )
    [call] = [c for c in bot.fake.calls("chat.postEphemeral") if c.params["user"] == user][before:]
    return text_of(call)


def _uploaded_names(bot: Bot, channel: str) -> list[str]:
    return [f["name"] for upload in bot.fake.uploads_in(channel) for f in upload["files"]]


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_a_public_document_is_not_cited_listed_or_attached_in_a_slack_connect_channel(
    make_bot: MakeBot, mode: str
):
    async with make_bot(mode) as bot:
        await _partners_with_a_contract(bot)
        inside = await _mention(bot, "when does the cafeteria serve tomato soup?", channel=PARTNERS)
        docs = await _private_note(bot, "docs", user=USER_ID, channel=PARTNERS)
        search = await _private_note(bot, "search cafeteria soup", user=USER_ID, channel=PARTNERS)
        at_home = await _mention(bot, "when does the cafeteria serve tomato soup?")
        contract = await _mention(bot, "when does the partner contract renew?")
        visible = await bot.services.catalog.visible(Audience(bot.fake.team_id, PARTNERS))

    [answer] = bot.answers(PARTNERS, inside["ts"])
    assert "cafeteria" not in text_of(answer) and "Fridays" not in text_of(answer)
    assert "contract.pdf" in text_of(answer)
    assert all(name.startswith("contract") for name in _uploaded_names(bot, PARTNERS))
    assert "contract.pdf" in docs and "cafeteria" not in docs
    assert "cafeteria" not in search
    # Inside the workspace the public note still answers, and the shared channel's file
    # stays that channel's own: it was indexed as confined, never workspace-public.
    assert "cafeteria.pdf" in text_of(bot.answers(CHANNEL_ID, at_home["ts"])[0])
    assert "contract.pdf" not in text_of(bot.answers(CHANNEL_ID, contract["ts"])[0])
    assert not any(name.startswith("contract") for name in _uploaded_names(bot, CHANNEL_ID))
    [stored] = [d for d in visible if d.file_name == "contract.pdf"]
    assert stored.scope.channel_private is True


async def test_a_guest_gets_only_the_channels_own_documents_in_answers_docs_search_and_home(
    http_bot: Bot,
):
    bot = http_bot
    bot.fake.add_user(GUEST, name="gwen", is_ultra_restricted=True)
    await _index(bot, "cafeteria.pdf", CAFETERIA)

    guest_asks = await _mention(bot, "when does the cafeteria serve soup?", user=GUEST)
    docs = await _private_note(bot, "docs", user=GUEST, channel=CHANNEL_ID)
    search = await _private_note(bot, "search cafeteria soup", user=GUEST, channel=CHANNEL_ID)
    status = await _private_note(bot, "status", user=GUEST, channel=CHANNEL_ID)
    await bot.event(app_home_opened_event(GUEST))
    home = await bot.fake.wait_for("views.publish", lambda c: c.params["user_id"] == GUEST)
    member_asks = await _mention(bot, "when does the cafeteria serve soup?")

    [answer] = bot.answers(CHANNEL_ID, guest_asks["ts"])
    assert "cafeteria" not in text_of(answer) and "Fridays" not in text_of(answer)
    assert _uploaded_names(bot, CHANNEL_ID)  # the member's answer attached its page ...
    assert bot.fake.uploads_in(CHANNEL_ID, guest_asks["ts"]) == []  # ... the guest's none
    assert "cafeteria" not in docs and "No documents" in docs
    assert "cafeteria" not in search
    assert "0 documents, 0 pages" in status
    assert "cafeteria.pdf" not in json.dumps(home.params["view"])
    assert "cafeteria.pdf" in text_of(bot.answers(CHANNEL_ID, member_asks["ts"])[0])


async def test_another_organisations_member_in_a_shared_channel_is_served_by_the_host_team(
    http_bot: Bot,
):
    bot = http_bot
    bot.fake.add_user(OUTSIDER, name="bob", team_id=OTHER_TEAM)
    await _partners_with_a_contract(bot)
    mention = app_mention_event("when does the contract renew?", user=OUTSIDER, channel=PARTNERS)
    mention["team"] = mention["user_team"] = OTHER_TEAM
    body = event_callback(mention)
    # Slack names the sender's organisation at the top; the authorization is the host's.
    body["team_id"] = OTHER_TEAM
    body["is_ext_shared_channel"] = True

    await bot.deliver(body)
    await bot.done(PARTNERS, mention["ts"])
    await bot.command("docs", user=OUTSIDER, channel=PARTNERS, team_id=OTHER_TEAM)
    listing = await bot.fake.wait_for("chat.postEphemeral", lambda c: c.params["user"] == OUTSIDER)

    [answer] = bot.answers(PARTNERS, mention["ts"])
    assert "contract.pdf" in text_of(answer) and "cafeteria" not in text_of(answer)
    assert "contract.pdf" in text_of(listing) and "cafeteria" not in text_of(listing)
    async with bot.services.engine.connect() as connection:
        recorded = await connection.scalar(
            select(SlackEventRow.team_id).where(SlackEventRow.event_id == body["event_id"])
        )
    assert recorded == bot.fake.team_id


async def test_a_non_admins_index_off_and_followups_off_are_refused_privately_saying_who_can(
    http_bot: Bot,
):
    bot = http_bot
    bot.fake.add_channel("C0NEW", "new")
    bot.fake.add_user(BOB, name="bob")
    await bot.command("index here", channel="C0NEW")  # alice is an admin
    await bot.fake.wait_for("chat.postEphemeral", lambda c: "from now on" in c.params["text"])

    index_off = await _private_note(bot, "index off", user=BOB, channel="C0NEW")
    followups_off = await _private_note(bot, "followups off", user=BOB, channel="C0NEW")
    await _index(bot, "cafeteria.pdf", CAFETERIA, channel="C0NEW")

    assert "Only workspace admins and owners can turn indexing" in index_off
    assert "Only workspace admins and owners can turn follow-ups" in followups_off
    assert await bot.services.folio.channels.indexing(bot.fake.team_id, "C0NEW") == "on"
    assert await bot.services.folio.channels.followups(bot.fake.team_id, "C0NEW") is True
    assert all(c.params["user"] == BOB for c in bot.fake.calls("chat.postEphemeral")[1:])


async def test_forget_by_a_name_two_documents_share_lists_both_and_removes_neither(
    http_bot: Bot,
):
    bot = http_bot
    await bot.command("index here", channel=CHANNEL_ID)
    await bot.fake.wait_for("chat.postEphemeral", lambda c: "from now on" in c.params["text"])
    await _index(bot, "notes.pdf", CAFETERIA)
    await _index(bot, "notes.pdf", CONTRACT, channel=CHANNEL_ID)
    here = Audience(bot.fake.team_id, CHANNEL_ID)
    public, own = sorted(
        await bot.services.catalog.visible(here), key=lambda d: d.scope.channel_id != DOCS_CHANNEL
    )

    choice = await _private_note(bot, "forget notes.pdf", user=USER_ID, channel=CHANNEL_ID)
    kept = await bot.services.catalog.visible(here)
    removed = await _private_note(bot, f"forget {public.id}", user=USER_ID, channel=CHANNEL_ID)

    assert "2 documents match" in choice and "removed none" in choice
    assert public.id in choice and own.id in choice
    assert len(kept) == 2
    assert f"Removed notes.pdf (shared in <#{DOCS_CHANNEL}>)" in removed
    assert [d.id for d in await bot.services.catalog.visible(here)] == [own.id]


ROADMAP = ["The secret roadmap plans a lighthouse launch in Lisbon next spring."]
TEAM_ROOM = "C0TEAMROOM"


def _made_private(bot: Bot) -> None:
    bot.fake.channels[TEAM_ROOM].update(is_private=True, is_channel=False, is_group=True)


def _shared_outside(bot: Bot) -> None:
    bot.fake.channels[TEAM_ROOM].update(is_shared=True, is_ext_shared=True)


def _archived(bot: Bot) -> None:
    bot.fake.channels[TEAM_ROOM]["is_archived"] = True


def _folio_removed(bot: Bot) -> None:
    bot.fake.channels[TEAM_ROOM]["is_member"] = False


CHANGES = {
    "made private": (
        _made_private,
        message_event(
            "made this channel *private*.",
            channel=TEAM_ROOM,
            channel_type="group",
            subtype="channel_convert_to_private",
        ),
    ),
    "shared outside": (
        _shared_outside,
        {"type": "channel_shared", "connected_team_id": OTHER_TEAM, "channel": TEAM_ROOM},
    ),
    "archived": (_archived, {"type": "channel_archive", "channel": TEAM_ROOM, "user": USER_ID}),
    "folio removed": (
        _folio_removed,
        {"type": "channel_left", "channel": TEAM_ROOM, "actor_id": USER_ID},
    ),
}


async def _roadmap_in_the_team_room(bot: Bot) -> None:
    bot.fake.add_channel(TEAM_ROOM, "team-room")
    await bot.command("index here", channel=TEAM_ROOM)
    await bot.fake.wait_for("chat.postEphemeral", lambda c: "from now on" in c.params["text"])
    await _index(bot, "roadmap.pdf", ROADMAP, channel=TEAM_ROOM)


async def _public_elsewhere(bot: Bot) -> bool:
    visible = await bot.services.catalog.visible(Audience(bot.fake.team_id, CHANNEL_ID))
    return any(d.file_name == "roadmap.pdf" for d in visible)


@pytest.mark.parametrize(
    ("change", "mode"), [(change, "http") for change in CHANGES] + [("made private", "socket")]
)
async def test_a_channel_that_stops_being_public_stops_answering_elsewhere_within_one_event(
    make_bot: MakeBot, change: str, mode: str
):
    async with make_bot(mode) as bot:
        await _roadmap_in_the_team_room(bot)
        before = await _mention(bot, "where is the lighthouse launch?")
        mutate, event = CHANGES[change]

        mutate(bot)
        await bot.event(dict(event))
        await eventually(lambda: _public_elsewhere(bot), empty=True, timeout=10)
        after = await _mention(bot, "where is the lighthouse launch?")
        search = await bot.services.retriever.search(
            "lighthouse launch", audience=Audience(bot.fake.team_id, CHANNEL_ID)
        )

    assert "roadmap.pdf" in text_of(bot.answers(CHANNEL_ID, before["ts"])[0])
    assert "roadmap.pdf" not in text_of(bot.answers(CHANNEL_ID, after["ts"])[0])
    assert not any(n.startswith("roadmap") for n in _uploaded_names(bot, CHANNEL_ID)[1:])
    assert all(page.file_name != "roadmap.pdf" for page in search)


async def test_a_missed_privacy_event_is_caught_by_one_recheck(http_bot: Bot):
    bot = http_bot
    await _roadmap_in_the_team_room(bot)
    assert bot.parts is not None
    unchanged = await bot.parts.privacy.recheck()
    _made_private(bot)  # and Slack's event never arrives

    changed = await bot.parts.privacy.recheck()
    asked = await _mention(bot, "where is the lighthouse launch?")

    assert unchanged == 0 and changed == 1
    assert not await _public_elsewhere(bot)
    assert "roadmap.pdf" not in text_of(bot.answers(CHANNEL_ID, asked["ts"])[0])
    inside = Audience(bot.fake.team_id, TEAM_ROOM)
    [page] = await bot.services.retriever.search("lighthouse launch", audience=inside, limit=1)
    assert page.file_name == "roadmap.pdf"


EPS = (
    b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\n"
    b"newpath 0 0 moveto 100 100 lineto stroke\nshowpage\n%%EOF\n"
)
_SPAWNS = ("subprocess.Popen", "os.posix_spawn", "os.fork", "os.exec", "os.system")
_spawned: list[str] | None = None


def _record_spawn(event: str, args: object) -> None:
    if _spawned is not None and event in _SPAWNS:
        _spawned.append(event)


sys.addaudithook(_record_spawn)


async def test_an_eps_named_png_attached_to_a_question_is_refused_without_starting_a_process(
    http_bot: Bot,
):
    global _spawned
    bot = http_bot
    await _index(bot, "cafeteria.pdf", CAFETERIA)
    image = bot.fake.add_file("FEPS1", "chart.png", EPS, "image/png")
    mention = app_mention_event("what does this chart show?", files=[image])

    _spawned = []
    try:
        await bot.event(mention)
        reply = await bot.fake.wait_for(
            "chat.postMessage", lambda c: c.params.get("thread_ts") == mention["ts"]
        )
        await bot.inflight.idle(10)
        spawned = list(_spawned)
    finally:
        _spawned = None

    assert "chart.png is not a PNG, JPEG, WebP or GIF picture" in text_of(reply)
    assert spawned == []
    assert bot.answers(CHANNEL_ID, mention["ts"]) == []
    assert any("FEPS1" in d.path for d in bot.fake.downloads)


async def test_metrics_need_the_bearer_token_on_the_public_port_and_are_absent_without_one(
    http_bot: Bot,
):
    assert http_bot.http is not None
    anonymous = await http_bot.http.get("/metrics")
    wrong = await http_bot.http.get("/metrics", headers={"Authorization": "Bearer guess"})
    right = await http_bot.http.get(
        "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    health = await http_bot.http.get("/healthz")

    assert anonymous.status == 401 and wrong.status == 401
    assert "folio_" not in await anonymous.text()
    assert right.status == 200 and "folio_events_received_total" in await right.text()
    assert health.status == 200 and await health.json() == {"ok": True}


async def test_without_a_metrics_token_the_public_port_serves_no_metrics(
    fake_slack: FakeSlack, tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path
):
    settings = bot_settings(fake_slack, tmp_path, tiny_clip_dir, minilm_dir, FOLIO_METRICS_TOKEN="")
    async with running_bot(settings, fake_slack, "http") as bot:
        assert bot.http is not None
        response = await bot.http.get("/metrics", headers={"Authorization": "Bearer "})

    assert settings.metrics_token is None
    assert response.status == 404


SENTENCE = "Zebra quokka marmalade settles the Halvorsen dispute on Tuesday."


async def _rows_mentioning(bot: Bot, text: str) -> list[str]:
    found = []
    async with bot.services.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in (await connection.execute(table.select())).all():
                if any(text in str(value) for value in row):
                    found.append(table.name)
    return found


def _files_mentioning(root: Path, text: str) -> list[Path]:
    needle = text.encode()
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


async def test_forget_leaves_no_trace_of_a_sentence_in_the_database_edge_files_or_uploads(
    http_bot: Bot,
):
    bot = http_bot
    await _index(bot, "dispute.pdf", [SENTENCE])
    asked = await _mention(bot, "who settles the Halvorsen dispute?")
    assert SENTENCE in text_of(bot.answers(CHANNEL_ID, asked["ts"])[0])
    edge = bot.settings.qdrant_path
    before_rows = await _rows_mentioning(bot, SENTENCE)
    before_names = await _rows_mentioning(bot, "dispute.pdf")
    before_files = _files_mentioning(edge, SENTENCE)

    [page] = [f["id"] for f in bot.fake.uploads_in(CHANNEL_ID, asked["ts"])[0]["files"]]
    assert page in bot.fake.files

    removed = await _private_note(bot, "forget dispute.pdf", user=USER_ID, channel=CHANNEL_ID)
    await bot.services.ingestor.compacted()

    assert "Removed dispute.pdf" in removed
    assert {"pages", "answers"} <= set(before_rows)
    assert {"documents", "ingestion_jobs"} <= set(before_names)
    assert before_files, "the sentence was never on disk: the test would prove nothing"
    assert await _rows_mentioning(bot, SENTENCE) == []
    assert await _rows_mentioning(bot, "dispute.pdf") == []
    assert _files_mentioning(edge, SENTENCE) == []
    assert await bot.services.answers.history(bot.fake.team_id, CHANNEL_ID, asked["ts"]) == []
    assert [c.params["file"] for c in bot.fake.calls("files.delete")] == [page]
    assert page not in bot.fake.files
    assert bot.fake.uploads_in(CHANNEL_ID, asked["ts"])[0]["files"] == []


PHISH = ["Refunds are paid at https://evil.example.com/refund and at www.phish.io only."]


async def test_links_in_a_document_never_come_out_live_and_the_answer_has_a_token_cap(
    make_bot: MakeBot, fake_openai: FakeOpenAI
):
    async with make_bot("http", **openai_env(fake_openai.url)) as bot:
        await _index(bot, "refunds.pdf", PHISH)
        extractive = await _mention(bot, "where are refunds paid?")
        search = await _private_note(bot, "search refunds paid", user=USER_ID, channel=CHANNEL_ID)

    [answer] = bot.answers(CHANNEL_ID, extractive["ts"])
    for shown in (text_of(answer), search):
        assert "https://evil" not in shown and "evil.example.com" not in shown
        assert "www.phish.io" not in shown and "<http" not in shown.split("refunds.pdf")[-1]
    [asked] = [r for r in fake_openai.requests if r.messages[0]["content"] == ANSWER_SYSTEM]
    assert asked.json["max_completion_tokens"] == MAX_ANSWER_TOKENS


async def test_a_question_picture_over_the_pixel_cap_is_refused_from_its_header(http_bot: Bot):
    bot = http_bot
    buffer = io.BytesIO()
    Image.new("1", (8000, 6000)).save(buffer, format="PNG")  # 48 megapixels, a few kB
    image = bot.fake.add_file("FBIG1", "huge.png", buffer.getvalue(), "image/png")
    mention = app_mention_event("what does this chart show?", files=[image])

    await bot.event(mention)
    reply = await bot.fake.wait_for(
        "chat.postMessage", lambda c: c.params.get("thread_ts") == mention["ts"]
    )

    assert "huge.png is 8000 × 6000 pixels" in text_of(reply)
    assert bot.answers(CHANNEL_ID, mention["ts"]) == []
