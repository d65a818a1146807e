"""bot.gateway: the Web API calls folio makes, Slack's failures turned into folio's errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import RenderedMessage
from bot.gateway import SlackGateway
from bot.replies import Reply
from rag import ChatError, DownloadError, PageImage, PageImagesNotUploaded
from tests.fakes.slack import FakeSlack

TOKEN = "xoxb-secret-bot-token"


@pytest.fixture
async def web(fake_slack: FakeSlack) -> AsyncIterator[AsyncWebClient]:
    """A real AsyncWebClient against the fake."""
    async with aiohttp.ClientSession() as client_session:
        yield AsyncWebClient(
            token=TOKEN, base_url=fake_slack.api_url, session=client_session, retry_handlers=[]
        )


@pytest.fixture
def gateway(web: AsyncWebClient) -> SlackGateway:
    return SlackGateway(client=web)


def images(count: int) -> list[PageImage]:
    return [
        PageImage(f"q3-p{n}.png", f"q3.pdf, p. {n}", b"\x89PNG\r\n\x1a\n" + bytes([n]) * 64)
        for n in range(1, count + 1)
    ]


async def test_page_images_go_into_the_thread_in_one_completed_upload(
    fake_slack: FakeSlack, gateway: SlackGateway
):
    pages = images(3)

    file_ids = await gateway.upload_pages(channel="C1", thread_ts="1700000000.000200", images=pages)

    [complete] = fake_slack.calls("files.completeUploadExternal")
    assert complete.params["channel_id"] == "C1"
    assert complete.params["thread_ts"] == "1700000000.000200"
    assert [f["id"] for f in complete.params["files"]] == file_ids
    [upload] = fake_slack.uploads
    assert [f["data"] for f in upload["files"]] == [p.png for p in pages]
    assert [f["title"] for f in upload["files"]] == ["q3.pdf, p. 1", "q3.pdf, p. 2", "q3.pdf, p. 3"]


async def test_no_page_images_means_no_calls(fake_slack: FakeSlack, gateway: SlackGateway):
    assert await gateway.upload_pages(channel="C1", thread_ts="1.1", images=[]) == []
    assert fake_slack.requests == []


async def test_a_slack_refusal_becomes_page_images_not_uploaded(
    fake_slack: FakeSlack, gateway: SlackGateway
):
    fake_slack.fail_next("files.completeUploadExternal", "channel_not_found", status=200)

    with pytest.raises(PageImagesNotUploaded) as caught:
        await gateway.upload_pages(channel="C404", thread_ts="1.1", images=images(1))

    assert isinstance(caught.value.__cause__, SlackApiError)
    assert caught.value.code == "channel_not_found"
    assert "answer above still stands" in caught.value.user_message


async def test_a_refused_post_is_a_chat_error_naming_the_method_and_slacks_reason(
    fake_slack: FakeSlack, gateway: SlackGateway
):
    fake_slack.fail_next("chat.postMessage", "not_in_channel", status=200)

    with pytest.raises(ChatError) as caught:
        await gateway.send(Reply("C1", "1.1"), RenderedMessage(text="hi", blocks=[]))

    assert caught.value.code == "not_in_channel"
    assert caught.value.detail == "chat.postMessage: not_in_channel"


async def test_a_reaction_slack_refuses_is_only_cosmetic(
    fake_slack: FakeSlack, gateway: SlackGateway
):
    fake_slack.fail_next("reactions.add", "already_reacted", status=200)

    await gateway.react("C1", "1.1", "eyes")

    assert len(fake_slack.calls("reactions.add")) == 1


async def test_a_file_slack_cannot_find_is_a_download_error_that_says_so(gateway: SlackGateway):
    with pytest.raises(DownloadError) as caught:
        await gateway.file_info("F0GONE")

    assert "could not find that file any more" in caught.value.user_message


async def test_an_unknown_channel_counts_as_private_and_an_unknown_user_as_no_admin(
    fake_slack: FakeSlack, gateway: SlackGateway
):
    fake_slack.add_channel("C0OPEN", "open")
    fake_slack.add_user("U0BOSS", is_admin=True)

    assert await gateway.is_private("C0OPEN") is False
    assert await gateway.is_private("C0UNKNOWN") is True
    assert await gateway.is_admin("U0BOSS") is True
    assert await gateway.is_admin("U0NOBODY") is False


async def test_channel_files_are_read_page_by_page_newest_first_up_to_the_limit(
    fake_slack: FakeSlack, web: AsyncWebClient
):
    for n in range(7):
        fake_slack.add_file(
            f"F{n}", f"f{n}.pdf", b"%PDF", "application/pdf", channels=("C1",), created=1000 + n
        )
    fake_slack.add_file("FX", "elsewhere.pdf", b"%PDF", "application/pdf", channels=("C2",))
    gateway = SlackGateway(client=web, files_page=3)

    some = await gateway.channel_files("C1", limit=5)
    every = await gateway.channel_files("C1", limit=50)

    assert [f["id"] for f in some] == ["F6", "F5", "F4", "F3", "F2"]
    assert [f["id"] for f in every] == [f"F{n}" for n in range(6, -1, -1)]
    pages = [c.params["page"] for c in fake_slack.calls("files.list")]
    assert pages == ["1", "2", "1", "2", "3"]
    assert await gateway.channel_files("C1", limit=0) == []


async def test_a_progress_line_is_updated_in_place(fake_slack: FakeSlack, gateway: SlackGateway):
    ts = await gateway.send(
        Reply("C1"), RenderedMessage(text="Indexing 2 files: 0 done", blocks=[])
    )
    assert ts is not None

    await gateway.update("C1", ts, RenderedMessage(text="Indexed 2 files: 2 done", blocks=[]))

    [message] = [m for m in fake_slack.messages if m["ts"] == ts]
    assert message["text"] == "Indexed 2 files: 2 done" and "edited" in message
