"""Files Slack sends only on the message event, for the mention that arrived without them.

Slack may deliver a mention's ``app_mention`` event without its ``files``, while the
matching ``message`` event (same channel and ts) carries them. A mention without files
waits briefly for that message event (``wait``); the message listener hands over what it
carried (``arrived``). Whichever answers first claims the question (``Asker.ask``), so
it is answered once, with its picture.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence

from bot.files import SlackFile

KEEP = 500  # message events remembered; a mention arrives within seconds of its message

Key = tuple[str, str]


class LateFiles:
    """What the message events of recent mentions carried, in this process."""

    def __init__(self, *, wait_s: float, keep: int = KEEP) -> None:
        self._wait_s = wait_s
        self._keep = keep
        self._seen: OrderedDict[Key, tuple[SlackFile, ...]] = OrderedDict()
        self._waiting: dict[Key, asyncio.Event] = {}

    def arrived(self, channel: str, ts: str, files: Sequence[SlackFile]) -> None:
        """The message event of a mention came, carrying ``files`` (perhaps none)."""
        key = (channel, ts)
        self._seen[key] = tuple(files)
        self._seen.move_to_end(key)
        while len(self._seen) > self._keep:
            self._seen.popitem(last=False)
        if (waiting := self._waiting.get(key)) is not None:
            waiting.set()

    async def wait(self, channel: str, ts: str) -> tuple[SlackFile, ...]:
        """The files of this mention's message event, once it came or the wait ran out."""
        key = (channel, ts)
        if key not in self._seen and self._wait_s > 0:
            event = self._waiting.setdefault(key, asyncio.Event())
            try:
                async with asyncio.timeout(self._wait_s):
                    await event.wait()
            except TimeoutError:
                pass
            finally:
                self._waiting.pop(key, None)
        return self._seen.get(key, ())
