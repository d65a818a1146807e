"""Page images for answers and citations, re-rendered from the stored original."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from rag.answer._highlight import render_page_png
from rag.db import Catalog
from rag.types import BBox


class PageRenderer:
    """Renders a stored document's page as PNG, optionally with passages highlighted."""

    def __init__(self, *, catalog: Catalog, dpi: int = 110) -> None:
        self._catalog = catalog
        self._dpi = dpi

    async def page_png(
        self, document_id: str, page_number: int, bboxes: Sequence[BBox] = ()
    ) -> bytes | None:
        """The page as PNG, or None when the document is gone."""
        document = await self._catalog.get(document_id)
        if document is None or not 1 <= page_number <= document.page_count:
            return None
        data = await self._catalog.data(document_id)
        return await asyncio.to_thread(
            render_page_png, data, document.kind, page_number, tuple(bboxes), dpi=self._dpi
        )
