"""render_page_png: one page re-rendered from the original file, the passage highlighted."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from rag.answer._highlight import render_page_png
from rag.ingest._parse import parse_sync
from rag.settings import ParseLimits
from rag.types import BBox
from tests.fakes import documents

ULTA = documents.ULTA


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return image.convert("RGB")


def yellowish(pixel: tuple[int, int, int]) -> bool:
    red, green, blue = pixel
    return red > 200 and green > 180 and blue < 200


def test_a_pdf_page_renders_as_png_at_the_requested_resolution() -> None:
    data = documents.filing(ULTA)
    assert decode(render_page_png(data, "pdf", 3)).size == (935, 1210)
    assert decode(render_page_png(data, "pdf", 3, dpi=72)).size == (612, 792)
    assert decode(render_page_png(data, "pdf", 3, dpi=300, max_side=1000)).size == (773, 1000)


def test_the_cited_passage_is_highlighted_and_the_rest_of_the_page_is_not() -> None:
    data = documents.filing(ULTA)
    page = parse_sync(data, ULTA, ParseLimits()).pages[2]
    box = next(b.bbox for b in page.blocks if "inventories" in b.text.lower())
    plain = decode(render_page_png(data, "pdf", 3))
    marked = decode(render_page_png(data, "pdf", 3, [box]))
    scale = plain.width / page.width
    # The gap between the box's top edge and the first line of text is white paper.
    spot = (round((box.x0 + box.x1) / 2 * scale), round((box.y0 + 0.5) * scale))
    assert plain.getpixel(spot) == (255, 255, 255)
    assert yellowish(marked.getpixel(spot))  # type: ignore[arg-type]
    far = (round(20 * scale), round(20 * scale))  # the page corner
    assert plain.getpixel(far) == marked.getpixel(far)


def test_several_boxes_are_all_highlighted() -> None:
    data = documents.text_pdf(["one"])
    boxes = [BBox(100, 100, 200, 150), BBox(300, 500, 400, 550)]
    marked = decode(render_page_png(data, "pdf", 1, boxes, dpi=72))
    assert yellowish(marked.getpixel((150, 125)))  # type: ignore[arg-type]
    assert yellowish(marked.getpixel((350, 525)))  # type: ignore[arg-type]
    assert marked.getpixel((250, 300)) == (255, 255, 255)


def test_a_picture_is_highlighted_in_its_own_pixel_coordinates() -> None:
    data = documents.picture((3200, 2400), fmt="PNG")
    box = BBox(100, 100, 500, 300)  # top-left of the original: white background
    plain = decode(render_page_png(data, "image", 1))
    marked = decode(render_page_png(data, "image", 1, [box]))
    assert marked.size == (1600, 1200)  # scaled to max_side, so the box is at half size
    assert plain.getpixel((150, 100)) == (255, 255, 255)
    assert yellowish(marked.getpixel((150, 100)))  # type: ignore[arg-type]
    assert marked.getpixel((400, 100)) == (255, 255, 255)  # beyond the box at half scale


def test_a_page_outside_the_document_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="page 4"):
        render_page_png(documents.text_pdf(["a", "b", "c"]), "pdf", 4)
    with pytest.raises(ValueError):
        render_page_png(documents.picture(), "image", 2)
