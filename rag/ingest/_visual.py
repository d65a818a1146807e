"""Pictures for the image embedder, shrunk in the parser the way CLIP's processor would.

CLIP's processor resizes every picture so its shortest side is 224 px (bicubic) before
anything else. Doing that in the parse child, where it runs beside the models instead of
in front of them, hands over a PNG of ~60 KB instead of ~140 KB, and the processor's own
resize becomes a copy. A page or figure that only feeds CLIP is rendered at twice that
side, not at the render DPI, and reduced from there (``visual_zoom``): a third of the
render and resize work, for pixels within ~1.5/255 on average of a 110-dpi render's.
"""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

# A render that only feeds CLIP is drawn at this multiple of CLIP's side, then reduced.
OVERSAMPLE = 2


def visual_zoom(rect: Any, zoom: float, visual_side: int | None) -> float:
    """``zoom``, or less: enough for OVERSAMPLE x ``visual_side`` px on ``rect``'s short side."""
    if visual_side is None:
        return zoom
    short = max(float(min(rect.width, rect.height)), 1.0)
    return min(zoom, OVERSAMPLE * visual_side / short)


def pixmap_png(pixmap: Any, visual_side: int | None) -> bytes:
    """A PyMuPDF RGB pixmap as PNG, shrunk to ``visual_side`` px on its shortest side."""
    if visual_side is None or min(pixmap.width, pixmap.height) <= visual_side:
        return bytes(pixmap.tobytes("png"))
    image = Image.frombytes("RGB", (pixmap.width, pixmap.height), pixmap.samples)
    return png_bytes(shrink(image, visual_side))


def shrink(image: Image.Image, side: int) -> Image.Image:
    """Bicubic resize to ``side`` px on the shortest side, sized as transformers sizes it."""
    width, height = image.size
    short, long = (width, height) if width <= height else (height, width)
    # transformers' get_resize_output_image_size: int(), not round(), for the long side.
    new_long = int(side * long / short)
    size = (side, new_long) if width <= height else (new_long, side)
    # reducing_gap: a box reduction to within 2x of the size first, then bicubic; from an
    # OVERSAMPLE render that is one cheap step.
    return image.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)


def png_bytes(image: Image.Image) -> bytes:
    """Lossless PNG, fast compression: these bytes only travel to the parent process."""
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)
    return out.getvalue()
