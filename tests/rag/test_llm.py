"""VisionModel against a fake OpenAI server through the real openai client."""

from __future__ import annotations

import asyncio
import base64
import io
import socket
import time
from dataclasses import replace
from typing import Any

import openai
import pytest
from PIL import Image, ImageDraw

from rag._llm import SourceText, VisionModel
from rag.errors import ModelRateLimited, ModelTimeout, ModelUnavailable, UnsupportedFile
from rag.settings import LlmConfig
from rag.types import Turn
from tests.fakes.openai_server import FakeOpenAI, Scripted

CONFIG = LlmConfig(vision_model="vision-x", answer_model="answer-y", timeout_s=5.0)


def chart_png(width: int = 320, height: int = 200) -> bytes:
    """A small bar chart with a title, drawn for real."""
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((10, 5), "Net sales by quarter", fill="black")
    for i, bar in enumerate((60, 90, 120, 150)):
        draw.rectangle((20 + i * 60, height - bar, 60 + i * 60, height - 10), fill="navy")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def decode(data_url: str) -> Image.Image:
    header, payload = data_url.split(",", 1)
    assert header.startswith("data:image/") and header.endswith(";base64")
    return Image.open(io.BytesIO(base64.b64decode(payload)))


def model(client: openai.AsyncOpenAI, **overrides: Any) -> VisionModel:
    """A VisionModel with test config and tiny backoff delays."""
    return VisionModel(client=client, config=replace(CONFIG, **overrides), base_delay_s=0.01)


async def test_describe_request_carries_the_picture_and_the_question(
    fake_openai: FakeOpenAI, openai_client: openai.AsyncOpenAI
) -> None:
    png = chart_png()
    fake_openai.reply("A bar chart titled Net sales by quarter.")

    text = await model(openai_client).describe_image(png, "How did net sales grow?")

    assert text == "A bar chart titled Net sales by quarter."
    [request] = fake_openai.requests
    assert request.model == "vision-x"
    assert "How did net sales grow?" in request.text()
    [url] = request.image_urls()
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == png


async def test_large_picture_is_downscaled_before_sending(
    fake_openai: FakeOpenAI, openai_client: openai.AsyncOpenAI
) -> None:
    await model(openai_client).caption_figure(chart_png(3000, 1500), "Figure 2: revenue")

    [request] = fake_openai.requests
    assert "Figure 2: revenue" in request.text()
    assert decode(request.image_urls()[0]).size == (1024, 512)


async def test_unreadable_picture_raises_unsupported_file_without_a_request(
    fake_openai: FakeOpenAI, openai_client: openai.AsyncOpenAI
) -> None:
    with pytest.raises(UnsupportedFile) as caught:
        await model(openai_client).describe_image(b"<html>not a picture</html>", "what?")

    assert "PNG or JPEG" in caught.value.user_message
    assert fake_openai.requests == []


async def test_answer_request_numbers_passages_and_labels_page_images(
    fake_openai: FakeOpenAI, openai_client: openai.AsyncOpenAI
) -> None:
    page = chart_png()
    sources = [
        SourceText(1, "ulta.pdf", 3, "Inventories rose with 47 new stores.", image=page),
        SourceText(2, "ulta.pdf", 2, "SG&A fell as a percent of sales."),
    ]
    fake_openai.reply("Inventories rose because of new stores [1].")

    text = await model(openai_client).answer("Why did inventories rise?", sources)

    assert text == "Inventories rose because of new stores [1]."
    [request] = fake_openai.requests
    assert request.model == "answer-y"
    sent = request.text()
    assert "Why did inventories rise?" in sent
    assert "[1] ulta.pdf, page 3" in sent and "Inventories rose with 47 new stores." in sent
    assert "[2] ulta.pdf, page 2" in sent and "SG&A fell as a percent of sales." in sent
    assert "Page image of source [1] (ulta.pdf, page 3)" in sent
    assert len(request.image_urls()) == 1
    system = request.messages[0]["content"]
    assert "untrusted" in system and "[n]" in system and "<!channel>" in system


async def test_rewrite_request_contains_the_earlier_turns(
    fake_openai: FakeOpenAI, openai_client: openai.AsyncOpenAI
) -> None:
    history = [Turn("What were Ulta's net sales in fiscal 2022?", "$10.2 billion [1].")]
    fake_openai.reply("What were Ulta's net sales in fiscal 2021?")

    rewritten = await model(openai_client).rewrite_question("And the year before?", history)

    assert rewritten == "What were Ulta's net sales in fiscal 2021?"
    sent = fake_openai.requests[0].text()
    assert "What were Ulta's net sales in fiscal 2022?" in sent
    assert "$10.2 billion [1]." in sent
    assert "And the year before?" in sent


async def test_rate_limit_with_retry_after_waits_then_answers_once(
    fake_openai: FakeOpenAI, openai_client: openai.AsyncOpenAI
) -> None:
    fake_openai.script(Scripted(status=429, headers={"Retry-After": "0.4"}))
    fake_openai.reply("fine now")

    text = await model(openai_client).describe_image(chart_png(), "q")

    assert text == "fine now"
    first, second = fake_openai.requests
    assert second.received_at - first.received_at >= 0.4


async def test_three_server_errors_raise_model_unavailable(
    fake_openai: FakeOpenAI, openai_client: openai.AsyncOpenAI
) -> None:
    fake_openai.script(*[Scripted(status=500)] * 3)

    with pytest.raises(ModelUnavailable) as caught:
        await model(openai_client, max_retries=2).describe_image(chart_png(), "q")

    assert "unavailable" in caught.value.user_message
    assert "500" in (caught.value.detail or "")
    assert len(fake_openai.requests) == 3


async def test_hung_server_raises_model_timeout_within_the_limit(
    fake_openai: FakeOpenAI, openai_client: openai.AsyncOpenAI
) -> None:
    fake_openai.script(*[Scripted(content="late", delay_s=30)] * 5)
    vision = VisionModel(
        client=openai_client,
        config=LlmConfig(timeout_s=0.3, max_retries=3),
        total_timeout_s=0.8,
        base_delay_s=0.01,
    )
    started = time.monotonic()

    with pytest.raises(ModelTimeout) as caught:
        await vision.describe_image(chart_png(), "q")

    # The server hangs for 30 s; the deadline is 0.8 s (slack for a busy machine).
    assert time.monotonic() - started < 0.8 + 5
    assert "did not answer" in caught.value.user_message


async def test_rejected_api_key_is_not_retried_and_says_setup_is_wrong(
    fake_openai: FakeOpenAI, openai_client: openai.AsyncOpenAI
) -> None:
    fake_openai.script(Scripted(status=401))

    with pytest.raises(ModelUnavailable) as caught:
        await model(openai_client).rewrite_question("and then?", [Turn("q", "a")])

    assert "not set up correctly" in caught.value.user_message
    assert "401" in (caught.value.detail or "")
    assert len(fake_openai.requests) == 1


async def test_endless_rate_limit_raises_model_rate_limited(
    fake_openai: FakeOpenAI, openai_client: openai.AsyncOpenAI
) -> None:
    fake_openai.script(*[Scripted(status=429)] * 2)

    with pytest.raises(ModelRateLimited):
        await model(openai_client, max_retries=1).describe_image(chart_png(), "q")

    assert len(fake_openai.requests) == 2


async def test_exhausted_quota_is_not_retried(
    fake_openai: FakeOpenAI, openai_client: openai.AsyncOpenAI
) -> None:
    quota = {
        "error": {"message": "quota", "type": "insufficient_quota", "code": "insufficient_quota"}
    }
    fake_openai.script(Scripted(status=429, body=quota))

    with pytest.raises(ModelUnavailable) as caught:
        await model(openai_client).describe_image(chart_png(), "q")

    assert "quota" in caught.value.user_message
    assert len(fake_openai.requests) == 1


async def test_retry_after_beyond_the_deadline_fails_at_once(
    fake_openai: FakeOpenAI, openai_client: openai.AsyncOpenAI
) -> None:
    fake_openai.script(Scripted(status=503, headers={"Retry-After": "20"}))
    started = time.monotonic()

    with pytest.raises(ModelUnavailable):
        await model(openai_client, timeout_s=2.0).describe_image(chart_png(), "q")

    # Waiting as told would take 20 s; failing at once takes well under that.
    assert time.monotonic() - started < 10
    assert len(fake_openai.requests) == 1


async def test_backoff_grows_between_retries() -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    async with FakeOpenAI() as fake:
        fake.script(*[Scripted(status=502)] * 3)
        fake.reply("ok")
        client = openai.AsyncOpenAI(base_url=fake.url + "/v1", api_key="test", max_retries=0)
        vision = VisionModel(client=client, config=CONFIG, base_delay_s=1.0, sleep=record)
        assert await vision.describe_image(chart_png(), "q") == "ok"
        await client.close()

    assert len(waits) == 3
    assert 0.5 <= waits[0] <= 1.0 and 1.0 <= waits[1] <= 2.0 and 2.0 <= waits[2] <= 4.0


async def test_unreachable_server_raises_model_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="t", max_retries=0)
    vision = VisionModel(client=client, config=CONFIG, base_delay_s=0.01)

    with pytest.raises(ModelUnavailable) as caught:
        await vision.describe_image(chart_png(), "q")

    await client.close()
    assert "cannot be reached" in caught.value.user_message


@pytest.mark.parametrize(("limit", "expected_peak"), [(2, 2), (5, 5)])
async def test_concurrency_limit_is_honoured(
    fake_openai: FakeOpenAI, openai_client: openai.AsyncOpenAI, limit: int, expected_peak: int
) -> None:
    fake_openai.script(*[Scripted(content="ok", delay_s=0.2)] * 6)
    vision = model(openai_client, concurrency=limit)

    await asyncio.gather(*(vision.describe_image(chart_png(), "q") for _ in range(6)))

    assert fake_openai.max_concurrent == expected_peak
