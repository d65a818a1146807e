"""Page images for answers and citations, re-rendered from the stored original.

One answer asks for pages twice: the model reads the top sources' pages, and the person gets
the cited ones. A ``PageBatch`` serves one answer, so each document is read from the store
once and each page (with the same highlight) is rendered once, whoever asks for it. Across
answers the renderer keeps the latest renders (``cache_bytes`` of PNG): a team asks about
the same pages again and again, and a document's id names its bytes, so a kept render is
served without reading the original or drawing it again (bench.load at 10 questions a
second while indexing: the render children took 72 of the two cores' ~236 CPU-seconds,
3 with the renders kept).

Renders run in a pool of isolated child processes (``ChildPool``), with the parse child's
memory limit and a deadline per page: PyMuPDF holds the GIL while it draws, so a heavy
page drawn in a thread would stall the bot's event loop. A page that fails or runs past its
deadline is left out, and the batch says why (``notes``), so the answer can say so.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import TypeVar

from rag._images import MAX_RENDER_SIDE, QUESTION_PICTURE_PIXELS, picture_png
from rag.answer._highlight import render_page_png
from rag.answer._prompts import MAX_IMAGE_SIDE
from rag.db import Catalog
from rag.errors import DocumentError, ParseTimeout
from rag.ingest._isolate import ChildPool
from rag.types import BBox, Document, DocumentKind, page_label

logger = logging.getLogger(__name__)

T = TypeVar("T")
_PageKey = tuple[str, int, tuple[BBox, ...]]
# PNG kept across answers: ~100-300 KB a page at the model's image size.
CACHE_BYTES = 32 * 2**20


class PageRenderer:
    """Renders stored documents' pages as PNG, optionally with passages highlighted."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        pool: ChildPool,
        dpi: int = 110,
        max_side: int = MAX_IMAGE_SIDE,
        timeout_s: float = 20.0,
        cache_bytes: int = CACHE_BYTES,
    ) -> None:
        self._catalog = catalog
        self._pool = pool
        self._dpi = dpi
        # The model's image size: one render serves the model as it is (re-encoding a
        # larger one for it cost ~70 ms of the bot's CPU a page) and the person in Slack.
        self._max_side = max_side
        self._timeout_s = timeout_s
        # Stored documents' renders, least recently used first; ids never change bytes.
        self._kept: OrderedDict[_PageKey, bytes] = OrderedDict()
        self._kept_bytes = 0
        self._cache_bytes = cache_bytes

    def batch(self) -> PageBatch:
        """A renderer for one answer: documents read once, pages rendered once."""
        return PageBatch(catalog=self._catalog, renderer=self)

    async def page_png(
        self, document_id: str, page_number: int, bboxes: Sequence[BBox] = ()
    ) -> bytes | None:
        """One page as PNG, or None when the document or the page is gone or cannot be drawn."""
        return await self.batch().page_png(document_id, page_number, bboxes)

    async def render(
        self, data: bytes, kind: DocumentKind, page_number: int, bboxes: Sequence[BBox]
    ) -> bytes:
        """Render a page of ``data`` in a pool child; ParseTimeout past the deadline."""
        draw = functools.partial(render_page_png, dpi=self._dpi, max_side=self._max_side)
        return await self._pool.run(
            draw,
            data,
            kind,
            page_number,
            tuple(bboxes),
            timeout_s=self._timeout_s,
            label=f"page {page_number}",
        )

    def kept(self, key: _PageKey) -> bytes | None:
        """A stored document's page as rendered for an earlier answer, if still kept."""
        png = self._kept.get(key)
        if png is not None:
            self._kept.move_to_end(key)
        return png

    def keep(self, key: _PageKey, png: bytes) -> None:
        """Keep a stored document's render, forgetting the least recently used past the cap."""
        if len(png) > self._cache_bytes or key in self._kept:
            return
        self._kept[key] = png
        self._kept_bytes += len(png)
        while self._kept_bytes > self._cache_bytes:
            _, dropped = self._kept.popitem(last=False)
            self._kept_bytes -= len(dropped)

    async def picture(self, data: bytes, name: str) -> bytes:
        """A question's picture decoded in a pool child (never here), as folio's own PNG.

        Call it only on bytes ``question_picture`` accepted; past the pixel cap it is a
        PageTooLarge, unreadable a CorruptDocument, both naming ``name``.
        """
        decode = functools.partial(
            picture_png, max_pixels=QUESTION_PICTURE_PIXELS, max_side=MAX_RENDER_SIDE
        )
        return await self._pool.run(decode, data, name, timeout_s=self._timeout_s, label=name)

    @property
    def pids(self) -> list[int]:
        """The process ids of the render children running now."""
        return self._pool.pids

    async def close(self) -> None:
        """Stop the render children."""
        await self._pool.close()


class PageBatch:
    """The pages of one answer; concurrent requests for the same thing share one load."""

    def __init__(self, *, catalog: Catalog, renderer: PageRenderer) -> None:
        self._catalog = catalog
        self._renderer = renderer
        self._documents: dict[Hashable, asyncio.Future[Document | None]] = {}
        self._data: dict[Hashable, asyncio.Future[bytes]] = {}
        self._pages: dict[Hashable, asyncio.Future[bytes | None]] = {}
        self._failed: dict[tuple[str, int], str] = {}
        self._unstored: set[str] = set()

    def add(self, document: Document, data: bytes) -> None:
        """A document in no store (a file attached to the question), drawn from ``data``."""
        self._unstored.add(document.id)  # its renders are not kept for other answers
        loop = asyncio.get_running_loop()
        self._documents[document.id] = loop.create_future()
        self._documents[document.id].set_result(document)
        self._data[document.id] = loop.create_future()
        self._data[document.id].set_result(data)

    async def document(self, document_id: str) -> Document | None:
        """The document's record (None when it was forgotten), read once per batch."""
        return await _once(self._documents, document_id, lambda: self._catalog.get(document_id))

    async def page_png(
        self, document_id: str, page_number: int, bboxes: Sequence[BBox] = ()
    ) -> bytes | None:
        """The page as PNG with ``bboxes`` highlighted, or None when it is not available."""
        key: _PageKey = (document_id, page_number, tuple(bboxes))
        return await _once(self._pages, key, lambda: self._render(*key))

    def why_missing(self, document_id: str, page_number: int) -> str | None:
        """Why a page of an existing document was not drawn ("took too long to draw")."""
        return self._failed.get((document_id, page_number))

    async def _render(
        self, document_id: str, page_number: int, bboxes: tuple[BBox, ...]
    ) -> bytes | None:
        document = await self.document(document_id)
        if document is None or not 1 <= page_number <= document.page_count:
            return None
        key: _PageKey = (document_id, page_number, bboxes)
        stored = document_id not in self._unstored
        png = self._renderer.kept(key) if stored else None
        if png is not None:
            return png
        data = await _once(self._data, document_id, lambda: self._catalog.data(document_id))
        try:
            png = await self._renderer.render(data, document.kind, page_number, bboxes)
        except DocumentError as exc:
            where = page_label(document.file_name, page_number)
            logger.warning("%s of %s not drawn: %s", where, document_id, exc.detail or exc)
            why = "took too long to draw" if isinstance(exc, ParseTimeout) else "could not be drawn"
            self._failed[(document_id, page_number)] = why
            return None
        if stored:
            self._renderer.keep(key, png)
        return png


async def _once(
    cache: dict[Hashable, asyncio.Future[T]], key: Hashable, load: Callable[[], Awaitable[T]]
) -> T:
    """``load()`` the first time ``key`` is asked for; later and concurrent callers share it."""
    future = cache.get(key)
    if future is None:
        future = cache[key] = asyncio.ensure_future(load())
    return await future
