"""ServerIndex specifics: an unreachable server, and building the right adapter."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from qdrant_client import AsyncQdrantClient

from rag.errors import IndexUnavailable
from rag.index import HybridQuery, open_index
from rag.index.edge import EdgeIndex
from rag.index.server import ServerIndex
from rag.types import Audience
from tests.rag.index.builders import DIMS, text_vec
from tests.rag.index.conftest import LOCAL_MODE_WARNING


def _closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_an_unreachable_server_raises_index_unavailable() -> None:
    client = AsyncQdrantClient(
        url=f"http://127.0.0.1:{_closed_port()}", check_compatibility=False, timeout=2
    )
    index = ServerIndex(client=client, collection="folio")
    try:
        with pytest.raises(IndexUnavailable) as raised:
            await index.open(DIMS)
    finally:
        await index.close()

    assert "Qdrant server" in raised.value.user_message


async def test_an_index_that_was_never_opened_refuses_queries() -> None:
    index = ServerIndex(client=AsyncQdrantClient(location=":memory:"), collection="folio")
    try:
        with pytest.raises(IndexUnavailable):
            await index.query(HybridQuery(Audience("T1", "C1"), text=text_vec((0, 1.0))))
    finally:
        await index.close()


@pytest.mark.filterwarnings(LOCAL_MODE_WARNING)
async def test_opening_twice_on_one_collection_is_harmless() -> None:
    client = AsyncQdrantClient(location=":memory:")
    first = ServerIndex(client=client, collection="folio")
    await first.open(DIMS)
    second = ServerIndex(client=client, collection="folio")

    await second.open(DIMS)

    assert await second.count() == 0
    await second.close()


async def test_open_index_builds_edge_without_a_url(tmp_path: Path) -> None:
    index = open_index(qdrant_url=None, qdrant_api_key=None, path=tmp_path, collection="folio")

    assert isinstance(index, EdgeIndex)


async def test_open_index_builds_a_server_client_with_a_url(tmp_path: Path) -> None:
    index = open_index(
        qdrant_url=f"http://127.0.0.1:{_closed_port()}",
        qdrant_api_key=None,
        path=tmp_path,
        collection="folio",
    )
    try:
        assert isinstance(index, ServerIndex)
        with pytest.raises(IndexUnavailable):
            await index.open(DIMS)
    finally:
        await index.close()
