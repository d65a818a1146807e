"""Work in flight, so a shutdown can let answers being written finish first."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class InFlight:
    """Counts running pieces of work; ``idle`` waits until none is left."""

    def __init__(self) -> None:
        self._running = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> int:
        """How many pieces of work are running now."""
        return self._running

    @contextlib.asynccontextmanager
    async def track(self) -> AsyncIterator[None]:
        """Count the work done inside this block."""
        self._begin()
        try:
            yield
        finally:
            self._end()

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``work`` in a task that counts from this call on (not from its first step)."""
        self._begin()
        task = asyncio.create_task(work)
        self._tasks.add(task)  # a task nothing refers to may be collected mid-run
        task.add_done_callback(self._spawned_ended)
        return task

    def _spawned_ended(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._end()

    def _begin(self) -> None:
        self._running += 1
        self._idle.clear()

    def _end(self) -> None:
        self._running -= 1
        if self._running == 0:
            self._idle.set()

    def tracked(self, func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        """Decorate a listener so its whole run counts (bolt reads the wrapped signature)."""

        @functools.wraps(func)
        async def run(*args: P.args, **kwargs: P.kwargs) -> R:
            async with self.track():
                return await func(*args, **kwargs)

        return run

    async def idle(self, timeout: float) -> bool:  # noqa: ASYNC109 - a grace period in seconds
        """Wait until nothing is running, at most ``timeout`` seconds; True when idle."""
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True
