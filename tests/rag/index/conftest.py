"""Fixtures for the vector index: one contract, run on Qdrant Edge and on qdrant-client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from qdrant_client import AsyncQdrantClient

from rag.index import VectorIndex
from rag.index.edge import EdgeIndex
from rag.index.server import ServerIndex
from tests.rag.index.builders import DIMS

COLLECTION = "folio_test"
# qdrant-client's local mode warns that payload indexes do nothing there; the server
# adapter creates them on purpose, for real servers.
LOCAL_MODE_WARNING = "ignore:Payload indexes have no effect in the local Qdrant:UserWarning"


@dataclass
class Store:
    """One underlying store and the handles opened on it."""

    kind: str
    path: Path
    client: AsyncQdrantClient | None = None
    handles: list[VectorIndex] = field(default_factory=list)

    def handle(self) -> VectorIndex:
        """A new, unopened index on the same data (same path or same client + collection)."""
        index: VectorIndex
        if self.client is None:
            index = EdgeIndex(path=self.path)
        else:
            index = ServerIndex(client=self.client, collection=COLLECTION)
        self.handles.append(index)
        return index

    async def release(self, index: VectorIndex) -> None:
        """Let another handle open the data: Edge holds a lock, server handles share a client."""
        if self.client is None:
            await index.close()

    async def aclose(self) -> None:
        """Close everything opened in the test."""
        if self.client is None:
            for index in self.handles:
                await index.close()
        else:
            await self.client.close()


@pytest.fixture(
    params=[
        "edge",
        pytest.param("server", marks=pytest.mark.filterwarnings(LOCAL_MODE_WARNING)),
    ]
)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """Qdrant Edge in tmp_path, or qdrant-client's in-process ':memory:' mode."""
    if request.param == "edge":
        store = Store("edge", tmp_path / "qdrant")
    else:
        store = Store("server", tmp_path, client=AsyncQdrantClient(location=":memory:"))
    yield store
    await store.aclose()


@pytest.fixture
async def index(store: Store) -> VectorIndex:
    """An opened index with the small test dims."""
    index = store.handle()
    await index.open(DIMS)
    return index
