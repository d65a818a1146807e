"""Page images for answers and citations, re-rendered from the stored original.

One answer asks for pages twice: the model reads the top sources' pages, and the person gets
the cited ones. A ``PageBatch`` serves one answer, so each document is read from the store
once and each page (with the same highlight) is rendered once, whoever asks for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import TypeVar

from rag.answer._highlight import render_page_png
from rag.db import Catalog
from rag.types import BBox, Document, DocumentKind

T = TypeVar("T")
_PageKey = tuple[str, int, tuple[BBox, ...]]


class PageRenderer:
    """Renders stored documents' pages as PNG, optionally with passages highlighted."""

    def __init__(self, *, catalog: Catalog, dpi: int = 110) -> None:
        self._catalog = catalog
        self._dpi = dpi

    def batch(self) -> PageBatch:
        """A renderer for one answer: documents read once, pages rendered once."""
        return PageBatch(catalog=self._catalog, renderer=self)

    async def page_png(
        self, document_id: str, page_number: int, bboxes: Sequence[BBox] = ()
    ) -> bytes | None:
        """One page as PNG, or None when the document or the page is gone."""
        return await self.batch().page_png(document_id, page_number, bboxes)

    async def render(
        self, data: bytes, kind: DocumentKind, page_number: int, bboxes: Sequence[BBox]
    ) -> bytes:
        """Render a page of ``data`` in a thread (PyMuPDF and Pillow block)."""
        return await asyncio.to_thread(
            render_page_png, data, kind, page_number, tuple(bboxes), dpi=self._dpi
        )


class PageBatch:
    """The pages of one answer; concurrent requests for the same thing share one load."""

    def __init__(self, *, catalog: Catalog, renderer: PageRenderer) -> None:
        self._catalog = catalog
        self._renderer = renderer
        self._documents: dict[Hashable, asyncio.Future[Document | None]] = {}
        self._data: dict[Hashable, asyncio.Future[bytes]] = {}
        self._pages: dict[Hashable, asyncio.Future[bytes | None]] = {}

    async def document(self, document_id: str) -> Document | None:
        """The document's record (None when it was forgotten), read once per batch."""
        return await _once(self._documents, document_id, lambda: self._catalog.get(document_id))

    async def page_png(
        self, document_id: str, page_number: int, bboxes: Sequence[BBox] = ()
    ) -> bytes | None:
        """The page as PNG with ``bboxes`` highlighted, or None when it is not available."""
        key: _PageKey = (document_id, page_number, tuple(bboxes))
        return await _once(self._pages, key, lambda: self._render(*key))

    async def _render(
        self, document_id: str, page_number: int, bboxes: tuple[BBox, ...]
    ) -> bytes | None:
        document = await self.document(document_id)
        if document is None or not 1 <= page_number <= document.page_count:
            return None
        data = await _once(self._data, document_id, lambda: self._catalog.data(document_id))
        return await self._renderer.render(data, document.kind, page_number, bboxes)


async def _once(
    cache: dict[Hashable, asyncio.Future[T]], key: Hashable, load: Callable[[], Awaitable[T]]
) -> T:
    """``load()`` the first time ``key`` is asked for; later and concurrent callers share it."""
    future = cache.get(key)
    if future is None:
        future = cache[key] = asyncio.ensure_future(load())
    return await future
