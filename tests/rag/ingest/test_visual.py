"""Renders shrunk in the parse child to CLIP's input size give CLIP (nearly) the same pixels."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rag._mupdf import pymupdf
from rag.embed import ClipEmbedder
from rag.ingest._parse import parse_sync
from rag.ingest._pdf import render_pixmap
from rag.ingest._visual import OVERSAMPLE
from rag.settings import ParseLimits
from rag.types import ParsedDocument
from tests.fakes import documents
from tests.fakes.tiny_clip import IMAGE_SIZE


def pictures(doc: ParsedDocument) -> list[bytes]:
    return [p.render_png for p in doc.pages] + [f.png for p in doc.pages for f in p.figures]


async def test_shrunk_renders_embed_like_full_ones_in_a_fraction_of_the_bytes(
    tiny_clip_dir: Path,
) -> None:
    clip = ClipEmbedder.load(str(tiny_clip_dir))
    data = documents.pdf_with_figure()
    full = pictures(parse_sync(data, "growth.pdf", ParseLimits()))
    shrunk = pictures(parse_sync(data, "growth.pdf", ParseLimits(visual_side=clip.input_side)))
    assert len(full) == len(shrunk) >= 3
    for small, large in zip(shrunk, full, strict=True):
        with Image.open(io.BytesIO(small)) as image:
            assert min(image.size) == IMAGE_SIZE
            # What the processor makes of the full render, within a little per pixel (at
            # the tiny CLIP's 32 px ~5/255 on average; at CLIP's 224 px ~1.5/255).
            expected = processed(large, image.size)
            assert np.abs(np.asarray(image, dtype=float) - expected).mean() < 8
    assert sum(map(len, shrunk)) < sum(map(len, full)) / 4
    cosines = (await clip.aembed_images(shrunk) * await clip.aembed_images(full)).sum(axis=1)
    assert cosines.min() > 0.99


def processed(png: bytes, size: tuple[int, int]) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGB").resize(size, Image.Resampling.BICUBIC), float)


def test_a_render_that_only_feeds_clip_is_drawn_at_twice_its_side_not_at_the_render_dpi() -> None:
    doc = pymupdf.open(stream=documents.text_pdf(["Small page"]), filetype="pdf")
    page = doc.load_page(0)
    pixmap = render_pixmap(page, dpi=110, max_side=1600, visual_side=224)
    assert min(pixmap.width, pixmap.height) == pytest.approx(OVERSAMPLE * 224, abs=1)
    full = render_pixmap(page, dpi=110, max_side=1600)
    assert min(full.width, full.height) == pytest.approx(page.rect.width * 110 / 72, abs=1)
    # A picture already smaller than twice the side is never drawn larger than its DPI.
    tiny = render_pixmap(page, dpi=20, max_side=1600, visual_side=224)
    assert min(tiny.width, tiny.height) == pytest.approx(page.rect.width * 20 / 72, abs=1)


def test_without_a_visual_side_renders_stay_legible() -> None:
    doc = parse_sync(documents.text_pdf(["Legible page"]), "a.pdf", ParseLimits())
    with Image.open(io.BytesIO(doc.pages[0].render_png)) as image:
        assert min(image.size) > 800  # 110 dpi of a letter page
