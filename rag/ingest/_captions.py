"""Captioner: retrieval-oriented captions for figures at ingest, cached by image hash."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from typing import Protocol

from rag._llm import VisionModel
from rag.errors import FolioError

__all__ = ["CaptionStore", "Captioner", "image_hash"]

logger = logging.getLogger(__name__)


class CaptionStore(Protocol):
    """Where captions are kept, keyed by image hash and model name."""

    async def get(self, image_hash: str, model: str) -> str | None:
        """The cached caption, or None."""
        ...

    async def put(self, image_hash: str, model: str, caption: str) -> None:
        """Remember a caption."""
        ...


def image_hash(image: bytes) -> str:
    """The cache key of an image: the sha256 of its bytes, hex."""
    return hashlib.sha256(image).hexdigest()


class Captioner:
    """Captions a document's figures; cached ones are free, new ones are capped per call."""

    def __init__(
        self,
        *,
        model: VisionModel,
        store: CaptionStore,
        model_name: str,
        max_per_document: int,
    ) -> None:
        self._model = model
        self._store = store
        self._model_name = model_name
        self._max_per_document = max_per_document

    async def caption(self, images: Sequence[bytes], contexts: Sequence[str]) -> list[str | None]:
        """One caption per image (None where capped or failed); call once per document.

        ``contexts[i]`` is text near ``images[i]`` (the page text, say). Identical images
        share one request. Failures of single figures are logged, never raised.
        """
        if len(images) != len(contexts):
            raise ValueError("caption() needs one context per image")
        hashes = await asyncio.to_thread(lambda: [image_hash(image) for image in images])
        captions: dict[str, str | None] = {}
        for key in dict.fromkeys(hashes):
            captions[key] = await self._store.get(key, self._model_name)
        wanted: dict[str, int] = {}  # hash -> index of its first image, in document order
        for index, key in enumerate(hashes):
            if captions[key] is None and key not in wanted:
                wanted[key] = index
        capped = list(wanted.items())[: self._max_per_document]
        if len(wanted) > len(capped):
            logger.info(
                "caption cap %d reached: %d figures left uncaptioned",
                self._max_per_document,
                len(wanted) - len(capped),
            )
        fresh = await asyncio.gather(*(self._new(images[i], contexts[i], k) for k, i in capped))
        captions.update(zip((key for key, _ in capped), fresh, strict=True))
        return [captions[key] for key in hashes]

    async def _new(self, image: bytes, context: str, key: str) -> str | None:
        try:
            caption = (await self._model.caption_figure(image, context)).strip()
        except FolioError as exc:
            # One unreadable figure or a model hiccup must not sink the whole document.
            logger.warning("caption of figure %s failed: %s", key[:12], exc.detail or exc)
            return None
        if not caption:
            return None
        await self._store.put(key, self._model_name, caption)
        return caption
