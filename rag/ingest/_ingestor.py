"""Ingestor: one file -> parsed, embedded, indexed and recorded, idempotently."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from rag.db import Catalog
from rag.embed import Bm25Encoder, ClipEmbedder, TextEmbedder
from rag.embed._shared import fast_bfloat16, release_free_memory
from rag.errors import DocumentNotFound, FolioError
from rag.index import IndexPoint, PointPayload, VectorIndex
from rag.ingest._captions import Captioner
from rag.ingest._child import INGEST_NICE
from rag.ingest._chunk import chunk_document, document_header, table_head
from rag.ingest._isolate import ChildPool
from rag.ingest._parse import content_hash, parse_document
from rag.ingest._pipeline import (
    Commits,
    IngestSource,
    ParseAhead,
    Prepared,
    Read,
    outcome,
    parse_limits,
)
from rag.settings import Backend, ParseLimits, Precision
from rag.types import (
    BBox,
    Chunk,
    Document,
    IngestResult,
    PageInfo,
    ParsedDocument,
    PointKind,
    Scope,
    SparseVector,
)

logger = logging.getLogger(__name__)

_NAMESPACE = uuid.UUID("7d1c1f0e-5a0b-4b8e-9a57-0f0c6f1e2a11")
# The page text carried by a visual point (its caption when there is none better);
# the text model reads ~256 tokens, BM25 gets the whole page.
_VISUAL_TEXT_CHARS = 4000
# The document's own point reads its name and this many opening words: the title page
# or first lines, where a filing says whose it is and which period it covers.
_OPENING_WORDS = 80

# Parsed files waiting in ``ingest_many``'s queue, besides the one being parsed and the one
# taken for the embedders next: a run of small files after a long one is parsed ahead of
# the embedders, and memory stays bounded however many files there are.
_READ_AHEAD = 1

Progress = Callable[[str], None]
T = TypeVar("T")
U = TypeVar("U")


@dataclass(frozen=True, slots=True)
class _Visual:
    """A page render or a figure waiting to be embedded."""

    page_number: int
    kind: PointKind
    key: str
    png: bytes
    bboxes: tuple[BBox, ...]
    context: str
    section: str = ""  # the heading path at the top of its page


@dataclass(frozen=True, slots=True)
class _Work:
    """What one document gives the embedders: its chunks and visuals, and their texts."""

    chunks: list[Chunk]
    visuals: list[_Visual]
    texts: list[str]  # the chunks' texts, then each visual's caption or page text
    indexed: list[str]  # the same with the document header in front ("" for no text)
    distinct: list[str]  # the non-empty indexed texts, each once: what the text model reads
    opening: str  # the document's own point: its name and opening words
    heads: list[str]  # each text's head field for BM25: name, heading path, table title/header

    @classmethod
    def of(cls, file_name: str, parsed: ParsedDocument, captions: list[str | None]) -> _Work:
        """Lay out a parsed document for embedding."""
        header = document_header(file_name, parsed)
        chunks = chunk_document(parsed)
        visuals = _visuals(parsed)
        texts = [c.text for c in chunks] + [
            caption or v.context for caption, v in zip(captions, visuals, strict=True)
        ]
        # The header ties every passage to its document ("which company, which quarter")
        # and the heading path to its section ("Consolidated Balance Sheets"); figures
        # share their page's text, so each distinct text is embedded once.
        places = [c.heading_path for c in chunks] + [v.section for v in visuals]
        indexed = [
            "\n".join(part for part in (header, place, text) if part) if text else ""
            for place, text in zip(places, texts, strict=True)
        ]
        opening = document_header(file_name, parsed, words=_OPENING_WORDS)
        distinct = list(dict.fromkeys([*(t for t in indexed if t), opening]))
        name = document_header(file_name, parsed, words=0)
        heads = [
            "\n".join(part for part in (name, place, table_head(text)) if part) if text else ""
            for place, text in zip(places, texts, strict=True)
        ]
        return cls(chunks, visuals, texts, indexed, distinct, opening, heads)

    @property
    def pictures(self) -> list[bytes]:
        """The page renders and figures, in point order: what CLIP reads."""
        return [v.png for v in self.visuals]


def embedding_inputs(file_name: str, parsed: ParsedDocument) -> tuple[list[str], list[bytes]]:
    """The texts and pictures ingesting ``parsed`` embeds (no captions), for benchmarks."""
    work = _Work.of(file_name, parsed, [None] * len(_visuals(parsed)))
    return work.distinct, work.pictures


class Ingestor:
    """Parses, embeds, indexes and records documents; the same bytes twice is a no-op.

    Each file goes through two steps: *prepare* (hash check, parse in a child process,
    captions over the network) and *commit* (embed, then index and record). ``ingest_many``
    prepares the next files while it embeds the current one and stores the one before, so
    the parse child, the vision model and the stores work while the embedders do.
    """

    def __init__(
        self,
        *,
        catalog: Catalog,
        index: VectorIndex,
        clip: ClipEmbedder,
        text: TextEmbedder,
        bm25: Bm25Encoder,
        limits: ParseLimits,
        captioner: Captioner | None = None,
        embedder: ChildEmbedder | None = None,
        token_vectors: bool = False,
    ) -> None:
        self._catalog = catalog
        self._embedder = embedder
        self._index = index
        self._clip = clip
        self._text = text
        self._bm25 = bm25
        self._captioner = captioner
        self._token_vectors = token_vectors
        self._limits = parse_limits(
            limits, input_side=clip.input_side, captions=captioner is not None
        )
        self._compactions: set[asyncio.Task[None]] = set()

    @property
    def limits(self) -> ParseLimits:
        """What this ingestor parses with (renders shrunk to CLIP's side without captions)."""
        return self._limits

    async def ingest(
        self,
        data: bytes,
        *,
        file_name: str,
        scope: Scope,
        slack_file_id: str | None = None,
        uploader_id: str | None = None,
        permalink: str | None = None,
        progress: Progress | None = None,
    ) -> IngestResult:
        """Index ``data`` for ``scope``; a FolioError leaves the index and database unchanged."""
        prepared = await self._prepare(
            data,
            file_name=file_name,
            scope=scope,
            extra=(slack_file_id, uploader_id, permalink),
            progress=progress,
        )
        if isinstance(prepared, IngestResult):
            return prepared
        return await self._commit(prepared, progress)

    async def ingest_many(
        self,
        sources: Iterable[IngestSource],
        *,
        scope: Scope,
        ahead: ParseAhead | None = None,
        pool: ChildPool | None = None,
    ) -> AsyncIterator[tuple[IngestSource, IngestResult | FolioError]]:
        """Ingest files in order, parsing, embedding and storing side by side.

        A reader parses the files one after another into a bounded queue; the embedders
        take one file at a time; a file is stored (index, database) while the next one
        embeds. A few files at most are in memory at once (see ``_READ_AHEAD``), so memory
        stays flat however many files there are. Parsing runs niced, as ``ingest``'s does:
        it is a tenth of the embedders' CPU, and a parse child at their priority takes a
        core from a team of model threads, which then waits for it (financebench's ingest
        on an AVX-512 AMD, one run each: the embedders busy 138.8 s with parses at nice
        0, 131-137 s in three at nice 10, where parsing stretched from 19 to 28 s and
        still kept ahead of the embedders).

        Files that ``ahead`` read and parsed already (with this ingestor's limits) are taken
        from it. The others are parsed in ``pool``'s child, or in one this call starts and
        stops (see ``parse_document``). Yields each source with its result, or with the
        FolioError that stopped it (the other files go on), in the order given.
        """
        async with contextlib.AsyncExitStack() as stack:
            if pool is None:  # one child for the batch, at ingest's priority
                pool = ChildPool(size=1, memory_mb=self._limits.memory_mb, nice=INGEST_NICE)
                stack.push_async_callback(pool.close)
            queue: asyncio.Queue[Read] = asyncio.Queue(_READ_AHEAD)
            read = self._read_ahead(iter(sources), scope, queue, ahead, pool)
            reader = asyncio.create_task(read)
            commits = Commits(embed=self._embed, record=self._record)
            taking: asyncio.Task[Read] | None = asyncio.create_task(queue.get())
            try:
                while taking is not None or commits.running:
                    # Two commits at most: one embedding, the one before it storing.
                    ready = await commits.wait(taking if commits.running < 2 else None)
                    if taking is not None and taking in ready:
                        more = commits.start(taking.result())
                        taking = asyncio.create_task(queue.get()) if more else None
                    for done in commits.finished():
                        yield done
                commits.raise_error()
            finally:
                for task in (reader, taking, *commits.tasks):
                    if task is not None:
                        task.cancel()
                await asyncio.gather(
                    reader, *commits.tasks, *(t for t in (taking,) if t), return_exceptions=True
                )

    async def _read_ahead(
        self,
        sources: Iterator[IngestSource],
        scope: Scope,
        queue: asyncio.Queue[Read],
        ahead: ParseAhead | None,
        pool: ChildPool,
    ) -> None:
        """Parse each source in turn into ``queue``; None after the last, or the error."""
        try:
            for source in sources:
                read = self._read_one(source, scope, ahead, pool)
                await queue.put((source, await outcome(read)))
            await queue.put(None)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: B036 - the consumer re-raises it
            await queue.put(exc)

    async def _read_one(
        self, source: IngestSource, scope: Scope, ahead: ParseAhead | None, pool: ChildPool
    ) -> Prepared | IngestResult:
        early = ahead.take(source, self._limits) if ahead is not None else None
        if early is not None:
            data, parsed = await early
            return await self._prepare(data, file_name=source.file_name, scope=scope, parsed=parsed)
        # Read here, not up front, so only the files in flight are held in memory.
        data = await asyncio.to_thread(source.read)
        return await self._prepare(data, file_name=source.file_name, scope=scope, pool=pool)

    async def _prepare(
        self,
        data: bytes,
        *,
        file_name: str,
        scope: Scope,
        extra: tuple[str | None, str | None, str | None] = (None, None, None),
        progress: Progress | None = None,
        parsed: ParsedDocument | None = None,
        pool: ChildPool | None = None,
    ) -> Prepared | IngestResult:
        # Hashing (and below, BM25 encoding) runs off the event loop: it shares the bot's.
        digest = await asyncio.to_thread(content_hash, data)
        existing = await self._current_by_hash(scope, digest)
        if existing is not None:
            logger.info("ingest skipped document=%s (same bytes already indexed)", existing.id)
            return IngestResult(document=existing, created=False)
        if parsed is None:
            _say(progress, f"reading {file_name}")
            parsed = await parse_document(data, file_name, self._limits, pool=pool)
        slack_file_id, uploader_id, permalink = extra
        document = Document(
            id=document_id(scope, digest),
            scope=scope,
            file_name=file_name,
            content_hash=digest,
            kind=parsed.kind,
            page_count=len(parsed.pages),
            figure_count=parsed.figure_count,
            created_at=datetime.now(UTC),
            slack_file_id=slack_file_id,
            uploader_id=uploader_id,
            permalink=permalink,
        )
        captions = await self._captions(document.id, _visuals(parsed))
        return Prepared(document, parsed, captions, data)

    async def _commit(self, prepared: Prepared, progress: Progress | None) -> IngestResult:
        started = time.perf_counter()
        embedded = await self._embed(prepared, progress=progress)
        if isinstance(embedded, IngestResult):
            return embedded
        return await self._record(prepared, embedded, started)

    async def _embed(
        self,
        prepared: Prepared,
        models: asyncio.Lock | None = None,
        progress: Progress | None = None,
    ) -> list[IndexPoint] | IngestResult:
        """The document's points, or the recorded document when these bytes already are.

        ``models`` is held while the models run (see ``Commits``).
        """
        document, parsed = prepared.document, prepared.parsed
        # The same bytes may have been committed while these were being parsed.
        existing = await self._current_by_hash(document.scope, document.content_hash)
        if existing is not None:
            return IngestResult(document=existing, created=False)
        _say(progress, f"embedding {len(parsed.pages)} pages")
        return await self._points(document, parsed, prepared.captions, models)

    async def _record(
        self, prepared: Prepared, points: list[IndexPoint], started: float
    ) -> IngestResult:
        """Store the points and the document's rows (unless another worker just did)."""
        document, parsed = prepared.document, prepared.parsed
        # Another worker may be storing the same bytes (two shares of one file): one at a
        # time, and the second finds the document recorded and adds nothing, so its clean-up
        # never deletes the first one's points.
        async with self._catalog.exclusive(document.id):
            existing = await self._current_by_hash(document.scope, document.content_hash)
            if existing is not None:
                return IngestResult(document=existing, created=False)
            await self._store(document, parsed, points, prepared.data)
        logger.info(
            "ingested document=%s team=%s channel=%s pages=%d figures=%d points=%d in %.1f s",
            document.id,
            document.scope.team_id,
            document.scope.channel_id,
            document.page_count,
            document.figure_count,
            len(points),
            time.perf_counter() - started,
        )
        return IngestResult(document=document, created=True)

    async def reindex(self, document: Document) -> int:
        """Rebuild a recorded document's points in this ingestor's index from its stored file.

        For ``folio reindex``: the catalog's rows stay as they are; the points are replaced
        and the document is marked complete in the catalog's generation. Returns the count.
        """
        if document.superseded:  # it answers no more: nothing to rebuild
            await self._catalog.mark_indexed(document.id)
            return 0
        data = await self._catalog.data(document.id)
        parsed = await parse_document(data, document.file_name, self._limits)
        # Office and text files are stored as the PDF they were read from: keep their kind.
        parsed = dataclasses.replace(parsed, kind=document.kind)
        captions = await self._captions(document.id, _visuals(parsed))
        points = await self._points(document, parsed, captions)
        await self._index.delete_document(document.id)
        await self._index.upsert(points)
        await self._catalog.mark_indexed(document.id)
        return len(points)

    async def _current_by_hash(self, scope: Scope, digest: str) -> Document | None:
        existing = await self._catalog.find_by_hash(scope, digest)
        if existing is None or not existing.superseded:
            return existing
        # These bytes come back after a newer version replaced them: they become the newest
        # version, indexed afresh (the superseded record goes, it holds no vectors).
        with contextlib.suppress(DocumentNotFound):
            await self.forget(existing.id)
        return None

    async def retire(self, document_id: str) -> None:
        """Take a replaced version out of the index; its record stays, marked superseded."""
        await self._index.delete_document(document_id)
        await self._catalog.supersede(document_id)

    async def forget(self, document_id: str) -> list[str]:
        """Remove every point and row of a document; its text then leaves the index's files.

        The catalog deletes its rows, bytes, captions, jobs and the answers that quoted it;
        the index vacuums its points out of storage in the background (``compacted``).
        Returns the chat file ids of the page images posted with those answers, for the
        adapter to delete.
        """
        uploads = await self._catalog.uploads_showing(document_id)
        await self._index.delete_document(document_id)
        if not await self._catalog.delete(document_id):
            raise DocumentNotFound()
        task = asyncio.create_task(self._index.compact())
        self._compactions.add(task)
        task.add_done_callback(self._compaction_done)
        return uploads

    async def compacted(self) -> None:
        """Wait until the index has vacuumed everything forgotten so far."""
        while self._compactions:
            await asyncio.gather(*self._compactions, return_exceptions=True)

    def _compaction_done(self, task: asyncio.Task[None]) -> None:
        self._compactions.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("compacting the index after a forget failed: %s", task.exception())

    async def _store(
        self, document: Document, parsed: ParsedDocument, points: list[IndexPoint], data: bytes
    ) -> None:
        pages = [
            PageInfo(p.number, p.width, p.height, p.text, len(p.figures)) for p in parsed.pages
        ]
        # Leftovers of an attempt that crashed mid-way share these ids; clear them first.
        await self._index.delete_document(document.id)
        try:
            await self._index.upsert(points)
            # Office and text files keep the PDF their pages were read from: it renders the
            # cited pages for answers without converting again.
            await self._catalog.add(document, pages, parsed.rendition or data, len(data))
        except BaseException:
            await asyncio.shield(self._index.delete_document(document.id))
            raise

    async def _points(
        self,
        document: Document,
        parsed: ParsedDocument,
        captions: list[str | None],
        models: asyncio.Lock | None = None,
    ) -> list[IndexPoint]:
        if self._embedder is not None:
            async with models or contextlib.nullcontext():
                return await self._embedder.points(document, parsed, captions)
        return await build_points(
            document,
            parsed,
            captions,
            clip=self._clip,
            text=self._text,
            bm25=self._bm25,
            token_vectors=self._token_vectors,
            models=models,
        )

    async def _captions(self, owner: str, visuals: Sequence[_Visual]) -> list[str | None]:
        if self._captioner is None or not visuals:
            return [None] * len(visuals)
        return await self._captioner.caption(
            [v.png for v in visuals], [v.context for v in visuals], owner=owner
        )


async def build_points(
    document: Document,
    parsed: ParsedDocument,
    captions: list[str | None],
    *,
    clip: ClipEmbedder,
    text: TextEmbedder,
    bm25: Bm25Encoder,
    token_vectors: bool = False,
    models: asyncio.Lock | None = None,
) -> list[IndexPoint]:
    """A parsed document's points: its passages and visuals, embedded, with BM25 vectors.

    With ``token_vectors`` the passages and page points also carry the text model's token
    vectors, from the same forward pass as their embeddings. ``models``, if given, is held
    only while the models run: laying the document out and BM25 come before and after.
    """
    work = _Work.of(document.file_name, parsed, captions)
    tokens: dict[str, Any] = {}
    async with models or contextlib.nullcontext():
        if token_vectors:
            (matrix, rows), pictures = await _both(
                text.aembed_with_tokens(work.distinct), clip.aembed_images(work.pictures)
            )
            tokens = dict(zip(work.distinct, rows, strict=True))
        else:
            matrix, pictures = await _both(
                text.aembed(work.distinct), clip.aembed_images(work.pictures)
            )
    vectors: list[list[float]] = matrix.tolist()
    by_text = dict(zip(work.distinct, vectors, strict=True))
    clip_vectors = pictures.tolist()
    points = await asyncio.to_thread(_assemble, document, work, by_text, clip_vectors, bm25, tokens)
    await asyncio.to_thread(release_free_memory)
    return points


async def _both(text: Coroutine[Any, Any, T], clip: Coroutine[Any, Any, U]) -> tuple[T, U]:
    """The text model's work and CLIP's: side by side where the CPU has AMX, else in turn.

    Each model spreads its batches over every core. With AMX, running the two at once
    fills one's Python work and batch edges with the other's math (bench.ingest's models
    alone on the corpus: 132.7 s side by side, 141.6 s in turn); without it, the two
    teams of threads contend for the cores and spin, and in turn is faster (AVX-512
    AMD, two filings: 18.7 s in turn, 21.5 s side by side, 15% more CPU).
    """
    if fast_bfloat16():
        together = await asyncio.gather(text, clip)
        return together[0], together[1]
    try:
        first = await text
    except BaseException:
        clip.close()
        raise
    return first, await clip


@dataclass(frozen=True, slots=True)
class EmbedModels:
    """The models an embedding child loads (the same ones the parent loaded)."""

    clip: str
    text: str
    precision: Precision
    token_vectors: bool = False
    backend: Backend = "torch"
    cache: Path | None = None


def points_in_child(
    models: EmbedModels, document: Document, parsed: ParsedDocument, captions: list[str | None]
) -> list[IndexPoint]:
    """``build_points`` in an embedding child; its models load once and stay loaded."""
    clip = ClipEmbedder.load(
        models.clip, precision=models.precision, backend=models.backend, cache=models.cache
    )
    text = TextEmbedder.load(
        models.text, precision=models.precision, backend=models.backend, cache=models.cache
    )
    return asyncio.run(
        build_points(
            document,
            parsed,
            captions,
            clip=clip,
            text=text,
            bm25=Bm25Encoder(),
            token_vectors=models.token_vectors,
        )
    )


class ChildEmbedder:
    """Embeds documents in a long-lived child process with its own copy of the models.

    ``folio serve`` with the embedded stores indexes shared files in-process: this keeps the
    embedding (tokenizers, CLIP's image processing, BM25) off the bot's event loop and GIL,
    while the bot stays the single owner of the stores and writes the points itself.
    """

    def __init__(self, *, pool: ChildPool, models: EmbedModels, timeout_s: float) -> None:
        self._pool = pool
        self._models = models
        self._timeout_s = timeout_s

    async def points(
        self, document: Document, parsed: ParsedDocument, captions: list[str | None]
    ) -> list[IndexPoint]:
        """The document's points, computed in the child."""
        return await self._pool.run(
            points_in_child,
            self._models,
            document,
            parsed,
            captions,
            timeout_s=self._timeout_s,
            label=document.file_name,
        )

    @property
    def pids(self) -> list[int]:
        """The embedding child's process id, while it runs."""
        return self._pool.pids

    async def close(self) -> None:
        """Stop the child."""
        await self._pool.close()


def _assemble(
    document: Document,
    work: _Work,
    by_text: dict[str, list[float]],
    clip_vectors: list[list[float]],
    bm25: Bm25Encoder,
    tokens: dict[str, Any],
) -> list[IndexPoint]:
    """The points of a document from its vectors, with their BM25 vectors (blocking).

    Passages and page points carry their text's token vectors, when there are any; a
    figure reads its page's text (the page point holds those tokens already), and the
    document's own point is ranked by the document stage, which does not re-rank.
    """
    points = []
    for i, chunk in enumerate(work.chunks):
        payload = _payload(document, chunk.page_number, "chunk", chunk.text, chunk.bboxes)
        key = f"chunk/{chunk.page_number}/{chunk.index}"
        point = _point(document, key, payload, work.indexed[i], by_text, bm25)
        rows = tokens.get(work.indexed[i])
        points.append(dataclasses.replace(point, bm25_head=_head(work.heads[i], bm25), tokens=rows))
    offset = len(work.chunks)
    for j, visual in enumerate(work.visuals):
        text = work.texts[offset + j]
        payload = _payload(document, visual.page_number, visual.kind, text, visual.bboxes)
        point = _point(document, visual.key, payload, work.indexed[offset + j], by_text, bm25)
        rows = tokens.get(work.indexed[offset + j]) if visual.kind == "page" else None
        head = _head(work.heads[offset + j], bm25)
        points.append(dataclasses.replace(point, clip=clip_vectors[j], bm25_head=head, tokens=rows))
    # One point for the whole document (what the document stage ranks), on its first page.
    payload = _payload(document, 1, "document", work.opening, ())
    points.append(_point(document, "document", payload, work.opening, by_text, bm25))
    return points


def _point(
    document: Document,
    key: str,
    payload: PointPayload,
    indexed: str,
    vectors: dict[str, list[float]],
    bm25: Bm25Encoder,
) -> IndexPoint:
    encoded = bm25.encode_document(indexed) if indexed else None
    return IndexPoint(
        id=_point_id(document.id, key),
        payload=payload,
        text=vectors.get(indexed),
        bm25=encoded if encoded is not None and encoded.indices else None,
    )


def _head(head: str, bm25: Bm25Encoder) -> SparseVector | None:
    encoded = bm25.encode_document(head) if head else None
    return encoded if encoded is not None and encoded.indices else None


def document_id(scope: Scope, digest: str) -> str:
    """The stable id of these bytes in this channel (a resumed job reuses it)."""
    return str(uuid.uuid5(_NAMESPACE, f"{scope.team_id}/{scope.channel_id}/{digest}"))


def _point_id(document_id: str, key: str) -> str:
    return str(uuid.uuid5(uuid.UUID(document_id), key))


def _visuals(parsed: ParsedDocument) -> list[_Visual]:
    visuals = []
    for page in parsed.pages:
        context = page.text[:_VISUAL_TEXT_CHARS]
        section = " › ".join(page.blocks[0].section) if page.blocks else ""
        visuals.append(
            _Visual(
                page.number, "page", f"page/{page.number}", page.render_png, (), context, section
            )
        )
        for figure in page.figures:
            visuals.append(
                _Visual(
                    page.number,
                    "figure",
                    f"figure/{page.number}/{figure.index}",
                    figure.png,
                    (figure.bbox,),
                    context,
                    section,
                )
            )
    return visuals


def _payload(
    document: Document, page_number: int, kind: PointKind, text: str, bboxes: tuple[BBox, ...]
) -> PointPayload:
    return PointPayload(
        team_id=document.scope.team_id,
        channel_id=document.scope.channel_id,
        channel_private=document.scope.channel_private,
        document_id=document.id,
        file_name=document.file_name,
        page_number=page_number,
        kind=kind,
        text=text,
        bboxes=bboxes,
    )


def _say(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress(message)
