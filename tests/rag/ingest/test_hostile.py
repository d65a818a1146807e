"""A corpus of hostile files through sniffing and the parse child: each ends in one clear
DocumentError or a clean parse, within its time limit, and never takes the test process down."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from rag.errors import DocumentError
from rag.ingest._parse import parse_document
from rag.settings import ParseLimits
from tests.fakes.hostile import BUILDERS

LIMITS = ParseLimits(max_pages=50, timeout_s=10.0, memory_mb=768, ocr=False)
# The child's own start, a LibreOffice conversion's start, and a loaded machine.
SLACK_S = 30.0


def test_the_hostile_corpus_has_at_least_thirty_files() -> None:
    assert len(BUILDERS) >= 30
    assert len({name for name, _ in BUILDERS}) == len(BUILDERS)


@pytest.mark.parametrize(("name", "build"), BUILDERS, ids=[name for name, _ in BUILDERS])
async def test_a_hostile_file_ends_in_one_clear_failure_or_a_clean_parse(
    name: str, build: Callable[[], bytes]
) -> None:
    data = build()
    started = time.monotonic()
    try:
        parsed = await parse_document(data, name, LIMITS)
    except DocumentError as exc:
        message = exc.user_message
        assert message and "\n" not in message and "Traceback" not in message, message
    else:
        assert parsed.pages and len(parsed.pages) <= LIMITS.max_pages
    assert time.monotonic() - started < LIMITS.timeout_s + SLACK_S
