"""Captioner: figure captions cached by image hash and capped per document."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from PIL import Image, ImageDraw

from rag._llm import VisionModel
from rag.ingest._captions import Captioner, caption_key, image_hash
from rag.settings import LlmConfig
from tests.fakes.openai_server import FakeOpenAI, Scripted

MODEL = "vision-x"


class DictStore:
    """A CaptionStore in a dict, recording lookups and writes."""

    def __init__(self) -> None:
        self.captions: dict[tuple[str, str], str] = {}
        self.puts: list[tuple[str, str, str]] = []

    async def get(self, image_hash: str, model: str) -> str | None:
        return self.captions.get((image_hash, model))

    async def put(self, image_hash: str, model: str, caption: str) -> None:
        self.puts.append((image_hash, model, caption))
        self.captions[(image_hash, model)] = caption


def figure(label: str, colour: str) -> bytes:
    """A small labelled figure; distinct labels give distinct bytes."""
    image = Image.new("RGB", (160, 90), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 30, 150, 80), fill=colour)
    draw.text((10, 5), label, fill="black")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def caption_for_context(request: dict[str, Any]) -> str | Scripted:
    """Caption each figure by the context it was sent with; 'broken' contexts fail."""
    text = request["messages"][1]["content"][0]["text"]
    context = text.rsplit("\n", 1)[-1]
    if "broken" in context:
        return Scripted(status=400)
    return f"caption of {context}"


@pytest.fixture
async def captioner_parts(
    fake_openai: FakeOpenAI, openai_client: openai.AsyncOpenAI
) -> AsyncIterator[tuple[VisionModel, DictStore]]:
    fake_openai.responder = caption_for_context
    config = LlmConfig(vision_model=MODEL, answer_model="answer-y", max_retries=0)
    yield VisionModel(client=openai_client, config=config), DictStore()


def captioner(parts: tuple[VisionModel, DictStore], cap: int = 10) -> Captioner:
    model, store = parts
    return Captioner(model=model, store=store, model_name=MODEL, max_per_document=cap)


async def test_a_cached_caption_costs_no_request(
    fake_openai: FakeOpenAI, captioner_parts: tuple[VisionModel, DictStore]
) -> None:
    images = [figure("Revenue", "navy"), figure("Stores", "green")]
    contexts = ["Figure 1 revenue", "Figure 2 stores"]

    first = await captioner(captioner_parts).caption(images, contexts, owner="doc")
    second = await captioner(captioner_parts).caption(images, contexts, owner="doc")

    assert first == ["caption of Figure 1 revenue", "caption of Figure 2 stores"]
    assert second == first
    assert len(fake_openai.requests) == 2
    keys = {(h, m) for h, m, _ in captioner_parts[1].puts}
    assert keys == {
        (caption_key("doc", image_hash(images[0])), MODEL),
        (caption_key("doc", image_hash(images[1])), MODEL),
    }


async def test_a_caption_is_never_reused_by_another_document(
    fake_openai: FakeOpenAI, captioner_parts: tuple[VisionModel, DictStore]
) -> None:
    chart = figure("Revenue", "navy")

    private = await captioner(captioner_parts).caption([chart], ["secret merger"], owner="priv")
    public = await captioner(captioner_parts).caption([chart], ["cafeteria menu"], owner="pub")

    assert private == ["caption of secret merger"]
    assert public == ["caption of cafeteria menu"]
    assert len(fake_openai.requests) == 2


async def test_new_captions_are_capped_per_document_and_cached_ones_are_free(
    fake_openai: FakeOpenAI, captioner_parts: tuple[VisionModel, DictStore]
) -> None:
    images = [figure(f"Figure {i}", "navy") for i in range(5)]
    contexts = [f"context {i}" for i in range(5)]
    _, store = captioner_parts
    store.captions[(caption_key("doc", image_hash(images[0])), MODEL)] = "cached caption"

    captions = await captioner(captioner_parts, cap=2).caption(images, contexts, owner="doc")

    assert captions == [
        "cached caption",
        "caption of context 1",
        "caption of context 2",
        None,
        None,
    ]
    assert len(fake_openai.requests) == 2


async def test_identical_figures_share_one_request(
    fake_openai: FakeOpenAI, captioner_parts: tuple[VisionModel, DictStore]
) -> None:
    logo = figure("ACME", "red")

    captions = await captioner(captioner_parts).caption(
        [logo, logo, logo], ["a", "b", "c"], owner="doc"
    )

    assert captions == ["caption of a"] * 3
    assert len(fake_openai.requests) == 1


async def test_a_failing_figure_does_not_sink_the_document(
    fake_openai: FakeOpenAI, captioner_parts: tuple[VisionModel, DictStore]
) -> None:
    images = [figure("One", "navy"), figure("Two", "green"), b"not an image at all"]

    captions = await captioner(captioner_parts).caption(
        images, ["fine", "broken", "unreadable"], owner="doc"
    )

    assert captions == ["caption of fine", None, None]
    assert len(fake_openai.requests) == 2  # the unreadable bytes never left the machine
    assert [p[2] for p in captioner_parts[1].puts] == ["caption of fine"]


async def test_captions_are_cached_per_model_name(
    fake_openai: FakeOpenAI, captioner_parts: tuple[VisionModel, DictStore]
) -> None:
    image = figure("Chart", "navy")
    _, store = captioner_parts
    store.captions[(image_hash(image), "an-older-model")] = "old caption"

    captions = await captioner(captioner_parts).caption([image], ["ctx"], owner="doc")

    assert captions == ["caption of ctx"]
    assert len(fake_openai.requests) == 1
