"""Where the benchmarks find the financebench corpus (20 filings, 37 questions).

``$FOLIO_FINANCEBENCH`` names it; else ``../shared/bench/financebench`` beside the checkout,
as the workplace lays it out.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def financebench() -> Path:
    """The corpus folder (``pdfs/`` and ``qa.jsonl``); it may be absent."""
    override = os.environ.get("FOLIO_FINANCEBENCH")
    return Path(override) if override else REPO.parent / "shared" / "bench" / "financebench"
