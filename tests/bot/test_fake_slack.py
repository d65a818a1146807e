"""The fake Slack speaks enough of Slack for the real slack_sdk clients to work against it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.say.async_say import AsyncSay
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack import (
    BOT_ID,
    BOT_USER_ID,
    TEAM_ID,
    FakeSlack,
    app_mention_event,
    event_callback,
    event_request,
    form_request,
    sign,
    slash_command_body,
)

BOT_TOKEN = "xoxb-fake-bot-token"
APP_TOKEN = "xapp-fake-app-token"


@pytest.fixture
async def web(fake_slack: FakeSlack) -> AsyncIterator[AsyncWebClient]:
    """A real AsyncWebClient pointed at the fake, with no retry handlers."""
    async with aiohttp.ClientSession() as session:
        yield AsyncWebClient(
            token=BOT_TOKEN, base_url=fake_slack.api_url, session=session, retry_handlers=[]
        )


async def test_auth_test_returns_the_bot_identity(fake_slack: FakeSlack, web: AsyncWebClient):
    response = await web.auth_test()

    assert (response["team_id"], response["user_id"], response["bot_id"]) == (
        TEAM_ID,
        BOT_USER_ID,
        BOT_ID,
    )
    call = fake_slack.calls("auth.test")[0]
    assert call.authorization == f"Bearer {BOT_TOKEN}"
    assert call.host == f"127.0.0.1:{fake_slack.port}"


async def test_post_message_records_blocks_and_returns_a_threadable_ts(
    fake_slack: FakeSlack, web: AsyncWebClient
):
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]

    response = await web.chat_postMessage(channel="C1", text="hi", blocks=blocks, thread_ts="1.2")

    call = await fake_slack.wait_for("chat.postMessage", lambda c: c.params["channel"] == "C1")
    assert call.params["blocks"] == blocks
    assert response["message"]["thread_ts"] == "1.2"
    assert fake_slack.thread("C1", "1.2")[0]["ts"] == response["ts"]


async def test_blocks_over_slacks_limits_are_refused_like_slack_does(web: AsyncWebClient):
    too_many = [{"type": "divider"}] * 51
    too_long = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]

    for blocks in (too_many, too_long):
        with pytest.raises(SlackApiError) as caught:
            await web.chat_postMessage(channel="C1", text="t", blocks=blocks)
        assert caught.value.response["error"] == "invalid_blocks"


async def test_files_upload_v2_runs_the_whole_external_upload_flow(
    fake_slack: FakeSlack, web: AsyncWebClient
):
    response = await web.files_upload_v2(
        file_uploads=[
            {"content": b"\x89PNG one", "filename": "p1.png", "title": "Page 1"},
            {"content": b"\x89PNG two", "filename": "p2.png", "title": "Page 2"},
        ],
        channel="C1",
        thread_ts="1700000000.000100",
        initial_comment="pages",
    )

    assert len(fake_slack.calls("files.getUploadURLExternal")) == 2
    [upload] = fake_slack.uploads_in("C1", "1700000000.000100")
    assert [f["data"] for f in upload["files"]] == [b"\x89PNG one", b"\x89PNG two"]
    assert [f["title"] for f in upload["files"]] == ["Page 1", "Page 2"]
    assert upload["initial_comment"] == "pages"
    assert [f["id"] for f in response["files"]] == [f["id"] for f in upload["files"]]
    info = await web.files_info(file=response["files"][0]["id"])
    assert info["file"]["name"] == "p1.png"


async def test_invalid_auth_mode_refuses_every_call(fake_slack: FakeSlack, web: AsyncWebClient):
    fake_slack.invalid_auth = True

    with pytest.raises(SlackApiError) as caught:
        await web.auth_test()

    assert caught.value.response["error"] == "invalid_auth"


async def test_an_unknown_method_is_refused_and_recorded(
    fake_slack: FakeSlack, web: AsyncWebClient
):
    with pytest.raises(SlackApiError) as caught:
        await web.api_call("pins.add", json={"channel": "C1"})

    assert caught.value.response["error"] == "unknown_method"
    assert fake_slack.calls("pins.add")[0].params == {"channel": "C1"}


async def test_a_queued_rate_limit_answers_429_with_retry_after_once(
    fake_slack: FakeSlack, web: AsyncWebClient
):
    fake_slack.fail_next("chat.postMessage")

    with pytest.raises(SlackApiError) as caught:
        await web.chat_postMessage(channel="C1", text="hi")
    second = await web.chat_postMessage(channel="C1", text="hi")

    assert caught.value.response.status_code == 429
    assert caught.value.response.headers["Retry-After"] == "1"
    assert second["ok"] is True


async def test_reactions_keep_state_like_slack(fake_slack: FakeSlack, web: AsyncWebClient):
    await web.reactions_add(channel="C1", timestamp="1.1", name="hourglass")

    with pytest.raises(SlackApiError) as caught:
        await web.reactions_add(channel="C1", timestamp="1.1", name="hourglass")
    await web.reactions_remove(channel="C1", timestamp="1.1", name="hourglass")

    assert caught.value.response["error"] == "already_reacted"
    assert fake_slack.reactions[("C1", "1.1")] == []


async def test_directory_lookups_answer_from_registered_channels_users_and_files(
    fake_slack: FakeSlack, web: AsyncWebClient
):
    fake_slack.add_channel("G1", "secret", is_private=True)
    fake_slack.add_user("U1", is_admin=True)
    fake_slack.add_file("F1", "q3.pdf", b"%PDF-1.7", "application/pdf")

    channel = await web.conversations_info(channel="G1")
    user = await web.users_info(user="U1")
    file = await web.files_info(file="F1")

    assert channel["channel"]["is_private"] is True
    assert user["user"]["is_admin"] is True
    assert file["file"]["url_private_download"].startswith(f"http://127.0.0.1:{fake_slack.port}/")
    with pytest.raises(SlackApiError):
        await web.conversations_info(channel="C404")


async def test_file_downloads_need_the_bot_token_or_get_a_login_page(fake_slack: FakeSlack):
    info = fake_slack.add_file("F1", "q3.pdf", b"%PDF-1.7", "application/pdf", host="localhost")
    url = info["url_private_download"]

    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers={"Authorization": f"Bearer {BOT_TOKEN}"}) as ok:
            body = await ok.read()
        async with session.get(url) as anonymous:
            page = await anonymous.text()

    assert body == b"%PDF-1.7"
    assert anonymous.content_type == "text/html" and "<html" in page
    assert [d.host for d in fake_slack.downloads] == [f"localhost:{fake_slack.port}"] * 2
    assert [d.authorization for d in fake_slack.downloads] == [f"Bearer {BOT_TOKEN}", None]


async def test_socket_mode_client_gets_hello_and_an_envelope_and_its_ack_is_recorded(
    fake_slack: FakeSlack,
):
    received: list[dict[str, Any]] = []

    async def on_message(client: AsyncBaseSocketModeClient, message: dict[str, Any], raw: Any):
        received.append(message)

    async def on_request(client: AsyncBaseSocketModeClient, request: SocketModeRequest) -> None:
        await client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))

    async with aiohttp.ClientSession() as session:
        web = AsyncWebClient(base_url=fake_slack.api_url, session=session)
        client = SocketModeClient(app_token=APP_TOKEN, web_client=web)
        client.message_listeners.append(on_message)
        client.socket_mode_request_listeners.append(on_request)
        await client.connect()
        try:
            body = event_callback(app_mention_event("what is the payload size?"))
            envelope_id = await fake_slack.send_envelope("events_api", body, retry_attempt=1)
            ack = await fake_slack.wait_for_ack(envelope_id)
        finally:
            await client.close()

    assert received[0]["type"] == "hello"
    assert received[1]["retry_attempt"] == 1 and received[1]["payload"] == body
    assert ack == {"envelope_id": envelope_id}
    assert fake_slack.calls("apps.connections.open")[0].token == APP_TOKEN


async def test_bot_tokens_cannot_open_socket_mode_connections(web: AsyncWebClient):
    with pytest.raises(SlackApiError) as caught:
        await web.apps_connections_open(app_token=BOT_TOKEN)

    assert caught.value.response["error"] == "not_allowed_token_type"


def test_sign_matches_slack_sdks_own_signature_verifier():
    raw, headers = event_request(event_callback(app_mention_event("hi")), "s3cret")

    verifier = SignatureVerifier("s3cret")

    assert verifier.is_valid(
        raw, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    )
    assert not verifier.is_valid(
        raw, headers["X-Slack-Request-Timestamp"], sign(raw, "x")["X-Slack-Signature"]
    )


def test_slash_command_body_carries_the_fields_bolt_routes_on():
    body = slash_command_body(text="ask what is the payload size of the report")

    assert body["command"] == "/folio"
    assert body["text"].startswith("ask ")
    assert body["team_id"] == TEAM_ID and body["trigger_id"]


async def test_send_envelope_without_a_client_times_out(fake_slack: FakeSlack):
    with pytest.raises(TimeoutError):
        await fake_slack.send_envelope("events_api", {}, timeout=0.05)


async def test_a_bolt_app_in_socket_mode_answers_a_mention_through_the_fake(
    fake_slack: FakeSlack,
):
    app = AsyncApp(client=AsyncWebClient(token=BOT_TOKEN, base_url=fake_slack.api_url))

    @app.event("app_mention")
    async def on_mention(event: dict[str, Any], say: AsyncSay) -> None:
        await say(text="pong", thread_ts=event["ts"])

    handler = AsyncSocketModeHandler(app, APP_TOKEN)
    await handler.connect_async()
    try:
        event = app_mention_event("ping")
        envelope_id = await fake_slack.send_envelope("events_api", event_callback(event))
        await fake_slack.wait_for_ack(envelope_id)
        reply = await fake_slack.wait_for("chat.postMessage")
    finally:
        await handler.close_async()

    assert (reply.params["text"], reply.params["thread_ts"]) == ("pong", event["ts"])
    assert fake_slack.calls("auth.test")


async def test_signed_requests_from_the_builders_pass_bolts_verification(fake_slack: FakeSlack):
    secret = "s3cret"
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake_slack.api_url)
    app = AsyncApp(client=client, signing_secret=secret)
    seen: list[str] = []

    @app.command("/folio")
    async def on_folio(ack: AsyncAck, command: dict[str, Any]) -> None:
        await ack()
        seen.append(command["text"])

    raw, headers = form_request(slash_command_body(text="ask what is it"), secret)
    ok = await app.async_dispatch(AsyncBoltRequest(body=raw.decode(), headers=headers))
    raw, headers = form_request(slash_command_body(text="ask again"), "wrong-secret")
    refused = await app.async_dispatch(AsyncBoltRequest(body=raw.decode(), headers=headers))

    assert (ok.status, refused.status) == (200, 401)
    assert seen == ["ask what is it"]


async def test_conversations_replies_pages_a_thread_parent_first(
    fake_slack: FakeSlack, web: AsyncWebClient
):
    parent = fake_slack.add_message("parent", channel="C0GENERAL")
    for n in range(3):
        fake_slack.add_message(f"reply {n}", channel="C0GENERAL", thread_ts=parent["ts"])
    fake_slack.add_message("elsewhere", channel="C0GENERAL")

    first = await web.conversations_replies(channel="C0GENERAL", ts=parent["ts"], limit=3)
    rest = await web.conversations_replies(
        channel="C0GENERAL",
        ts=parent["ts"],
        limit=3,
        cursor=first["response_metadata"]["next_cursor"],
    )

    assert [m["text"] for m in first["messages"]] == ["parent", "reply 0", "reply 1"]
    assert first["has_more"] is True and "channel" not in first["messages"][0]
    assert [m["text"] for m in rest["messages"]] == ["reply 2"] and rest["has_more"] is False
    with pytest.raises(SlackApiError) as missing:
        await web.conversations_replies(channel="C0GENERAL", ts="1.000001")
    assert missing.value.response["error"] == "thread_not_found"


async def test_assistant_thread_methods_check_their_arguments_and_can_be_refused(
    fake_slack: FakeSlack, web: AsyncWebClient
):
    prompts = [{"title": f"t{n}", "message": f"m{n}"} for n in range(5)]

    ok = await web.assistant_threads_setSuggestedPrompts(
        channel_id="D0ALICE", thread_ts="1.000001", prompts=prompts[:4]
    )
    titled = await web.assistant_threads_setTitle(
        channel_id="D0ALICE", thread_ts="1.000001", title="A title"
    )
    with pytest.raises(SlackApiError) as too_many:
        await web.assistant_threads_setSuggestedPrompts(
            channel_id="D0ALICE", thread_ts="1.000001", prompts=prompts
        )
    fake_slack.fail_next("assistant.threads.setTitle", "not_allowed_token_type", status=200)
    with pytest.raises(SlackApiError) as refused:
        await web.assistant_threads_setTitle(channel_id="D0ALICE", thread_ts="1.1", title="x")

    assert ok["ok"] and titled["ok"]
    assert too_many.value.response["error"] == "invalid_arguments"
    assert refused.value.response["error"] == "not_allowed_token_type"
    assert (
        fake_slack.calls("assistant.threads.setSuggestedPrompts")[0].params["prompts"]
        == (prompts[:4])
    )
