"""Issue 3 end to end: the Answerer from open_services over real ingested filings, against the
fake OpenAI server; and `folio ask` without a key on the Ulta Beauty filing.

The module ingests, once and through `folio ingest`: pages 1-4 and 7 of the Ulta Beauty
earnings release (pages 1-4 keep their numbers; page 3 holds the inventories answer) and the
two-page excerpts of two other small filings in tests/data, in the CLI's public channel; and a
scanned page (a picture, no text layer) in a private channel "scans".
"""

from __future__ import annotations

import asyncio
import base64
import io
import re
import socket
from collections.abc import AsyncIterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from aiohttp import web
from PIL import Image

from rag._services import Services
from rag.answer._citations import EXTRACTIVE_LABEL
from rag.answer._highlight import HIGHLIGHT_FILL, render_page_png
from rag.answer._prompts import MAX_IMAGE_SIDE
from rag.cli import run_cli
from rag.settings import Settings
from rag.types import Answer, Audience, QueryImage
from tests.fakes import documents
from tests.fakes.openai_server import FakeOpenAI, Recorded
from tests.fakes.services import base_env, model_env, open_test_services, use_env

pytestmark = pytest.mark.e2e

ULTA = "ULTABEAUTY_2023Q4_EARNINGS.pdf"
QUESTION = "What drove the increase in Ulta Beauty's merchandise inventories balance?"
LOCAL = Audience("local", "local")
SCANS = Audience("local", "scans")
SCAN_PICTURE = (850, 1100)  # the picture documents.scanned_pdf() puts on its page
FILINGS = {
    ULTA: [1, 2, 3, 4, 7],
    "FOOTLOCKER_2022_8K_dated-2022-05-20_pages_1-2.pdf": [1, 2],
    "PEPSICO_2023_8K_dated-2023-05-05_pages_1-2.pdf": [1, 2],
}
MAX_REQUEST_BYTES = 50 * 1024 * 1024
DESCRIPTION = "A scanned page with a red disc and a blue bar; no legible text."


@dataclass(frozen=True)
class Corpus:
    """The ingested data dir and the environment that reaches it."""

    root: Path
    env: dict[str, str]


def folio(*args: str) -> tuple[int, str, str]:
    """Run `folio ARGS...` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = run_cli(list(args))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def corpus(
    tmp_path_factory: pytest.TempPathFactory, tiny_clip_dir: Path, minilm_dir: Path
) -> Corpus:
    """FILINGS (cut to their pages) and a scan, ingested with `folio ingest`."""
    root = tmp_path_factory.mktemp("answer")
    filings, scans = root / "filings", root / "scans"
    filings.mkdir()
    scans.mkdir()
    for name, pages in FILINGS.items():
        (filings / name).write_bytes(documents.filing_pages(name, pages))
    (scans / "scan.pdf").write_bytes(documents.scanned_pdf())
    env = base_env(root / "data", tiny_clip_dir, minilm_dir)
    with pytest.MonkeyPatch.context() as patch:
        use_env(patch, env, root)
        assert folio("ingest", str(filings))[0] == 0
        assert folio("ingest", str(scans), "--channel", "scans", "--private")[0] == 0
    return Corpus(root, env)


class RoomyFakeOpenAI(FakeOpenAI):
    """FakeOpenAI that takes request bodies as large as OpenAI does.

    aiohttp refuses bodies over 1 MiB with 413 by default; an answer request carrying three
    rendered filing pages is larger than that. (Better as an option of FakeOpenAI itself.)
    """

    async def __aenter__(self) -> RoomyFakeOpenAI:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_post("/v1/chat/completions", self._chat_completions)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        return self


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    """A fake chat-completions server recording every request, roomy enough for page images."""
    async with RoomyFakeOpenAI() as fake:
        yield fake


@pytest.fixture
async def services(corpus: Corpus, fake_openai: FakeOpenAI) -> AsyncIterator[Services]:
    """The corpus's services with OPENAI_API_KEY and OPENAI_BASE_URL aimed at the fake."""
    env = {
        **corpus.env,
        **model_env(fake_openai.url),
        "FOLIO_VISION_MODEL": "vision-x",
        "FOLIO_ANSWER_MODEL": "answer-y",
    }
    async with open_test_services(Settings.from_env(env)) as opened:
        yield opened


def decoded(url: str) -> Image.Image:
    """The picture inside a ``data:`` URL."""
    header, payload = url.split(",", 1)
    assert header.startswith("data:image/") and header.endswith(";base64")
    return Image.open(io.BytesIO(base64.b64decode(payload)))


def answer_requests(fake: FakeOpenAI) -> list[Recorded]:
    """The requests made to the answer model."""
    return [r for r in fake.requests if r.model == "answer-y"]


def flat(text: str) -> str:
    """``text`` with runs of whitespace as single spaces."""
    return " ".join(text.split())


async def test_the_answer_request_carries_the_question_numbered_passages_and_page_images(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    answer = await services.answerer.answer(QUESTION, audience=LOCAL)
    assert answer.mode == "model"
    [request] = fake_openai.requests  # no picture attached: no describe request
    assert request.model == "answer-y"
    prompt = flat(request.text())
    assert f"Question: {QUESTION}" in prompt
    assert prompt.endswith(f"Answer the question with citations: {QUESTION}")
    assert len(answer.sources) == services.settings.retrieval.top_k
    assert (ULTA, 3) in {(s.file_name, s.page_number) for s in answer.sources}
    for number, source in enumerate(answer.sources, start=1):
        assert f"[{number}] {source.file_name}, page {source.page_number}" in prompt
        assert flat(source.passage)[:60] in prompt
    assert "The $104.2 million increase was primarily due to the opening of 47 new stores" in prompt

    shown = answer.sources[: services.settings.llm.answer_page_images]
    urls = request.image_urls()
    assert len(urls) == len(shown) == 3
    for number, (source, url) in enumerate(zip(shown, urls, strict=True), start=1):
        label = f"Page image of source [{number}] ({source.file_name}, page {source.page_number}):"
        assert label in prompt
        with decoded(url) as page:
            assert page.width / page.height == pytest.approx(612 / 792, abs=0.01)


async def test_a_query_image_reaches_the_describe_request_and_the_answer_prompt(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    question = "Which document has this picture?"
    fake_openai.reply(DESCRIPTION)  # the describe request comes first
    await services.answerer.answer(
        question, audience=SCANS, images=[QueryImage(documents.picture(SCAN_PICTURE), "a.png")]
    )
    describe, answering = fake_openai.requests
    assert describe.model == "vision-x"
    assert question in describe.text()
    [url] = describe.image_urls()
    with decoded(url) as sent:
        assert sent.width / sent.height == pytest.approx(850 / 1100, abs=0.01)
    assert answering.model == "answer-y"
    assert f"(The user attached a picture. Its description: {DESCRIPTION})" in answering.text()


async def test_a_query_image_adds_its_clip_leg_to_the_search(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    question = "Which document has this picture?"
    photo = QueryImage(documents.picture(SCAN_PICTURE), "a.png")
    fake_openai.reply(DESCRIPTION)
    with_image = await services.answerer.answer(question, audience=SCANS, images=[photo])
    # The same search text the description produced, without the picture itself.
    without = await services.answerer.answer(f"{question}\n{DESCRIPTION}", audience=SCANS)

    def scan_rank(answer: Answer) -> int:
        found = [(s.file_name, s.page_number) for s in answer.sources]
        return found.index(("scan.pdf", 1)) if ("scan.pdf", 1) in found else len(found)

    # The picture's own ranking takes turns with the words', so the scan it shows is lifted.
    assert scan_rank(with_image) <= 1
    assert scan_rank(with_image) < scan_rank(without)


async def test_without_a_key_a_question_with_a_picture_finds_the_scan_it_shows(
    corpus: Corpus,
) -> None:
    async with open_test_services(Settings.from_env(corpus.env)) as services:
        answer = await services.answerer.answer(
            "Which document has this picture?",
            audience=SCANS,
            images=[QueryImage(documents.picture(SCAN_PICTURE), "a.png")],
        )
    assert ("scan.pdf", 1) in {(s.file_name, s.page_number) for s in answer.sources}


async def picture_only_answer(corpus: Corpus) -> Answer:
    """The no-key answer to a question that is only a picture of the scanned page."""
    async with open_test_services(Settings.from_env(corpus.env)) as services:
        photo = QueryImage(documents.picture(SCAN_PICTURE), "a.png")
        return await services.answerer.answer("", audience=SCANS, images=[photo])


async def test_without_a_key_a_picture_alone_is_searched_by_clip_only(corpus: Corpus) -> None:
    answer = await picture_only_answer(corpus)
    assert answer.mode == "extractive"
    assert answer.text.startswith(EXTRACTIVE_LABEL)
    assert (answer.sources[0].file_name, answer.sources[0].page_number) == ("scan.pdf", 1)


async def test_without_a_key_a_picture_alone_is_answered_with_the_page_it_matches(
    corpus: Corpus,
) -> None:
    answer = await picture_only_answer(corpus)
    assert answer.citations
    assert (answer.citations[0].file_name, answer.citations[0].page_number) == ("scan.pdf", 1)


async def test_a_scripted_answer_citing_2_and_9_keeps_only_2_mapped_to_its_page(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    fake_openai.reply("Inventories grew with 47 new stores [2]. Margins were steady [9].")
    answer = await services.answerer.answer(QUESTION, audience=LOCAL)
    assert answer.text == "Inventories grew with 47 new stores [2]. Margins were steady."
    [citation] = answer.citations
    second = answer.sources[1]
    assert citation.number == 2
    assert (citation.document_id, citation.file_name, citation.page_number) == (
        second.document_id,
        second.file_name,
        second.page_number,
    )
    prompt = flat(answer_requests(fake_openai)[0].text())
    assert f"[2] {citation.file_name}, page {citation.page_number}" in prompt
    document = await services.catalog.get(citation.document_id)
    assert document is not None and document.file_name == citation.file_name


async def _extractive_answer(settings: Settings) -> tuple[Answer, bytes]:
    async with open_test_services(settings) as services:
        answer = await services.answerer.answer(QUESTION, audience=LOCAL)
        [ulta] = [d for d in await services.catalog.visible(LOCAL) if d.file_name == ULTA]
        return answer, await services.catalog.data(ulta.id)


def _highlighted_share(image: Image.Image, box: tuple[float, float, float, float]) -> float:
    """The share of pixels in ``box`` that are white paper under the highlight colour."""
    alpha = HIGHLIGHT_FILL[3] / 255
    want = [round(255 * (1 - alpha) + channel * alpha) for channel in HIGHLIGHT_FILL[:3]]
    x0, y0, x1, y1 = (round(v) for v in box)
    region = np.asarray(image.convert("RGB"), dtype=np.int16)[y0:y1, x0:x1]
    near = np.all(np.abs(region - np.array(want, dtype=np.int16)) <= 4, axis=-1)
    return float(near.mean())


def test_ask_without_a_key_cites_ulta_page_3_and_writes_that_page_highlighted(
    corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_env(monkeypatch, corpus.env, corpus.root)
    out_dir = corpus.root / "cited"
    code, out, err = folio("ask", QUESTION, "--out", str(out_dir))
    assert code == 0, err
    assert out.startswith(EXTRACTIVE_LABEL)
    assert "The $104.2 million increase was primarily due to the opening of 47 new stores" in out
    sources = re.findall(r"^  \[(\d+)\] (\S+), page (\d+)$", out, re.M)
    [number] = [n for n, name, page in sources if (name, page) == (ULTA, "3")]
    quoted = rf"^“.*The \$104\.2 million increase was primarily due to .*” \[{number}\]$"
    assert re.search(quoted, out, re.M), out
    png = out_dir / f"{number}-{Path(ULTA).stem}-p3.png"
    assert f"      wrote {png}" in out

    answer, data = asyncio.run(_extractive_answer(Settings.from_env(corpus.env)))
    [cited] = [c for c in answer.citations if c.number == int(number)]
    assert cited.page_number == 3 and cited.bboxes
    # Drawn at the size the model reads, which is also the size posted.
    plain = Image.open(io.BytesIO(render_page_png(data, "pdf", 3, max_side=MAX_IMAGE_SIDE)))
    with Image.open(png) as written:
        assert written.format == "PNG" and written.size == plain.size
        scale = written.width / 612  # letter-width page, rendered at the same scale
        for bbox in cited.bboxes:
            box = (bbox.x0 * scale, bbox.y0 * scale, bbox.x1 * scale, bbox.y1 * scale)
            assert _highlighted_share(written, box) > 0.3
            assert _highlighted_share(plain, box) == 0.0
