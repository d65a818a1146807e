"""chunk_page / chunk_document: passages of at most max_words words, with their boxes."""

from __future__ import annotations

import pytest

from rag.ingest._chunk import TABLE_ROWS, chunk_document, chunk_page
from rag.ingest._parse import parse_sync
from rag.settings import ParseLimits
from rag.types import BBox, ParsedDocument, ParsedPage, TextBlock
from tests.fakes import documents


def block(words: int, top: float, word: str = "w") -> TextBlock:
    text = " ".join(f"{word}{i}" for i in range(words))
    return TextBlock(text, BBox(72, top, 540, top + 10 + words / 10))


def page(*blocks: TextBlock, number: int = 1) -> ParsedPage:
    return ParsedPage(number=number, width=612, height=792, blocks=tuple(blocks), render_png=b"")


def test_small_blocks_are_grouped_up_to_max_words() -> None:
    blocks = [block(40, 100, "a"), block(40, 150, "b"), block(40, 200, "c"), block(10, 250, "d")]
    chunks = chunk_page(page(*blocks), max_words=100)
    assert [c.index for c in chunks] == [0, 1]
    assert chunks[0].text == f"{blocks[0].text}\n{blocks[1].text}"
    assert chunks[0].bboxes == (blocks[0].bbox, blocks[1].bbox)
    assert chunks[1].text == f"{blocks[2].text}\n{blocks[3].text}"
    assert chunks[1].bboxes == (blocks[2].bbox, blocks[3].bbox)
    assert all(c.page_number == 1 for c in chunks)


def test_a_block_of_exactly_max_words_is_one_chunk() -> None:
    chunks = chunk_page(page(block(50, 100)), max_words=50)
    assert len(chunks) == 1
    assert len(chunks[0].text.split()) == 50


def test_a_long_block_is_split_into_even_pieces_within_its_box() -> None:
    long = block(250, 100)
    chunks = chunk_page(page(block(5, 50, "head"), long, block(5, 400, "tail")), max_words=100)
    sizes = [len(c.text.split()) for c in chunks]
    assert sizes == [5, 84, 84, 82, 5]
    pieces = chunks[1:4]
    assert " ".join(c.text for c in pieces) == long.text
    bands = [c.bboxes[0] for c in pieces]
    assert bands[0].y0 == long.bbox.y0 and bands[-1].y1 == pytest.approx(long.bbox.y1)
    assert all(a.y1 == pytest.approx(b.y0) for a, b in zip(bands, bands[1:], strict=False))
    assert all(b.x0 == long.bbox.x0 and b.x1 == long.bbox.x1 for b in bands)


def test_every_word_lands_in_exactly_one_chunk() -> None:
    blocks = [block(n, 20 * i, f"b{i}x") for i, n in enumerate([3, 70, 200, 1, 45, 120, 9])]
    chunks = chunk_page(page(*blocks), max_words=60)
    words = [w for c in chunks for w in c.text.split()]
    assert words == [w for b in blocks for w in b.text.split()]
    assert all(len(c.text.split()) <= 60 for c in chunks)
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_a_page_without_text_has_no_chunks() -> None:
    assert chunk_page(page()) == []


def test_max_words_must_be_positive() -> None:
    with pytest.raises(ValueError):
        chunk_page(page(block(3, 10)), max_words=0)


def test_chunk_document_numbers_chunks_per_page() -> None:
    doc = ParsedDocument(
        kind="pdf",
        pages=(
            page(block(80, 10), block(80, 100), number=1),
            page(number=2),
            page(block(10, 10), number=3),
        ),
    )
    chunks = chunk_document(doc, max_words=100)
    assert [(c.page_number, c.index) for c in chunks] == [(1, 0), (1, 1), (3, 0)]


def test_a_real_filing_chunks_into_passages_that_keep_their_boxes() -> None:
    name = documents.ULTA
    doc = parse_sync(documents.filing(name), name, ParseLimits())
    chunks = chunk_document(doc)
    assert {c.page_number for c in chunks} == set(range(1, 10))
    tables = [c for c in chunks if any(line.startswith("| ") for line in c.text.splitlines())]
    prose = [c for c in chunks if c not in tables]
    assert tables and prose  # the balance sheet, the statements of income, ...
    assert all(0 < len(c.text.split()) <= 120 for c in prose)
    rows = [(p.number, b.bbox) for p in doc.pages for b in p.blocks if b.row]
    for chunk in tables:  # one box around its rows
        (box,) = chunk.bboxes
        inside = [r for n, r in rows if n == chunk.page_number and _within(r, box)]
        assert 1 <= len(inside) <= TABLE_ROWS
    blocks = [(p.number, b.bbox) for p in doc.pages for b in p.blocks]
    for chunk in prose:
        for box in chunk.bboxes:  # a block's box, or a band of a long block's box
            assert any(
                number == chunk.page_number
                and outer.x0 <= box.x0 <= box.x1 <= outer.x1
                and outer.y0 <= box.y0 < box.y1 <= outer.y1 + 1e-6
                for number, outer in blocks
            )
    inventories = [c for c in chunks if "inventories" in c.text.lower()]
    assert inventories and inventories[0].page_number == 3


def _within(inner: BBox, outer: BBox) -> bool:
    return (
        outer.x0 <= inner.x0 <= inner.x1 <= outer.x1 + 1e-6
        and outer.y0 <= inner.y0 <= inner.y1 <= outer.y1 + 1e-6
    )
