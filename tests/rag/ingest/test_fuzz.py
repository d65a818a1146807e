"""Property-based fuzzing: real PDFs and pictures, mutated, through sniffing and the parse child.

Whatever the bytes, sniffing answers a format or a DocumentError, and the parse child answers
pages or a DocumentError within its limit: never another exception, never a hang.
"""

from __future__ import annotations

import asyncio
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.errors import DocumentError
from rag.ingest._parse import parse_document
from rag.ingest._sniff import sniff
from rag.settings import ParseLimits
from tests.fakes import documents

SEEDS = {
    "report.pdf": documents.text_pdf(["Revenue grew 12% in the third quarter.", "Page two."]),
    "figure.pdf": documents.pdf_with_figure(),
    "photo.png": documents.picture((96, 64)),
    "photo.jpg": documents.picture((96, 64), fmt="JPEG"),
}
LIMITS = ParseLimits(max_pages=20, timeout_s=15.0, memory_mb=768, ocr=False)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    """A seed file with a few byte flips, cuts, insertions or duplicated spans."""
    name = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[name])
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        action = draw(st.sampled_from(["flip", "cut", "insert", "duplicate", "truncate"]))
        if action == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif action == "cut":
            del data[at : at + draw(st.integers(1, 512))]
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif action == "duplicate":
            data[at:at] = data[at : at + draw(st.integers(1, 2048))]
        else:
            del data[at:]
    return name, bytes(data)


@settings(max_examples=300, deadline=None)
@given(mutated())
def test_sniffing_a_mutated_file_names_a_format_or_raises_a_document_error(
    case: tuple[str, bytes],
) -> None:
    name, data = case
    try:
        sniff(data, name)
    except DocumentError as exc:
        assert exc.user_message


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_the_parse_child_reads_a_mutated_file_or_says_why_not(case: tuple[str, bytes]) -> None:
    name, data = case
    started = time.monotonic()
    try:
        parsed = asyncio.run(parse_document(data, name, LIMITS))
    except DocumentError as exc:
        assert exc.user_message and "\n" not in exc.user_message
    else:
        assert 0 < len(parsed.pages) <= LIMITS.max_pages
    assert time.monotonic() - started < LIMITS.timeout_s + 30
