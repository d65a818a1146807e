"""Pictures as folio reads them: bytes -> one upright RGB image on white, within a size.

Every place that decodes a picture goes through ``read_picture``: parsing an uploaded
picture, highlighting a page that is a picture, CLIP embedding, and images sent to the
vision model. A picture over ``max_pixels`` is refused from its header, before any pixel
is decoded; the first frame is taken, turned as its EXIF says, laid on white where it was
transparent (as it looks on a page) and shrunk to ``max_side``.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from rag.errors import CorruptDocument, PageTooLarge, UnsupportedFile

MAX_RENDER_SIDE = 1600  # the longest side folio keeps of a picture or page render
# For pictures parsing already checked against FOLIO's own limit; this only guards a bad call.
MAX_PICTURE_PIXELS = 100_000_000
QUESTION_PICTURE_PIXELS = 40_000_000  # a screenshot or photo sent with a question
_ORIENTATION = 0x0112  # the EXIF tag that says how a photo was held
_DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError)
# The only Pillow plugins folio lets near untrusted bytes: never EPS/PS (Ghostscript), PDF,
# or the dozens of rarer formats Pillow would otherwise guess at.
PICTURE_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "TIFF")
# What a question may attach, told by the bytes alone.
_QUESTION_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
)


@dataclass(frozen=True, slots=True)
class Picture:
    """A decoded picture: ``image`` (RGB, <= max_side) and its full upright size in pixels."""

    image: Image.Image
    width: int
    height: int


def read_picture(data: bytes, name: str, *, max_pixels: int, max_side: int) -> Picture:
    """Decode ``data`` (PageTooLarge or CorruptDocument, naming ``name``, when it cannot be)."""
    opened = _open(data, name, max_pixels=max_pixels)
    width, height = opened.size
    if opened.getexif().get(_ORIENTATION, 1) in (5, 6, 7, 8):
        width, height = height, width
    try:
        image = _downscale(_upright_on_white(opened, max_side), max_side)
    except _DECODE_ERRORS as exc:
        raise _unreadable(name) from exc
    return Picture(image, width, height)


def question_picture(data: bytes, name: str) -> str:
    """The format of a picture sent with a question: PNG, JPEG, WEBP or GIF by its bytes.

    Anything else (whatever its name says) is UnsupportedFile before any decoder sees it.
    """
    for magic, kind in _QUESTION_MAGIC:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    raise UnsupportedFile(
        f"{name} is not a PNG, JPEG, WebP or GIF picture, so folio did not look at it. "
        "Attach a screenshot or photo in one of those formats.",
        detail=f"question picture starts {data[:8]!r}",
    )


def picture_png(data: bytes, name: str, max_pixels: int, max_side: int) -> bytes:
    """Decode an untrusted picture and encode it again as a plain PNG (for a child process).

    What leaves the child is folio's own PNG: upright, on white, within ``max_side``.
    """
    return png_bytes(read_picture(data, name, max_pixels=max_pixels, max_side=max_side).image)


def peek(data: bytes) -> tuple[str, tuple[int, int]] | None:
    """The format and size a picture's header declares, nothing decoded; None if unreadable."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=PICTURE_FORMATS) as image:
                return image.format or "", image.size
    except (Image.DecompressionBombError, *_DECODE_ERRORS):
        return None


def png_bytes(image: Image.Image) -> bytes:
    """Encode as PNG."""
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False, compress_level=6)
    return out.getvalue()


def jpeg_bytes(image: Image.Image, quality: int = 85) -> bytes:
    """Encode as JPEG (photos compress far better than as PNG)."""
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def _open(data: bytes, name: str, *, max_pixels: int) -> Image.Image:
    """Open lazily and refuse a picture over ``max_pixels`` before any pixel is decoded."""
    try:
        with warnings.catch_warnings():
            # folio's own limit below decides; Pillow's warning would only repeat it.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=PICTURE_FORMATS)
    except Image.DecompressionBombError as exc:
        raise _too_large(name, _bomb_pixels(exc), max_pixels) from exc
    except _DECODE_ERRORS as exc:
        raise _unreadable(name) from exc
    if image.width * image.height > max_pixels:
        raise _too_large(name, image.size, max_pixels)
    return image


def _upright_on_white(image: Image.Image, max_side: int) -> Image.Image:
    """First frame, turned as its EXIF says, on white where it was transparent."""
    image.seek(0)
    if image.format == "JPEG":
        # Decode at a reduced scale when the picture is far bigger than what is kept.
        image.draft("RGB", (max_side, max_side))
    turned = ImageOps.exif_transpose(image)
    if turned.mode in ("RGBA", "LA", "PA") or "transparency" in turned.info:
        rgba = turned.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return turned.convert("RGB")


def _downscale(image: Image.Image, max_side: int) -> Image.Image:
    """A copy no longer than ``max_side`` on either side (never enlarged)."""
    if max(image.size) <= max_side:
        return image
    scale = max_side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _bomb_pixels(exc: Exception) -> int | None:
    # Pillow refuses to even open a picture past twice its own limit, before folio can
    # read the size; its message carries the pixel count.
    match = re.search(r"\((\d+) pixels\)", str(exc))
    return int(match.group(1)) if match else None


def _too_large(name: str, size: tuple[int, int] | int | None, max_pixels: int) -> PageTooLarge:
    if isinstance(size, tuple):
        what = f"{size[0]} × {size[1]} pixels ({size[0] * size[1] / 1e6:g} megapixels)"
    elif size is not None:
        what = f"{size / 1e6:g} megapixels"
    else:
        what = "too large to read safely"
    return PageTooLarge(
        f"{name} is {what}; folio reads pictures up to {max_pixels / 1e6:g} megapixels. "
        "Scale it down and share it again.",
        detail=f"image size {size}",
    )


def _unreadable(name: str) -> CorruptDocument:
    return CorruptDocument(
        f"{name} could not be read as a picture; it may be damaged or incomplete. "
        "Save it again (PNG or JPEG) and share it again."
    )
