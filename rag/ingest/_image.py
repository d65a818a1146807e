"""Pictures (PNG, JPEG, WebP, GIF, TIFF) as one-page documents, with Pillow."""

from __future__ import annotations

from rag._images import MAX_RENDER_SIDE, png_bytes, read_picture
from rag.settings import ParseLimits
from rag.types import ParsedDocument, ParsedPage


def parse_image(data: bytes, file_name: str, limits: ParseLimits) -> ParsedDocument:
    """One page whose render is the picture itself (RGB PNG, longest side <= 1600 px)."""
    picture = read_picture(
        data, file_name, max_pixels=limits.max_image_pixels, max_side=MAX_RENDER_SIDE
    )
    page = ParsedPage(
        number=1,
        width=float(picture.width),
        height=float(picture.height),
        blocks=(),
        render_png=png_bytes(picture.image),
    )
    return ParsedDocument(kind="image", pages=(page,))
