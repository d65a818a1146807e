"""`/folio` subcommands other than ask, and the App Home tab: rag calls -> render -> message.

Every method returns what to post; the slash-command listener posts it to the person who
ran the command. Errors are FolioErrors with a user_message (the bot's one error handler
posts them).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from bot import render
from bot.indexing import SlackIndexer
from bot.mrkdwn import mrkdwn_safe
from bot.render import RenderedMessage
from rag._services import Services
from rag.errors import DocumentNotFound, NotAllowed
from rag.types import Audience, Document

logger = logging.getLogger(__name__)

SEARCH_LIMIT = 5
HOME_RECENT = 10
SUBCOMMANDS = ("ask", "search", "docs", "forget", "index", "followups", "status", "help")


def notice(text: str) -> RenderedMessage:
    """A short message whose text folio wrote (already safe mrkdwn)."""
    return RenderedMessage(text=text, blocks=[{"type": "section", "text": _mrkdwn(text)}])


def split_command(text: str) -> tuple[str, str]:
    """``"ask what is x"`` -> ``("ask", "what is x")``; empty text means help."""
    head, _, rest = text.strip().partition(" ")
    return head.lower() or "help", rest.strip()


class Commands:
    """What `/folio search|docs|forget|index|followups|status|help` and App Home do."""

    def __init__(
        self, *, services: Services, client: AsyncWebClient, indexer: SlackIndexer
    ) -> None:
        self._services = services
        self._client = client
        self._indexer = indexer

    async def run(
        self, name: str, arg: str, *, audience: Audience, user_id: str
    ) -> RenderedMessage:
        """Run one subcommand (not ``ask``) as ``user_id`` in ``audience``'s channel."""
        if name == "search":
            return await self.search(arg, audience)
        if name == "docs":
            return render.documents_message(await self._services.catalog.visible(audience))
        if name == "forget":
            return await self.forget(arg, audience, user_id)
        if name == "index":
            return await self.index(arg, audience, user_id)
        if name == "followups":
            return await self.followups(arg, audience, user_id)
        if name == "status":
            return await self.status(audience)
        return render.help_message()

    async def search(self, query: str, audience: Audience) -> RenderedMessage:
        """The best pages for ``query`` from the documents visible here; no model involved."""
        if not query:
            return notice("Add what to search for, for example `/folio search revenue by segment`.")
        hits = await self._services.retriever.search(query, audience=audience, limit=SEARCH_LIMIT)
        return render.search_message(hits)

    async def forget(self, ref: str, audience: Audience, user_id: str) -> RenderedMessage:
        """Remove a document, if ``user_id`` shared it or is an admin."""
        if not ref:
            return notice(
                "Say which document, for example `/folio forget q3.pdf` (see `/folio docs`)."
            )
        document = await self._services.catalog.find_visible(audience, ref)
        if document is None:
            raise DocumentNotFound()
        if not await self._may_forget(user_id, document):
            raise NotAllowed(
                f"Only the person who shared {document.file_name} or a workspace admin can "
                "remove it from folio."
            )
        await self._services.ingestor.forget(document.id)
        logger.info("document %s forgotten by %s", document.id, user_id)
        return notice(f"Removed {mrkdwn_safe(document.file_name)} from folio's index.")

    async def index(self, arg: str, audience: Audience, user_id: str) -> RenderedMessage:
        """`/folio index here|off`: turn indexing of this channel's file shares on or off."""
        if arg.lower() not in ("here", "on", "off"):
            return notice(
                "Use `/folio index here` to index this channel, `/folio index off` to stop."
            )
        if audience.channel_id.startswith("D"):
            return notice("Indexing works in channels; run `/folio index here` in one.")
        on = arg.lower() != "off"
        team, channel = audience.team_id, audience.channel_id
        await self._services.channels.set_indexing(team, channel, on, user_id)
        if not on and channel in self._services.settings.index_channels:
            return notice(
                "This channel is listed in FOLIO_INDEX_CHANNELS, so folio keeps indexing it; "
                "remove it there to stop."
            )
        if on:
            return notice(
                "folio will index every PDF and image shared in this channel from now on. "
                "Invite @folio here if it is not a member yet."
            )
        return notice("folio stopped indexing files shared in this channel.")

    async def followups(self, arg: str, audience: Audience, user_id: str) -> RenderedMessage:
        """`/folio followups on|off`: answer thread replies without a mention, or not."""
        if arg.lower() not in ("on", "off"):
            return notice("Use `/folio followups on` or `/folio followups off`.")
        on = arg.lower() == "on"
        await self._services.channels.set_followups(
            audience.team_id, audience.channel_id, on, user_id
        )
        if on:
            return notice(
                "folio answers follow-up questions in its threads here without a mention."
            )
        return notice("folio answers in its threads here only when mentioned.")

    async def status(self, audience: Audience) -> RenderedMessage:
        """Pending jobs, what is indexed, this channel's switches and the model set-up."""
        services, settings = self._services, self._services.settings
        documents, pages = await services.catalog.counts(audience.team_id)
        pending = await services.jobs.pending()
        here = await services.channels.get(audience.team_id, audience.channel_id)
        if audience.channel_id in settings.index_channels:
            indexing = "on (FOLIO_INDEX_CHANNELS)"
        else:
            indexing = "on" if here.indexing else "off"
        model = (
            f"{mrkdwn_safe(settings.llm.answer_model)} (configured)"
            if services.model is not None
            else "none configured; answers quote the best passages"
        )
        store = "embedded Qdrant Edge" if settings.embedded_index else "Qdrant server"
        lines = [
            "*folio status*",
            f"• Indexed in this workspace: {documents} documents, {pages} pages",
            f"• Files waiting to be indexed: {pending}",
            f"• Indexing files shared here: {indexing}",
            f"• Answering thread follow-ups here: {'on' if here.followups else 'off'}",
            f"• Answer model: {model}",
            f"• Vector store: {store}",
        ]
        return notice("\n".join(lines))

    async def home(self, team_id: str, user_id: str) -> dict[str, Any]:
        """App Home for ``user_id``: public documents, indexing channels, their questions."""
        # An empty channel id sees exactly the public documents of the workspace.
        documents = await self._services.catalog.visible(Audience(team_id, ""))
        switched = await self._services.channels.indexing_channels(team_id)
        channels = list(
            dict.fromkeys(
                [*self._services.settings.index_channels, *(c.channel_id for c in switched)]
            )
        )
        recent = await self._services.answers.recent(team_id, HOME_RECENT, user_id=user_id)
        activity = [
            (f"{a.created_at:%Y-%m-%d %H:%M}", _activity(a.question, a.mode)) for a in recent
        ]
        return render.home_view(documents, channels, activity)

    async def _may_forget(self, user_id: str, document: Document) -> bool:
        if document.uploader_id == user_id or user_id in self._services.settings.admin_users:
            return True
        try:
            user = (await self._client.users_info(user=user_id))["user"]
        except (SlackApiError, SlackRequestError) as exc:
            logger.warning("users.info %s failed: %s", user_id, exc)
            return False
        return bool(user.get("is_admin") or user.get("is_owner"))


def _activity(question: str, mode: str) -> str:
    how = {"model": "answered", "extractive": "quoted passages", "nothing_found": "nothing found"}
    return f"You asked “{question}” ({how.get(mode, mode)})"


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}
