"""ClipEmbedder against a tiny random CLIP saved and loaded like a real checkpoint."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rag.embed import ClipEmbedder
from rag.embed.clip import configured_input_side
from rag.errors import ConfigError, CorruptDocument
from tests.fakes.tiny_clip import IMAGE_SIZE, PROJECTION_DIM


def _png(color: tuple[int, int, int], size: tuple[int, int] = (48, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def _jpeg_with_stripes() -> bytes:
    image = Image.new("RGB", (64, 64), (255, 255, 255))
    for x in range(0, 64, 8):
        image.paste((0, 0, 0), (x, 0, x + 4, 64))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.fixture
def clip(tiny_clip_dir: Path) -> ClipEmbedder:
    return ClipEmbedder.load(str(tiny_clip_dir), batch_size=2)


def _assert_unit_rows(vectors: np.ndarray, rows: int) -> None:
    assert vectors.shape == (rows, PROJECTION_DIM)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)


async def test_images_embed_as_unit_vectors_of_the_model_dimension(clip: ClipEmbedder) -> None:
    images = [_png((255, 0, 0)), _png((0, 0, 255)), _jpeg_with_stripes()]
    vectors = await clip.aembed_images(images)
    assert clip.dim == PROJECTION_DIM
    _assert_unit_rows(vectors, 3)


async def test_texts_embed_as_unit_vectors_of_the_model_dimension(clip: ClipEmbedder) -> None:
    vectors = await clip.aembed_texts(["a bar chart of revenue", "the cat", ""])
    _assert_unit_rows(vectors, 3)


async def test_a_500_word_text_is_truncated_to_the_77_token_window(clip: ClipEmbedder) -> None:
    long_text = " ".join(f"word{i}" for i in range(500))
    head_only = " ".join(f"word{i}" for i in range(60))
    vectors = await clip.aembed_texts([long_text, head_only])
    _assert_unit_rows(vectors, 2)
    # Both texts fill the window with the same leading tokens, so truncation makes them equal.
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-6)


async def test_identical_images_get_identical_vectors_and_different_images_differ(
    clip: ClipEmbedder,
) -> None:
    red, red_again, blue = await clip.aembed_images(
        [_png((255, 0, 0)), _png((255, 0, 0)), _png((0, 0, 255))]
    )
    np.testing.assert_allclose(red, red_again, atol=1e-6)
    assert float(red @ blue) < 0.9999


async def test_batching_does_not_change_the_vectors(tiny_clip_dir: Path) -> None:
    images = [_png((255, 0, 0)), _png((0, 255, 0)), _png((0, 0, 255))]
    one_by_one = await ClipEmbedder.load(str(tiny_clip_dir), batch_size=1).aembed_images(images)
    all_at_once = await ClipEmbedder.load(str(tiny_clip_dir), batch_size=16).aembed_images(images)
    np.testing.assert_allclose(one_by_one, all_at_once, atol=1e-5)


def test_the_last_batches_come_in_powers_of_two(tiny_clip_dir: Path) -> None:
    # Few batch sizes: torch keeps memory for every one it has run.
    embedder = ClipEmbedder.load(str(tiny_clip_dir), batch_size=16)
    sizes = [len(batch) for batch in embedder._batches(list(range(39)))]
    assert sizes == [16, 16, 4, 2, 1]
    assert [len(b) for b in embedder._batches(list(range(8)))] == [8]
    assert embedder._batches([]) == []


async def test_transparent_areas_embed_as_white(clip: ClipEmbedder) -> None:
    transparent = Image.new("RGBA", (48, 40), (0, 0, 0, 0))
    buffer = io.BytesIO()
    transparent.save(buffer, format="PNG")
    clear, white, black = await clip.aembed_images(
        [buffer.getvalue(), _png((255, 255, 255)), _png((0, 0, 0))]
    )
    np.testing.assert_allclose(clear, white, atol=1e-6)
    assert float(clear @ black) < 0.9999


async def test_no_inputs_give_an_empty_matrix(clip: ClipEmbedder) -> None:
    assert (await clip.aembed_images([])).shape == (0, PROJECTION_DIM)
    assert (await clip.aembed_texts([])).shape == (0, PROJECTION_DIM)


async def test_bytes_that_are_not_an_image_raise_corrupt_document(clip: ClipEmbedder) -> None:
    with pytest.raises(CorruptDocument) as raised:
        await clip.aembed_images([b"%PDF-1.7 not an image"])
    assert "PNG or JPEG" in raised.value.user_message


def test_load_is_cached_per_process(tiny_clip_dir: Path) -> None:
    first = ClipEmbedder.load(str(tiny_clip_dir))
    second = ClipEmbedder.load(str(tiny_clip_dir))
    other_batch = ClipEmbedder.load(str(tiny_clip_dir), batch_size=3)
    assert first is second
    assert first.model_name == str(tiny_clip_dir)
    # A different batch size shares the loaded model rather than loading it again.
    assert other_batch._parts is first._parts


def test_a_missing_model_folder_raises_config_error_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        ClipEmbedder.load(str(tmp_path / "no-such-model"))
    message = str(raised.value)
    assert "FOLIO_CLIP_MODEL" in message
    assert "does not exist" in message


def test_a_hub_id_offline_raises_config_error_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="FOLIO_CLIP_MODEL"):
        ClipEmbedder.load("openai/clip-vit-base-patch32")


def test_a_folder_holding_another_kind_of_model_raises_config_error(minilm_dir: Path) -> None:
    with pytest.raises(ConfigError, match="'bert'"):
        ClipEmbedder.load(str(minilm_dir))


async def test_concurrent_callers_get_what_one_caller_alone_gets(
    clip: ClipEmbedder,
) -> None:
    images = [_png((10, 200, 30)), _png((200, 10, 30)), _png((30, 10, 200))]
    texts = ["quarterly revenue", "a photo of a dog"]
    results = await asyncio.gather(
        clip.aembed_images(images),
        clip.aembed_texts(texts),
        clip.aembed_texts(["concurrent caller"]),
        clip.aembed_images([_png((1, 2, 3))]),
    )
    image_vectors, text_vectors = results[0], results[1]
    _assert_unit_rows(image_vectors, 3)
    _assert_unit_rows(text_vectors, 2)
    np.testing.assert_allclose(image_vectors, await clip.aembed_images(images), atol=1e-6)
    np.testing.assert_allclose(text_vectors, await clip.aembed_texts(texts), atol=1e-6)


async def test_bfloat16_images_point_where_float32_ones_do(tiny_clip_dir: Path) -> None:
    images = [_png((255, 0, 0)), _png((0, 255, 0)), _png((0, 0, 255)), _png((90, 90, 90))]
    exact = await ClipEmbedder.load(str(tiny_clip_dir), precision="float32").aembed_images(images)
    fast = await ClipEmbedder.load(str(tiny_clip_dir), precision="bfloat16").aembed_images(images)
    assert float(np.min(np.sum(exact * fast, axis=1))) > 0.995


def test_bfloat16_and_float32_clip_are_the_same_weights_to_the_index(tiny_clip_dir: Path) -> None:
    # A `folio serve` on an AMX core runs bfloat16, its worker elsewhere float32: one index.
    exact = ClipEmbedder.load(str(tiny_clip_dir), precision="float32")
    fast = ClipEmbedder.load(str(tiny_clip_dir), precision="bfloat16")
    assert fast.weights == exact.weights


def test_the_processor_input_side_is_known(clip: ClipEmbedder) -> None:
    # The tiny CLIP's processor shrinks the shortest side to 32 px, bicubic.
    assert clip.input_side == IMAGE_SIZE


def test_the_input_side_read_from_the_folder_matches_the_loaded_processors(
    clip: ClipEmbedder, tiny_clip_dir: Path, tmp_path: Path
) -> None:
    # `folio ingest` parses its first files with this guess before the model loads.
    assert configured_input_side(str(tiny_clip_dir)) == clip.input_side
    # No folder (a hub id) or another resize: no guess, so nothing is parsed early.
    assert configured_input_side("openai/clip-vit-base-patch32") is None
    config = json.loads((tiny_clip_dir / "preprocessor_config.json").read_text())
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({**config, "resample": 2}))
    assert configured_input_side(str(tmp_path)) is None
