"""Office files, text and scans through the real pipeline: found on their page, highlighted.

Each file is built for real (python-docx, python-pptx, openpyxl, PyMuPDF), converted by
the real LibreOffice or laid out by PyMuPDF, OCR'd by the real RapidOCR, indexed through
open_services (tiny CLIP, MiniLM, Qdrant Edge, SQLite) and then asked about: the answer
must cite the page that holds the sentence, named as people name it ("slide 3"), and the
highlight drawn on that page must cover the sentence.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio
from PIL import Image

from rag._mupdf import pymupdf
from rag._services import Services
from rag.ingest._office import find_soffice
from rag.settings import RetrievalConfig
from rag.types import Audience, BBox, Citation, Scope
from tests.fakes import documents, office
from tests.fakes.services import ingest, open_test_services, settings_for

pytestmark = pytest.mark.asyncio(loop_scope="module")

TEAM = "T1"
needs_libreoffice = pytest.mark.skipif(
    find_soffice() is None,
    reason="LibreOffice is not installed, so Office conversion is not tested (Debian: "
    "apt-get install libreoffice-writer-nogui libreoffice-impress-nogui libreoffice-calc-nogui)",
)
FILLER = (
    "This paragraph is filler about ordinary harbour business, meetings and schedules, "
    "repeated so that the document runs onto a second page."
)
PHRASE = "catch fell sharply after the autumn storms"  # all on the scan's second line
SCANNED = (
    "The quarterly harvest of blue lobsters rose by eleven percent in Nova Scotia, while "
    "the herring catch fell sharply after the autumn storms. Fishermen in Halifax expect "
    "prices to stay high through the winter months."
)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def services(
    tmp_path_factory: pytest.TempPathFactory, tiny_clip_dir: Path, minilm_dir: Path
) -> AsyncIterator[Services]:
    """Services on a fresh data dir; parsing gets room for LibreOffice and OCR on a busy box."""
    tmp = tmp_path_factory.mktemp("formats")
    settings = settings_for(tmp, tiny_clip_dir, minilm_dir, FOLIO_PARSE_TIMEOUT_S="240")
    async with open_test_services(settings) as opened:
        yield opened


async def cited(
    services: Services, data: bytes, name: str, channel: str, question: str
) -> Citation:
    """Index the file alone in ``channel`` and return the first citation of the answer."""
    result = await ingest(services, data, name, Scope(TEAM, channel))
    assert result.created
    answer = await services.answerer.answer(question, audience=Audience(TEAM, channel))
    assert answer.citations, answer.text
    return answer.citations[0]


async def phrase_box(services: Services, citation: Citation, phrase: str) -> BBox:
    """Where ``phrase`` is printed on the cited page of the stored (rendered) PDF."""
    data = await services.catalog.data(citation.document_id)
    with pymupdf.open(stream=data, filetype="pdf") as doc:
        found = doc[citation.page_number - 1].search_for(phrase)
    assert found, f"{phrase!r} is not on page {citation.page_number}"
    return BBox(*found[0])


async def assert_highlighted(services: Services, citation: Citation, where: BBox) -> None:
    """The citation's boxes cover ``where``, and the rendered page shows them there."""
    centre = ((where.x0 + where.x1) / 2, (where.y0 + where.y1) / 2)
    assert any(b.x0 <= centre[0] <= b.x1 and b.y0 <= centre[1] <= b.y1 for b in citation.bboxes)
    document = await services.catalog.get(citation.document_id)
    assert document is not None
    marked = await services.pages.page_png(
        citation.document_id, citation.page_number, citation.bboxes
    )
    plain = await services.pages.page_png(citation.document_id, citation.page_number)
    assert marked is not None and plain is not None
    pages = await services.catalog.pages(citation.document_id)
    page = next(p for p in pages if p.number == citation.page_number)
    assert yellow_share(marked, page.width, where) > 0.3
    assert yellow_share(plain, page.width, where) == 0


def yellow_share(png: bytes, page_width: float, where: BBox) -> float:
    """Share of highlighter-yellow pixels in ``where`` (page units) on the rendered page."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    scale = image.width / page_width
    crop = image.crop(
        (
            round(where.x0 * scale),
            round(where.y0 * scale),
            round(where.x1 * scale),
            round(where.y1 * scale),
        )
    )
    pixels = np.asarray(crop, dtype=np.int32)
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return float(((red > 200) & (green > 180) & (blue < 200)).mean()) if pixels.size else 0.0


@needs_libreoffice
async def test_a_word_document_is_found_on_its_page_and_highlighted(services: Services) -> None:
    phrase = "violet submarine surfaced near Halifax"
    data = office.docx_pages(
        [
            ["Harbour committee minutes.", FILLER],
            [f"On Tuesday the {phrase} and was towed to dock seven.", FILLER],
            ["Budget items follow in the appendix.", FILLER],
        ]
    )
    citation = await cited(
        services, data, "minutes.docx", "CDOCX", "Where did the violet submarine surface?"
    )
    assert (citation.file_name, citation.page_number) == ("minutes.docx", 2)
    assert citation.page_label == "page 2"
    await assert_highlighted(services, citation, await phrase_box(services, citation, phrase))


@needs_libreoffice
async def test_a_slide_is_cited_as_a_slide_and_highlighted(services: Services) -> None:
    phrase = "amber giraffe census counted"
    data = office.pptx_slides(
        [
            ("Quarterly review", "Agenda and goals for the quarter"),
            ("Sales", "Revenue grew in every region"),
            ("Wildlife", f"The {phrase} forty-two animals at the reserve"),
            ("Next steps", "Hiring and travel plans"),
        ]
    )
    citation = await cited(
        services, data, "deck.pptx", "CPPTX", "How many animals did the amber giraffe census count?"
    )
    assert (citation.file_name, citation.page_label) == ("deck.pptx", "slide 3")
    await assert_highlighted(services, citation, await phrase_box(services, citation, phrase))


@needs_libreoffice
async def test_a_workbook_sheet_is_cited_as_a_sheet_page_and_highlighted(
    services: Services,
) -> None:
    phrase = "copper lantern budget"
    data = office.xlsx_sheets(
        {
            "Summary": [["Item", "Amount"], ["Rent", 1200], ["Travel", 300]],
            "Lanterns": [[f"The {phrase} is frozen until March"], ["Owner", "Facilities"]],
        }
    )
    # Two short sheets nearly tie for the random test CLIP: whichever is cited first, the
    # sheet that holds the phrase is among the citations, labelled as a sheet page.
    await cited(services, data, "budget.xlsx", "CXLSX", "Is the copper lantern budget frozen?")
    answer = await services.answerer.answer(
        "Is the copper lantern budget frozen?", audience=Audience(TEAM, "CXLSX")
    )
    sheets = [c for c in answer.citations if c.file_name == "budget.xlsx"]
    assert {c.page_label for c in sheets} <= {"sheet page 1", "sheet page 2"}
    citation = next(c for c in sheets if c.page_label == "sheet page 2")
    await assert_highlighted(services, citation, await phrase_box(services, citation, phrase))


async def test_markdown_is_laid_out_as_pages_and_found_on_a_later_one(services: Services) -> None:
    phrase = "tangerine lighthouse keeper"
    filler = "\n\n".join(FILLER for _ in range(40))
    text = f"# Harbour notes\n\n{filler}\n\n## Staff\n\nThe **{phrase}** retires in June.\n"
    citation = await cited(
        services,
        text.encode(),
        "notes.md",
        "CMD",
        "When does the tangerine lighthouse keeper retire?",
    )
    data = await services.catalog.data(citation.document_id)
    with pymupdf.open(stream=data, filetype="pdf") as doc:
        pages = [page.number + 1 for page in doc if page.search_for(phrase)]
    assert citation.file_name == "notes.md" and [citation.page_number] == pages
    assert citation.page_number > 1
    await assert_highlighted(services, citation, await phrase_box(services, citation, phrase))


async def test_a_scanned_page_is_read_by_ocr_cited_and_highlighted(services: Services) -> None:
    scan = office.scanned_paragraph(SCANNED, PHRASE)
    citation = await cited(
        services,
        scan.data,
        "scan.pdf",
        "CSCAN",
        "Why did the catch fall sharply after the autumn storms?",
    )
    assert (citation.file_name, citation.page_number) == ("scan.pdf", 1)
    assert PHRASE in citation.passage
    await assert_highlighted(services, citation, scan.where)


@pytest.mark.parametrize("leg", ["text", "bm25"])
async def test_a_scanned_pages_words_are_found_by_the_text_and_bm25_legs_alone(
    services: Services, leg: str
) -> None:
    channel = f"CLEG{leg.upper()}"
    scan = office.scanned_paragraph(SCANNED, PHRASE)
    other = documents.text_pdf(["The bakery oven was replaced in March; the zoo got two otters."])
    await ingest(services, other, "other.pdf", Scope(TEAM, channel))
    await ingest(services, scan.data, "lobsters.pdf", Scope(TEAM, channel))
    weights = {"clip_weight": 0.0, "text_weight": 0.0, "bm25_weight": 0.0, f"{leg}_weight": 1.0}
    retriever = services.retriever.with_config(RetrievalConfig(**weights))
    pages = await retriever.search("herring catch in Nova Scotia", audience=Audience(TEAM, channel))
    # Public scans of the same paragraph from other tests may tie with this one.
    assert pages[0].file_name in ("lobsters.pdf", "scan.pdf", "whiteboard.png")
    assert "herring" in pages[0].passage


async def test_a_photographed_paragraph_is_read_by_ocr_and_highlighted(services: Services) -> None:
    text = (
        "Notes from the whiteboard: the crimson ferry to Digby leaves at noon on Fridays, "
        "and tickets must be bought at the harbour office the day before."
    )
    scan = office.scanned_paragraph(text, "ferry to Digby leaves at noon", picture=True)
    citation = await cited(
        services, scan.data, "whiteboard.png", "CPNG", "When does the crimson ferry to Digby leave?"
    )
    assert citation.file_name == "whiteboard.png"
    await assert_highlighted(services, citation, scan.where)
