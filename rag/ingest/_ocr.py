"""Words for pages without a text layer (scans, pictures), by RapidOCR in a parse child.

``scanned_pages`` decides which pages of a PDF need reading: no text at all, or little
text on a page mostly covered by pictures (a scan with a stamped page number). ``read_pages``
reads them, a page at a time, until its time budget is spent; each text line becomes a
TextBlock with its box in the page's coordinates (PDF points as shown, or the picture's own
pixels), so answers cite and highlight scanned passages like any other.

RapidOCR (ONNX Runtime, its models shipped in the wheel) is imported only here, only in
a child, and only when a page needs it: it costs ~0.5 s and a few hundred MB.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from rag.ingest._pdf import normalise_text
from rag.types import BBox, ParsedDocument, ParsedPage, TextBlock

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger(__name__)

# Detection costs grow faster than the pixel count: at 1400 px on the longest side (a
# letter page at 127 dpi) it took 1.6 s on one busy core, at 1755 px 6.8 s; 10 pt text
# is still read right.
OCR_DPI = 150
OCR_MAX_SIDE = 1400
# A page counts as scanned when pictures cover at least half of it and it has fewer
# characters than one per 2000 pt² of the area they cover (a full letter page: ~240).
MIN_PICTURE_SHARE = 0.5
POINTS_PER_CHAR = 2000.0
# Lines the recogniser is unsure of are mostly noise (texture, stamps, smudges).
MIN_LINE_SCORE = 0.6
# An OCR line mostly inside a block of the text layer repeats it.
_OVERLAP = 0.5
# One thread: on a shared 2-core machine two were slower (they fight the other work);
# parallelism comes from running several workers.
_THREADS = 1

Source = Literal["pdf", "image"]


def scanned_pages(pdf: bytes, parsed: ParsedDocument) -> tuple[int, ...]:
    """The 1-based numbers of pages whose words must come from OCR."""
    from rag._mupdf import pymupdf

    numbers = []
    with pymupdf.open(stream=pdf, filetype="pdf") as doc:
        for page in parsed.pages:
            chars = sum(len(block.text) for block in page.blocks)
            if chars == 0:
                numbers.append(page.number)
                continue
            area = page.width * page.height
            if chars >= area / POINTS_PER_CHAR:
                # Text enough for a page covered in pictures: no need to measure them
                # (listing a page's images runs its content again; most pages stop here).
                continue
            covered = _picture_area(doc.load_page(page.number - 1))
            if covered >= MIN_PICTURE_SHARE * area and chars < covered / POINTS_PER_CHAR:
                numbers.append(page.number)
    return tuple(numbers)


def _picture_area(page: Any) -> float:
    area = 0.0
    for info in page.get_image_info():
        box = page.rect & info["bbox"]
        if not box.is_empty:
            area += box.width * box.height
    return min(area, float(page.rect.width * page.rect.height))


def read_pages(
    data: bytes, source: Source, numbers: Sequence[int], budget_s: float
) -> dict[int, tuple[TextBlock, ...]]:
    """OCR lines of pages ``numbers`` (at least the first; then until ``budget_s`` is spent)."""
    engine = _engine()
    started = time.monotonic()
    found: dict[int, tuple[TextBlock, ...]] = {}
    for number in numbers:
        if found and time.monotonic() - started > budget_s:
            break
        pixels, scale = _page_pixels(data, source, number)
        found[number] = _lines(engine(pixels)[0] or (), scale)
    logger.info("OCR read %d pages in %.1f s", len(found), time.monotonic() - started)
    return found


def with_ocr(page: ParsedPage, lines: Sequence[TextBlock]) -> ParsedPage:
    """The page with the OCR lines that the text layer does not already hold."""
    new = [line for line in lines if not _covered(line.bbox, page.blocks)]
    blocks = sorted([*page.blocks, *new], key=lambda b: (round(b.bbox.y0), b.bbox.x0))
    return ParsedPage(
        number=page.number,
        width=page.width,
        height=page.height,
        blocks=tuple(blocks),
        render_png=page.render_png,
        figures=page.figures,
        ocr=True,
    )


def engine_version() -> str:
    """The OCR engine and its runtime, loaded as a parse child would load them."""
    from importlib.metadata import version

    _engine()
    runtime = version("onnxruntime")
    return f"RapidOCR {version('rapidocr-onnxruntime')} (ONNX Runtime {runtime})"


@cache
def _engine() -> Any:
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR(intra_op_num_threads=_THREADS, inter_op_num_threads=1)


def _page_pixels(data: bytes, source: Source, number: int) -> tuple[np.ndarray, float]:
    """The page as an RGB array, and how many page units (points or pixels) one pixel is."""
    import numpy as np  # only where a page is read by OCR: the parse child stays light

    if source == "image":
        from rag._images import MAX_PICTURE_PIXELS, read_picture

        picture = read_picture(
            data, "the picture", max_pixels=MAX_PICTURE_PIXELS, max_side=OCR_MAX_SIDE
        )
        return np.asarray(picture.image), picture.width / picture.image.width
    from rag._mupdf import pymupdf
    from rag.ingest._pdf import render_pixmap

    with pymupdf.open(stream=data, filetype="pdf") as doc:
        page = doc.load_page(number - 1)
        pixmap = render_pixmap(page, dpi=OCR_DPI, max_side=OCR_MAX_SIDE)
        pixels = np.frombuffer(pixmap.samples, dtype=np.uint8)
        shaped = pixels.reshape(pixmap.height, pixmap.width, pixmap.n).copy()
        return shaped, page.rect.width / pixmap.width


def _lines(results: Sequence[Any], scale: float) -> tuple[TextBlock, ...]:
    lines = []
    for corners, text, score in results:
        clean = normalise_text(str(text))
        if not clean or float(score) < MIN_LINE_SCORE:
            continue
        xs = [float(x) * scale for x, _ in corners]
        ys = [float(y) * scale for _, y in corners]
        lines.append(TextBlock(clean, BBox(min(xs), min(ys), max(xs), max(ys))))
    return tuple(lines)


def _covered(box: BBox, blocks: Sequence[TextBlock]) -> bool:
    area = max((box.x1 - box.x0) * (box.y1 - box.y0), 1e-6)
    for block in blocks:
        other = block.bbox
        width = min(box.x1, other.x1) - max(box.x0, other.x0)
        height = min(box.y1, other.y1) - max(box.y0, other.y0)
        if width > 0 and height > 0 and width * height >= _OVERLAP * area:
            return True
    return False
