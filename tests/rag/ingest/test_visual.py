"""Renders shrunk in the parse child to CLIP's input size give CLIP the same pixels."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from rag.embed import ClipEmbedder
from rag.ingest._parse import parse_sync
from rag.settings import ParseLimits
from rag.types import ParsedDocument
from tests.fakes import documents
from tests.fakes.tiny_clip import IMAGE_SIZE


def pictures(doc: ParsedDocument) -> list[bytes]:
    return [p.render_png for p in doc.pages] + [f.png for p in doc.pages for f in p.figures]


async def test_shrunk_renders_embed_exactly_like_full_ones_in_a_fraction_of_the_bytes(
    tiny_clip_dir: Path,
) -> None:
    clip = ClipEmbedder.load(str(tiny_clip_dir))
    data = documents.pdf_with_figure()
    full = pictures(parse_sync(data, "growth.pdf", ParseLimits()))
    shrunk = pictures(parse_sync(data, "growth.pdf", ParseLimits(visual_side=clip.input_side)))
    assert len(full) == len(shrunk) >= 3
    for picture in shrunk:
        with Image.open(io.BytesIO(picture)) as image:
            assert min(image.size) == IMAGE_SIZE
    assert sum(map(len, shrunk)) < sum(map(len, full)) / 4
    np.testing.assert_array_equal(await clip.aembed_images(shrunk), await clip.aembed_images(full))


def test_without_a_visual_side_renders_stay_legible() -> None:
    doc = parse_sync(documents.text_pdf(["Legible page"]), "a.pdf", ParseLimits())
    with Image.open(io.BytesIO(doc.pages[0].render_png)) as image:
        assert min(image.size) > 800  # 110 dpi of a letter page
