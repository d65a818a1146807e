"""Converting to PDF in the parse child: LibreOffice for Office files, PyMuPDF for text."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from rag._mupdf import pymupdf
from rag.errors import ConverterMissing, CorruptDocument, DocumentError, ParseTimeout, TooManyPages
from rag.ingest._office import convert_to_pdf, find_soffice
from rag.ingest._parse import parse_document, parse_sync, sniff
from rag.settings import ParseLimits
from tests.fakes import documents, office

LIMITS = ParseLimits(timeout_s=240)
needs_libreoffice = pytest.mark.skipif(
    find_soffice() is None,
    reason="LibreOffice is not installed, so Office conversion is not tested (Debian: "
    "apt-get install libreoffice-writer-nogui libreoffice-impress-nogui libreoffice-calc-nogui)",
)


async def test_without_libreoffice_an_office_file_says_exactly_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # the parse child inherits PATH: no soffice
    with pytest.raises(ConverterMissing) as caught:
        await parse_document(office.pptx_slides([("A", "B")]), "deck.pptx", LIMITS)
    message = caught.value.user_message
    assert "deck.pptx" in message and "LibreOffice" in message
    assert "apt-get install libreoffice-impress-nogui" in message


def test_html_cannot_make_the_layout_read_local_files(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("the launch codes are 0000")
    page = (
        f'<p>Visible words.</p><img src="{secret.as_uri()}"><img src="{secret}">'
        f'<iframe src="{secret.as_uri()}"></iframe>'
        f"<style>@import url({secret.as_uri()});</style><script>document.write('ran')</script>"
    )
    parsed = parse_sync(page.encode(), "page.html", LIMITS)
    text = " ".join(p.text for p in parsed.pages)
    assert "Visible words." in text
    assert "launch codes" not in text and "ran" not in text.split()


def test_a_long_text_file_becomes_several_pages_with_a_rendition_to_show() -> None:
    text = "\n\n".join(f"Paragraph {n} talks about harbour business." for n in range(200))
    parsed = parse_sync(text.encode(), "log.txt", LIMITS)
    assert parsed.kind == "text" and len(parsed.pages) > 3
    assert parsed.rendition is not None
    with pymupdf.open(stream=parsed.rendition, filetype="pdf") as doc:
        assert doc.page_count == len(parsed.pages)
    assert "Paragraph 199" in parsed.pages[-1].text


def test_a_text_file_past_the_page_cap_is_refused_while_laid_out() -> None:
    text = "\n\n".join("A line of text." for _ in range(2000))
    with pytest.raises(TooManyPages) as caught:
        parse_sync(text.encode(), "huge.md", replace(LIMITS, max_pages=5))
    assert "huge.md fills more than 5 pages" in caught.value.user_message


async def test_a_cut_off_word_document_is_refused_as_damaged() -> None:
    data = office.docx_pages([["Hello."]])
    with pytest.raises(CorruptDocument) as caught:
        await parse_document(data[: len(data) // 2], "minutes.docx", LIMITS)
    assert caught.value.user_message.startswith("minutes.docx could not be read; it looks damaged")


@needs_libreoffice
async def test_a_word_document_libreoffice_cannot_open_is_refused_with_its_name() -> None:
    data = documents.docx_bytes()  # a ZIP with Word's folder names and no real document
    with pytest.raises(DocumentError) as caught:
        await parse_document(data, "minutes.docx", LIMITS)
    assert "minutes.docx" in caught.value.user_message


@needs_libreoffice
async def test_a_conversion_past_the_deadline_stops_and_leaves_no_libreoffice_running() -> None:
    data = office.docx_pages([["Hello."]] * 3)
    with pytest.raises(ParseTimeout):
        await parse_document(data, "minutes.docx", replace(LIMITS, timeout_s=1.0))
    assert not [pid for pid in _processes_with("folio-office-")]


@needs_libreoffice
@pytest.mark.parametrize("deadline_s", [0.15, 0.35, 0.55])
def test_a_conversion_stopped_at_its_own_deadline_kills_libreoffice_before_its_folder_goes(
    deadline_s: float,
) -> None:
    # The launcher alone used to be killed: soffice.bin went on writing its profile while
    # the folder was removed, and the timeout surfaced as "damaged" (or a leftover process).
    data = office.docx_pages([["Hello."]] * 3)
    with pytest.raises(ParseTimeout):
        convert_to_pdf(data, sniff(data, "minutes.docx"), "minutes.docx", timeout_s=deadline_s)
    assert not _processes_with("folio-office-")


def _processes_with(marker: str) -> list[int]:
    """Processes whose command line mentions ``marker`` (folio's own conversion folders)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found
