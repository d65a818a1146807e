"""Small stores: Slack event deduplication, channel switches, and the caption cache."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, select, true
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rag.db._errors import translated
from rag.db._sql import clean_text, insert_for, rowcount
from rag.db.models import CaptionRow, ChannelSettingsRow, SlackEventRow, utcnow
from rag.types import ChannelSettings

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class EventLog:
    """Which Slack events were already handled, shared by every process on the database."""

    def __init__(
        self, *, sessions: async_sessionmaker[AsyncSession], clock: Clock = utcnow
    ) -> None:
        self._sessions = sessions
        self._clock = clock

    @translated("recording a Slack event")
    async def first_time(self, event_id: str, team_id: str) -> bool:
        """True exactly once per event id, even when several processes race on a retry."""
        async with self._sessions() as session, session.begin():
            statement = (
                insert_for(session, SlackEventRow)
                .values(event_id=event_id, team_id=team_id, received_at=self._clock())
                .on_conflict_do_nothing(index_elements=["event_id"])
            )
            inserted = rowcount(await session.execute(statement)) == 1
        if not inserted:
            logger.debug("event %s in %s already handled", event_id, team_id)
        return inserted

    @translated("pruning Slack events")
    async def prune(self, older_than: timedelta) -> int:
        """Forget events received more than ``older_than`` ago; how many were forgotten."""
        cutoff = self._clock() - older_than
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                delete(SlackEventRow).where(SlackEventRow.received_at < cutoff)
            )
        return rowcount(result)


class ChannelSettingsStore:
    """Per-channel switches; a channel with no row has the defaults."""

    def __init__(
        self, *, sessions: async_sessionmaker[AsyncSession], clock: Clock = utcnow
    ) -> None:
        self._sessions = sessions
        self._clock = clock

    @translated("reading channel settings")
    async def get(self, team_id: str, channel_id: str) -> ChannelSettings:
        """This channel's settings (indexing off, follow-ups on, when never set)."""
        async with self._sessions() as session:
            row = await session.get(ChannelSettingsRow, (team_id, channel_id))
        return ChannelSettings(team_id, channel_id) if row is None else _settings(row)

    async def set_indexing(self, team_id: str, channel_id: str, on: bool, user_id: str) -> None:
        """Turn indexing of file shares in this channel on or off."""
        await self._set(team_id, channel_id, user_id, indexing=on)

    async def set_followups(self, team_id: str, channel_id: str, on: bool, user_id: str) -> None:
        """Turn answering thread follow-ups without a mention on or off."""
        await self._set(team_id, channel_id, user_id, followups=on)

    async def set_autoanswer(self, team_id: str, channel_id: str, on: bool, user_id: str) -> None:
        """Turn answering top-level questions without a mention on or off."""
        await self._set(team_id, channel_id, user_id, autoanswer=on)

    @translated("listing indexing channels")
    async def indexing_channels(self, team_id: str | None = None) -> list[ChannelSettings]:
        """Channels with indexing on, in one team or in all."""
        query = select(ChannelSettingsRow).where(ChannelSettingsRow.indexing == true())
        if team_id is not None:
            query = query.where(ChannelSettingsRow.team_id == team_id)
        query = query.order_by(ChannelSettingsRow.team_id, ChannelSettingsRow.channel_id)
        async with self._sessions() as session:
            rows = (await session.scalars(query)).all()
        return [_settings(row) for row in rows]

    @translated("saving channel settings")
    async def _set(self, team_id: str, channel_id: str, user_id: str, **switch: bool) -> None:
        changed = {**switch, "updated_by": user_id, "updated_at": self._clock()}
        async with self._sessions() as session, session.begin():
            statement = insert_for(session, ChannelSettingsRow).values(
                team_id=team_id, channel_id=channel_id, **changed
            )
            # One statement, so two admins flipping different switches never lose an update.
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=["team_id", "channel_id"], set_=changed
                )
            )
        logger.info("channel %s/%s settings %s by %s", team_id, channel_id, switch, user_id)


class CaptionCache:
    """Vision-model captions by image hash and model, so an image is captioned once."""

    def __init__(
        self, *, sessions: async_sessionmaker[AsyncSession], clock: Clock = utcnow
    ) -> None:
        self._sessions = sessions
        self._clock = clock

    @translated("reading a cached caption")
    async def get(self, image_hash: str, model: str) -> str | None:
        """The cached caption, if this model captioned this image before."""
        async with self._sessions() as session:
            row = await session.get(CaptionRow, (image_hash, model))
        return None if row is None else row.caption

    @translated("caching a caption")
    async def put(self, image_hash: str, model: str, caption: str) -> None:
        """Cache a caption; the first one stored for (image, model) is kept."""
        async with self._sessions() as session, session.begin():
            statement = (
                insert_for(session, CaptionRow)
                .values(
                    image_hash=image_hash,
                    model=model,
                    caption=clean_text(caption),
                    created_at=self._clock(),
                )
                .on_conflict_do_nothing(index_elements=["image_hash", "model"])
            )
            await session.execute(statement)


def _settings(row: ChannelSettingsRow) -> ChannelSettings:
    return ChannelSettings(
        team_id=row.team_id,
        channel_id=row.channel_id,
        indexing=row.indexing,
        followups=row.followups,
        autoanswer=row.autoanswer,
    )
