"""Overview: how folio stands, as `/folio status` and a person's home page show it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from rag._channels import Channels
from rag.db import AnswerLog, Catalog, JobQueue
from rag.db.models import utcnow
from rag.db.workers import WorkerRegistry
from rag.types import Audience, Home, Status, SuggestedPrompt, VectorStore

HOME_RECENT = 10
HOME_WEEK = timedelta(days=7)
MAX_PROMPTS = 4
_PROMPT_NAME_CHARS = 60


class Overview:
    """Reads what folio holds and does; changes nothing."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        jobs: JobQueue,
        channels: Channels,
        log: AnswerLog,
        answer_model: str | None,
        vector_store: VectorStore,
        clock: Callable[[], datetime] = utcnow,
        workers: WorkerRegistry | None = None,
    ) -> None:
        self._catalog = catalog
        self._jobs = jobs
        self._channels = channels
        self._log = log
        self._answer_model = answer_model
        self._vector_store = vector_store
        self._clock = clock
        self._workers = workers

    async def status(self, audience: Audience) -> Status:
        """What the index holds for ``audience``, the queue, this channel's switches, the set-up.

        Only documents the audience may see are counted: a count is metadata too.
        """
        team, channel = audience.team_id, audience.channel_id
        visible = await self._catalog.visible(audience)
        return Status(
            documents=len(visible),
            pages=sum(document.page_count for document in visible),
            pending_jobs=await self._jobs.pending(),
            indexing=await self._channels.indexing(team, channel),
            followups=await self._channels.followups(team, channel),
            autoanswer=await self._channels.autoanswers(team, channel),
            answer_model=self._answer_model,
            vector_store=self._vector_store,
            workers=None if self._workers is None else await self._workers.live(),
        )

    async def home(self, audience: Audience, user_id: str) -> Home:
        """Documents ``audience`` may see, indexing channels, ``user_id``'s recent questions
        and their answers of the past week with the votes on them.

        Home is no channel: an audience with an empty channel id sees exactly the public
        documents of the workspace, or (a guest) none.
        """
        team_id = audience.team_id
        documents = await self._catalog.visible(audience)
        channels = await self._channels.indexed_channels(team_id)
        recent = await self._log.recent(team_id, HOME_RECENT, user_id=user_id)
        week = await self._log.feedback_since(
            self._clock() - HOME_WEEK, team_id=team_id, user_id=user_id
        )
        return Home(tuple(documents), tuple(channels), tuple(recent), tuple(week))

    async def suggested_prompts(
        self, audience: Audience, limit: int = MAX_PROMPTS
    ) -> list[SuggestedPrompt]:
        """Questions about the newest documents ``audience`` may ask about, one per name.

        Only documents that answer there are offered (the same rule as every answer), so
        a prompt never names a private channel's file to someone outside it.
        """
        names: list[str] = []
        for document in await self._catalog.visible(audience):
            if document.superseded_at is None and document.file_name not in names:
                names.append(document.file_name)
            if len(names) >= limit:
                break
        return [
            SuggestedPrompt(
                title=f"What's in {_short(name)}?",
                message=f"What's in {name}? Give me its main points.",
            )
            for name in names
        ]


def _short(name: str) -> str:
    return name if len(name) <= _PROMPT_NAME_CHARS else name[: _PROMPT_NAME_CHARS - 1] + "…"
