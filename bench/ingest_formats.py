"""Reading speed per format: pages per second from bytes to parsed pages, as ingestion does.

Each file goes through ``parse_document``, the path a shared file takes before embedding:
the parse child (sniffing, LibreOffice for Office files, PyMuPDF's layout for Markdown,
PyMuPDF for every page) and, for pages without a text layer, the OCR children. Embedding
is the same work for every format (see bench/ingest.py) and is left out. Inputs are
generated here (python-docx, python-pptx, openpyxl, PyMuPDF) so the run needs nothing
else; a real filing from the shared financebench corpus is added when it is there.
Writes bench/reports/ingest_formats.json and .png.

    python -m bench.ingest_formats [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.corpus import financebench
from rag._mupdf import pymupdf
from rag.ingest._office import find_soffice
from rag.ingest._parse import parse_document
from rag.settings import ParseLimits

OUT = Path(__file__).resolve().parent / "reports"
REPO = Path(__file__).resolve().parents[1]
FINANCEBENCH = financebench() / "pdfs"
FILING = "ULTABEAUTY_2023Q4_EARNINGS.pdf"
PARAGRAPH = (
    "The harbour committee reviewed the quarterly accounts, the dredging schedule and the "
    "new berth for the ferry. Revenue from moorings rose while fuel costs fell, and the "
    "board asked for a survey of the north pier before the winter storms."
)
LIMITS = ParseLimits(timeout_s=600)


def text_pdf(pages: int) -> bytes:
    """Born-digital pages of running text."""
    doc = pymupdf.open()
    for _ in range(pages):
        page = doc.new_page(width=612, height=792)
        page.insert_textbox(pymupdf.Rect(72, 72, 540, 720), (PARAGRAPH + " ") * 12, fontsize=11)
    return bytes(doc.tobytes())


def scanned_pdf(pages: int) -> bytes:
    """Pages of text rendered at 150 dpi and placed as pictures: no text layer."""
    source = pymupdf.open(stream=text_pdf(1), filetype="pdf")
    picture = source[0].get_pixmap(dpi=150, colorspace=pymupdf.csGRAY).tobytes("png")
    doc = pymupdf.open()
    for _ in range(pages):
        page = doc.new_page(width=612, height=792)
        page.insert_image(page.rect, stream=picture)
    return bytes(doc.tobytes())


def docx(pages: int) -> bytes:
    from docx import Document

    document = Document()
    for number in range(pages):
        if number:
            document.add_page_break()
        for _ in range(4):
            document.add_paragraph(PARAGRAPH)
    return _saved(document)


def pptx(slides: int) -> bytes:
    from pptx import Presentation

    deck = Presentation()
    for number in range(slides):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = f"Harbour review {number + 1}"
        slide.placeholders[1].text = PARAGRAPH
    return _saved(deck)


def xlsx(rows: int) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Berth", "Vessel", "Tonnage", "Fee", "Notes"])
    for row in range(rows):
        sheet.append([f"B{row % 40}", f"Vessel {row}", 1000 + row * 7, 120.5 + row, "paid"])
    return _saved(workbook)


def markdown(pages: int) -> bytes:
    sections = [f"## Section {n}\n\n{PARAGRAPH}\n\n{PARAGRAPH}\n" for n in range(pages * 3)]
    return ("# Harbour notes\n\n" + "\n".join(sections)).encode()


def _saved(document: Any) -> bytes:
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def inputs() -> list[tuple[str, str, Callable[[], bytes]]]:
    """(row label, file name, builder) for every format measured."""
    rows: list[tuple[str, str, Callable[[], bytes]]] = [
        ("PDF (born-digital)", "report.pdf", lambda: text_pdf(10)),
        ("Markdown (PyMuPDF layout)", "notes.md", lambda: markdown(10)),
        ("Scanned PDF (OCR)", "scan.pdf", lambda: scanned_pdf(3)),
    ]
    if (FINANCEBENCH / FILING).exists():
        rows.insert(1, ("PDF (real filing)", FILING, (FINANCEBENCH / FILING).read_bytes))
    if find_soffice() is not None:
        rows += [
            ("Word via LibreOffice", "minutes.docx", lambda: docx(10)),
            ("PowerPoint via LibreOffice", "deck.pptx", lambda: pptx(10)),
            ("Excel via LibreOffice", "budget.xlsx", lambda: xlsx(600)),
        ]
    return rows


async def measure(name: str, data: bytes, runs: int) -> dict[str, Any]:
    """Median seconds over ``runs`` reads, and pages per second at the median."""
    seconds, pages, ocr = [], 0, 0
    for _ in range(runs):
        started = time.perf_counter()
        parsed = await parse_document(data, name, LIMITS)
        seconds.append(time.perf_counter() - started)
        pages, ocr = len(parsed.pages), sum(page.ocr for page in parsed.pages)
    median = statistics.median(seconds)
    return {
        "pages": pages,
        "ocr_pages": ocr,
        "runs_s": [round(s, 2) for s in seconds],
        "median_s": round(median, 2),
        "pages_per_s": round(pages / median, 2),
        "s_per_page": round(median / pages, 2),
    }


async def run(runs: int) -> dict[str, Any]:
    rows = {}
    for label, name, build in inputs():
        rows[label] = {"file": name, **await measure(name, build(), runs)}
        print(f"{label:28s} {rows[label]['pages_per_s']:7.2f} pages/s  {rows[label]}")
    return {
        "what": "reading speed per format: parse_document (child, conversion, OCR), no embedding",
        "machine": f"{platform.machine()}, {platform.python_version()}, shared and busy",
        "runs": runs,
        "formats": rows,
    }


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(report["formats"])
    values = [report["formats"][label]["pages_per_s"] for label in labels]
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(labels) + 1.2))
    ax.barh(labels[::-1], values[::-1], color="#4c72b0")
    for y, value in enumerate(values[::-1]):
        ax.text(value, y, f" {value:.2f}", va="center")
    ax.set_xscale("log")
    ax.set_xlabel("pages per second (log scale; median of runs)")
    ax.set_title("Reading speed per format (parse child, LibreOffice, OCR; no embedding)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    report = asyncio.run(run(args.runs))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "ingest_formats.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(report, OUT / "ingest_formats.png")
    print(f"wrote {OUT / 'ingest_formats.json'} and {OUT / 'ingest_formats.png'}")


if __name__ == "__main__":
    main()
