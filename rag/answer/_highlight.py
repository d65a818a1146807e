"""Render one page of an indexed file as PNG, with the cited passage highlighted."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageDraw

from rag._images import MAX_PICTURE_PIXELS, png_bytes, read_picture
from rag.errors import CorruptDocument
from rag.types import BBox, DocumentKind

HIGHLIGHT_FILL = (255, 221, 0, 96)  # translucent yellow: the text stays readable
HIGHLIGHT_OUTLINE = (230, 150, 0, 255)
PAD_PT = 2.0  # a little air around the glyphs


def render_page_png(
    data: bytes,
    kind: DocumentKind,
    page_number: int,
    bboxes: Sequence[BBox] = (),
    *,
    dpi: int = 110,
    max_side: int = 1600,
) -> bytes:
    """PNG of 1-based ``page_number`` with ``bboxes`` highlighted (blocking; use a thread).

    Boxes are in PDF points on the page as shown (what parsing reports); for pictures,
    in pixels of the original picture.
    """
    if kind == "image":
        if page_number != 1:
            raise ValueError(f"a picture has one page, not page {page_number}")
        image, scale = _picture(data, max_side=max_side)
    else:  # a PDF, or the PDF an Office or text file was read from
        image, scale = _pdf_page(data, page_number, dpi=dpi, max_side=max_side)
    if bboxes:
        image = _highlight(image, bboxes, scale)
    return png_bytes(image)


def _pdf_page(
    data: bytes, page_number: int, *, dpi: int, max_side: int
) -> tuple[Image.Image, float]:
    from rag._mupdf import pymupdf
    from rag.ingest._pdf import render_pixmap

    try:
        doc = pymupdf.open(stream=data, filetype="pdf")
    except (RuntimeError, ValueError) as exc:
        raise CorruptDocument("That file could not be read again to show its page.") from exc
    with doc:
        if not 1 <= page_number <= doc.page_count:
            raise ValueError(f"page {page_number} is not in a {doc.page_count}-page document")
        page = doc.load_page(page_number - 1)
        pixmap = render_pixmap(page, dpi=dpi, max_side=max_side)
        image = Image.frombytes("RGB", (pixmap.width, pixmap.height), pixmap.samples)
        return image, pixmap.width / page.rect.width


def _picture(data: bytes, *, max_side: int) -> tuple[Image.Image, float]:
    picture = read_picture(data, "the picture", max_pixels=MAX_PICTURE_PIXELS, max_side=max_side)
    return picture.image, picture.image.width / picture.width


def _highlight(image: Image.Image, bboxes: Sequence[BBox], scale: float) -> Image.Image:
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    outline = max(2, round(image.width / 600))
    for box in bboxes:
        corners = (
            (box.x0 - PAD_PT) * scale,
            (box.y0 - PAD_PT) * scale,
            (box.x1 + PAD_PT) * scale,
            (box.y1 + PAD_PT) * scale,
        )
        draw.rectangle(corners, fill=HIGHLIGHT_FILL, outline=HIGHLIGHT_OUTLINE, width=outline)
    return Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")
