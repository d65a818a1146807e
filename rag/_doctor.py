"""`folio doctor`: is the configuration sound, do the models load, are the stores reachable?"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from rag.db.generations import Generation, Generations
from rag.db.migrate import current_revision, head_revision
from rag.embed import ClipEmbedder, TextEmbedder, vector_models
from rag.errors import ConfigError, FolioError, IndexUnavailable
from rag.index import VectorDims
from rag.settings import Settings


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the doctor's report."""

    name: str
    ok: bool
    detail: str
    # Optional parts (LibreOffice, OCR) warn without failing the doctor.
    required: bool = True

    @property
    def mark(self) -> str:
        """✓, ✗ for a failed required check, or ! for a missing optional part."""
        if self.ok:
            return "✓"
        return "✗" if self.required else "!"


async def run_checks(settings: Settings) -> list[Check]:
    """Run every check; each failure is one sentence, never a traceback."""
    checks = [_configuration(settings)]
    checks.append(await _check("database", lambda: _database(settings)))
    dims: dict[str, int] = {}
    checks.append(await _check("CLIP model", lambda: _clip(settings, dims)))
    checks.append(await _check("text model", lambda: _text(settings, dims)))
    if len(dims) == 2:
        checks.append(await _check("vector store", lambda: _vectors(settings, dims)))
    checks.append(await asyncio.to_thread(_libreoffice))
    checks.append(await asyncio.to_thread(_ocr, settings))
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


def _libreoffice() -> Check:
    from rag.ingest._office import INSTALL_ALL, find_soffice

    name = "LibreOffice"
    soffice = find_soffice()
    if soffice is None:
        return Check(
            name,
            False,
            "not found on PATH, so Word, PowerPoint, Excel, OpenDocument, RTF and CSV files "
            f"are refused; install it (Debian or Ubuntu: {INSTALL_ALL}).",
            required=False,
        )
    try:
        version = subprocess.run(
            [soffice, "--version"], capture_output=True, text=True, timeout=60, check=False
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return Check(name, False, f"{soffice} does not run ({exc}).", required=False)
    return Check(name, True, f"{version or soffice} at {soffice}: Office files are read")


def _ocr(settings: Settings) -> Check:
    if not settings.parse.ocr:
        detail = "off (FOLIO_OCR=off): scanned pages are indexed as pictures, without words"
        return Check("OCR", True, detail)
    try:
        from rag.ingest._ocr import engine_version

        version = engine_version()
    except (ImportError, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return Check(
            "OCR",
            False,
            f"RapidOCR does not load ({first}), so scanned pages get no words; reinstall "
            "folio's dependencies.",
            required=False,
        )
    return Check("OCR", True, f"{version}: pages without a text layer are read")


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
        partial(
            ClipEmbedder.load,
            settings.clip_model,
            precision=settings.embed_precision,
            backend=settings.embed_backend,
            cache=settings.model_cache,
        )
    )
    dims["clip"] = clip.dim
    return f"{settings.clip_model} loaded ({clip.dim} dimensions, {clip.backend})"


async def _text(settings: Settings, dims: dict[str, int]) -> str:
    text = await asyncio.to_thread(
        partial(
            TextEmbedder.load,
            settings.text_model,
            precision=settings.embed_precision,
            backend=settings.embed_backend,
            cache=settings.model_cache,
        )
    )
    dims["text"] = text.dim
    return f"{settings.text_model} loaded ({text.dim} dimensions, {text.backend})"


async def _vectors(settings: Settings, dims: dict[str, int]) -> str:
    from rag._services import settings_index

    generation = await _active_generation(settings)
    index = settings_index(settings, generation.store if generation else "")
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
    if generation is not None:
        clip = await asyncio.to_thread(ClipEmbedder.load, settings.clip_model)
        text = await asyncio.to_thread(TextEmbedder.load, settings.text_model)
        if not generation.models.same_vectors(await asyncio.to_thread(vector_models, clip, text)):
            raise FolioError(
                f"The vectors were made by {generation.models.describe()}, not the configured "
                "models; run `folio reindex`."
            )
    return f"reachable, {points} points"


async def _active_generation(settings: Settings) -> Generation | None:
    """The active generation recorded in the database (None when none is, or unreachable)."""
    from rag.db import create_engine, session_factory

    engine = create_engine(settings.database_url)
    try:
        return await Generations(sessions=session_factory(engine)).active()
    except FolioError:
        return None
    finally:
        await engine.dispose()
