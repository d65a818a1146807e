"""Office files shared in an indexing channel: indexed through LibreOffice, or told why not."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.ingest._office import find_soffice
from tests.bot.harness import DOCS_CHANNEL, Bot, text_of
from tests.fakes import office

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.mark.skipif(
    find_soffice() is None,
    reason="LibreOffice is not installed, so Office conversion is not tested (Debian: "
    "apt-get install libreoffice-writer-nogui libreoffice-impress-nogui libreoffice-calc-nogui)",
)
async def test_a_word_document_shared_in_an_indexing_channel_is_indexed(http_bot: Bot) -> None:
    data = office.docx_pages([["Harbour minutes."], ["The violet submarine surfaced."]])
    event, _ = await http_bot.share("minutes.docx", data, DOCX)

    line = await http_bot.indexed(DOCS_CHANNEL, event["ts"])

    assert line.params["text"] == "Indexed minutes.docx: 2 pages, 0 figures"


async def test_without_libreoffice_a_word_document_gets_a_reply_saying_what_to_install(
    http_bot: Bot, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # the parse child finds no soffice
    data = office.docx_pages([["Harbour minutes."]])
    event, _ = await http_bot.share("minutes.docx", data, DOCX)

    line = await http_bot.indexed(DOCS_CHANNEL, event["ts"])

    assert "x" in http_bot.fake.reactions[(DOCS_CHANNEL, event["ts"])]
    assert "minutes.docx" in text_of(line)
    assert "apt-get install libreoffice-writer-nogui" in text_of(line)
