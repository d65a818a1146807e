"""Parsing with the real PyMuPDF and Pillow: real filings, bad files, pictures."""

from __future__ import annotations

import asyncio
import hashlib
import io
from dataclasses import replace

import pytest
from PIL import Image

from rag._mupdf import pymupdf
from rag.errors import (
    CorruptDocument,
    EmptyDocument,
    EncryptedDocument,
    FileTooLarge,
    FolioError,
    PageTooLarge,
    ParseCrashed,
    TooManyPages,
)
from rag.ingest._parse import content_hash, parse_document, parse_sync, sniff
from rag.ingest._pdf import _placer, normalise_text
from rag.settings import ParseLimits
from rag.types import BBox, ParsedDocument, ParsedPage
from tests.fakes import documents

LIMITS = ParseLimits()
ULTA = documents.ULTA


@pytest.fixture(scope="module")
def ulta() -> ParsedDocument:
    return parse_sync(documents.filing(ULTA), ULTA, LIMITS)


def png(data: bytes) -> Image.Image:
    """Decode PNG bytes (and fail the test on anything else)."""
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    image.load()
    return image


def inside(box: BBox, page: ParsedPage, slack: float = 0.5) -> bool:
    return (
        -slack <= box.x0 < box.x1 <= page.width + slack
        and -slack <= box.y0 < box.y1 <= page.height + slack
    )


def dark_share(render: Image.Image, page: ParsedPage, box: BBox) -> float:
    """Share of dark pixels inside ``box`` (page points) on the page's render."""
    scale = render.width / page.width
    crop = render.convert("L").crop(
        (int(box.x0 * scale), int(box.y0 * scale), int(box.x1 * scale), int(box.y1 * scale))
    )
    histogram = crop.histogram()
    return sum(histogram[:128]) / max(1, sum(histogram))


# --- content_hash and sniff -------------------------------------------------------------


def test_content_hash_is_the_sha256_of_the_bytes() -> None:
    assert content_hash(b"folio") == hashlib.sha256(b"folio").hexdigest()
    assert content_hash(b"folio") != content_hash(b"folio ")


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (documents.text_pdf(["x"]), "pdf"),
        (documents.picture(fmt="PNG"), "image"),
        (documents.picture(fmt="JPEG"), "image"),
        (documents.picture(fmt="WEBP"), "image"),
        (documents.picture(fmt="GIF"), "image"),
        (documents.picture(fmt="TIFF"), "image"),
    ],
)
def test_sniff_goes_by_the_bytes(data: bytes, kind: str) -> None:
    assert sniff(data, "upload.bin").kind == kind


def test_a_picture_named_pdf_is_read_as_the_picture_it_is() -> None:
    assert sniff(documents.picture(fmt="JPEG"), "scan.pdf").kind == "image"


def test_a_web_page_named_pdf_is_not_a_pdf() -> None:
    with pytest.raises(CorruptDocument) as caught:
        sniff(documents.html_renamed_pdf(), "q3.pdf")
    assert caught.value.user_message.startswith(
        "q3.pdf is not a PDF (it looks like a web page, perhaps a login page)"
    )


def test_an_empty_file_is_an_empty_document() -> None:
    with pytest.raises(EmptyDocument, match="empty.pdf is empty"):
        sniff(b"", "empty.pdf")


# --- real filings -----------------------------------------------------------------------


def test_a_real_filing_parses_every_page_with_text_boxes_and_renders(
    ulta: ParsedDocument,
) -> None:
    assert ulta.kind == "pdf"
    assert [p.number for p in ulta.pages] == list(range(1, 10))
    for page in ulta.pages:
        assert (page.width, page.height) == (612.0, 792.0)
        assert page.blocks
        assert all(inside(block.bbox, page) for block in page.blocks)
        assert all(block.text == block.text.strip() and block.text for block in page.blocks)
        render = png(page.render_png)
        assert render.size == (935, 1210)  # 110 dpi
        assert render.mode == "RGB"


def test_page_three_of_ulta_is_about_inventories(ulta: ParsedDocument) -> None:
    assert "inventories" in ulta.pages[2].text.lower()
    assert "inventories" not in ulta.pages[0].text.lower()


def test_text_boxes_sit_on_the_printed_text(ulta: ParsedDocument) -> None:
    page = ulta.pages[2]
    render = png(page.render_png)
    block = next(b for b in page.blocks if "inventories" in b.text.lower())
    assert dark_share(render, page, block.bbox) > 0.03
    margin = BBox(5, 5, 50, 780)  # the left margin has no text
    assert dark_share(render, page, margin) == 0.0


def test_blocks_read_top_to_bottom(ulta: ParsedDocument) -> None:
    tops = [block.bbox.y0 for block in ulta.pages[2].blocks]
    assert tops == sorted(tops)


@pytest.mark.parametrize(
    ("name", "figures"),
    [
        ("JOHNSON_JOHNSON_2023_8K_dated-2023-08-30_pages_4-6.pdf", [0, 3, 0]),
        ("NETFLIX_2017_10K_pages_17-19.pdf", [0, 1, 0]),
        # A banner; the footer logos are too small to be figures.
        ("AMCOR_2023Q4_EARNINGS_pages_1-2.pdf", [1, 0]),
    ],
)
def test_pictures_in_real_filings_become_figures(name: str, figures: list[int]) -> None:
    doc = parse_sync(documents.filing(name), name, LIMITS)
    assert [len(page.figures) for page in doc.pages] == figures
    for page in doc.pages:
        for index, figure in enumerate(page.figures):
            assert (figure.page_number, figure.index) == (page.number, index)
            assert figure.kind == "raster"
            assert inside(figure.bbox, page)
            assert min(png(figure.png).size) > 64


def test_ruled_tables_are_not_figures() -> None:
    name = "Pfizer_2023Q2_10Q_pages_4_6_49.pdf"
    data = documents.filing(name)
    doc = pymupdf.open(stream=data, filetype="pdf")
    assert all(len(page.get_drawings()) > 150 for page in doc)  # big ruled tables
    assert parse_sync(data, name, LIMITS).figure_count == 0


async def test_parse_document_parses_in_a_child_like_parse_sync(ulta: ParsedDocument) -> None:
    data = documents.filing(ULTA)
    parsed = await parse_document(data, ULTA, LIMITS)
    assert [p.text for p in parsed.pages] == [p.text for p in ulta.pages]
    assert [p.blocks for p in parsed.pages] == [p.blocks for p in ulta.pages]


# --- made-up PDFs -----------------------------------------------------------------------


def test_a_scanned_page_has_a_render_and_no_text() -> None:
    doc = parse_sync(documents.scanned_pdf(), "scan.pdf", LIMITS)
    (page,) = doc.pages
    assert page.blocks == () and page.ocr  # marked for OCR, read by parse_document
    render = png(page.render_png)
    assert render.size == (935, 1210)
    assert render.getpixel((200, 400)) != (255, 255, 255)  # the picture is on the render
    assert page.figures == ()  # the whole-page picture is the page, not a figure on it


def test_a_page_with_a_picture_and_a_drawn_chart_has_both_as_figures() -> None:
    doc = parse_sync(documents.pdf_with_figure(), "chart.pdf", LIMITS)
    (page,) = doc.pages
    raster = [f for f in page.figures if f.kind == "raster"]
    vector = [f for f in page.figures if f.kind == "vector"]
    assert [f.bbox.as_list() for f in raster] == [[72.0, 150.0, 312.0, 330.0]]
    bars, pie = BBox(72, 400, 300, 600), BBox(350, 420, 510, 580)
    assert any(_covers(f.bbox, bars) for f in vector)
    assert any(_covers(f.bbox, pie) for f in vector)
    assert [f.index for f in page.figures] == list(range(len(page.figures)))
    for figure in page.figures:
        assert figure.page_number == 1
        assert png(figure.png).width >= 200
    assert page.text.startswith("Store growth by region")


def _covers(outer: BBox, inner: BBox) -> bool:
    return (
        outer.x0 <= inner.x0
        and outer.y0 <= inner.y0
        and outer.x1 >= inner.x1
        and outer.y1 >= inner.y1
    )


def test_text_pdf_pages_and_paragraphs_become_pages_and_blocks() -> None:
    doc = parse_sync(
        documents.text_pdf(["First  para\n\nSecond para", "Page two"]), "t.pdf", LIMITS
    )
    assert [[b.text for b in p.blocks] for p in doc.pages] == [
        ["First para", "Second para"],
        ["Page two"],
    ]


def test_a_rotated_page_reports_boxes_on_the_page_as_shown() -> None:
    doc = pymupdf.open()
    page = doc.new_page(width=792, height=612)
    page.insert_text((72, 100), "Landscape revenue table", fontsize=24)
    page.set_rotation(90)
    parsed = parse_sync(bytes(doc.tobytes()), "turned.pdf", LIMITS)
    (shown,) = parsed.pages
    assert (shown.width, shown.height) == (612.0, 792.0)
    (block,) = shown.blocks
    assert inside(block.bbox, shown)
    assert dark_share(png(shown.render_png), shown, block.bbox) > 0.02


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_text_boxes_are_placed_as_pymupdfs_rects_place_them(rotation: int) -> None:
    # _placer skips PyMuPDF's Rect objects on unrotated pages; its boxes must be the ones
    # (Rect(box) * rotation_matrix) & page.rect gives, including boxes past the page's
    # edges, empty ones and ones off the page.
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    page.set_rotation(rotation)
    boxes = [
        (72.0, 100.5, 300.25, 118.0),
        (-20.0, 700.0, 640.0, 810.0),
        (100.0, 100.0, 100.0, 120.0),
        (900.0, 900.0, 950.0, 960.0),
        (300.0, 50.0, 200.0, 40.0),
    ]
    place = _placer(page)
    for box in boxes:
        rect = (pymupdf.Rect(box) * page.rotation_matrix) & page.rect
        assert place(box) == BBox(rect.x0, rect.y0, rect.x1, rect.y1), box


def test_text_is_normalised() -> None:
    assert normalise_text("  pro\ufb01t\u00a0margin \n\n up\t3%\ufffd ") == "profit margin up 3%"


# --- bad files, through the child like ingestion does -----------------------------------


async def parse_error(data: bytes, name: str, limits: ParseLimits = LIMITS) -> FolioError:
    with pytest.raises(FolioError) as caught:
        await parse_document(data, name, limits)
    assert name in caught.value.user_message
    return caught.value


async def test_an_encrypted_pdf_raises_encrypted_document() -> None:
    error = await parse_error(documents.encrypted_pdf(), "locked.pdf")
    assert type(error) is EncryptedDocument
    assert error.user_message == "locked.pdf is password-protected; upload an unlocked copy."


async def test_a_truncated_filing_raises_corrupt_document() -> None:
    error = await parse_error(documents.truncated_pdf(), "cut.pdf")
    assert type(error) is CorruptDocument
    assert "damaged or cut off" in error.user_message


@pytest.mark.parametrize(
    "name", ["BESTBUY_2023_10K_pages_1-3.pdf", "Pfizer_2023Q2_10Q_pages_4_6_49.pdf"]
)
def test_a_truncated_filing_mupdf_repairs_into_blank_pages_is_corrupt(name: str) -> None:
    data = documents.truncated_pdf(name, keep=0.5)
    repaired = pymupdf.open(stream=data, filetype="pdf")
    assert repaired.is_repaired and repaired.page_count == 3  # pages, but nothing on them
    with pytest.raises(CorruptDocument):
        parse_sync(data, name, LIMITS)


def test_a_nearly_whole_filing_still_parses() -> None:
    doc = parse_sync(documents.truncated_pdf(ULTA, keep=0.99), ULTA, LIMITS)
    assert len(doc.pages) == 9
    assert "inventories" in doc.pages[2].text.lower()


async def test_a_pdf_with_zero_pages_raises_empty_document() -> None:
    error = await parse_error(documents.zero_page_pdf(), "nothing.pdf")
    assert type(error) is EmptyDocument


async def test_a_web_page_renamed_pdf_raises_corrupt_document() -> None:
    error = await parse_error(documents.html_renamed_pdf(), "q3.pdf")
    assert type(error) is CorruptDocument


async def test_a_huge_picture_is_refused_before_it_is_decoded() -> None:
    error = await parse_error(documents.huge_png(20000, 20000), "poster.png")
    assert type(error) is PageTooLarge
    assert "400 megapixels" in error.user_message


def test_a_picture_just_over_the_limit_names_its_size() -> None:
    with pytest.raises(PageTooLarge) as caught:
        parse_sync(documents.huge_png(8000, 6000), "big.png", LIMITS)
    assert caught.value.user_message.startswith(
        "big.png is 8000 × 6000 pixels (48 megapixels); folio reads pictures up to 40 megapixels."
    )


async def test_a_page_wider_than_the_limit_raises_page_too_large() -> None:
    error = await parse_error(documents.huge_mediabox_pdf(14400, page_number=3), "banner.pdf")
    assert type(error) is PageTooLarge
    assert error.user_message.startswith("Page 3 of banner.pdf is 14400 pt wide")


async def test_a_pdf_picture_that_decodes_past_the_memory_limit_raises_parse_crashed() -> None:
    limits = replace(LIMITS, memory_mb=300)
    error = await parse_error(documents.image_bomb_pdf(20000), "bomb.pdf", limits)
    assert type(error) is ParseCrashed
    assert error.user_message.startswith("bomb.pdf needed more than 300 MB of memory")


async def test_a_file_over_the_byte_cap_raises_file_too_large() -> None:
    limits = replace(LIMITS, max_bytes=1024 * 1024)
    data = documents.filing(ULTA)
    error = await parse_error(data + bytes(1024 * 1024), "big.pdf", limits)
    assert type(error) is FileTooLarge
    assert "folio reads files up to 1 MB" in error.user_message


async def test_a_pdf_over_the_page_cap_raises_too_many_pages() -> None:
    limits = replace(LIMITS, max_pages=2)
    error = await parse_error(documents.text_pdf(["a", "b", "c"]), "long.pdf", limits)
    assert type(error) is TooManyPages
    assert "long.pdf has 3 pages; folio reads up to 2" in error.user_message


async def test_damaged_picture_bytes_raise_corrupt_document() -> None:
    data = documents.picture(fmt="PNG")
    error = await parse_error(data[: len(data) // 2], "cut.png")
    assert type(error) is CorruptDocument


# --- pictures ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "TIFF"])
def test_a_picture_is_one_page_rendered_as_rgb_png(fmt: str) -> None:
    doc = parse_sync(documents.picture((640, 480), fmt=fmt), f"photo.{fmt.lower()}", LIMITS)
    assert doc.kind == "image"
    (page,) = doc.pages
    assert (page.number, page.width, page.height, page.blocks) == (1, 640.0, 480.0, ())
    render = png(page.render_png)
    assert (render.size, render.mode) == ((640, 480), "RGB")
    red, green, blue = render.getpixel((150, 170))  # type: ignore[misc]
    assert red > 150 and green < 100 and blue < 100  # the red disc, first frame of a GIF


def test_a_large_picture_is_rendered_at_most_1600_pixels_wide() -> None:
    doc = parse_sync(documents.picture((3200, 1800), fmt="JPEG"), "wide.jpg", LIMITS)
    (page,) = doc.pages
    assert (page.width, page.height) == (3200.0, 1800.0)
    assert png(page.render_png).size == (1600, 900)


def test_a_transparent_picture_is_rendered_on_white() -> None:
    image = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    out = io.BytesIO()
    image.save(out, format="PNG")
    doc = parse_sync(out.getvalue(), "clear.png", LIMITS)
    assert png(doc.pages[0].render_png).getpixel((50, 50)) == (255, 255, 255)


def test_a_photo_taken_sideways_is_turned_upright() -> None:
    image = Image.open(io.BytesIO(documents.picture((400, 200), fmt="JPEG")))
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    (page,) = parse_sync(out.getvalue(), "phone.jpg", LIMITS).pages
    assert (page.width, page.height) == (200.0, 400.0)
    assert png(page.render_png).size == (200, 400)


@pytest.mark.slow
async def test_the_whole_financebench_corpus_parses_in_children() -> None:
    corpus = documents.financebench()
    names = sorted(p.name for p in (corpus / "pdfs").glob("*.pdf"))
    gate = asyncio.Semaphore(2)

    async def parse(name: str) -> ParsedDocument:
        async with gate:
            return await parse_document((corpus / "pdfs" / name).read_bytes(), name, LIMITS)

    parsed = await asyncio.gather(*(parse(name) for name in names))
    pages = [page for doc in parsed for page in doc.pages]
    assert len(names) == 20 and len(pages) == 962
    assert sum(1 for page in pages if page.blocks) >= 950
    assert all(page.render_png.startswith(b"\x89PNG\r\n\x1a\n") for page in pages)
    assert 10 <= sum(doc.figure_count for doc in parsed) <= 40
