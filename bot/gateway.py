"""SlackGateway: every Slack Web API call folio makes, and the one place Slack errors are caught.

slack_sdk raises ``SlackApiError`` (Slack said ``ok: false``) and ``SlackRequestError`` (the
request could not be made); aiohttp adds connection errors and timeouts. ``_calling`` turns
all of them into rag's ``ChatError`` (``code`` is Slack's error name), so the rest of the bot
handles one kind of error. A reaction that cannot be set is cosmetic, so the gateway only
logs it; channel and member facts that cannot be read are read narrowly by rag's Audiences.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_chat_stream import AsyncChatStream
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import RenderedMessage
from bot.replies import Reply
from rag import (
    ChannelFacts,
    ChatError,
    DownloadError,
    MemberFacts,
    PageImage,
    PageImagesNotUploaded,
)

logger = logging.getLogger(__name__)

# files.list pages by count and page (not by cursor); 100 is its default page size.
FILES_PAGE = 100
# Characters a stream gathers before each chat.appendStream (slack_sdk's default): a few
# calls a second at model speed, under Slack's rate limits.
STREAM_BUFFER = 256


@contextmanager
def _calling(method: str, error: type[ChatError] = ChatError) -> Iterator[None]:
    """Translate whatever a Web API call raised into ``error``, naming the method."""
    try:
        yield
    except SlackApiError as exc:
        code = str(exc.response.get("error") or "unknown_error")
        raise error(detail=f"{method}: {code}", code=code) from exc
    except (SlackRequestError, aiohttp.ClientError, TimeoutError) as exc:
        raise error(detail=f"{method}: {type(exc).__name__}") from exc


class SlackGateway:
    """The Web API calls folio makes, over one AsyncWebClient; failures are ChatErrors."""

    def __init__(
        self,
        *,
        client: AsyncWebClient,
        files_page: int = FILES_PAGE,
        stream_buffer: int = STREAM_BUFFER,
    ) -> None:
        self._client = client
        self._files_page = files_page
        self._stream_buffer = stream_buffer
        self._bot_user_id: str | None = None

    async def bot_user_id(self) -> str:
        """folio's own user id (auth.test, asked once)."""
        if self._bot_user_id is None:
            with _calling("auth.test"):
                self._bot_user_id = str((await self._client.auth_test())["user_id"])
        return self._bot_user_id

    async def send(self, where: Reply, message: RenderedMessage) -> str | None:
        """Post ``message`` there; the new message's ts (None for a note only one person sees)."""
        if where.user is not None:
            with _calling("chat.postEphemeral"):
                await self._client.chat_postEphemeral(
                    channel=where.channel,
                    user=where.user,
                    thread_ts=where.thread_ts,
                    text=message.text,
                    blocks=message.blocks or None,
                )
            return None
        with _calling("chat.postMessage"):
            response = await self._client.chat_postMessage(
                channel=where.channel,
                thread_ts=where.thread_ts,
                text=message.text,
                blocks=message.blocks or None,
                unfurl_links=False,
                unfurl_media=False,
            )
        return str(response["ts"])

    async def update(self, channel: str, ts: str, message: RenderedMessage) -> None:
        """Replace the text of a message folio posted (a progress line)."""
        with _calling("chat.update"):
            await self._client.chat_update(
                channel=channel, ts=ts, text=message.text, blocks=message.blocks or None
            )

    async def channel_files(self, channel: str, *, limit: int) -> list[dict[str, Any]]:
        """The files shared in a channel, newest first, at most ``limit`` (files.list pages)."""
        files: list[dict[str, Any]] = []
        page, pages = 1, 1 if limit > 0 else 0
        while page <= pages and len(files) < limit:
            with _calling("files.list"):
                response = await self._client.files_list(
                    channel=channel, count=min(self._files_page, limit), page=page
                )
            files.extend(dict(f) for f in response.get("files") or [])
            pages = int((response.get("paging") or {}).get("pages") or 1)
            page += 1
        return files[:limit]

    async def react(self, channel: str, ts: str, name: str) -> None:
        """Add a reaction; a failure is cosmetic, so it is only logged."""
        try:
            with _calling("reactions.add"):
                await self._client.reactions_add(channel=channel, timestamp=ts, name=name)
        except ChatError as exc:
            logger.debug("could not add :%s: to %s/%s: %s", name, channel, ts, exc.detail)

    async def unreact(self, channel: str, ts: str, name: str) -> None:
        """Remove a reaction folio added; a failure is cosmetic, so it is only logged."""
        try:
            with _calling("reactions.remove"):
                await self._client.reactions_remove(channel=channel, timestamp=ts, name=name)
        except ChatError as exc:
            logger.debug("could not remove :%s: from %s/%s: %s", name, channel, ts, exc.detail)

    async def upload_pages(
        self, *, channel: str, thread_ts: str, images: Sequence[PageImage]
    ) -> list[str]:
        """Upload page images into a thread in ONE files_upload_v2 call; the new file ids.

        Slack shares the files asynchronously, so the response carries no message ts.
        Raises PageImagesNotUploaded when Slack fails.
        """
        if not images:
            return []
        uploads = [
            {"content": image.png, "filename": image.filename, "title": image.title}
            | ({"alt_txt": image.alt_text} if image.alt_text else {})
            for image in images
        ]
        with _calling("files.upload", PageImagesNotUploaded):
            response = await self._client.files_upload_v2(
                file_uploads=uploads, channel=channel, thread_ts=thread_ts
            )
        file_ids = [str(item["id"]) for item in response.get("files") or []]
        logger.info("uploaded %d page images to %s thread %s", len(file_ids), channel, thread_ts)
        return file_ids

    async def delete_files(self, file_ids: Sequence[str]) -> None:
        """files.delete for folio's own uploads; one that cannot be deleted is only logged."""
        for file_id in file_ids:
            try:
                with _calling("files.delete"):
                    await self._client.files_delete(file=file_id)
            except ChatError as exc:
                logger.warning("could not delete upload %s: %s", file_id, exc.detail)

    async def file_info(self, file_id: str) -> dict[str, Any]:
        """files.info for one file; a missing or unreadable file is a DownloadError."""
        try:
            with _calling("files.info"):
                response = await self._client.files_info(file=file_id)
        except ChatError as exc:
            if exc.code is None:
                message = (
                    "folio could not reach Slack to read that file; try again in a few minutes."
                )
            elif exc.code == "file_not_found":
                message = "Slack could not find that file any more; it may have been deleted."
            else:
                message = f"Slack refused to describe that file ({exc.code}); try sharing it again."
            raise DownloadError(message, detail=f"{file_id}: {exc.detail}") from exc
        return dict(response["file"])

    async def thread_replies(self, channel: str, thread_ts: str, *, limit: int) -> list[Any]:
        """A thread's messages, parent first (conversations.replies: its first page)."""
        with _calling("conversations.replies"):
            response = await self._client.conversations_replies(
                channel=channel, ts=thread_ts, limit=limit
            )
        return list(response.get("messages") or [])

    async def channel_facts(self, channel_id: str) -> ChannelFacts:
        """conversations.info: private, shared with another organisation, archived."""
        with _calling("conversations.info"):
            info = (await self._client.conversations_info(channel=channel_id))["channel"]
        return ChannelFacts(
            private=bool(info.get("is_private") or info.get("is_im") or info.get("is_mpim")),
            # is_shared also covers a channel shared between workspaces of one Enterprise
            # Grid org, whose members may not all see this workspace's public channels.
            external=bool(
                info.get("is_ext_shared")
                or info.get("is_pending_ext_shared")
                or info.get("is_shared")
            ),
            archived=bool(info.get("is_archived")),
            # DMs carry no is_member; folio is in every DM it receives.
            member=bool(info.get("is_member", True)),
        )

    async def member_facts(self, user_id: str) -> MemberFacts:
        """users.info: a guest (single- or multi-channel), an admin or owner."""
        with _calling("users.info"):
            user = (await self._client.users_info(user=user_id))["user"]
        return MemberFacts(
            guest=bool(user.get("is_restricted") or user.get("is_ultra_restricted")),
            admin=bool(user.get("is_admin") or user.get("is_owner")),
        )

    async def suggest_prompts(
        self, channel: str, thread_ts: str, prompts: Sequence[Mapping[str, str]]
    ) -> bool:
        """Offer prompts in an assistant thread; a refusal (scope, plan) is only logged."""
        try:
            with _calling("assistant.threads.setSuggestedPrompts"):
                await self._client.assistant_threads_setSuggestedPrompts(
                    channel_id=channel, thread_ts=thread_ts, prompts=[dict(p) for p in prompts]
                )
        except ChatError as exc:
            logger.info("no suggested prompts in %s/%s: %s", channel, thread_ts, exc.detail)
            return False
        return True

    async def set_title(self, channel: str, thread_ts: str, title: str) -> bool:
        """Title an assistant thread; a refusal (not one, scope, plan) is only logged."""
        try:
            with _calling("assistant.threads.setTitle"):
                await self._client.assistant_threads_setTitle(
                    channel_id=channel, thread_ts=thread_ts, title=title
                )
        except ChatError as exc:
            logger.info("no title for %s/%s: %s", channel, thread_ts, exc.detail)
            return False
        return True

    async def set_status(
        self, channel: str, thread_ts: str, status: str, loading: Sequence[str] = ()
    ) -> None:
        """assistant.threads.setStatus: "folio is …" under the thread ("" clears it)."""
        with _calling("assistant.threads.setStatus"):
            await self._client.assistant_threads_setStatus(
                channel_id=channel,
                thread_ts=thread_ts,
                status=status,
                loading_messages=list(loading) or None,
            )

    def stream(self, where: Reply, *, team_id: str, user_id: str) -> SlackStream:
        """A reply in ``where``'s thread that grows as text is appended (chat.startStream on
        the first flush, then chat.appendStream, chat.stopStream)."""
        assert where.thread_ts is not None
        stream = AsyncChatStream(
            self._client,
            logger=logger,
            channel=where.channel,
            thread_ts=where.thread_ts,
            recipient_team_id=team_id or None,
            recipient_user_id=user_id or None,
            buffer_size=self._stream_buffer,
        )
        return SlackStream(stream)

    async def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        """views.open: a modal for the person who clicked (the trigger lasts 3 seconds)."""
        with _calling("views.open"):
            await self._client.views_open(trigger_id=trigger_id, view=view)

    async def publish_home(self, user_id: str, view: dict[str, Any]) -> None:
        """Publish a person's App Home tab."""
        with _calling("views.publish"):
            await self._client.views_publish(user_id=user_id, view=view)


class SlackStream:
    """One streamed reply; every failure is a ChatError (a refused start has no ``ts``)."""

    def __init__(self, stream: AsyncChatStream) -> None:
        self._stream = stream

    @property
    def ts(self) -> str | None:
        """The streamed message's ts, once Slack started it."""
        return self._stream.ts

    async def append(self, markdown: str) -> None:
        """Add text (sent when the buffer fills)."""
        with _calling("chat.appendStream" if self.ts else "chat.startStream"):
            await self._stream.append(markdown_text=markdown)

    async def stop(self, blocks: Sequence[dict[str, Any]] = ()) -> None:
        """Send what is buffered and finish the message, with ``blocks`` under the text."""
        with _calling("chat.stopStream"):
            await self._stream.stop(blocks=list(blocks) or None)
