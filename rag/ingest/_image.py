"""Pictures (PNG, JPEG, WebP, GIF, TIFF) as one-page documents, with Pillow."""

from __future__ import annotations

import io
import re
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from rag.errors import CorruptDocument, PageTooLarge
from rag.settings import ParseLimits
from rag.types import ParsedDocument, ParsedPage

MAX_RENDER_SIDE = 1600
# Pillow's own decompression-bomb guard; folio checks its own (smaller) limit first.
_PIL_LIMIT_ERRORS = (Image.DecompressionBombError,)
_ORIENTATION = 0x0112  # the EXIF tag that says how a photo was held


def parse_image(data: bytes, file_name: str, limits: ParseLimits) -> ParsedDocument:
    """One page whose render is the picture itself (RGB PNG, longest side <= 1600 px)."""
    image = open_image(data, file_name, max_pixels=limits.max_image_pixels)
    width, height = upright_size(image)
    try:
        render = png_bytes(downscale(upright_rgb(image), MAX_RENDER_SIDE))
    except (OSError, SyntaxError, ValueError) as exc:
        raise _unreadable(file_name) from exc
    page = ParsedPage(
        number=1, width=float(width), height=float(height), blocks=(), render_png=render
    )
    return ParsedDocument(kind="image", pages=(page,))


def open_image(data: bytes, file_name: str, *, max_pixels: int) -> Image.Image:
    """Open lazily and refuse a picture over ``max_pixels`` before any pixel is decoded."""
    try:
        with warnings.catch_warnings():
            # folio's own limit below decides; Pillow's warning would only repeat it.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except _PIL_LIMIT_ERRORS as exc:
        raise _too_large(file_name, _bomb_pixels(exc), max_pixels) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise _unreadable(file_name) from exc
    if image.width * image.height > max_pixels:
        raise _too_large(file_name, image.size, max_pixels)
    return image


def upright_size(image: Image.Image) -> tuple[int, int]:
    """Full-resolution size once turned as EXIF says (read from the header alone)."""
    width, height = image.size
    if image.getexif().get(_ORIENTATION, 1) in (5, 6, 7, 8):
        return height, width
    return width, height


def upright_rgb(image: Image.Image) -> Image.Image:
    """First frame, turned as its EXIF says, on white where it was transparent."""
    image.seek(0)
    if image.format == "JPEG":
        # Decode at a reduced scale when the picture is far bigger than any render.
        image.draft("RGB", (MAX_RENDER_SIDE, MAX_RENDER_SIDE))
    turned = ImageOps.exif_transpose(image)
    if turned.mode in ("RGBA", "LA", "PA") or "transparency" in turned.info:
        rgba = turned.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return turned.convert("RGB")


def downscale(image: Image.Image, max_side: int) -> Image.Image:
    """A copy no longer than ``max_side`` on either side (never enlarged)."""
    if max(image.size) <= max_side:
        return image
    scale = max_side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def png_bytes(image: Image.Image) -> bytes:
    """Encode as PNG."""
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False, compress_level=6)
    return out.getvalue()


def _bomb_pixels(exc: Exception) -> int | None:
    # Pillow refuses to even open a picture past twice its own limit, before folio can
    # read the size; its message carries the pixel count.
    match = re.search(r"\((\d+) pixels\)", str(exc))
    return int(match.group(1)) if match else None


def _too_large(file_name: str, size: tuple[int, int] | int | None, max_pixels: int) -> PageTooLarge:
    if isinstance(size, tuple):
        what = f"{size[0]} × {size[1]} pixels ({size[0] * size[1] / 1e6:g} megapixels)"
    elif size is not None:
        what = f"{size / 1e6:g} megapixels"
    else:
        what = "too large to read safely"
    return PageTooLarge(
        f"{file_name} is {what}; folio reads pictures up to {max_pixels / 1e6:g} megapixels. "
        "Scale it down and share it again.",
        detail=f"image size {size}",
    )


def _unreadable(file_name: str) -> CorruptDocument:
    return CorruptDocument(
        f"{file_name} could not be read as a picture; it may be damaged or incomplete. "
        "Save it again (PNG or JPEG) and share it again."
    )
