"""Find the figures on a PDF page: embedded pictures and vector-drawn charts.

Financial filings are full of ruled tables, which are vector drawings too; a table is
axis-aligned rectangles and lines in greys and pale tints. A chart or diagram shows
itself by curves or slanted lines (pies, line charts, arrows) or by several solid,
saturated bars. Only regions of a meaningful size count: logos, rules and page frames
do not.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

from rag._mupdf import pymupdf
from rag.ingest._visual import pixmap_png, visual_zoom
from rag.types import BBox, Figure

MIN_IMAGE_PIXELS = 64  # an embedded picture smaller than this is an icon or a bullet
MIN_SIDE_PT = 48.0  # ... and so is anything shown smaller than this on the page
MIN_PAGE_SHARE = 0.02  # a figure covers at least 2% of the page
MAX_PAGE_SHARE = 0.8  # a picture covering most of the page is the page itself (a scan)
MAX_FIGURES_PER_PAGE = 8
MAX_IMAGES_EXAMINED = 40
MAX_DRAWINGS = 4000  # past this, clustering costs more than a figure is worth
MIN_CHART_STROKES = 6  # curves and slanted lines that make a region a chart
MIN_CHART_BARS = 3  # solid saturated rectangles that make a region a bar chart
VECTOR_PAD_PT = 8.0  # axis labels sit just outside the drawn lines
FIGURE_DPI = 150
FIGURE_MAX_SIDE = 1024

Region = tuple[Any, Literal["raster", "vector"]]


def find_figures(
    page: Any, page_number: int, *, visual_side: int | None = None
) -> tuple[Figure, ...]:
    """The page's figures, top to bottom, each cut out as a PNG (see ``pixmap_png``)."""
    area = abs(page.rect)
    raster = list(_raster_regions(page, area))
    vector = [r for r in _vector_regions(page, area) if not _overlaps_any(r, raster)]
    regions: list[Region] = [(r, "raster") for r in raster] + [(r, "vector") for r in vector]
    regions.sort(key=lambda item: (item[0].y0, item[0].x0))
    figures = []
    for index, (rect, kind) in enumerate(regions[:MAX_FIGURES_PER_PAGE]):
        figures.append(
            Figure(
                page_number=page_number,
                index=index,
                bbox=BBox(rect.x0, rect.y0, rect.x1, rect.y1),
                png=_render_clip(page, rect, visual_side),
                kind=kind,
            )
        )
    return tuple(figures)


def _raster_regions(page: Any, area: float) -> Iterable[Any]:
    seen: list[Any] = []
    images = [img for img in page.get_images(full=True) if _big_enough_pixels(img)]
    for img in images[:MAX_IMAGES_EXAMINED]:
        for shown in page.get_image_rects(img[0]):
            rect = _on_page(page, shown)
            if rect is None or not _meaningful(rect, area) or _overlaps_any(rect, seen):
                continue
            if abs(rect) > MAX_PAGE_SHARE * area:
                continue
            seen.append(rect)
            yield rect


def _big_enough_pixels(img: Sequence[Any]) -> bool:
    width, height = img[2], img[3]
    return bool(width >= MIN_IMAGE_PIXELS and height >= MIN_IMAGE_PIXELS)


def _vector_regions(page: Any, area: float) -> Iterable[Any]:
    drawings = page.get_drawings()
    # Clustering is quadratic in pure Python; most pages (text, ruled tables) have no
    # chart marks at all, and those skip it.
    if not drawings or len(drawings) > MAX_DRAWINGS or not _looks_like_chart(drawings):
        return
    for cluster in page.cluster_drawings(drawings=drawings):
        rect = _on_page(page, cluster)
        if rect is None or not _meaningful(rect, area) or abs(rect) > MAX_PAGE_SHARE * area:
            continue
        inside = [d for d in drawings if _within(d["rect"], cluster)]
        if _looks_like_chart(inside):
            padded = pymupdf.Rect(rect) + (
                -VECTOR_PAD_PT,
                -VECTOR_PAD_PT,
                VECTOR_PAD_PT,
                VECTOR_PAD_PT,
            )
            yield padded & page.rect


def _looks_like_chart(drawings: Sequence[dict[str, Any]]) -> bool:
    strokes = 0
    bars = 0
    for drawing in drawings:
        for item in drawing["items"]:
            if item[0] in ("c", "qu") or (item[0] == "l" and _slanted(item[1], item[2])):
                strokes += 1
        fill = drawing.get("fill")
        rect = drawing["rect"]
        if _saturated(fill) and rect.width >= 3 and rect.height >= 3:
            bars += 1
    return strokes >= MIN_CHART_STROKES or bars >= MIN_CHART_BARS


def _slanted(a: Any, b: Any) -> bool:
    return bool(abs(a.x - b.x) > 1 and abs(a.y - b.y) > 1)


def _saturated(colour: Sequence[float] | None) -> bool:
    # Tables shade rows in greys and pale tints; chart series use strong colours.
    if not colour or len(colour) != 3 or max(colour) <= 0:
        return False
    return (max(colour) - min(colour)) / max(colour) > 0.35


def _within(inner: Any, outer: Any) -> bool:
    return bool(
        inner.x0 >= outer.x0 - 1
        and inner.y0 >= outer.y0 - 1
        and inner.x1 <= outer.x1 + 1
        and inner.y1 <= outer.y1 + 1
    )


def _on_page(page: Any, rect: Any) -> Any | None:
    """The rectangle in the page's displayed (rotated) frame, cut to the page."""
    shown = (pymupdf.Rect(rect) * page.rotation_matrix) & page.rect
    return None if shown.is_empty else shown


def _meaningful(rect: Any, area: float) -> bool:
    return bool(
        rect.width >= MIN_SIDE_PT
        and rect.height >= MIN_SIDE_PT
        and abs(rect) >= MIN_PAGE_SHARE * area
    )


def _overlaps_any(rect: Any, others: Sequence[Any]) -> bool:
    """True when half of the smaller of ``rect`` and another region is shared."""
    for other in others:
        shared = abs(rect & other)
        if shared and shared >= 0.5 * min(abs(rect), abs(other)):
            return True
    return False


def _render_clip(page: Any, rect: Any, visual_side: int | None) -> bytes:
    zoom = min(FIGURE_DPI / 72, FIGURE_MAX_SIDE / max(rect.width, rect.height))
    zoom = visual_zoom(rect, zoom, visual_side)
    pixmap = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), clip=rect, alpha=False)
    return pixmap_png(pixmap, visual_side)
