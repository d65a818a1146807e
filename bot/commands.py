"""`/folio` subcommands other than ask, and the App Home tab: rag call -> render -> message.

Every method returns what to post; the slash-command listener posts it to the person who
ran the command. Errors are FolioErrors with a user_message (the bot's one error handler
posts them).
"""

from __future__ import annotations

from typing import Any

from bot import render
from bot.backfill import SlackBackfill
from bot.blocks import RenderedMessage, channel_ref
from bot.gateway import SlackGateway
from bot.mrkdwn import mrkdwn_safe
from bot.render import notice
from rag import AmbiguousDocument, Audience, Audiences, Channels, Library, Overview

SEARCH_LIMIT = 5


def split_command(text: str) -> tuple[str, str]:
    """``"ask what is x"`` -> ``("ask", "what is x")``; empty text means help."""
    head, _, rest = text.strip().partition(" ")
    return head.lower() or "help", rest.strip()


def split_public(text: str) -> tuple[bool, str]:
    """``"--public what is x"`` -> ``(True, "what is x")``: `/folio ask` posts for everyone."""
    head, _, rest = text.strip().partition(" ")
    if head.lower() == "--public":
        return True, rest.strip()
    return False, text.strip()


class Commands:
    """What `/folio search|docs|forget|index|followups|autoanswer|status|help` and App Home do."""

    def __init__(
        self,
        *,
        library: Library,
        channels: Channels,
        overview: Overview,
        audiences: Audiences,
        gateway: SlackGateway,
        backfill: SlackBackfill,
    ) -> None:
        self._library = library
        self._channels = channels
        self._overview = overview
        self._audiences = audiences
        self._gateway = gateway
        self._backfill = backfill

    async def run(
        self, name: str, arg: str, *, audience: Audience, user_id: str
    ) -> RenderedMessage:
        """Run one subcommand (not ``ask``) as ``user_id`` in ``audience``'s channel."""
        if name == "search":
            return await self.search(arg, audience)
        if name == "docs":
            return render.documents_message(await self._library.documents(audience))
        if name == "forget":
            return await self.forget(arg, audience, user_id)
        if name == "index":
            return await self.index(arg, audience, user_id)
        if name == "followups":
            return await self.followups(arg, audience, user_id)
        if name == "autoanswer":
            return await self.autoanswer(arg, audience, user_id)
        if name == "status":
            return render.status_message(await self._overview.status(audience))
        return render.help_message()

    async def search(self, query: str, audience: Audience) -> RenderedMessage:
        """The best pages for ``query`` from the documents visible here; no model involved."""
        if not query:
            return notice("Add what to search for, for example `/folio search revenue by segment`.")
        hits = await self._library.search(query, audience=audience, limit=SEARCH_LIMIT)
        return render.search_message(hits)

    async def forget(self, ref: str, audience: Audience, user_id: str) -> RenderedMessage:
        """Remove a document, if ``user_id`` shared it or is an admin."""
        if not ref:
            return notice(
                "Say which document, for example `/folio forget q3.pdf` (see `/folio docs`)."
            )
        try:
            document = await self._library.forget(
                ref,
                audience=audience,
                user_id=user_id,
                is_admin=self._audiences.is_admin,
                remove_uploads=self._gateway.delete_files,
            )
        except AmbiguousDocument as ambiguous:
            return render.which_document_message(ref, ambiguous.candidates)
        name, where = mrkdwn_safe(document.file_name), channel_ref(document.scope.channel_id)
        return notice(f"Removed {name} (shared in {where}) from folio's index.")

    async def index(self, arg: str, audience: Audience, user_id: str) -> RenderedMessage:
        """`/folio index here|off`: turn indexing of this channel's file shares on or off."""
        if arg.lower() not in ("here", "on", "off"):
            return notice(
                "Use `/folio index here` to index this channel, `/folio index off` to stop."
            )
        if audience.channel_id.startswith("D"):
            return notice("Indexing works in channels; run `/folio index here` in one.")
        on = arg.lower() != "off"
        now = await self._channels.set_indexing(
            audience.team_id, audience.channel_id, on, user_id, is_admin=self._audiences.is_admin
        )
        if not on and now == "configured":
            return notice(
                "This channel is listed in FOLIO_INDEX_CHANNELS, so folio keeps indexing it; "
                "remove it there to stop."
            )
        if on:
            started = await self._backfill.run(audience.team_id, audience.channel_id)
            return render.indexing_on(started)
        return notice("folio stopped indexing files shared in this channel.")

    async def followups(self, arg: str, audience: Audience, user_id: str) -> RenderedMessage:
        """`/folio followups on|off`: answer thread replies without a mention, or not."""
        if arg.lower() not in ("on", "off"):
            return notice("Use `/folio followups on` or `/folio followups off`.")
        on = arg.lower() == "on"
        await self._channels.set_followups(
            audience.team_id, audience.channel_id, on, user_id, is_admin=self._audiences.is_admin
        )
        if on:
            return notice(
                "folio answers follow-up questions in its threads here without a mention."
            )
        return notice("folio answers in its threads here only when mentioned.")

    async def autoanswer(self, arg: str, audience: Audience, user_id: str) -> RenderedMessage:
        """`/folio autoanswer on|off`: answer this channel's top-level questions unmentioned."""
        if arg.lower() not in ("on", "off"):
            return notice("Use `/folio autoanswer on` or `/folio autoanswer off`.")
        if audience.channel_id.startswith("D"):
            return notice("Answering without a mention is for channels; folio always answers DMs.")
        on = arg.lower() == "on"
        await self._channels.set_autoanswer(
            audience.team_id, audience.channel_id, on, user_id, is_admin=self._audiences.is_admin
        )
        if on:
            return notice(
                "folio answers questions posted in this channel without a mention, in their "
                "threads (messages ending with “?” or starting with a question word)."
            )
        return notice("folio answers in this channel only when mentioned.")

    async def home(self, audience: Audience, user_id: str) -> dict[str, Any]:
        """App Home for ``user_id``: documents they may see, indexing channels, their questions."""
        return render.home_tab(await self._overview.home(audience, user_id))
