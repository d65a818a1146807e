"""bot.slack_io: the bot token reaches only allowed hosts, and bad answers are clear errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.slack_io import download_file
from rag import (
    DownloadError,
    DownloadUnavailable,
    FileTooLarge,
    ForbiddenFileHost,
    LoginPageInsteadOfFile,
)
from tests.fakes.slack import FakeSlack

TOKEN = "xoxb-secret-bot-token"
PDF = b"%PDF-1.7\n" + b"0" * 4096


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session, as the bot's worker holds one."""
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def carrying_token(fake: FakeSlack) -> list[str]:
    """Hosts of every recorded request that carried the bot token."""
    return [r.host for r in fake.requests if r.token == TOKEN]


async def fetch(session: aiohttp.ClientSession, url: str, hosts: list[str], **kw: int) -> bytes:
    return await download_file(
        session,
        url,
        token=TOKEN,
        allowed_hosts=hosts,
        max_bytes=kw.get("max_bytes", 1_000_000),
        file_name="q3.pdf",
    )


async def test_download_sends_the_token_to_an_allowed_host(fake_slack: FakeSlack, session):
    info = fake_slack.add_file("F1", "q3.pdf", PDF, "application/pdf", host="127.0.0.1")

    data = await fetch(session, info["url_private_download"], ["127.0.0.1"])

    assert data == PDF
    assert carrying_token(fake_slack) == [f"127.0.0.1:{fake_slack.port}"]


async def test_a_url_on_a_non_allowed_host_is_refused_before_any_request(
    fake_slack: FakeSlack, session
):
    info = fake_slack.add_file("F1", "q3.pdf", PDF, "application/pdf", host="localhost")

    with pytest.raises(ForbiddenFileHost) as caught:
        await fetch(session, info["url_private_download"], ["127.0.0.1", "files.slack.com"])

    assert "q3.pdf" in caught.value.user_message
    assert fake_slack.requests == []


async def test_an_allowed_entry_with_a_port_must_match_the_port(fake_slack: FakeSlack, session):
    info = fake_slack.add_file("F1", "q3.pdf", PDF, "application/pdf")
    url = info["url_private_download"]

    with pytest.raises(ForbiddenFileHost):
        await fetch(session, url, [f"127.0.0.1:{fake_slack.port + 1}"])
    data = await fetch(session, url, [f"127.0.0.1:{fake_slack.port}"])

    assert data == PDF
    assert len(fake_slack.requests) == 1


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/q3.pdf", "not a url"])
async def test_non_http_urls_are_refused(fake_slack: FakeSlack, session, url: str):
    with pytest.raises(ForbiddenFileHost):
        await fetch(session, url, ["127.0.0.1"])

    assert fake_slack.requests == []


async def test_credentials_in_the_url_are_refused(fake_slack: FakeSlack, session):
    url = f"http://evil:pw@127.0.0.1:{fake_slack.port}/files-pri/T0FOLIO-F1/q3.pdf"

    with pytest.raises(ForbiddenFileHost):
        await fetch(session, url, ["127.0.0.1"])

    assert fake_slack.requests == []


async def test_a_redirect_to_a_non_allowed_host_is_not_followed(fake_slack: FakeSlack, session):
    info = fake_slack.add_file("F1", "q3.pdf", PDF, "application/pdf", redirect_to="localhost")

    with pytest.raises(ForbiddenFileHost):
        await fetch(session, info["url_private_download"], ["127.0.0.1"])

    assert [r.host for r in fake_slack.requests] == [f"127.0.0.1:{fake_slack.port}"]
    assert not [r for r in fake_slack.requests if r.host.startswith("localhost")]


async def test_a_redirect_to_an_allowed_host_is_followed_with_the_token(
    fake_slack: FakeSlack, session
):
    info = fake_slack.add_file("F1", "q3.pdf", PDF, "application/pdf", redirect_to="localhost")

    data = await fetch(session, info["url_private_download"], ["127.0.0.1", "localhost"])

    assert data == PDF
    port = fake_slack.port
    assert carrying_token(fake_slack) == [f"127.0.0.1:{port}", f"localhost:{port}"]


async def test_a_redirect_loop_stops_after_three_redirects(fake_slack: FakeSlack, session):
    first = fake_slack.add_file("F1", "q3.pdf", PDF, "application/pdf")
    fake_slack.add_file("F1", "q3.pdf", PDF, "application/pdf", redirect_to=first["url_private"])

    with pytest.raises(DownloadError) as caught:
        await fetch(session, first["url_private"], ["127.0.0.1"])

    assert "too many times" in caught.value.user_message
    assert len(fake_slack.downloads) == 4


async def test_an_html_login_page_is_refused_with_a_reinstall_hint(fake_slack: FakeSlack, session):
    info = fake_slack.add_file("F1", "q3.pdf", PDF, "application/pdf", login_page=True)

    with pytest.raises(LoginPageInsteadOfFile) as caught:
        await fetch(session, info["url_private_download"], ["127.0.0.1"])

    assert caught.value.user_message == (
        "Slack sent a login page instead of q3.pdf; reinstall folio so it has the files:read scope."
    )


async def test_an_html_body_with_a_pdf_content_type_is_still_a_login_page(
    fake_slack: FakeSlack, session
):
    page = b"\n  <!DOCTYPE html><html><body>Sign in</body></html>"
    info = fake_slack.add_file("F1", "q3.pdf", page, "application/pdf")

    with pytest.raises(LoginPageInsteadOfFile):
        await fetch(session, info["url_private_download"], ["127.0.0.1"])


async def test_a_file_over_the_cap_by_content_length_is_refused(fake_slack: FakeSlack, session):
    info = fake_slack.add_file("F1", "q3.pdf", PDF, "application/pdf")

    with pytest.raises(FileTooLarge) as caught:
        await fetch(session, info["url_private_download"], ["127.0.0.1"], max_bytes=1000)

    assert caught.value.user_message.startswith("q3.pdf is larger than folio's 1000 bytes limit")


async def test_a_streamed_file_over_the_cap_is_refused_while_reading(
    fake_slack: FakeSlack, session
):
    big = b"%PDF-1.7\n" + b"1" * 200_000
    info = fake_slack.add_file("F1", "q3.pdf", big, "application/pdf", chunked=True)
    url = info["url_private_download"]
    async with session.get(url, headers={"Authorization": f"Bearer {TOKEN}"}) as probe:
        assert probe.content_length is None  # the cap cannot come from a header here

    with pytest.raises(FileTooLarge) as caught:
        await fetch(session, url, ["127.0.0.1"], max_bytes=100 * 1024)
    streamed = await fetch(session, url, ["127.0.0.1"], max_bytes=300_000)

    assert "100 KB" in caught.value.user_message
    assert streamed == big


async def test_a_missing_file_is_a_download_error_that_says_so(fake_slack: FakeSlack, session):
    url = f"{fake_slack.url}/files-pri/T0FOLIO-F404/download/q3.pdf"

    with pytest.raises(DownloadError) as caught:
        await fetch(session, url, ["127.0.0.1"])

    assert type(caught.value) is DownloadError
    assert "could not find q3.pdf (HTTP 404)" in caught.value.user_message


async def test_an_unreachable_host_is_a_download_error_worth_retrying(
    fake_slack: FakeSlack, session
):
    port = fake_slack.port
    await fake_slack.stop()

    with pytest.raises(DownloadUnavailable) as caught:
        await fetch(session, f"http://127.0.0.1:{port}/files-pri/T-F1/q3.pdf", ["127.0.0.1"])

    assert isinstance(caught.value.__cause__, aiohttp.ClientError)
