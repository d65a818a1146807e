"""The document stage: which filing a question is about decides between look-alike pages.

Real PyMuPDF, MiniLM, BM25, the tiny CLIP and Qdrant Edge, through open_services.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
import pytest_asyncio

from rag._services import Services
from rag.answer._retrieve import vote_by_document
from rag.index import DOCUMENT_KINDS, HybridQuery
from rag.types import Audience, PageHit, Scope
from tests.fakes import documents
from tests.fakes.services import ingest, open_test_services, settings_for

HERE = Audience("T-rank", "C1")
# Like a 10-K, each report opens with the same form text before it names its company, and
# the file names say nothing: only the document's opening beyond the first 30 words (what
# every passage carries) tells them apart. Their inventory pages look alike, Globex's worded
# more like the question.
FORM = (
    "UNITED STATES SECURITIES AND EXCHANGE COMMISSION Washington, D.C. 20549 FORM 10-K "
    "ANNUAL REPORT PURSUANT TO SECTION 13 OR 15(d) OF THE SECURITIES EXCHANGE ACT OF 1934 "
    "For the fiscal year ended December 31, 2023 Commission file number 001-00000"
)
ACME = [
    f"{FORM}\n\nAcme Rockets Inc. designs and builds model rockets for hobbyists.",
    "Inventories rose to 412 million dollars as we stocked engines ahead of launch season.",
]
GLOBEX = [
    f"{FORM}\n\nGlobex Corporation sells kitchen appliances in Europe.",
    "The increase in inventories was driven by more appliances in transit at year end.",
]
QUESTION = "What drove the increase in Acme Rockets' inventories?"
A, B = "annual-report-2023.pdf", "10k_2023_final.pdf"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def services(
    tmp_path_factory: pytest.TempPathFactory, tiny_clip_dir: Path, minilm_dir: Path
) -> AsyncIterator[Services]:
    """Services with both reports ingested in one channel."""
    settings = settings_for(tmp_path_factory.mktemp("rank"), tiny_clip_dir, minilm_dir)
    async with open_test_services(settings) as opened:
        scope = Scope("T-rank", "C1")
        await ingest(opened, documents.text_pdf(ACME), A, scope)
        await ingest(opened, documents.text_pdf(GLOBEX), B, scope)
        yield opened


@pytest.mark.asyncio(loop_scope="module")
async def test_the_document_stage_puts_the_asked_about_filings_page_first(
    services: Services,
) -> None:
    default = services.settings.retrieval
    assert default.document_weight > 0  # on by default
    # The default weight (0.01) breaks near ties, chosen on financebench; here the other
    # filing's page leads by a few ranks, which a stronger vote overturns.
    config = replace(default, document_weight=0.05)
    pages = await services.retriever.with_config(config).search(QUESTION, audience=HERE)
    assert pages[0].file_name == A
    assert _rank(pages, A, 2) < _rank(pages, B, 2)
    # Without it the two look-alike pages are a near tie that the encoders' rounding
    # decides (bfloat16 on some CPUs): the stage's vote is what gives Acme's the lead.
    alone = replace(default, document_weight=0)
    without = await services.retriever.with_config(alone).search(QUESTION, audience=HERE)
    assert _lead(pages) > _lead(without) + 0.005


def _lead(pages: list[PageHit]) -> float:
    """How far Acme's inventory page scores above Globex's."""
    score = {(p.file_name, p.page_number): p.score for p in pages}
    return score[(A, 2)] - score[(B, 2)]


def _rank(pages: list[PageHit], file_name: str, page_number: int) -> int:
    return [(p.file_name, p.page_number) for p in pages].index((file_name, page_number))


@pytest.mark.asyncio(loop_scope="module")
async def test_documents_rank_on_their_own_points_and_pages_never_see_them(
    services: Services,
) -> None:
    vector = (await services.text.aembed([QUESTION]))[0]
    query = HybridQuery(HERE, text=tuple(vector.tolist()), kinds=DOCUMENT_KINDS, limit=5)
    hits = await services.index.query(query)
    assert [h.kind for h in hits] == ["document", "document"]
    assert hits[0].file_name == A
    assert "Acme Rockets Inc. designs" in hits[0].text
    pages = await services.retriever.search(QUESTION, audience=HERE, limit=20)
    assert all(hit.kind != "document" for page in pages for hit in page.hits)
    # Another workspace sees neither the pages nor the documents.
    other = HybridQuery(Audience("T-other", "C1"), text=query.text, kinds=DOCUMENT_KINDS)
    assert await services.index.query(other) == []


@pytest.mark.asyncio(loop_scope="module")
async def test_a_forgotten_documents_own_point_goes_with_it(services: Services) -> None:
    scope = Scope("T-rank", "C-forget")
    result = await ingest(services, documents.text_pdf(ACME), "acme_copy.pdf", scope)
    assert await services.index.count(document_id=result.document.id) == 5  # 2+2+1
    await services.ingestor.forget(result.document.id)
    assert await services.index.count(document_id=result.document.id) == 0


def test_a_documents_vote_reorders_pages_by_its_rank() -> None:
    def page(document_id: str, score: float) -> PageHit:
        return PageHit(document_id, f"{document_id}.pdf", 1, score, ())

    pages = [page("b", 0.050), page("a", 0.048), page("c", 0.044)]
    voted = vote_by_document(pages, {"a": 0, "b": 1}, weight=0.02)
    assert [p.document_id for p in voted] == ["a", "b", "c"]
    assert voted[0].score == pytest.approx(0.048 + 0.02 / 2)
    assert voted[1].score == pytest.approx(0.050 + 0.02 / 3)
    assert voted[2].score == 0.044  # a document the stage did not rank gets no vote
