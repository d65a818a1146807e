"""Builders of real Office files and scans with a known sentence at a known place.

Word, PowerPoint and Excel files are written by python-docx, python-pptx and openpyxl (the
files LibreOffice then converts); a scan is a text page rendered to a picture and placed in
a PDF with no text layer, returned with where its phrase sits on the page.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rag._mupdf import pymupdf
from rag.types import BBox


def docx_pages(pages: Sequence[Sequence[str]]) -> bytes:
    """A Word document: each page's paragraphs, with a page break between pages."""
    from docx import Document

    document = Document()
    for number, paragraphs in enumerate(pages):
        if number:
            document.add_page_break()
        for paragraph in paragraphs:
            document.add_paragraph(paragraph)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def pptx_slides(slides: Sequence[tuple[str, str]]) -> bytes:
    """A PowerPoint deck of (title, body) slides in the title-and-content layout."""
    from pptx import Presentation

    deck = Presentation()
    for title, body in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def xlsx_sheets(sheets: Mapping[str, Sequence[Sequence[object]]]) -> bytes:
    """An Excel workbook with one sheet per name, filled row by row."""
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(list(row))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


@dataclass(frozen=True)
class Scan:
    """A scanned page (PDF without a text layer, or a picture) and where ``phrase`` is."""

    data: bytes
    phrase: str
    where: BBox  # in PDF points for a PDF, in pixels for a picture


def scanned_paragraph(text: str, phrase: str, *, dpi: int = 150, picture: bool = False) -> Scan:
    """``text`` typeset on a letter page, scanned at ``dpi``; as a one-page PDF or a PNG."""
    page_doc = pymupdf.open()
    page = page_doc.new_page(width=612, height=792)
    page.insert_textbox(pymupdf.Rect(72, 90, 540, 400), text, fontsize=12, fontname="tiro")
    found = page.search_for(phrase)[0]  # pick a phrase that fits on one line
    scan = page.get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY)
    png = scan.tobytes("png")
    if picture:
        scale = dpi / 72
        where = BBox(found.x0 * scale, found.y0 * scale, found.x1 * scale, found.y1 * scale)
        return Scan(png, phrase, where)
    doc = pymupdf.open()
    out_page = doc.new_page(width=612, height=792)
    out_page.insert_image(out_page.rect, stream=png)
    return Scan(doc.tobytes(no_new_id=True), phrase, BBox(*found))
