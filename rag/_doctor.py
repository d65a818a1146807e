"""`folio doctor`: is the configuration sound, do the models load, are the stores reachable?"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from rag.db.migrate import current_revision, head_revision
from rag.embed import ClipEmbedder, TextEmbedder
from rag.errors import ConfigError, FolioError, IndexUnavailable
from rag.index import VectorDims
from rag.settings import Settings


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the doctor's report."""

    name: str
    ok: bool
    detail: str


async def run_checks(settings: Settings) -> list[Check]:
    """Run every check; each failure is one sentence, never a traceback."""
    checks = [_configuration(settings)]
    checks.append(await _check("database", lambda: _database(settings)))
    dims: dict[str, int] = {}
    checks.append(await _check("CLIP model", lambda: _clip(settings, dims)))
    checks.append(await _check("text model", lambda: _text(settings, dims)))
    if len(dims) == 2:
        checks.append(await _check("vector store", lambda: _vectors(settings, dims)))
    return checks


def _configuration(settings: Settings) -> Check:
    slack = "Socket Mode" if settings.slack_app_token else "HTTP mode"
    if settings.slack_bot_token is None:
        slack = "not configured (SLACK_BOT_TOKEN unset; `folio serve` will not start)"
    model = (
        f"{settings.llm.answer_model} at {settings.openai_base_url or 'OpenAI'}"
        if settings.openai_api_key
        else "none (extractive answers; set OPENAI_API_KEY for model answers)"
    )
    vectors = settings.qdrant_url or f"embedded Qdrant Edge in {settings.qdrant_path}"
    detail = f"data dir {settings.data_dir}; Slack {slack}; answer model {model}; vectors {vectors}"
    return Check("configuration", True, detail)


async def _check(name: str, probe: Callable[[], Awaitable[str]]) -> Check:
    try:
        return Check(name, True, await probe())
    except ConfigError as exc:
        return Check(name, False, exc.detail or exc.user_message)
    except FolioError as exc:
        return Check(name, False, exc.user_message)


async def _database(settings: Settings) -> str:
    revision = await current_revision(settings.database_url)
    head = head_revision()
    scheme = settings.database_url.split(":", 1)[0]
    if revision != head:
        raise FolioError(
            f"The {scheme} database is at revision {revision or 'none'}, not {head}; "
            "run `folio db upgrade`."
        )
    return f"{scheme} reachable, schema at {head}"


async def _clip(settings: Settings, dims: dict[str, int]) -> str:
    clip = await asyncio.to_thread(
        partial(ClipEmbedder.load, settings.clip_model, precision=settings.embed_precision)
    )
    dims["clip"] = clip.dim
    return f"{settings.clip_model} loaded ({clip.dim} dimensions)"


async def _text(settings: Settings, dims: dict[str, int]) -> str:
    text = await asyncio.to_thread(
        partial(TextEmbedder.load, settings.text_model, precision=settings.embed_precision)
    )
    dims["text"] = text.dim
    return f"{settings.text_model} loaded ({text.dim} dimensions)"


async def _vectors(settings: Settings, dims: dict[str, int]) -> str:
    from rag._services import settings_index

    index = settings_index(settings)
    try:
        await index.open(VectorDims(clip=dims["clip"], text=dims["text"]))
        points = await index.count()
    except IndexUnavailable as exc:
        if settings.qdrant_url is None:
            raise
        raise FolioError(
            f"The Qdrant server at QDRANT_URL={settings.qdrant_url} cannot be used "
            f"({exc.detail or 'no answer'})."
        ) from exc
    finally:
        await index.close()
    return f"reachable, {points} points"
