"""Local ports for tests and benchmarks that start real folio processes."""

from __future__ import annotations

import asyncio
import socket

import aiohttp


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def until_ok(url: str, timeout_s: float) -> None:
    """Poll ``url`` until it answers 200; TimeoutError after ``timeout_s``."""
    async with aiohttp.ClientSession() as http, asyncio.timeout(timeout_s):
        while True:
            try:
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
