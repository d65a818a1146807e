"""Retriever over real ingests, on both index implementations: Qdrant Edge in a temp dir and
a qdrant-client AsyncQdrantClient in ':memory:' mode (the server adapter).

One small corpus per index, built once per module: two workspaces, public and private
channels, three small filings with one distinctive fact each, and a picture.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from qdrant_client import AsyncQdrantClient

from rag.answer._retrieve import Retriever
from rag.db import Catalog, create_engine, session_factory
from rag.embed import Bm25Encoder, ClipEmbedder, TextEmbedder
from rag.index import VectorDims, VectorIndex
from rag.index.edge import EdgeIndex
from rag.index.server import ServerIndex
from rag.ingest._ingestor import Ingestor
from rag.settings import ParseLimits, RetrievalConfig
from rag.types import Audience, PageHit, Scope
from tests.fakes import documents
from tests.fakes.database import migrated_sqlite_url

pytestmark = pytest.mark.asyncio(loop_scope="module")

# qdrant-client's local mode warns that payload indexes do nothing there; the server
# adapter creates them on purpose, for real servers.
LOCAL_MODE_WARNING = "ignore:Payload indexes have no effect in the local Qdrant:UserWarning"

PUBLIC = Scope("T1", "CPUB")
PRIVATE = Scope("T1", "CPRIV", channel_private=True)
ELSEWHERE = Scope("T2", "CX")

CORPUS: dict[str, tuple[Scope, list[str]]] = {
    "lighthouse.pdf": (
        PUBLIC,
        [
            "Harbour lighthouse logbook. The keeper recorded weather at dawn and dusk.",
            "In 1987 the keeper logged 412 storms, the most since the lamp was lit.",
        ],
    ),
    "bakery.pdf": (
        PUBLIC,
        [
            "Village bakery accounts. Sourdough and rye loaves were sold every morning.",
            "The bakery oven was replaced in March by Hans Bergstrom for 8,900 euros.",
        ],
    ),
    "zoo.pdf": (
        PUBLIC,
        [
            "City zoo annual review. Visitor numbers rose after the new aviary opened.",
            "The zoo's two red pandas, Mika and Tao, were born in the spring.",
        ],
    ),
    "salaries.pdf": (
        PRIVATE,
        ["Confidential salary bands for the platform team: senior engineers earn 95,000."],
    ),
    "roadmap.pdf": (
        ELSEWHERE,
        ["Another workspace's roadmap: the salary review and the lighthouse project."],
    ),
}


@dataclass
class World:
    """A retriever over the ingested corpus, and the documents' ids by file name."""

    kind: str
    retriever: Retriever
    index: VectorIndex
    ids: dict[str, str]

    async def search(self, text: str, audience: Audience, **kwargs: object) -> list[PageHit]:
        """Search as ``audience``; every page the audience may see fits in the limit."""
        return await self.retriever.search(text, audience=audience, limit=50, **kwargs)  # type: ignore[arg-type]

    def names(self, pages: list[PageHit]) -> set[str]:
        """The file names of the documents among ``pages``."""
        by_id = {v: k for k, v in self.ids.items()}
        return {by_id[p.document_id] for p in pages}


def _index(kind: str, tmp: Path) -> tuple[VectorIndex, AsyncQdrantClient | None]:
    if kind == "edge":
        return EdgeIndex(path=tmp / "qdrant"), None
    client = AsyncQdrantClient(location=":memory:")
    return ServerIndex(client=client, collection="folio"), client


@pytest_asyncio.fixture(
    loop_scope="module",
    scope="module",
    params=["edge", pytest.param("server", marks=pytest.mark.filterwarnings(LOCAL_MODE_WARNING))],
)
async def world(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    tiny_clip_dir: Path,
    minilm_dir: Path,
) -> AsyncIterator[World]:
    """Ingestor and Retriever wired by hand over one index implementation, corpus ingested."""
    tmp = tmp_path_factory.mktemp(request.param)
    clip = ClipEmbedder.load(str(tiny_clip_dir))
    text = TextEmbedder.load(str(minilm_dir))
    bm25 = Bm25Encoder()
    index, client = _index(request.param, tmp)
    await index.open(VectorDims(clip=clip.dim, text=text.dim))
    engine = create_engine(migrated_sqlite_url(tmp))
    catalog = Catalog(sessions=session_factory(engine))
    ingestor = Ingestor(
        catalog=catalog,
        index=index,
        clip=clip,
        text=text,
        bm25=bm25,
        limits=ParseLimits(timeout_s=60),
    )
    ids = {}
    for name, (scope, pages) in CORPUS.items():
        result = await ingestor.ingest(documents.text_pdf(pages), file_name=name, scope=scope)
        ids[name] = result.document.id
    picture = await ingestor.ingest(documents.picture(), file_name="diagram.png", scope=PUBLIC)
    ids["diagram.png"] = picture.document.id
    retriever = Retriever(index=index, clip=clip, text=text, bm25=bm25, config=RetrievalConfig())
    try:
        yield World(request.param, retriever, index, ids)
    finally:
        await index.close()
        if client is not None:
            await client.close()
        await engine.dispose()


PUBLIC_DOCS = {"lighthouse.pdf", "bakery.pdf", "zoo.pdf", "diagram.png"}


async def test_a_private_channels_document_answers_only_in_that_channel(world: World) -> None:
    question = "salary bands for the platform team"
    assert world.names(await world.search(question, Audience("T1", "CPRIV"))) == PUBLIC_DOCS | {
        "salaries.pdf"
    }
    assert world.names(await world.search(question, Audience("T1", "COTHER"))) == PUBLIC_DOCS
    assert world.names(await world.search(question, Audience("T1", "CPUB"))) == PUBLIC_DOCS


async def test_no_document_crosses_into_another_workspace(world: World) -> None:
    question = "salary bands lighthouse storms"
    for channel in ("CX", "CPRIV", "CPUB"):  # the same channel ids in another workspace
        assert world.names(await world.search(question, Audience("T2", channel))) == {"roadmap.pdf"}
    assert "roadmap.pdf" not in world.names(await world.search(question, Audience("T1", "CPUB")))
    assert await world.search(question, Audience("T3", "CPUB")) == []


async def test_a_public_channels_document_answers_in_other_channels_of_its_workspace(
    world: World,
) -> None:
    for channel in ("CPUB", "CPRIV", "C-ANY"):
        pages = await world.search("red pandas at the zoo", Audience("T1", channel))
        assert world.names(pages[:1]) == {"zoo.pdf"}


FACTS = [
    ("Who replaced the bakery oven and what did it cost?", "bakery.pdf", 2),
    ("How many storms did the keeper log in 1987?", "lighthouse.pdf", 2),
    ("What are the names of the red pandas?", "zoo.pdf", 2),
]


# Which of a document's two pages comes first can turn on a few 1e-4 of fused score: a
# one-passage page's chunk and render points carry the same text and tie in the text and
# BM25 legs, and the tiny random CLIP leg is noise. So: its document first, its page in two.
@pytest.mark.parametrize(("question", "name", "page"), FACTS)
async def test_a_question_about_a_distinctive_fact_ranks_its_document_first(
    world: World, question: str, name: str, page: int
) -> None:
    pages = await world.search(question, Audience("T1", "CPUB"))
    assert pages[0].document_id == world.ids[name]
    top_two = {(p.document_id, p.page_number) for p in pages[:2]}
    assert (world.ids[name], page) in top_two


async def test_results_are_grouped_by_page_with_a_passage(world: World) -> None:
    pages = await world.search("bakery oven", Audience("T1", "CPRIV"))
    keys = [(p.document_id, p.page_number) for p in pages]
    assert len(keys) == len(set(keys))
    assert [p.score for p in pages] == sorted((p.score for p in pages), reverse=True)
    # Which of bakery.pdf's two pages leads turns on the random CLIP leg (see above).
    oven = next(p for p in pages[:2] if "oven" in p.passage)
    assert oven.bboxes  # the passage can be highlighted on the page
    for page in pages:
        assert all(h.document_id == page.document_id for h in page.hits)
        assert all(h.page_number == page.page_number for h in page.hits)
        # Its best hit's score, plus its document's vote from the document stage.
        assert page.score >= max(h.score for h in page.hits)


async def test_search_by_image_alone_finds_the_same_picture_first(world: World) -> None:
    pages = await world.search("", Audience("T1", "CPUB"), images=[documents.picture()])
    assert pages
    assert (pages[0].document_id, pages[0].page_number) == (world.ids["diagram.png"], 1)
    assert {h.kind for h in pages[0].hits} == {"page"}


async def test_search_by_text_and_image_keeps_the_text_answer_first_and_lifts_the_picture(
    world: World,
) -> None:
    question = "Who replaced the bakery oven?"
    audience = Audience("T1", "CPUB")
    both = await world.search(question, audience, images=[documents.picture()])
    text_only = await world.search(question, audience)
    assert (both[0].document_id, both[0].page_number) == (world.ids["bakery.pdf"], 2)

    def picture_rank(pages: list[PageHit]) -> int:
        ids = [p.document_id for p in pages]
        return ids.index(world.ids["diagram.png"]) if world.ids["diagram.png"] in ids else 99

    # The picture only matches through CLIP; the query image's own ranking brings it up.
    assert picture_rank(both) == 1
    assert picture_rank(both) < picture_rank(text_only)


async def test_search_respects_the_limit_in_pages(world: World) -> None:
    pages = await world.retriever.search("bakery", audience=Audience("T1", "CPUB"), limit=2)
    assert len(pages) == 2
