"""Questions.ask, the answer use case: over real services, with counting store and renderer.

The catalog and the page renderer are the real ones, wrapped to count what they are asked
for: each cited page must be rendered once per answer (the model's page image is the
upload's), and a document's original bytes read once per answer, however many pages.
"""

from __future__ import annotations

import base64
import dataclasses
import io
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from PIL import Image

from rag import Audience, Document, PageRenderer, Question, Questions, Scope, Services
from rag.answer._prompts import MAX_IMAGE_SIDE
from rag.db import Catalog, session_factory
from rag.ingest._isolate import ChildPool
from rag.types import BBox, DocumentKind
from tests.fakes import documents
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.services import ingest, model_env, open_test_services, settings_for

SCOPE = Scope("T1", "C1")
AUDIENCE = Audience("T1", "C1")
PAGES = [
    "The bakery oven was replaced in March for 8,900 euros by the owner.",
    "The bakery sold sourdough and rye loaves every morning of the year.",
    "The bakery oven runs on electricity since the March replacement.",
    "The bakery closes on Mondays; the oven is cleaned that day.",
]
OVEN = "What did the bakery's new oven cost, and when was it replaced?"


class CountingCatalog(Catalog):
    """The real Catalog, counting document and byte reads per document."""

    def __init__(self, services: Services) -> None:
        super().__init__(sessions=session_factory(services.engine))
        self.gets: Counter[str] = Counter()
        self.reads: Counter[str] = Counter()

    async def get(self, document_id: str) -> Document | None:
        self.gets[document_id] += 1
        return await super().get(document_id)

    async def data(self, document_id: str) -> bytes:
        self.reads[document_id] += 1
        return await super().data(document_id)


class CountingRenderer(PageRenderer):
    """The real PageRenderer, counting every render by page and highlight."""

    def __init__(self, catalog: Catalog, pool: ChildPool, timeout_s: float = 60.0) -> None:
        super().__init__(catalog=catalog, pool=pool, dpi=60, timeout_s=timeout_s)
        self.renders: Counter[tuple[int, tuple[BBox, ...]]] = Counter()

    async def render(
        self, data: bytes, kind: DocumentKind, page_number: int, bboxes: Sequence[BBox]
    ) -> bytes:
        self.renders[(page_number, tuple(bboxes))] += 1
        return await super().render(data, kind, page_number, bboxes)


@pytest.fixture
async def with_model(
    tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path, fake_openai: FakeOpenAI
) -> AsyncIterator[Services]:
    env = model_env(fake_openai.url)
    settings = settings_for(tmp_path, tiny_clip_dir, minilm_dir, FOLIO_MAX_CAPTIONS="0", **env)
    async with open_test_services(settings) as services:
        await ingest(services, documents.text_pdf(PAGES), "bakery.pdf", SCOPE)
        yield services


@pytest.fixture
async def without_model(
    tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path
) -> AsyncIterator[Services]:
    async with open_test_services(settings_for(tmp_path, tiny_clip_dir, minilm_dir)) as services:
        await ingest(services, documents.text_pdf(PAGES), "bakery.pdf", SCOPE)
        yield services


@pytest.fixture
async def pool() -> AsyncIterator[ChildPool]:
    pool = ChildPool(size=2, memory_mb=2048)
    yield pool
    await pool.close()


def counted(
    services: Services, pool: ChildPool, timeout_s: float = 60.0
) -> tuple[Questions, CountingCatalog, CountingRenderer]:
    catalog = CountingCatalog(services)
    renderer = CountingRenderer(catalog, pool, timeout_s)
    questions = Questions(
        answerer=services.answerer, pages=renderer, log=services.answers, channels=services.channels
    )
    return questions, catalog, renderer


async def test_the_pages_the_model_read_are_the_pages_posted_each_rendered_once(
    with_model: Services, fake_openai: FakeOpenAI, pool: ChildPool
) -> None:
    fake_openai.reply("It cost 8,900 euros [1] and was replaced in March [2].")
    questions, catalog, renderer = counted(with_model, pool)

    answered = await questions.ask(Question(OVEN, AUDIENCE, "U1", thread="1700000000.000100"))

    assert answered.answer.mode == "model"
    assert [c.number for c in answered.answer.citations] == [1, 2]
    [request] = fake_openai.requests
    assert len(request.image_urls()) == 3  # answer_page_images: the top three sources
    assert len(renderer.renders) == 3 and set(renderer.renders.values()) == {1}
    cited = {(c.page_number, c.bboxes) for c in answered.answer.citations}
    assert cited <= set(renderer.renders)  # the uploads reuse the model's renders
    assert [p.png[:8] for p in answered.pages] == [b"\x89PNG\r\n\x1a\n"] * 2
    [document_id] = {c.document_id for c in answered.answer.citations}
    assert catalog.reads == {document_id: 1} and catalog.gets == {document_id: 1}


async def test_the_model_reads_the_very_pngs_posted_no_larger_than_it_takes(
    with_model: Services, fake_openai: FakeOpenAI, pool: ChildPool
) -> None:
    fake_openai.reply("It cost 8,900 euros [1] and was replaced in March [2].")
    renderer = PageRenderer(catalog=with_model.catalog, pool=pool)  # the bot's resolution
    questions = Questions(
        answerer=with_model.answerer,
        pages=renderer,
        log=with_model.answers,
        channels=with_model.channels,
    )

    answered = await questions.ask(Question(OVEN, AUDIENCE, "U1", thread="1700000000.000100"))

    [request] = fake_openai.requests
    sent = [base64.b64decode(url.split(",", 1)[1]) for url in request.image_urls()]
    # Rendered once at the model's size: nothing is decoded and re-encoded in the bot.
    assert all(page.png in sent for page in answered.pages) and answered.pages
    assert all(max(Image.open(io.BytesIO(png)).size) <= MAX_IMAGE_SIDE for png in sent)


async def test_an_extractive_answer_reads_the_document_once_for_all_its_pages(
    without_model: Services, pool: ChildPool
) -> None:
    questions, catalog, renderer = counted(without_model, pool)

    answered = await questions.ask(Question(OVEN, AUDIENCE, "U1"))

    assert answered.answer.mode == "extractive"
    pages = {c.page_number for c in answered.answer.citations}
    assert len(pages) >= 2
    assert [p.filename for p in answered.pages] == [
        f"bakery-p{c.page_number}.png" for c in answered.answer.citations
    ]
    assert sorted(page for page, _ in renderer.renders) == sorted(pages)
    assert set(renderer.renders.values()) == {1}
    assert list(catalog.reads.values()) == [1] and list(catalog.gets.values()) == [1]


async def test_an_answer_is_recorded_with_its_thread_and_linked_to_its_document(
    without_model: Services, pool: ChildPool
) -> None:
    questions, _, _ = counted(without_model, pool)
    [document] = await without_model.catalog.visible(AUDIENCE)

    answered = await questions.ask(Question(OVEN, AUDIENCE, "U1", thread="1.5"))
    await questions.posted(answered.answer_id, "1.6")

    history = await without_model.answers.history("T1", "C1", "1.5")
    assert [turn.question for turn in history] == [OVEN]
    assert await questions.is_follow_up("T1", "C1", "1.6")  # a reply under the answer
    assert not await questions.is_follow_up("T1", "C1", "9.9")
    assert {c.document_id for c in answered.answer.citations} == {document.id}
    assert await questions.feedback(answered.answer_id, "U2", helpful=True)
    assert await without_model.answers.feedback_score(answered.answer_id) == 1


async def test_a_page_that_takes_too_long_to_draw_is_left_out_with_a_note(
    tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path, pool: ChildPool
) -> None:
    # More vector paths than a render can draw within the (tiny) deadline.
    heavy = documents.vector_heavy_pdf(["The kiln was relined in May for 4,200 euros."], paths=3000)
    settings = settings_for(tmp_path, tiny_clip_dir, minilm_dir)
    async with open_test_services(settings) as services:
        await ingest(services, heavy, "kiln.pdf", SCOPE)
        questions, _, renderer = counted(services, pool, timeout_s=0.05)

        answered = await questions.ask(Question("When was the kiln relined?", AUDIENCE, "U1"))

    assert answered.answer.citations and answered.pages == ()
    assert renderer.renders  # it was tried, in a child, and stopped at the deadline
    assert answered.page_notes == (
        "The image of kiln.pdf, p. 1 took too long to draw and is left out.",
    )


async def test_a_second_answer_about_the_same_pages_reuses_their_renders_unread(
    without_model: Services, pool: ChildPool
) -> None:
    # A team asks about the same pages again and again (bench.load: the render children
    # took ~30% of both cores at 10 questions a second, every page drawn for every answer).
    questions, catalog, renderer = counted(without_model, pool)

    first = await questions.ask(Question(OVEN, AUDIENCE, "U1"))
    again = await questions.ask(Question(OVEN, AUDIENCE, "U2"))

    assert [p.png for p in again.pages] == [p.png for p in first.pages] and again.pages
    assert set(renderer.renders.values()) == {1}  # drawn for the first answer only
    [document_id] = catalog.gets
    assert catalog.reads == {document_id: 1}  # the original is not read again either
    assert catalog.gets == {document_id: 2}  # but each answer checks the document is there


async def test_a_forgotten_document_s_kept_renders_are_not_shown(
    without_model: Services, pool: ChildPool
) -> None:
    questions, _, renderer = counted(without_model, pool)
    answered = await questions.ask(Question(OVEN, AUDIENCE, "U1"))
    [citation, *_] = answered.answer.citations
    where = (citation.document_id, citation.page_number, citation.bboxes)
    assert await renderer.page_png(*where) == answered.pages[0].png

    await without_model.ingestor.forget(citation.document_id)

    assert await renderer.page_png(*where) is None


async def test_kept_renders_stay_within_their_bytes_the_least_recently_used_going_first(
    without_model: Services, pool: ChildPool
) -> None:
    renderer = PageRenderer(catalog=without_model.catalog, pool=pool, cache_bytes=250)
    first, second, third = (("D", page, ()) for page in (1, 2, 3))
    renderer.keep(first, b"1" * 100)
    renderer.keep(second, b"2" * 100)
    assert renderer.kept(first) == b"1" * 100  # now the most recently used
    renderer.keep(third, b"3" * 100)

    assert renderer.kept(second) is None
    assert renderer.kept(first) == b"1" * 100 and renderer.kept(third) == b"3" * 100
    renderer.keep(("D", 4, ()), b"4" * 251)  # larger than all it may keep: not kept
    assert renderer.kept(("D", 4, ())) is None and renderer.kept(third) is not None


async def test_an_attached_file_s_pages_are_drawn_for_its_own_answer_only(
    without_model: Services, pool: ChildPool
) -> None:
    [stored] = await without_model.catalog.visible(AUDIENCE)
    attached = dataclasses.replace(stored, id="attached-kiln")
    data = documents.text_pdf(["The kiln was relined in May for 4,200 euros."])
    _, _, renderer = counted(without_model, pool)

    for _ in range(2):
        batch = renderer.batch()
        batch.add(attached, data)
        assert (await batch.page_png(attached.id, 1) or b"")[:4] == b"\x89PNG"

    assert renderer.renders == {(1, ()): 2}
