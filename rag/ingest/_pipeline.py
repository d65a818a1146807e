"""The stages of ``Ingestor.ingest_many``: what the reader hands over, the files in flight."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from rag.errors import FolioError
from rag.index import IndexPoint
from rag.settings import ParseLimits
from rag.types import Document, IngestResult, ParsedDocument

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class IngestSource:
    """One file for ``Ingestor.ingest_many``: its name and how to read its bytes (lazily)."""

    file_name: str
    read: Callable[[], bytes]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A parsed (and captioned) document waiting to be embedded and stored."""

    document: Document
    parsed: ParsedDocument
    captions: list[str | None]
    data: bytes


# What the reader of ``ingest_many`` hands over: a file and what preparing it gave; None
# after the last file; an unexpected error, to be raised by the consumer.
Read = tuple[IngestSource, "Prepared | IngestResult | FolioError"] | BaseException | None
Outcome = IngestResult | FolioError
Parse = Callable[[bytes, str, ParseLimits], Awaitable[ParsedDocument]]


def parse_limits(limits: ParseLimits, *, input_side: int | None, captions: bool) -> ParseLimits:
    """What ingest parses with: renders that only feed CLIP shrink to its input side.

    A captioner needs legible renders, so with captions they keep the render DPI.
    """
    return dataclasses.replace(limits, visual_side=None if captions else input_side)


class ParseAhead:
    """The first files of a batch, read and parsed one after another before they are needed.

    `folio ingest` starts it before it loads the models (~7 s with one core busy), so the
    parse child works on the other core and the first files are ready to embed when the
    models are; ``stop`` (the models are loaded) leaves the files not begun to the ingest.
    ``ingest_many`` takes a file's early parse only when it was made with the limits it
    parses with itself (else the file is parsed as usual); ``close`` stops the parses
    nobody took.
    """

    def __init__(self, parse: Parse, limits: ParseLimits) -> None:
        self.limits = limits
        self._parse = parse
        self._tasks: dict[IngestSource, asyncio.Task[tuple[bytes, ParsedDocument]]] = {}
        self._last: asyncio.Task[tuple[bytes, ParsedDocument]] | None = None
        self._begun: set[IngestSource] = set()

    def start(self, sources: Iterable[IngestSource]) -> None:
        """Read and parse ``sources`` in order, in the background."""
        for source in sources:
            self._last = asyncio.create_task(self._read(source, self._last))
            self._tasks[source] = self._last

    def stop(self) -> None:
        """Begin no more parses; the files not begun are parsed by whoever ingests them."""
        for source, task in list(self._tasks.items()):
            if source not in self._begun:
                del self._tasks[source]
                task.cancel()

    def take(
        self, source: IngestSource, limits: ParseLimits
    ) -> asyncio.Task[tuple[bytes, ParsedDocument]] | None:
        """The early read and parse of ``source`` (bytes, document), if made with ``limits``."""
        task = self._tasks.pop(source, None)
        if task is not None and limits != self.limits:
            task.cancel()
            return None
        return task

    async def close(self) -> None:
        """Stop the reads and parses nobody took (a parse child in flight is killed)."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _read(
        self, source: IngestSource, before: asyncio.Task[Any] | None
    ) -> tuple[bytes, ParsedDocument]:
        if before is not None:
            await asyncio.wait({before})  # one parse child at a time, in the files' order
        self._begun.add(source)
        data = await asyncio.to_thread(source.read)
        return data, await self._parse(data, source.file_name, self.limits)


class Commits:
    """The files of ``ingest_many`` being embedded and stored, in order.

    One file at a time holds the models: ``embed`` gets the lock to hold while they run,
    so a file's chunking and BM25 overlap its neighbours' model work, and its store
    overlaps the next file's embedding.
    """

    def __init__(
        self,
        *,
        embed: Callable[[Prepared, asyncio.Lock], Awaitable[list[IndexPoint] | IngestResult]],
        record: Callable[[Prepared, list[IndexPoint], float], Awaitable[IngestResult]],
    ) -> None:
        self._embed = embed
        self._record = record
        self._models = asyncio.Lock()
        self._flight: deque[tuple[IngestSource, str, asyncio.Task[Outcome]]] = deque()
        self._error: BaseException | None = None

    @property
    def running(self) -> int:
        """How many files are in flight (embedding, storing, or waiting to be yielded)."""
        return len(self._flight)

    @property
    def tasks(self) -> list[asyncio.Task[Outcome]]:
        """The tasks in flight, oldest first."""
        return [task for _, _, task in self._flight]

    async def wait(self, taking: asyncio.Task[Read] | None) -> set[asyncio.Task[Any]]:
        """Wait until the oldest file in flight is done or ``taking`` (if any) has a file."""
        waits: set[asyncio.Task[Any]] = {taking} if taking is not None else set()
        if self._flight:
            waits.add(self._flight[0][2])
        done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        return done

    def start(self, read: Read) -> bool:
        """Start committing what the reader handed over; False after the last file.

        An unexpected error from the reader ends the files to start; the files in flight
        still finish before ``raise_error`` raises it.
        """
        if read is None:
            return False
        if isinstance(read, BaseException):
            self._error = read
            return False
        source, prepared = read
        if isinstance(prepared, Prepared):
            digest = prepared.document.content_hash
            before = self._flight[-1] if self._flight else None
            # The same bytes right after themselves: wait for their record, then find it.
            same = before[2] if before is not None and before[1] == digest else None
            task = asyncio.create_task(self._commit(prepared, same))
        else:
            digest, task = "", asyncio.create_task(ready(prepared))
        self._flight.append((source, digest, task))
        return True

    def raise_error(self) -> None:
        """Raise the reader's unexpected error, if it had one."""
        if self._error is not None:
            raise self._error

    def finished(self) -> list[tuple[IngestSource, Outcome]]:
        """The oldest files whose commits are done, taken out of the flight, in order."""
        done = []
        while self._flight and self._flight[0][2].done():
            source, _, task = self._flight.popleft()
            done.append((source, task.result()))
        return done

    async def _commit(self, prepared: Prepared, same: asyncio.Task[Outcome] | None) -> Outcome:
        if same is not None:
            await asyncio.wait({same})
        started = time.perf_counter()
        embedded = await outcome(self._embed(prepared, self._models))
        if not isinstance(embedded, list):
            return embedded
        return await outcome(self._record(prepared, embedded, started))


async def ready(value: Outcome) -> Outcome:
    """``value``, as a task's result (a file that needs no commit keeps its place in line)."""
    return value


async def outcome(work: Awaitable[T]) -> T | FolioError:
    """The result of ``work``, or the FolioError it raised (other errors propagate)."""
    try:
        return await work
    except FolioError as exc:
        return exc
